"""A notebook's `for` loop kept as a loop in the model it is read into. The reader unrolls the loop
(each iteration's lines, as the code computes them); here the iterations are aligned line by line
and name by name, and when they are one body up to an index — Z1 = np.dot(W1, X) + b1 and
Z2 = np.dot(W2, A1) + b2 are Z[l] = np.dot(W[l], A[l - 1]) + b[l], with A[0] = X — the model gets that
body under a `for` header (lang.loops reads it back, unrolled, and keeps the Loop). Iterations that
are not one body stay unrolled lines."""
import ast
import re

from .loops import member_name, offset_text, write_members
from .notebook import rename_names

_MEMBER_RE = re.compile(r"^(.*[A-Za-z_])(\d+)$")


def rolled_text(lines, loops, families, taken):
    """The model's assignment lines as text, each loop that rolls written as one.

    lines: [(model name, ast expr, source line)] in order; loops: [(loop variable, [(value, [model
    names of that iteration's lines])])]; families: {model name: the name the code assigns (Z for a
    helper's Z = …)}; taken: every name of the model (declared or assigned)."""
    out, rename, done = [], {}, set()
    by_name = {name: (node, k) for k, (name, node, _) in enumerate(lines)}
    rolled = {}
    for var, iterations in loops:
        found = _roll(var, iterations, by_name, families, taken | set(rename.values()))
        if found is not None:
            first = iterations[0][1][0]
            rolled[first] = found
            rename.update(found["rename"])
            done |= {n for _, names in iterations for n in names}

    def text(node):
        return ast.unparse(rename_names(node, rename))
    for name, node, _ in lines:
        if name in rolled:
            r = rolled[name]
            out += [f"{alias} = {x}" for alias, x in r["aliases"].items()]
            out.append(r["header"] + ":")
            out += ["    " + body for body in r["body"]]
        elif name not in done:
            out.append(f"{rename.get(name, name)} = {text(node)}")
    return out, rename


def _shape_of(node):
    """The expression with every name blanked: two iterations of one body have the same."""
    return ast.dump(_renamed_all(node))


def _renamed_all(node):
    class Blank(ast.NodeTransformer):
        def visit_Name(self, n):
            return ast.Name("_", ast.Load())
    return Blank().visit(ast.parse(ast.unparse(node), mode="eval").body)


def _names_in_order(node):
    return [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]


def _roll(var, iterations, by_name, families, taken):
    """The loop's body over indexed names, or None when its iterations are not one body (or there
    are fewer than two, or a name it would need is taken)."""
    iterations = [(v, names) for v, names in iterations if names]
    if len(iterations) < 2 or not isinstance(iterations[0][0], int) or \
            len({len(names) for _, names in iterations}) != 1:
        return None
    if any(n not in by_name for _, names in iterations for n in names):
        return None
    positions = [by_name[n][1] for _, names in iterations for n in names]
    if positions != list(range(positions[0], positions[0] + len(positions))):
        return None                                        # the loop's lines are not one stretch
    width = len(iterations[0][1])
    values = [v for v, _ in iterations]
    step = values[1] - values[0]
    if step == 0 or any(b - a != step for a, b in zip(values, values[1:])):
        return None
    members, member_of = {}, {}                         # (family, index) <-> model name
    targets = {}

    def bind(family, k, name):
        if members.get((family, k), name) != name or member_of.get(name, (family, k)) != (family, k):
            raise _NoRoll
        members[(family, k)] = name
        member_of[name] = (family, k)
    try:
        for j in range(width):
            fams = {families.get(names[j]) for _, names in iterations}
            family = fams.pop() if len(fams) == 1 else None
            if family is None or not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", family) or \
                    any(targets.get(n) == family for n in targets):
                raise _NoRoll
            for v, names in iterations:
                bind(family, v, names[j])
                targets[names[j]] = family
        body, aliases = [], {}
        for j in range(width):
            nodes = [by_name[names[j]][0] for _, names in iterations]
            if len({_shape_of(n) for n in nodes}) != 1:
                raise _NoRoll
            reads = [_names_in_order(n) for n in nodes]
            template = {}
            for p in range(len(reads[0])):
                column = [r[p] for r in reads]
                if len(set(column)) == 1 and column[0] not in targets:
                    continue
                template[p] = _family_at(column, values, member_of, targets, bind, aliases)
            body.append((j, template))
    except _NoRoll:
        return None
    shift = -min([k for _, k in members] + [k for _, k in aliases])
    if shift > 0:                     # for i in range(3) reading A[i - 1]: indices from 0, the loop from 1
        if any(name not in targets for name in member_of):
            return None
        members = {(f, k + shift): n for (f, k), n in members.items()}
        member_of = {n: (f, k) for (f, k), n in members.items()}
        aliases = {(f, k + shift): x for (f, k), x in aliases.items()}
        values = [v + shift for v in values]
    rename = {}
    for (family, k), name in members.items():
        if name in targets:
            new = member_name(family, k)
            if new != name and new in taken:
                return None
            rename[name] = new
    families_used = {f for f, _ in members} | {f for f, _ in aliases}
    if families_used & (taken - set(rename)) or var in taken:
        return None
    alias_names = {member_name(f, k): x for (f, k), x in aliases.items()}
    if any(a in taken and a not in rename.values() for a in alias_names):
        return None
    stop = values[-1] + step
    if stop < 0:
        return None
    lines = []
    first_names = iterations[0][1]
    for j, template in body:
        node = by_name[first_names[j]][0]
        lines.append((_target_written(first_names[j], member_of, var, values[0]),
                      _indexed_text(node, template, var, values[0])))
    if not _unrolls_to(lines, var, values, [names for _, names in iterations], by_name, rename, alias_names):
        return None
    header = f"for {var} in range({values[0]}, {stop})" if step == 1 else \
        f"for {var} in range({values[0]}, {stop}, {step})"
    return dict(header=header, body=[f"{t} = {e}" for t, e in lines], rename=rename,
                aliases={f"{f}[{k}]": x for (f, k), x in aliases.items()})


def _unrolls_to(lines, var, values, iterations, by_name, rename, alias_names):
    """Does the body, written out at each value (Z[l - 1] as its member's name, aliases as what they
    are), give back every iteration's own lines (renamed as the model will name them)?"""
    def concrete(text, v):
        return write_members(text, {var: v}, lambda *a: _NoRoll(), alias_names)
    try:
        for v, names in zip(values, iterations):
            for (target, expr), name in zip(lines, names):
                node = by_name[name][0]
                if concrete(target, v) != rename.get(name, name) or \
                        ast.dump(ast.parse(concrete(expr, v), mode="eval").body) != ast.dump(rename_names(node, rename)):
                    return False
    except (_NoRoll, SyntaxError):
        return False
    return True


class _NoRoll(Exception):
    pass


def _target_written(name, member_of, var, value):
    family, k = member_of[name]
    return f"{family}[{_index(var, k - value)}]"


def _index(var, d):
    return offset_text(var, d).replace("−", "-")


def _family_at(column, values, member_of, targets, bind, aliases):
    """(family, offset from the loop variable) of a name position that changes from one iteration to
    the next: each iteration's name a member at the same offset (W1, W2 → W[l]), the first one's
    allowed to be another name, its alias (X where later iterations read A[l - 1])."""
    found = []
    for name, v in zip(column, values):
        fk = member_of.get(name) or _as_member(name)
        found.append(None if fk is None else (fk[0], fk[1] - v))
    rest = {f for f in found[1:]}
    if len(rest) != 1 or None in rest:
        raise _NoRoll
    family, d = rest.pop()
    for name, v, f in zip(column, values, found):
        if f == (family, d):
            bind(family, v + d, name)
    if found[0] != (family, d):
        if column[0] in targets:
            raise _NoRoll
        k = values[0] + d
        if aliases.get((family, k), column[0]) != column[0]:
            raise _NoRoll
        aliases[(family, k)] = column[0]
    return family, d


def _as_member(name):
    m = _MEMBER_RE.match(name)
    if not m:
        return None
    for family in (m.group(1), m.group(1).rstrip("_")):
        if family and member_name(family, int(m.group(2))) == name:
            return family, int(m.group(2))
    return None


def _indexed_text(node, template, var, value):
    """The first iteration's expression with the changing names written family[var + offset]."""
    positions = {}
    copy = ast.parse(ast.unparse(node), mode="eval").body
    for p, n in enumerate(x for x in ast.walk(copy) if isinstance(x, ast.Name)):
        if p in template:
            positions[id(n)] = template[p]

    class Index(ast.NodeTransformer):
        def visit_Name(self, n):
            if id(n) in positions:
                family, d = positions[id(n)]
                return ast.Subscript(ast.Name(family, ast.Load()), ast.parse(_index(var, d), mode="eval").body,
                                     ast.Load())
            return n
    return ast.unparse(Index().visit(copy))
