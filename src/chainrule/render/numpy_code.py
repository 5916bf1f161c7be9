"""NumPy code for matrix notation: exact for 1-D vectors, columns and matrices (shapes are known)."""
from fractions import Fraction

from ..core.matrix import MDiag, MNamed, MScale, mat_scale
from .printing import decimal_text, join_sum, norm_of, split_division
from ..core.rules import CONSTANTS, ELEMENTWISE, MATRIX_FUNCTIONS, code_for

PY_ADD, PY_MUL, PY_UNARY, PY_POW, PY_ATOM = 1, 2, 3, 4, 5


class NumpyPrinter:
    """NumPy code over `np` and the declared names; `dims` maps a dimension name to code for it."""

    np = "np"                 # the array library's name in the code (jnp for JAX)
    target = "numpy"          # the key of each registry entry's code

    def __init__(self, dims=None):
        self.dims = dims or {}

    def __call__(self, m):
        return self.p(m)[0]

    def dim(self, d):
        return str(d) if isinstance(d, int) else self.dims.get(d, d)

    def shape(self, shape):
        return "(" + ", ".join(self.dim(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"

    def wrap(self, m, prec):
        s, q = self.p(m)
        return f"({s})" if q < prec else s

    def p(self, m):
        """(text, precedence) of a node; a node met again (a shared or repeated subtree) is printed once."""
        memo = self.__dict__.setdefault("_printed", {})
        hit = memo.get(id(m))
        if hit is None:
            hit = memo[id(m)] = (m, getattr(self, "p_" + type(m).__name__)(m))    # m kept alive: ids unique
        return hit[1]

    def p_MVar(self, m):
        return (self.dim(m.name) if m.is_dim else m.name), PY_ATOM

    def p_MNum(self, m):
        v = m.value
        d = _decimal(v)                          # 1e-8 as the user wrote it, not 1 / 100000000
        if d is not None:
            return d, PY_ATOM if v >= 0 else PY_UNARY
        s = str(v.numerator) if v.denominator == 1 else f"{v.numerator} / {v.denominator}"
        return s, PY_ATOM if v.denominator == 1 and v >= 0 else PY_MUL if v >= 0 else PY_UNARY

    def p_MIdentity(self, m):
        return f"{self.np}.eye({self.dim(m.n)})", PY_ATOM

    def p_MOnes(self, m):
        return f"{self.np}.ones({self.shape(m.shape)})", PY_ATOM

    def p_MZeros(self, m):
        return (f"{self.np}.zeros({self.shape(m.shape)})" if m.shape else "0.0"), PY_ATOM

    def p_MT(self, m):
        if m.x.ndim < 2:
            return self.p(m.x)
        return self.wrap(m.x, PY_ATOM) + ".T", PY_ATOM

    def p_MMatFn(self, m):
        return MATRIX_FUNCTIONS[m.name].code[self.target].format(x=self(m.x)), PY_ATOM

    def p_MNamed(self, m):
        return CONSTANTS[m.name].code.format(np=self.np), PY_ATOM

    def p_MFunc(self, m):
        fn = ELEMENTWISE[m.name]
        negated = fn.code_negated.get(self.target)
        if negated and isinstance(m.x, MScale) and m.x.coef < 0:
            code = negated.format(x=self(mat_scale(-m.x.coef, m.x.x)))
        else:
            x, prec = self.p(m.x)
            code = code_for(fn, self.target, x, f"({x})" if prec < PY_POW else x, m.params)
        self.needs(fn)
        return code, PY_MUL if code.startswith("1 /") else PY_ATOM

    def needs(self, fn):
        """A function whose code calls a helper (erf): recorded for the module writer."""

    def p_MPow(self, m):
        e = m.e
        if norm_of(m) is not None and norm_of(m)[1] == 1:
            return f"{self.np}.linalg.norm({self(norm_of(m)[0])})", PY_ATOM
        if e == Fraction(1, 2) and not isinstance(m.x, MNamed):     # √π stays a Python number: π ** 0.5
            return f"{self.np}.sqrt({self(m.x)})", PY_ATOM
        if e == -1:
            return f"1 / {self.wrap(m.x, PY_POW)}", PY_MUL
        exp = str(e.numerator) if e.denominator == 1 else repr(float(e))
        if e < 0:
            exp = f"({exp})"
        return f"{self.wrap(m.x, PY_POW + 1)} ** {exp}", PY_POW

    def p_MScale(self, m):
        c = m.coef
        if c == -1:
            return "-" + self.wrap(m.x, PY_UNARY), PY_UNARY
        num = str(c.numerator) if c.denominator == 1 else _decimal(c) or f"({c.numerator} / {c.denominator})"
        if c.numerator == 1 and c.denominator != 1 and _decimal(c) is None:
            return f"{self.wrap(m.x, PY_MUL)} / {c.denominator}", PY_MUL
        return f"{num} * {self.wrap(m.x, PY_MUL + 1)}", PY_MUL

    def p_MMatMul(self, m):
        a, b = m.a, m.b
        if isinstance(a, MDiag):
            v = self.wrap(a.v, PY_ATOM)
            return (f"{v}[:, None] * {self.wrap(b, PY_MUL + 1)}" if b.ndim == 2 else
                    f"{v} * {self.wrap(b, PY_MUL + 1)}"), PY_MUL
        if isinstance(b, MDiag):
            return f"{self.wrap(a, PY_MUL)} * {self.wrap(b.v, PY_MUL + 1)}", PY_MUL
        return f"{self.wrap(a, PY_MUL)} @ {self.wrap(b, PY_MUL + 1)}", PY_MUL

    def p_MHad(self, m):
        num, den = split_division(m.factors)
        s = " * ".join(self.wrap(f, PY_MUL + (1 if k else 0)) for k, f in enumerate(num)) if num else "1"
        for d in den:
            s = f"{s} / {self.wrap(d, PY_MUL + 1)}"
        return s, PY_MUL

    def p_MAdd(self, m):
        return join_sum(self, m, "-", PY_ADD + 1, PY_UNARY), PY_ADD

    def p_MSum(self, m):
        if m.axis is None and not m.keepdims:
            return f"{self.np}.sum({self(m.x)})", PY_ATOM
        args = [self(m.x)] + ([f"axis={m.axis}"] if m.axis is not None else []) + \
            (["keepdims=True"] if m.keepdims else [])
        return f"{self.np}.sum({', '.join(args)})", PY_ATOM

    def p_MTrace(self, m):
        return f"{self.np}.trace({self(m.x)})", PY_ATOM

    def p_MDiag(self, m):
        return f"{self.np}.diag({self(m.v)})", PY_ATOM

    def p_MDiagPart(self, m):
        return f"{self.np}.diag({self(m.x)})", PY_ATOM

    def p_MOuter(self, m):
        return f"{self.np}.outer({self(m.u)}, {self(m.v)})", PY_ATOM

    def p_MExpand(self, m):
        x = self.wrap(m.x, PY_ATOM)
        if m.x.ndim == 1:
            return (f"{x}[:, None]" if m.axis == 1 else f"{x}[None, :]"), PY_ATOM
        return f"{self.np}.expand_dims({self(m.x)}, {m.axis})", PY_ATOM

    def p_MSqueeze(self, m):
        x = self.wrap(m.x, PY_ATOM)
        if m.x.ndim == 2:
            return (f"{x}[:, 0]" if m.axis == 1 else f"{x}[0]"), PY_ATOM
        return f"{x}[0]", PY_ATOM

    def p_MEinsum(self, m):
        return f"{self.np}.einsum('{m.spec}', " + ", ".join(self(o) for o in m.operands) + ", optimize=True)", PY_ATOM

    def p_MReshape(self, m):
        return f"{self.np}.reshape({self(m.x)}, {self.shape(m.shape)})", PY_ATOM

    def p_MSoftmax(self, m):
        e = f"{self.np}.exp({self(m.x)})"
        if m.axis is None:
            return f"{e} / {self.np}.sum({e})", PY_MUL
        return f"{e} / {self.np}.sum({e}, axis={m.axis}, keepdims=True)", PY_MUL




def to_numpy(m, dims=None):
    return NumpyPrinter(dims)(m)


def _decimal(c):
    """A decimal literal for code when a float holds it (1e-592 would silently be 0.0: kept exact)."""
    return decimal_text(c) if c and 1e-300 < abs(c) < 1e300 else None
