"""Lower checked surface syntax to index form: each node becomes (Expr, indices of its axes)."""

from . import syntax as S
from ..core import tensor as T
from ..core.errors import ChainruleError
from ..core.rules import indicator
from .shapes import broadcast


def fresh_idx(shape, hints="ijklpq"):
    return tuple(T.Index(d, hints[k % len(hints)]) for k, d in enumerate(shape))


class Lowering:
    """Turns a shape-checked tree into index expressions (a pure function of the tree), with the function
    table the shape checker was given."""

    def __init__(self, checker):
        self.checker = checker

    def shape(self, node):
        return self.checker.of[node]

    def visit(self, node):
        """(expr, idx) for a node; fresh indices on every visit, so results never share them. An error
        raised by the algebra underneath (division by zero) is placed at the innermost node."""
        try:
            return self._visit(node)
        except ChainruleError as e:
            if e.start is None and getattr(node, "start", None) is not None:
                raise ChainruleError(e.message, node.source, node.start, node.end, node.line, e.hint,
                                     kind=e.kind) from None
            raise

    def _visit(self, node):
        if isinstance(node, S.Const):
            return T.const(node.value), ()
        if isinstance(node, S.Name):
            shape = self.shape(node)
            if node.id in self.checker.shapes:
                idx = fresh_idx(shape)
                return T.var(node.id, idx), idx
            return T.var(node.id, (), is_dim=True), ()          # a dimension used as a scalar
        if isinstance(node, S.Neg):
            e, idx = self.visit(node.operand)
            return -e, idx
        if isinstance(node, S.Transpose):
            e, idx = self.visit(node.operand)
            return e, tuple(reversed(idx))
        if isinstance(node, S.Binary):
            if node.op == "@":
                return matmul(self.visit(node.left), self.visit(node.right))
            if node.op == "**":
                e, idx = self.visit(node.left)
                r = node.right
                value = r.value if isinstance(r, S.Const) else -r.operand.value
                return T.power(e, value), idx
            return elementwise(node.op, self.visit(node.left), self.visit(node.right))
        if isinstance(node, S.Compare):
            a, b = self.visit(node.left), self.visit(node.right)
            if node.op in ("<", "<="):
                a, b = b, a
            diff, idx = elementwise("-", a, b)
            return T.func(indicator(">" if node.op in (">", "<") else ">=").name, diff), idx
        if isinstance(node, S.Call):
            return self.checker.functions[node.fn].lower(self, node)
        raise TypeError(type(node).__name__)


def align(operand, out_idx):
    """Rename an operand's axes onto the output axes (right-aligned); size-1 axes broadcast."""
    e, idx = operand
    ren, drop = {}, []
    for k in range(1, len(idx) + 1):
        mine, target = idx[-k], out_idx[-k]
        if mine.dim == target.dim:
            ren[mine] = target
        else:                                   # size 1 against a larger axis: broadcast
            drop.append(mine)
    e = e.rename(ren)
    if drop:
        e = e.sum_over([d for d in drop if d in e.free])
    return e


def elementwise(op, a, b):
    """a op b with NumPy broadcasting, for + - * /."""
    (ea, ia), (eb, ib) = a, b
    shape = broadcast(tuple(i.dim for i in ia), tuple(i.dim for i in ib))
    out = []
    for k in range(1, len(shape) + 1):
        x = ia[-k] if k <= len(ia) and ia[-k].dim == shape[-k] else None
        y = ib[-k] if k <= len(ib) and ib[-k].dim == shape[-k] else None
        out.append(x or y or T.Index(shape[-k]))
    out = tuple(reversed(out))
    ea, eb = align(a, out), align(b, out)
    if op == "+":
        return ea + eb, out
    if op == "-":
        return ea - eb, out
    if op == "*":
        return ea * eb, out
    if op == "/":
        return ea * T.power(eb, -1), out
    raise ValueError(op)


def matmul(a, b):
    """NumPy @ for 1-D and 2-D operands: Σ over the shared axis."""
    (ea, ia), (eb, ib) = a, b
    ka = ia[-1]
    kb = ib[0] if len(ib) == 1 else ib[-2]
    k = T.Index(ka.dim, "k")
    ea, eb = ea.rename({ka: k}), eb.rename({kb: k})
    out = ia[:-1] + (ib[1:] if len(ib) == 2 else ())
    return (ea * eb).sum_over([k]), out


def reduce_sum(lowered, axis, keepdims):
    """np.sum(x, axis, keepdims) in index form."""
    e, idx = lowered
    axes = range(len(idx)) if axis is None else [axis]
    gone = [idx[a] for a in axes]
    out = tuple(T.Index(1, "u") if (k in axes and keepdims) else i for k, i in enumerate(idx)
                if keepdims or k not in axes)
    return e.sum_over(gone), out


def size_of(dims):
    """The number of entries of the given axes, as an index expression (1/m needs it)."""
    out = T.const(1)
    for d in dims:
        out = out * (T.const(d) if isinstance(d, int) else T.var(d, (), is_dim=True))
    return out
