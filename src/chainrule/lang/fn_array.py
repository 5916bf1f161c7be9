"""Array functions of the input language — products, reductions, matrix functions, shapes — one entry
each (see fn_spec.py for the parts). Derived ones are compositions of the index-form primitives
(mean = sum / size, norm = √Σx², softmax = exp(x) / Σ exp(x), logsumexp = log Σ exp(x))."""
from fractions import Fraction

import numpy as np

from . import syntax as S
from ..core import tensor as T
from .fn_spec import (axis_of, check_args, err, function, keepdims_of, latex_call, latex_wrap)
from .lower import fresh_idx, matmul, reduce_sum, size_of
from ..core.rules import MATRIX_FUNCTIONS
from .shapes import fmt_shape


def _kw_code(tc, call):
    """axis= / keepdims= as the target spells them (PyTorch: dim= / keepdim=)."""
    axis, keep = call.kw("axis"), call.kw("keepdims", False)
    if tc.target == "torch":
        return (f", dim={axis}" if axis is not None else "") + (", keepdim=True" if keep else "")
    return (f", axis={axis}" if axis is not None else "") + (", keepdims=True" if keep else "")


def _kw_value(call):
    return dict(call.kwargs)


# -- products -----------------------------------------------------------------------------------
def _matmul_function(name):
    class _F:
        __doc__ = f"{name}(a, b) = a @ b"

        @staticmethod
        def shape(checker, call):
            a, b = check_args(checker, call, 2)
            node = S.Binary(op="@", left=call.args[0], right=call.args[1], start=call.start, end=call.end,
                            line=call.line, source=call.source)
            return checker.matmul(node, a, b)

        lower = staticmethod(lambda lw, call: matmul(lw.visit(call.args[0]), lw.visit(call.args[1])))
        value = staticmethod(lambda ev, call: np.matmul(ev(call.args[0]), ev(call.args[1])))
        code = staticmethod(lambda tc, call: f"{tc.wrap(call.args[0], 2)} @ {tc.wrap(call.args[1], 3)}")
        sympy = staticmethod(lambda toy, call, args: toy.matmul(args[0], args[1]))
        latex = staticmethod(lambda call, args: (latex_wrap(args[0], 2) + " " + latex_wrap(args[1], 3), 2))
    function(name, arity=2, example=f"{name}(X, x)")(_F)


for _name in ("dot", "matmul"):
    _matmul_function(_name)


@function("outer", arity=2, example="outer(x, y)")
class _Outer:
    """outer(u, v)[i, j] = u[i] v[j]"""
    @staticmethod
    def shape(checker, call):
        a, b = check_args(checker, call, 2)
        for s, arg in ((a, call.args[0]), (b, call.args[1])):
            if sum(1 for d in s if d != 1) > 1 or not s:
                raise err(arg, f"outer() takes vectors, got shape {fmt_shape(s)}")
        return (_vec_dim(a), _vec_dim(b))

    @staticmethod
    def lower(lw, call):
        (ea, ia), (eb, ib) = lw.visit(call.args[0]), lw.visit(call.args[1])
        ea, i = _as_vector(ea, ia)
        eb, j = _as_vector(eb, ib)
        return ea * eb, (i, j)

    value = staticmethod(lambda ev, call: np.outer(ev(call.args[0]), ev(call.args[1])))
    code = staticmethod(lambda tc, call: f"{tc.np}.outer({tc(call.args[0])}, {tc(call.args[1])})")

    @staticmethod
    def sympy(toy, call, args):
        (u, _), (v, _) = args
        return u.reshape(len(u), 1) * v.reshape(1, len(v)), 2

    latex = staticmethod(lambda call, args: (latex_wrap(args[0], 8) + " " + latex_wrap(args[1], 9) + r"^\top", 2))


def _vec_dim(s):
    return next((d for d in s if d != 1), 1)


def _as_vector(e, idx):
    keep = next((i for i in idx if i.dim != 1), idx[-1])
    return e.sum_over([i for i in idx if i is not keep and i in e.free]), keep


@function("transpose", example="transpose(M)")
class _Transpose:
    """transpose(X) = Xᵀ"""
    shape = staticmethod(lambda checker, call: tuple(reversed(check_args(checker, call, 1)[0])))

    @staticmethod
    def lower(lw, call):
        e, idx = lw.visit(call.args[0])
        return e, tuple(reversed(idx))

    value = staticmethod(lambda ev, call: np.transpose(ev(call.args[0])))
    code = staticmethod(lambda tc, call: f"{tc.wrap(call.args[0], 9)}.T")
    sympy = staticmethod(lambda toy, call, args: ((args[0][0].T if args[0][1] == 2 else args[0][0]), args[0][1]))
    latex = staticmethod(lambda call, args: (latex_wrap(args[0], 9) + r"^\top", 8))


# -- reductions ---------------------------------------------------------------------------------
def _reduced_shape(checker, call):
    (s, *_) = check_args(checker, call, (1, 2), ("axis", "keepdims"))
    axis, keep = axis_of(call, s), keepdims_of(call)
    if axis is None:
        return tuple(1 for _ in s) if keep else ()
    return tuple(1 if (k == axis) else d for k, d in enumerate(s) if keep or k != axis)


def _sum_latex(head):
    def latex(call, args):
        axis = call.kw("axis")
        sub = "" if axis is None else f"_{{\\text{{axis}}={axis}}}"
        return head + sub + " " + latex_wrap(args[0], 9), 2
    return latex


def reduce_sympy(x, nd, axis, keepdims, mean):
    """np.sum / np.mean on the toy layout (a 1-D array held as a column): (matrix, ndim) of the result."""
    import sympy as sp
    if axis is None or nd < 2:
        out = sp.Matrix([[sum(x) / (len(x) if mean else 1)]])
        return out, (nd if keepdims else 0)
    if axis in (1, -1):
        out = sp.Matrix(x.rows, 1, lambda i, j: sum(x[i, k] for k in range(x.cols)))
        return out / (x.cols if mean else 1), (2 if keepdims else 1)
    out = sp.Matrix(1, x.cols, lambda i, j: sum(x[k, j] for k in range(x.rows))) / (x.rows if mean else 1)
    return (out, 2) if keepdims else (out.T, 1)


@function("sum", aliases=("nansum",), example="sum(M, axis=0)")
class _Sum:
    """sum(x, axis=None|0|1, keepdims=False); np.nansum is the same on data without NaNs"""
    shape = staticmethod(_reduced_shape)

    @staticmethod
    def lower(lw, call):
        low = lw.visit(call.args[0])
        return reduce_sum(low, axis_of(call, lw.shape(call.args[0])), keepdims_of(call))

    value = staticmethod(lambda ev, call: np.sum(ev(call.args[0]), *_axis_arg(call), **_kw_value(call)))
    code = staticmethod(lambda tc, call: f"{tc.np}.sum({tc(call.args[0])}{_kw_code(tc, _axis_kw(call))})")

    @staticmethod
    def sympy(toy, call, args):
        return reduce_sympy(*args[0], _axis_kw(call).kw("axis"), bool(call.kw("keepdims")), False)

    latex = staticmethod(_sum_latex(r"\sum"))


@function("mean", example="mean(M, axis=1, keepdims=True)")
class _Mean:
    """mean(x, axis, keepdims) = sum(x, axis, keepdims) / (number of entries summed)"""
    shape = staticmethod(_reduced_shape)

    @staticmethod
    def lower(lw, call):
        shape = lw.shape(call.args[0])
        axis = axis_of(call, shape)
        e, idx = reduce_sum(lw.visit(call.args[0]), axis, keepdims_of(call))
        dims = shape if axis is None else (shape[axis],)
        return e * T.power(size_of(dims), -1), idx

    value = staticmethod(lambda ev, call: np.mean(ev(call.args[0]), *_axis_arg(call), **_kw_value(call)))
    code = staticmethod(lambda tc, call: f"{tc.np}.mean({tc(call.args[0])}{_kw_code(tc, _axis_kw(call))})")

    @staticmethod
    def sympy(toy, call, args):
        return reduce_sympy(*args[0], _axis_kw(call).kw("axis"), bool(call.kw("keepdims")), True)

    latex = staticmethod(_sum_latex(r"\operatorname{mean}"))


def _variance(lw, call):
    """(index form, indices) of mean((x − mean(x, axis, keepdims=True))², axis, keepdims): NumPy's
    var (ddof 0), the mean and the square written out, so every result reads them as the algebra has them."""
    shape = lw.shape(call.args[0])
    axis = axis_of(call, shape)
    e, idx = lw.visit(call.args[0])
    mu, mu_idx = reduce_sum(lw.visit(call.args[0]), axis, False)
    kept = [i for k, i in enumerate(idx) if axis is not None and k != axis]
    dims = shape if axis is None else (shape[axis],)
    dev = e - mu.rename(dict(zip(mu_idx, kept))) * T.power(size_of(dims), -1)
    v, out = reduce_sum((T.power(dev, 2), idx), axis, keepdims_of(call))
    return v * T.power(size_of(dims), -1), out


def _variance_sympy(call, args):
    import sympy as sp
    x, nd = args[0]
    axis, keep = _axis_kw(call).kw("axis"), bool(call.kw("keepdims"))
    mk, _ = reduce_sympy(x, nd, axis, True, True)
    dev = sp.Matrix(x.rows, x.cols, lambda i, j: x[i, j] - mk[i if mk.rows > 1 else 0, j if mk.cols > 1 else 0])
    return reduce_sympy(dev.applyfunc(lambda t: t ** 2), nd, axis, keep, True)


def _variance_code(name):
    def code(tc, call):
        kw = _kw_code(tc, _axis_kw(call))
        if tc.target == "torch":                    # torch divides by n − 1 unless told
            return f"torch.{name}({tc(call.args[0])}{kw}, correction=0)"
        return f"{tc.np}.{name}({tc(call.args[0])}{kw})"
    return code


@function("var", example="np.var(M, axis=1, keepdims=True)", namespaced=True)
class _Var:
    """var(x, axis, keepdims) = mean((x − mean(x, axis, keepdims=True))², axis, keepdims), as np.var (ddof 0)"""
    shape = staticmethod(_reduced_shape)
    lower = staticmethod(_variance)
    value = staticmethod(lambda ev, call: np.var(ev(call.args[0]), *_axis_arg(call), **_kw_value(call)))
    code = staticmethod(_variance_code("var"))
    sympy = staticmethod(lambda toy, call, args: _variance_sympy(call, args))
    latex = staticmethod(_sum_latex(r"\operatorname{var}"))


@function("std", example="np.std(M, axis=0)", namespaced=True)
class _Std:
    """std(x, axis, keepdims) = √var(x, axis, keepdims), as np.std (ddof 0)"""
    shape = staticmethod(_reduced_shape)

    @staticmethod
    def lower(lw, call):
        v, out = _variance(lw, call)
        return T.power(v, Fraction(1, 2)), out

    value = staticmethod(lambda ev, call: np.std(ev(call.args[0]), *_axis_arg(call), **_kw_value(call)))
    code = staticmethod(_variance_code("std"))

    @staticmethod
    def sympy(toy, call, args):
        v, nd = _variance_sympy(call, args)
        return v.applyfunc(toy.sp.sqrt), nd

    latex = staticmethod(_sum_latex(r"\operatorname{std}"))


def _axis_arg(call):
    """A positional axis (np.sum(A, 0)) as NumPy takes it."""
    return [int(a.value) for a in call.args[1:]]


def _axis_kw(call):
    """The call with a positional axis moved to the keyword (for the code and SymPy forms)."""
    if len(call.args) > 1:
        return S.Call(fn=call.fn, args=call.args[:1], kwargs=call.kwargs + (("axis", int(call.args[1].value)),),
                      start=call.start, end=call.end, line=call.line, source=call.source)
    return call


@function("squeeze", example="squeeze(sum(M, axis=1, keepdims=True))")
class _Squeeze:
    """np.squeeze(x): the size-1 axes removed (a (1, 1) cost becomes a scalar)"""
    @staticmethod
    def shape(checker, call):
        (s,) = check_args(checker, call, 1)
        return tuple(d for d in s if d != 1)

    @staticmethod
    def lower(lw, call):
        e, idx = lw.visit(call.args[0])
        units = [i for i in idx if i.dim == 1]
        return (e.sum_over([i for i in units if i in e.free]) if units else e), tuple(i for i in idx if i.dim != 1)

    value = staticmethod(lambda ev, call: np.squeeze(ev(call.args[0])))
    code = staticmethod(lambda tc, call: f"{tc.np}.squeeze({tc(call.args[0])})")

    @staticmethod
    def sympy(toy, call, args):
        x, nd = args[0]
        if x.shape == (1, 1):
            return x, 0
        if nd == 2 and x.rows == 1:
            return x.T, 1                         # a (1, n) row becomes a 1-D vector (held as a column)
        return x, (1 if nd == 2 and x.cols == 1 else nd)

    latex = staticmethod(lambda call, args: args[0])


# -- constant arrays ----------------------------------------------------------------------------
def _filled(name, fill):
    """np.ones(shape) and np.zeros(shape), and the *_like forms (the shape of another array)."""
    like = name.endswith("_like")

    class _F:
        __doc__ = f"{name}({'a' if like else 'shape'}): an array of {fill}s" + (" shaped like a" if like else "")

        @staticmethod
        def shape(checker, call):
            (s,) = check_args(checker, call, 1)
            if like:
                return s
            dims = call.args[0]
            for d in dims.items:
                if isinstance(d, str) and d not in checker.dims:
                    raise err(dims, f"{d} is not a dimension of the declared arrays",
                              f"dimensions: {', '.join(sorted(checker.dims)) or 'none'}")
            return tuple(dims.items)

        @staticmethod
        def lower(lw, call):
            idx = fresh_idx(lw.shape(call))
            return T.const(fill), idx

        @staticmethod
        def value(ev, call):
            if like:
                return np.full(np.shape(ev(call.args[0])), float(fill))
            return np.full(tuple(d if isinstance(d, int) else int(ev.dims[d]) for d in call.args[0].items), float(fill))

        @staticmethod
        def code(tc, call):
            if like:
                return f"{tc.np}.{name}({tc(call.args[0])})"
            shape = "(" + ", ".join(str(d) for d in call.args[0].items) + ("," if len(call.args[0].items) == 1 else "") + ")"
            base = name.replace("_like", "")
            return f"torch.{base}({shape}, dtype=dtype)" if tc.target == "torch" else f"{tc.np}.{base}({shape})"

        @staticmethod
        def sympy(toy, call, args):
            if like:
                x, nd = args[0]
                return x.applyfunc(lambda v: toy.sp.Integer(fill)), nd
            sizes = [d if isinstance(d, int) else toy.dims[d] for d in call.args[0].items]
            rows, cols = (sizes + [1, 1])[:2]
            return toy.sp.Matrix(rows, cols, lambda i, j: toy.sp.Integer(fill)), len(sizes)

        @staticmethod
        def latex(call, args):
            return (r"\mathbf{1}" if fill else "0"), 9
    function(name, example=f"{name}(M) * M" if like else f"{name}((n, m)) * M")(_F)


for _name, _fill in (("ones", 1), ("zeros", 0), ("ones_like", 1), ("zeros_like", 0)):
    _filled(_name, _fill)


# -- matrix functions ---------------------------------------------------------------------------
def _need_square(call, s):
    if len(s) != 2 or s[0] != s[1]:
        raise err(call, f"{call.fn}() needs a square matrix, got shape {fmt_shape(s)}")


@function("trace", aliases=("tr",))
class _Trace:
    """trace(X) = Σᵢ X[i,i]"""
    @staticmethod
    def shape(checker, call):
        (s,) = check_args(checker, call, 1)
        _need_square(call, s)
        return ()

    @staticmethod
    def lower(lw, call):
        e, (i, j) = lw.visit(call.args[0])
        return e.rename({j: i}).sum_over([i]), ()

    value = staticmethod(lambda ev, call: np.trace(ev(call.args[0])))
    code = staticmethod(lambda tc, call: f"{tc.np}.trace({tc(call.args[0])})")
    sympy = staticmethod(lambda toy, call, args: (toy.sp.Matrix([[args[0][0].trace()]]), 0))
    latex = staticmethod(lambda call, args: latex_call(r"\operatorname{tr}", args))


def _matrix_function(fn):
    """The language's function for a matrix function of rules.MATRIX_FUNCTIONS, read from its entry."""
    class _F:
        __doc__ = fn.doc

        @staticmethod
        def shape(checker, call):
            (s,) = check_args(checker, call, 1)
            _need_square(call, s)
            return () if fn.scalar else s

        @staticmethod
        def lower(lw, call):
            e, idx = lw.visit(call.args[0])
            out = () if fn.scalar else fresh_idx(idx and tuple(i.dim for i in idx))
            return T.matfn(fn.name, e, idx, out), out

        value = staticmethod(lambda ev, call: fn.value(ev(call.args[0])))
        code = staticmethod(lambda tc, call: fn.code[tc.target].format(x=tc(call.args[0])))

        @staticmethod
        def sympy(toy, call, args):
            out = fn.sympy(toy.sp, args[0][0])
            return (toy.sp.Matrix([[out]]), 0) if fn.scalar else (out, 2)

        @staticmethod
        def latex(call, args):
            return latex_call(fn.latex, args) if fn.scalar else (latex_wrap(args[0], 9) + fn.latex, 8)
    function(fn.name, domain=fn.domain)(_F)


for _fn in MATRIX_FUNCTIONS.values():
    _matrix_function(_fn)


@function("norm", example="norm(M)")
class _Norm:
    """norm(x) = √(Σ x²): vector 2-norm, matrix Frobenius norm (as np.linalg.norm)"""
    @staticmethod
    def shape(checker, call):
        check_args(checker, call, 1)
        return ()

    @staticmethod
    def lower(lw, call):
        e, idx = lw.visit(call.args[0])
        return T.power((e ** 2).sum_over(idx), Fraction(1, 2)), ()

    value = staticmethod(lambda ev, call: np.linalg.norm(ev(call.args[0])))
    code = staticmethod(lambda tc, call: f"{tc.np}.linalg.norm({tc(call.args[0])})")
    sympy = staticmethod(lambda toy, call, args: (toy.sp.Matrix([[toy.sp.sqrt(sum(v ** 2 for v in args[0][0]))]]), 0))
    latex = staticmethod(lambda call, args: (rf"\left\|{args[0][0]}\right\|", 9))


@function("diag", example="diag(x) @ X")
class _Diag:
    """diag(v) = the matrix with v on its diagonal; diag(X) = the diagonal of a square X (as np.diag)"""
    @staticmethod
    def shape(checker, call):
        (s,) = check_args(checker, call, 1)
        if len(s) == 1:
            return (s[0], s[0])
        if len(s) == 2 and s[0] == s[1]:
            return (s[0],)
        raise err(call, f"diag() takes a vector or a square matrix, got shape {fmt_shape(s)}")

    @staticmethod
    def lower(lw, call):
        e, idx = lw.visit(call.args[0])
        if len(idx) == 1:
            j = idx[0].fresh()
            return e * T.delta(idx[0], j), (idx[0], j)
        return e.rename({idx[1]: idx[0]}), (idx[0],)

    value = staticmethod(lambda ev, call: np.diag(ev(call.args[0])))
    code = staticmethod(lambda tc, call: f"{tc.np}.diag({tc(call.args[0])})")

    @staticmethod
    def sympy(toy, call, args):
        x, nd = args[0]
        if nd == 1:
            return toy.sp.diag(*list(x)), 2
        return toy.sp.Matrix([x[i, i] for i in range(x.rows)]), 1

    latex = staticmethod(lambda call, args: latex_call(r"\operatorname{diag}", args))


@function("eye", example="eye(n) * X + X")
class _Eye:
    """eye(n) = the n×n identity"""
    @staticmethod
    def shape(checker, call):
        if len(call.args) != 1 or call.kwargs:
            raise err(call, "eye() takes one dimension, e.g. eye(n)")
        a = call.args[0]
        if isinstance(a, S.Const) and a.value.denominator == 1 and 1 <= a.value <= 10 ** 4:
            n = int(a.value)
        elif isinstance(a, S.Name) and a.id in checker.dims:
            n = a.id
        else:
            raise err(a, "eye() takes a dimension name or an integer between 1 and 10000")
        checker.of[a] = ()
        return (n, n)

    @staticmethod
    def lower(lw, call):
        i, j = fresh_idx(lw.shape(call))
        return T.delta(i, j), (i, j)

    @staticmethod
    def value(ev, call):
        a = call.args[0]
        return np.eye(int(a.value) if isinstance(a, S.Const) else int(ev.dims[a.id]))

    @staticmethod
    def code(tc, call):
        return f"torch.eye({tc(call.args[0])}, dtype=dtype)" if tc.target == "torch" else \
            f"{tc.np}.eye({tc(call.args[0])})"

    @staticmethod
    def sympy(toy, call, args):
        a = call.args[0]
        return toy.sp.eye(int(a.value) if isinstance(a, S.Const) else toy.dims[a.id]), 2

    latex = staticmethod(lambda call, args: (f"I_{{{args[0][0]}}}", 9))


@function("dim", arity=2, example="X / dim(X, 0)")
class _Dim:
    """X.shape[k] = the size of axis k of X (a dimension such as m), written dim(X, k)"""
    @staticmethod
    def shape(checker, call):
        if len(call.args) != 2 or call.kwargs or not isinstance(call.args[0], S.Name) or \
                not isinstance(call.args[1], S.Const):
            raise err(call, "write the size of an axis as X.shape[k] for a declared array X")
        of = checker.visit(call.args[0])
        k = call.args[1].value
        if k.denominator != 1 or not -len(of) <= k < len(of):
            raise err(call, f"{call.args[0].id} has {len(of)} axes; there is no axis {k}",
                      f"{call.args[0].id} has shape {fmt_shape(of)}")
        checker.of[call.args[1]] = ()
        return ()

    @staticmethod
    def lower(lw, call):
        d = lw.shape(call.args[0])[int(call.args[1].value)]
        return (T.const(d) if isinstance(d, int) else T.atom(T.Var(d, (), is_dim=True))), ()

    value = staticmethod(lambda ev, call: float(np.shape(ev(call.args[0]))[int(call.args[1].value)]))
    code = staticmethod(lambda tc, call: f"{tc(call.args[0])}.shape[{tc(call.args[1])}]")

    @staticmethod
    def sympy(toy, call, args):
        x, nd = args[0]
        return toy.sp.Matrix([[toy.sp.Integer(x.shape[int(call.args[1].value)] if nd == 2 else x.rows)]]), 0

    latex = staticmethod(lambda call, args: (rf"\operatorname{{size}}_{{{args[1][0]}}}\left({args[0][0]}\right)", 9))


# -- softmax and log-sum-exp --------------------------------------------------------------------
def softmax_value(x, axis=None):
    z = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return z / np.sum(z, axis=axis, keepdims=True)


def softmax_sympy(x, axis):
    import sympy as sp
    e = x.applyfunc(sp.exp)
    if axis is None:
        return e / sum(e)
    if axis == 0:
        return sp.Matrix(e.rows, e.cols, lambda i, j: e[i, j] / sum(e[k, j] for k in range(e.rows)))
    return sp.Matrix(e.rows, e.cols, lambda i, j: e[i, j] / sum(e[i, k] for k in range(e.cols)))


def _logsumexp_value(x, axis=None, keepdims=False):
    c = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - c), axis=axis, keepdims=True)) + c
    return out if keepdims else (np.squeeze(out, axis=axis) if axis is not None else out.reshape(()))


SOFTMAX_HELPER = ("def softmax(z, axis=None):\n"
                  "    e = np.exp(z - np.max(z, axis=axis, keepdims=True))\n"
                  "    return e / np.sum(e, axis=axis, keepdims=True)")
LOGSUMEXP_HELPER = ("def logsumexp(z, axis=None, keepdims=False):\n"
                    "    top = np.max(z, axis=axis, keepdims=True)\n"
                    "    out = top + np.log(np.sum(np.exp(z - top), axis=axis, keepdims=True))\n"
                    "    return out if keepdims else (np.squeeze(out, axis) if axis is not None else out.item())")


@function("softmax", example="softmax(M, axis=0)", activation=True)
class _Softmax:
    """softmax(x, axis=None) = exp(x) / Σ exp(x) over the axis (as scipy.special.softmax)"""
    @staticmethod
    def shape(checker, call):
        (s, *_) = check_args(checker, call, (1, 2), ("axis",))
        axis_of(call, s)
        return s

    @staticmethod
    def lower(lw, call):
        e, idx = lw.visit(call.args[0])
        axis = axis_of(call, lw.shape(call.args[0]))
        ex = T.func("exp", e)
        reduced = idx if axis is None else (idx[axis],)
        ren = {i: i.fresh() for i in reduced}
        total = ex.rename(ren).sum_over(ren.values())
        return ex * T.power(total, -1), idx

    value = staticmethod(lambda ev, call: softmax_value(ev(call.args[0]), *_axis_arg(call), **_kw_value(call)))

    @staticmethod
    def code(tc, call):
        a, axis = tc(call.args[0]), _axis_kw(call).kw("axis")
        if tc.target == "torch":
            return f"torch.softmax({a}, {axis})" if axis is not None else \
                f"torch.softmax(torch.flatten({a}), 0).reshape({a}.shape)"
        if tc.target == "jax":
            return f"jax.nn.softmax({a}, axis={axis})"
        tc.need({"softmax": SOFTMAX_HELPER})
        return f"softmax({a}, {axis})"

    @staticmethod
    def sympy(toy, call, args):
        x, nd = args[0]
        return softmax_sympy(x, _axis_kw(call).kw("axis") if nd == 2 else None), nd

    @staticmethod
    def latex(call, args):
        return latex_call(r"\operatorname{softmax}", args, "".join(rf", \text{{{k}}}={v}" for k, v in call.kwargs))


@function("logsumexp", example="logsumexp(M, axis=1)")
class _LogSumExp:
    """logsumexp(x, axis=None, keepdims=False) = log Σ exp(x) (as scipy.special.logsumexp)"""
    shape = staticmethod(_reduced_shape)

    @staticmethod
    def lower(lw, call):
        e, idx = lw.visit(call.args[0])
        axis = axis_of(call, lw.shape(call.args[0]))
        s, out = reduce_sum((T.func("exp", e), idx), axis, keepdims_of(call))
        return T.func("log", s), out

    value = staticmethod(lambda ev, call: _logsumexp_value(ev(call.args[0]), *_axis_arg(call), **_kw_value(call)))

    @staticmethod
    def code(tc, call):
        c = _axis_kw(call)
        a, axis, keep = tc(call.args[0]), c.kw("axis"), bool(c.kw("keepdims", False))
        if tc.target == "torch":
            dims = "tuple(range(" + a + ".dim()))" if axis is None else str(axis)
            return f"torch.logsumexp({a}, {dims}{', keepdim=True' if keep else ''})"
        if tc.target == "jax":
            return f"jax.nn.logsumexp({a}, axis={axis}, keepdims={keep})"
        tc.need({"logsumexp": LOGSUMEXP_HELPER})
        return f"logsumexp({a}, {axis}, {keep})"

    @staticmethod
    def sympy(toy, call, args):
        x, nd = args[0]
        s, snd = reduce_sympy(x.applyfunc(toy.sp.exp), nd, _axis_kw(call).kw("axis"), bool(call.kw("keepdims")), False)
        return s.applyfunc(toy.sp.log), snd

    @staticmethod
    def latex(call, args):
        return latex_call(r"\operatorname{logsumexp}", args, "".join(rf", \text{{{k}}}={v}" for k, v in call.kwargs))


# -- stated results only (the identity catalog's vec forms): not part of the derive language -----
def commutation(m, n):
    """K with K vec(A) = vec(Aᵀ) for an m×n matrix A (column-major vec)."""
    m, n = int(m), int(n)
    k = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            k[j + i * n, i + j * m] = 1.0
    return k


@function("kron", stated=True)
class _Kron:
    """kron(A, B) = A ⊗ B"""
    value = staticmethod(lambda ev, call: np.kron(ev(call.args[0]), ev(call.args[1])))
    latex = staticmethod(lambda call, args: (latex_wrap(args[0], 3) + r" \otimes " + latex_wrap(args[1], 3), 2))


@function("vec", stated=True)
class _Vec:
    """vec(A): the columns of A stacked (column-major)"""
    value = staticmethod(lambda ev, call: np.reshape(ev(call.args[0]), -1, order="F"))
    latex = staticmethod(lambda call, args: latex_call(r"\operatorname{vec}", args))


@function("commutation", stated=True)
class _Commutation:
    """commutation(m, n): K with K vec(A) = vec(Aᵀ) for an m×n A"""
    value = staticmethod(lambda ev, call: commutation(ev(call.args[0]), ev(call.args[1])))
    latex = staticmethod(lambda call, args: latex_call(r"\operatorname{commutation}", args))
