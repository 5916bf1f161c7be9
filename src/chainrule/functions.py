"""The surface functions of the input language: shape rule, lowering to index form, input domain.

Each entry is one function as NumPy users write it (bare or with np. / np.linalg. / scipy.special.).
Derived functions are compositions of the primitives in rules.py (mean = sum / size, norm = √Σx²,
softmax = exp(x) / Σ exp(x), logsumexp = log Σ exp(x)).
"""
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from . import syntax as S
from . import tensor as T
from .errors import ChainruleError
from .lower import elementwise, fresh_idx, matmul, reduce_sum, size_of
from .shapes import fmt_shape

ELEMENTWISE_SURFACE = ("exp", "log", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "sign")


@dataclass(frozen=True)
class Function:
    name: str
    shape: Callable        # (checker, call) -> shape
    lower: Callable        # (lowering, call) -> (expr, idx)
    domain: str            # input domain for tests and --check data
    arity: int
    doc: str
    example: str           # a use over the standard test names (X, Y: n×n; M: n×m; x, y: n; s: scalar)


FUNCTIONS = {}


def function(name, *, arity=1, domain="real", aliases=(), example=None):
    def register(cls):
        f = Function(name, cls.shape, cls.lower, domain, arity, (cls.__doc__ or "").strip(),
                     example or f"{name}(X)")
        for n in (name,) + tuple(aliases):
            FUNCTIONS[n] = f
        return cls
    return register


def _err(call, message, hint=None):
    return ChainruleError(message, call.source, call.start, call.end, call.line, hint)


def _args(checker, call, n, kwargs=()):
    allowed = set(kwargs)
    for k, _ in call.kwargs:
        if k not in allowed:
            raise _err(call, f"{call.fn}() does not take '{k}'")
    lo, hi = (n, n) if isinstance(n, int) else n
    if not lo <= len(call.args) <= hi:
        want = lo if lo == hi else f"{lo} to {hi}"
        raise _err(call, f"{call.fn}() takes {want} argument{'s' if hi > 1 else ''}, got {len(call.args)}")
    return [checker.visit(a) for a in call.args]


def _axis(call, shape, positional=1):
    axis = call.kw("axis")
    if len(call.args) > positional and any(k == "axis" for k, _ in call.kwargs):
        raise _err(call, f"{call.fn}() got axis both as an argument and as a keyword")
    if axis is None and len(call.args) > positional:
        a = call.args[positional]
        if not isinstance(a, S.Const) or a.value.denominator != 1:
            raise _err(a, "axis must be an integer constant")
        axis = int(a.value)
    if axis is None:
        return None
    if isinstance(axis, tuple) or not isinstance(axis, int) or isinstance(axis, bool):
        raise _err(call, "axis must be None, 0 or 1")
    if not -len(shape) <= axis < len(shape):
        raise _err(call, f"axis {axis} is out of range for shape {fmt_shape(shape)}")
    return axis % len(shape)


def _keepdims(call):
    k = call.kw("keepdims", False)
    if k not in (True, False):              # NumPy also takes 1 and 0
        raise _err(call, "keepdims must be True or False")
    return bool(k)


def _elementwise_function(name, domain):
    class _F:
        __doc__ = f"{name}(x): element-wise"

        @staticmethod
        def shape(checker, call):
            return _args(checker, call, 1)[0]

        @staticmethod
        def lower(lw, call):
            e, idx = lw.visit(call.args[0])
            return T.func(name, e), idx
    function(name, domain=domain)(_F)


for _name in ELEMENTWISE_SURFACE:
    from .rules import ELEMENTWISE as _E
    _elementwise_function(_name, _E[_name].domain)


@function("sqrt", domain="positive")
class _Sqrt:
    """sqrt(x) = x^(1/2), element-wise"""
    shape = staticmethod(lambda checker, call: _args(checker, call, 1)[0])

    @staticmethod
    def lower(lw, call):
        e, idx = lw.visit(call.args[0])
        return T.power(e, Fraction(1, 2)), idx


@function("maximum", arity=2, domain="nonzero", example="maximum(0, X)")
class _Maximum:
    """maximum(0, x) = relu(x)"""
    @staticmethod
    def shape(checker, call):
        a, b = _args(checker, call, 2)
        if not _is_zero(call.args[0]) and not _is_zero(call.args[1]):
            raise _err(call, "maximum is supported as maximum(0, x) (ReLU)")
        return b if _is_zero(call.args[0]) else a

    @staticmethod
    def lower(lw, call):
        x = call.args[1] if _is_zero(call.args[0]) else call.args[0]
        e, idx = lw.visit(x)
        return T.func("relu", e), idx


def _is_zero(node):
    return isinstance(node, S.Const) and node.value == 0


@function("power", arity=2, example="power(X, 3)")
class _Power:
    """power(x, c) = x ** c for a constant c"""
    @staticmethod
    def shape(checker, call):
        a, _ = _args(checker, call, 2)
        c = call.args[1]
        if not isinstance(c, S.Const):
            raise _err(c, "the exponent of power() must be a constant number")
        if abs(c.value) > S.MAX_EXPONENT:
            raise _err(c, f"exponent too large (limit {S.MAX_EXPONENT})")
        return a

    @staticmethod
    def lower(lw, call):
        e, idx = lw.visit(call.args[0])
        return T.power(e, call.args[1].value), idx


def _binary_function(name, op):
    class _F:
        __doc__ = f"{name}(a, b) = a {op} b"

        @staticmethod
        def shape(checker, call):
            a, b = _args(checker, call, 2)
            node = S.Binary(op=op, left=call.args[0], right=call.args[1], start=call.start, end=call.end,
                            line=call.line, source=call.source)
            if op == "@":
                return checker.matmul(node, a, b)
            from .shapes import broadcast
            out = broadcast(a, b)
            if out is None:
                checker.elementwise_error(node, a, b)
            return out

        @staticmethod
        def lower(lw, call):
            a, b = lw.visit(call.args[0]), lw.visit(call.args[1])
            return matmul(a, b) if op == "@" else elementwise(op, a, b)
    example = {"@": f"{name}(X, x)", "/": f"{name}(Y, X)"}.get(op, f"{name}(X, Y)")
    function(name, arity=2, domain="nonzero" if op == "/" else "real", example=example)(_F)


for _name, _op in (("multiply", "*"), ("divide", "/"), ("add", "+"), ("subtract", "-"), ("dot", "@"),
                   ("matmul", "@")):
    _binary_function(_name, _op)


@function("transpose", example="transpose(M)")
class _Transpose:
    """transpose(X) = Xᵀ"""
    shape = staticmethod(lambda checker, call: tuple(reversed(_args(checker, call, 1)[0])))

    @staticmethod
    def lower(lw, call):
        e, idx = lw.visit(call.args[0])
        return e, tuple(reversed(idx))


@function("sum", example="sum(M, axis=0)")
class _Sum:
    """sum(x, axis=None|0|1, keepdims=False)"""
    @staticmethod
    def shape(checker, call):
        (s, *_) = _args(checker, call, (1, 2), ("axis", "keepdims"))
        axis, keep = _axis(call, s), _keepdims(call)
        if axis is None:
            return tuple(1 for _ in s) if keep else ()
        return tuple(1 if (k == axis) else d for k, d in enumerate(s) if keep or k != axis)

    @staticmethod
    def lower(lw, call):
        low = lw.visit(call.args[0])
        return reduce_sum(low, _axis(call, lw.shape(call.args[0])), _keepdims(call))


@function("mean", example="mean(M, axis=1, keepdims=True)")
class _Mean:
    """mean(x, axis, keepdims) = sum(x, axis, keepdims) / (number of entries summed)"""
    shape = _Sum.shape

    @staticmethod
    def lower(lw, call):
        shape = lw.shape(call.args[0])
        axis = _axis(call, shape)
        e, idx = reduce_sum(lw.visit(call.args[0]), axis, _keepdims(call))
        dims = shape if axis is None else (shape[axis],)
        return e * T.power(size_of(dims), -1), idx


def _square(call, s):
    if len(s) != 2 or s[0] != s[1]:
        raise _err(call, f"{call.fn}() needs a square matrix, got shape {fmt_shape(s)}")


@function("trace", aliases=("tr",))
class _Trace:
    """trace(X) = Σᵢ X[i,i]"""
    @staticmethod
    def shape(checker, call):
        (s,) = _args(checker, call, 1)
        _square(call, s)
        return ()

    @staticmethod
    def lower(lw, call):
        e, (i, j) = lw.visit(call.args[0])
        return e.rename({j: i}).sum_over([i]), ()


def _matrix_function(name, domain, doc):
    class _F:
        __doc__ = doc

        @staticmethod
        def shape(checker, call):
            (s,) = _args(checker, call, 1)
            _square(call, s)
            return s if name == "inv" else ()

        @staticmethod
        def lower(lw, call):
            e, idx = lw.visit(call.args[0])
            out = fresh_idx(idx and tuple(i.dim for i in idx)) if name == "inv" else ()
            return T.matfn(name, e, idx, out), out
    function(name, domain=domain)(_F)


_matrix_function("inv", "invertible", "inv(X) = X⁻¹")
_matrix_function("det", "invertible", "det(X)")
_matrix_function("logdet", "spd", "logdet(X) = log|det X| (as np.linalg.slogdet)")


@function("norm", example="norm(M)")
class _Norm:
    """norm(x) = √(Σ x²): vector 2-norm, matrix Frobenius norm (as np.linalg.norm)"""
    @staticmethod
    def shape(checker, call):
        _args(checker, call, 1)
        return ()

    @staticmethod
    def lower(lw, call):
        e, idx = lw.visit(call.args[0])
        return T.power((e ** 2).sum_over(idx), Fraction(1, 2)), ()


@function("outer", arity=2, example="outer(x, y)")
class _Outer:
    """outer(u, v)[i, j] = u[i] v[j]"""
    @staticmethod
    def shape(checker, call):
        a, b = _args(checker, call, 2)
        for s, arg in ((a, call.args[0]), (b, call.args[1])):
            if sum(1 for d in s if d != 1) > 1 or not s:
                raise _err(arg, f"outer() takes vectors, got shape {fmt_shape(s)}")
        return (_vec_dim(a), _vec_dim(b))

    @staticmethod
    def lower(lw, call):
        (ea, ia), (eb, ib) = lw.visit(call.args[0]), lw.visit(call.args[1])
        ea, i = _as_vector(ea, ia)
        eb, j = _as_vector(eb, ib)
        return ea * eb, (i, j)


def _vec_dim(s):
    return next((d for d in s if d != 1), 1)


def _as_vector(e, idx):
    keep = next((i for i in idx if i.dim != 1), idx[-1])
    return e.sum_over([i for i in idx if i is not keep and i in e.free]), keep


@function("diag", example="diag(x) @ X")
class _Diag:
    """diag(v) = the matrix with v on its diagonal; diag(X) = the diagonal of a square X (as np.diag)"""
    @staticmethod
    def shape(checker, call):
        (s,) = _args(checker, call, 1)
        if len(s) == 1:
            return (s[0], s[0])
        if len(s) == 2 and s[0] == s[1]:
            return (s[0],)
        raise _err(call, f"diag() takes a vector or a square matrix, got shape {fmt_shape(s)}")

    @staticmethod
    def lower(lw, call):
        e, idx = lw.visit(call.args[0])
        if len(idx) == 1:
            j = idx[0].fresh()
            return e * T.delta(idx[0], j), (idx[0], j)
        return e.rename({idx[1]: idx[0]}), (idx[0],)


@function("eye", example="eye(n) * X + X")
class _Eye:
    """eye(n) = the n×n identity"""
    @staticmethod
    def shape(checker, call):
        if len(call.args) != 1 or call.kwargs:
            raise _err(call, "eye() takes one dimension, e.g. eye(n)")
        a = call.args[0]
        if isinstance(a, S.Const) and a.value.denominator == 1 and 1 <= a.value <= 10 ** 4:
            n = int(a.value)
        elif isinstance(a, S.Name) and a.id in checker.dims:
            n = a.id
        else:
            raise _err(a, "eye() takes a dimension name or an integer between 1 and 10000")
        checker.of[a] = ()
        return (n, n)

    @staticmethod
    def lower(lw, call):
        i, j = fresh_idx(lw.shape(call))
        return T.delta(i, j), (i, j)


@function("dim", arity=2, example="X / dim(X, 0)")
class _Dim:
    """X.shape[k] = the size of axis k of X (a dimension such as m), written dim(X, k)"""
    @staticmethod
    def shape(checker, call):
        if len(call.args) != 2 or call.kwargs or not isinstance(call.args[0], S.Name) or \
                not isinstance(call.args[1], S.Const):
            raise _err(call, "write the size of an axis as X.shape[k] for a declared array X")
        of = checker.visit(call.args[0])
        k = call.args[1].value
        if k.denominator != 1 or not -len(of) <= k < len(of):
            raise _err(call, f"{call.args[0].id} has {len(of)} axes; there is no axis {k}",
                       f"{call.args[0].id} has shape {fmt_shape(of)}")
        checker.of[call.args[1]] = ()
        return ()

    @staticmethod
    def lower(lw, call):
        d = lw.shape(call.args[0])[int(call.args[1].value)]
        return (T.const(d) if isinstance(d, int) else T.atom(T.Var(d, (), is_dim=True))), ()


@function("softmax", example="softmax(M, axis=0)")
class _Softmax:
    """softmax(x, axis=None) = exp(x) / Σ exp(x) over the axis (as scipy.special.softmax)"""
    @staticmethod
    def shape(checker, call):
        (s, *_) = _args(checker, call, (1, 2), ("axis",))
        _axis(call, s)
        return s

    @staticmethod
    def lower(lw, call):
        e, idx = lw.visit(call.args[0])
        axis = _axis(call, lw.shape(call.args[0]))
        ex = T.func("exp", e)
        reduced = idx if axis is None else (idx[axis],)
        ren = {i: i.fresh() for i in reduced}
        total = ex.rename(ren).sum_over(ren.values())
        return ex * T.power(total, -1), idx


@function("logsumexp", example="logsumexp(M, axis=1)")
class _LogSumExp:
    """logsumexp(x, axis=None, keepdims=False) = log Σ exp(x) (as scipy.special.logsumexp)"""
    shape = _Sum.shape

    @staticmethod
    def lower(lw, call):
        e, idx = lw.visit(call.args[0])
        axis = _axis(call, lw.shape(call.args[0]))
        s, out = reduce_sum((T.func("exp", e), idx), axis, _keepdims(call))
        return T.func("log", s), out
