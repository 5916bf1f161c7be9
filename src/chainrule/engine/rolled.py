"""A model's loop read back in the backward pass: the adjoints of each iteration written with the
loop's indexed names (dZ2 at l = 2 is dZ[l], W3 is W[l + 1]). When every iteration's adjoints read
the same, the loop's backward pass is one body — for l = 2, 1: dZ[l] = dA[l] ⊙ (Z[l] > 0), … — as the
course's L_model_backward writes it. The adjoints themselves are the engine's, per iteration; this
module only renames and compares them (each rolled line equals every iteration's own adjoint)."""
import re
from dataclasses import dataclass, field

from ..core.matrix import MVar, mat_map
from ..lang.loops import member_name, offset_text
from ..render.printing import CourseTextPrinter, to_latex


@dataclass
class RolledLine:
    name: str                   # dZ[l]
    text: str                   # dA[l] ⊙ (Z[l] > 0)
    latex: str
    adjoints: tuple             # the iterations' own adjoints (dZ2, dZ1), in the order of `values`


@dataclass
class BackwardLoop:
    """The backward pass of one loop: `values` in the order the backward pass visits them."""
    loop: object                # the model's lang.loops.Loop
    values: tuple
    lines: list = field(default_factory=list)
    aliases: dict = field(default_factory=dict)     # A[0] -> X

    def text(self):
        order = ", ".join(str(v) for v in self.values)
        width = max(len(r.name) for r in self.lines)
        out = [f"backwards through `{self.loop.header}` ({self.loop.var} = {order}):"]
        out += [f"    {r.name:<{width}} = {r.text}" for r in self.lines]
        out += [f"    ({a} is {x})" for a, x in self.aliases.items()]
        return "\n".join(out)

    def to_dict(self):
        return dict(header=self.loop.header, var=self.loop.var, values=list(self.values), aliases=self.aliases,
                    lines=[dict(name=r.name, text=r.text, latex=r.latex, adjoints=list(r.adjoints))
                           for r in self.lines])


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
    first = loop.values[0]
    offset = {}
    for name, (f, k) in loop.members.items():
        if name in targets:
            offset[f] = k - next(v for v, names in zip(loop.values, loop.iterations) if name in names)
    for name, (f, k) in loop.members.items():
        offset.setdefault(f, k - first)
    of_adjoint = {a: n for n, a in bp.adjoint_names.items()}
    per_value = {v: [] for v in loop.values}
    for g in bp.gradients:
        found = member(g.of)
        if found and g.matrix is not None and found[1] - offset[found[0]] in per_value:
            per_value[found[1] - offset[found[0]]].append(g)
    values = tuple(sorted(per_value, key=lambda v: min((bp.gradients.index(g) for g in per_value[v]), default=0)))
    if not all(per_value[v] for v in values):
        return None

    def written(name, v):
        found = member(name)
        if found is not None:
            return f"{found[0]}[{offset_text(loop.var, found[1] - v)}]"
        if name in of_adjoint and member(of_adjoint[name]) is not None:
            of = of_adjoint[name]
            return name[:len(name) - len(of)] + written(of, v) if name.endswith(of) else None
        return None

    readings = []
    for v in values:
        def rename(m, v=v):
            new = written(m.name, v) if isinstance(m, MVar) and not m.is_dim else None
            return MVar(new, m.shape, m.is_dim) if new else m
        readings.append([(g.name[:-len(g.of)] + written(g.of, v) if g.name.endswith(g.of) else g.name,
                          mat_map(g.matrix, rename)) for g in per_value[v]])
    texts = [[(name, CourseTextPrinter()(m)) for name, m in r] for r in readings]
    if any(t != texts[0] for t in texts[1:]):
        return None
    lines = [RolledLine(name, text, to_latex(readings[0][k][1]), tuple(per_value[v][k].name for v in values))
             for k, (name, text) in enumerate(texts[0])]
    read = _names(g.matrix for v in values for g in per_value[v])
    aliases = {f"{loop.members[a][0]}[{loop.members[a][1]}]": x for a, x in loop.aliases.items() if x in read}
    return BackwardLoop(loop, values, lines, aliases)


def _names(matrices):
    """The names the matrix forms read."""
    out = set()
    for m in matrices:
        mat_map(m, lambda n: out.add(n.name) or n if isinstance(n, MVar) else n)
    return out
