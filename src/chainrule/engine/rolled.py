"""A model's loop read back in the backward pass: the adjoints of each iteration written with the
loop's indexed names (dZ2 at l = 2 is dZ[l], W3 is W[l + 1]). When every iteration's adjoints read
the same, the loop's backward pass is one body — for l = 2, 1: dZ[l] = dA[l] ⊙ (Z[l] > 0), … — as the
course's L_model_backward writes it. The adjoints themselves are the engine's, per iteration; this
module only renames and compares them (each rolled line equals every iteration's own adjoint)."""
import re
from dataclasses import dataclass, field

from ..core.matrix import MAdd, MLoopSum, MVar, mat_map
from ..lang.loops import member_name, offset_text
from ..render.printing import CourseTextPrinter, to_latex


@dataclass
class RolledLine:
    name: str                   # dZ[l]
    text: str                   # dA[l] ⊙ (Z[l] > 0)
    latex: str
    adjoints: tuple             # the iterations' own adjoints (dZ2, dZ1), in the order of `values`
    form: object = None         # the matrix IR it is printed from, over the indexed names


@dataclass
class BackwardLoop:
    """The backward pass of one loop: `values` in the order the backward pass visits them."""
    loop: object                # the model's lang.loops.Loop
    values: tuple
    lines: list = field(default_factory=list)
    aliases: dict = field(default_factory=dict)     # A[0] -> X
    boundary: list = field(default_factory=list)    # (value, adjoint): the first iterations' own where they differ
    sums: list = field(default_factory=list)        # shared names' adjoints, Σ over the iterations (dW)
    names: dict = field(default_factory=dict)       # value -> {indexed name: the model's name there}
    steady: tuple = ()                              # the values whose iterations `lines` are

    def at(self, form, value):
        """A rolled form as the iteration `value` reads it, in the model's names (a Σ over the
        iterations written out as the sum of each one's term): the inverse of the rolling."""
        names = self.names[value]

        def back(n):
            if isinstance(n, MVar) and n.name in names:
                return MVar(names[n.name], n.shape, n.is_dim)
            return n

        def before(n):
            if isinstance(n, MLoopSum):
                return MAdd(tuple(self.at(n.x, v) for v in n.values), n.shape)
            return None
        return mat_map(form, back, before)

    def text(self):
        order = ", ".join(str(v) for v in self.values)
        width = max(len(r.name) for r in self.lines)
        out = [f"backwards through `{self.loop.header}` ({self.loop.var} = {order}):"]     # as the pass visits
        out += [f"    {g.name} = {g.text}    (at {self.loop.var} = {v})" for v, g in self.boundary]
        out += [f"    {r.name:<{width}} = {r.text}" for r in self.lines]
        out += [f"    ({a} is {x})" for a, x in self.aliases.items()]
        out += [f"  and, summed over the iterations: {r.name} = {r.text}" for r in self.sums]
        return "\n".join(out)

    def to_dict(self):
        line = lambda r: dict(name=r.name, text=r.text, latex=r.latex, adjoints=list(r.adjoints))  # noqa: E731
        return dict(header=self.loop.header, var=self.loop.var, values=list(self.values), aliases=self.aliases,
                    boundary=[dict(name=g.name, text=g.text, at=v) for v, g in self.boundary],
                    lines=[line(r) for r in self.lines], sums=[line(r) for r in self.sums])


def backward_loops(bp):
    """The BackwardLoop of each of the model's loops whose iterations' adjoints read the same."""
    out = []
    for loop in bp.model.loops:
        rolled = _rolled(bp, loop) if len(loop.values) > 1 and not loop.nested else None
        if rolled is not None:
            out.append(rolled)
    return out


def _rolled(bp, loop):
    families = {f for f, _ in loop.members.values()}
    targets = {n for names in loop.iterations for n in names}

    def member(name):
        if name in loop.members:
            return loop.members[name]
        m = re.match(r"^(.*?)(\d+)$", name)
        for f in (m.group(1), m.group(1).rstrip("_")) if m else ():
            if f in families and member_name(f, int(m.group(2))) == name:
                return f, int(m.group(2))
        return None

    # each family's offset in the body: where the body assigns it (Z[l]), else where it first reads it (W[l])
    offset = {}
    for name, (f, k) in loop.members.items():
        if name in targets:
            offset[f] = k - next(v for v, names in zip(loop.values, loop.iterations) if name in names)
    for name, (f, k) in loop.members.items():
        offset.setdefault(f, k - loop.values[0])
    of_adjoint = {a: n for n, a in bp.adjoint_names.items()}
    per_value, shared = {v: [] for v in loop.values}, []
    for g in bp.gradients:
        found = member(g.of) if g.matrix is not None else None
        if found and found[1] - offset[found[0]] in per_value:
            per_value[found[1] - offset[found[0]]].append(g)
        elif found is None and g.matrix is not None:
            shared.append(g)
    # the order the backward pass visits them (an iteration with no adjoint, folded into the loss, first)
    values = tuple(sorted(per_value, key=lambda v: min((bp.gradients.index(g) for g in per_value[v]), default=-1)))

    def written(name, v):
        found = member(name)
        if found is not None:
            return f"{found[0]}[{offset_text(loop.var, found[1] - v)}]"
        if name in of_adjoint and member(of_adjoint[name]) is not None:
            of = of_adjoint[name]
            return name[:len(name) - len(of)] + written(of, v) if name.endswith(of) else None
        return None

    back = {v: {} for v in values}

    def renamed(m, v):
        def rename(n):
            new = written(n.name, v) if isinstance(n, MVar) and not n.is_dim else None
            if new:
                back[v][new] = n.name
            return MVar(new, n.shape, n.is_dim) if new else n
        return mat_map(m, rename)

    def name_of(g, v):
        return g.name[:-len(g.of)] + written(g.of, v) if g.name.endswith(g.of) else g.name

    printer = CourseTextPrinter()
    readings = {v: [(name_of(g, v), renamed(g.matrix, v), g) for g in per_value[v]] for v in values}
    texts = {v: [(name, printer(m)) for name, m, _ in readings[v]] for v in values}
    # the first iterations visited may read what comes after the loop (dA[3] = Vᵀ dZ), or have no
    # adjoint of their own (an activation the loss reads is folded into it): boundary lines
    k = next((k for k in range(len(values) - 1) if all(texts[v] and texts[v] == texts[values[k]]
                                                        for v in values[k:])), None)
    if k is None:
        return None
    steady, body = values[k:], texts[values[k]]
    boundary = []
    for v in values[:k]:
        names = [n for n, _ in texts[v]]
        if any(n not in [b for b, _ in body] for n in names):
            return None
        boundary += [(v, g) for (n, t), (_, _, g) in zip(texts[v], readings[v]) if (n, t) not in body]
    lines = [RolledLine(name, text, to_latex(readings[steady[0]][j][1]),
                        tuple(per_value[v][j].name for v in steady), readings[steady[0]][j][1])
             for j, (name, text) in enumerate(body)]
    sums = [line for line in (_loop_sum(g, values, steady, renamed, loop.var, printer) for g in shared) if line]
    read = _names([g.matrix for v in values for g in per_value[v]] + [g.matrix for g in shared])
    aliases = {f"{loop.members[a][0]}[{loop.members[a][1]}]": x for a, x in loop.aliases.items() if x in read}
    return BackwardLoop(loop, values, lines, aliases, boundary, sums, back, steady)


def _loop_sum(g, values, steady, renamed, var, printer):
    """A shared name's adjoint with one term per iteration (a weight every iteration reads) written
    Σ_l of that term: dW = (1/m) Σ_l dZ[l] A[l − 1]ᵀ (over the steady iterations, the boundary's terms
    apart, when not every iteration's term is the same); None when it has no such sum."""
    changed = [False]

    def before(m):
        if not isinstance(m, MAdd) or len(m.terms) < len(steady):
            return None
        seen = {v: [printer(renamed(t, v)) for t in m.terms] for v in values}
        for t, template in zip(m.terms, seen[steady[0]]):
            hits = {v: seen[v].index(template) for v in values if template in seen[v]}
            over = tuple(v for v in values if v in hits)
            if not set(steady) <= set(over) or len(set(hits.values())) != len(hits):
                continue
            rest = [x for j, x in enumerate(m.terms) if j not in hits.values()]
            label = var if over == values else f"{var}={min(over)}..{max(over)}"
            total = MLoopSum(label, renamed(t, steady[0]), over)
            changed[0] = True
            return MAdd(tuple(rest) + (total,), m.shape) if rest else total
        return None
    out = mat_map(g.matrix, lambda n: n, before)
    if not changed[0]:
        return None
    return RolledLine(g.name, printer(out), to_latex(out), (g.name,), out)


def _names(matrices):
    """The names the matrix forms read."""
    out = set()
    for m in matrices:
        mat_map(m, lambda n: out.add(n.name) or n if isinstance(n, MVar) else n)
    return out
