"""The derivative rules: one entry per primitive operation of the index IR, formula in the docstring.

Element-wise functions give f′ as an index expression of the argument; matrix functions give the
differential (Matrix Cookbook numbers in brackets). Structural rules (sums, products, deltas) are
the algorithm itself, in differentiate.py. Each entry also names its valid input domain, which the
tests use to draw data (the registry test is generated from this table).
"""
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np

from . import tensor as T


@dataclass(frozen=True)
class Elementwise:
    """Everything chainrule knows about one element-wise function: every part of the program reads it
    from here (derivative, value, code per target, SymPy form, printing, domain, algebraic facts)."""
    name: str
    derivative: Callable          # (arg Expr, params) -> f′(arg) Expr
    value: Callable               # (array, *params) -> array, NumPy semantics
    code: dict                    # target -> code with {x} for the argument (and {p0}, {p1} for params)
    sympy: Callable               # (sympy module, expr, *params) -> the SymPy form (the toy expansion)
    text: str                     # the Unicode printer's name (σ)
    latex: str                    # the LaTeX printer's name
    domain: str                   # test-data domain: "real" | "positive" | "nonzero" | "unit"
    doc: str                      # the derivative formula
    style: str = "call"           # how printers write it: "call" f(x) | "bars" |x| | "indicator" (x > 0)
    sign: str = "any"             # "positive" (> 0 everywhere) | "nonnegative" | "any"
    exact: Callable = None        # constant folding: (Fraction, *params) -> Fraction, or None when irrational
    homogeneous: int = None       # k when f(c x) = cᵏ f(x) for every c > 0 (indicators 0, relu and |x| 1)
    activation: str = None        # f′ as the course writes it, in the output A and input Z ("1 - A**2")
    surface: bool = True          # a function of the input language under this name
    params: tuple = ()            # names of constant parameters (clip: lo, hi)
    op: str = None                # an indicator's comparison with 0 (">" or ">=")
    helpers: dict = field(default_factory=dict)   # target -> {name: module-level source} the code needs
    rewrite: Callable = None      # (arg, params) -> Expr or None: a simplification when the node is built
    code_negated: dict = field(default_factory=dict)   # target -> code of f(−x) with {x} (σ(−z) = 1/(1 + eᶻ))
    check_params: Callable = None  # (*params) -> a problem with the parameters, or None
    example: str = None           # a use over the test names (X: n×n), when f(X) alone is not one
    title: str = None             # its name in prose ("the ReLU derivative"); the name by default
    bound: int = None             # |f(x)| ≤ bound everywhere (σ, tanh, erf, sin, cos, sign, indicators: 1)

    def apply(self, x, params=()):
        return self.value(x, *params)


ELEMENTWISE = {}


def elementwise(name, *, value, code, sympy, latex=None, text=None, domain="real", **facts):
    """Register an element-wise function; the decorated function is its derivative rule. `code` is the
    NumPy spelling (np.…) or a dict per target; JAX defaults to it with jnp, PyTorch with torch."""
    if isinstance(code, str):
        code = {"numpy": code}
    code = dict(code)
    code.setdefault("jax", code["numpy"].replace("np.", "jnp."))
    code.setdefault("torch", code["numpy"].replace("np.", "torch."))
    facts.setdefault("title", name)
    if isinstance(facts.get("code_negated"), str):
        neg = facts["code_negated"]
        facts["code_negated"] = {"numpy": neg, "jax": neg.replace("np.", "jnp.")}

    def register(fn):
        ELEMENTWISE[name] = Elementwise(name, fn, value, code, sympy, text or name,
                                        latex or rf"\operatorname{{{name}}}", domain, (fn.__doc__ or "").strip(),
                                        **facts)
        return fn
    return register


def _exact_at_zero(v):
    """A function whose only rational value at a rational point is f(0) = v."""
    return lambda c, *p: Fraction(v) if c == 0 else None


@elementwise("exp", value=np.exp, code="np.exp({x})", sympy=lambda sp, x: sp.exp(x), latex=r"\exp",
             sign="positive", exact=_exact_at_zero(1), activation="A")
def _exp(x, p):
    """exp′(x) = exp(x)"""
    return T.func("exp", x)


@elementwise("log", value=np.log, code="np.log({x})", sympy=lambda sp, x: sp.log(x), latex=r"\log",
             domain="positive", exact=lambda c: Fraction(0) if c == 1 else None,
             rewrite=lambda arg, p: _split_log(arg, p))
def _log(x, p):
    """log′(x) = 1/x"""
    return T.power(x, -1)


@elementwise("sin", bound=1, value=np.sin, code="np.sin({x})", sympy=lambda sp, x: sp.sin(x), latex=r"\sin",
             exact=_exact_at_zero(0))
def _sin(x, p):
    """sin′(x) = cos(x)"""
    return T.func("cos", x)


@elementwise("cos", bound=1, value=np.cos, code="np.cos({x})", sympy=lambda sp, x: sp.cos(x), latex=r"\cos",
             exact=_exact_at_zero(1))
def _cos(x, p):
    """cos′(x) = −sin(x)"""
    return -T.func("sin", x)


@elementwise("tanh", bound=1, value=np.tanh, code="np.tanh({x})", sympy=lambda sp, x: sp.tanh(x), latex=r"\tanh",
             exact=_exact_at_zero(0), activation="1 - A**2")
def _tanh(x, p):
    """tanh′(x) = 1 − tanh²(x)"""
    return T.factor(1 - T.func("tanh", x) ** 2)


@elementwise("cosh", value=np.cosh, code="np.cosh({x})", sympy=lambda sp, x: sp.cosh(x), latex=r"\cosh",
             sign="positive", exact=_exact_at_zero(1))
def _cosh(x, p):
    """cosh′(x) = sinh(x)"""
    return T.func("sinh", x)


@elementwise("sinh", value=np.sinh, code="np.sinh({x})", sympy=lambda sp, x: sp.sinh(x), latex=r"\sinh",
             exact=_exact_at_zero(0))
def _sinh(x, p):
    """sinh′(x) = cosh(x)"""
    return T.func("cosh", x)


@elementwise("arctan", value=np.arctan, code={"numpy": "np.arctan({x})", "torch": "torch.atan({x})"},
             sympy=lambda sp, x: sp.atan(x), latex=r"\arctan", exact=_exact_at_zero(0), homogeneous=None)
def _arctan(x, p):
    """arctan′(x) = 1/(1 + x²)"""
    return T.power(1 + x ** 2, -1)


def _sigmoid_value(x):
    return 1 / (1 + np.exp(-x))


@elementwise("sigmoid", bound=1, value=_sigmoid_value, code={"numpy": "1 / (1 + np.exp(-{x}))", "torch": "torch.sigmoid({x})"},
             sympy=lambda sp, x: 1 / (1 + sp.exp(-x)), text="σ", latex=r"\sigma", sign="positive",
             exact=_exact_at_zero(Fraction(1, 2)), activation="A * (1 - A)", code_negated="1 / (1 + np.exp({x}))")
def _sigmoid(x, p):
    """σ′(x) = σ(x)(1 − σ(x)) = σ(x)σ(−x)   (kept as two σ factors so that they can cancel)"""
    return T.func("sigmoid", x) * T.func("sigmoid", -x)


@elementwise("softplus", value=lambda x: np.logaddexp(0, x),
             code={"numpy": "np.logaddexp(0, {x})", "torch": "torch.nn.functional.softplus({x})"},
             sympy=lambda sp, x: sp.log(1 + sp.exp(x)), latex=r"\operatorname{softplus}", sign="positive",
             activation="sigmoid(Z)")
def _softplus(x, p):
    """softplus′(x) = σ(x), for softplus(x) = log(1 + eˣ)"""
    return T.func("sigmoid", x)


@elementwise("log1p", value=np.log1p, code="np.log1p({x})", sympy=lambda sp, x: sp.log(1 + x),
             latex=r"\operatorname{log1p}", domain="positive", exact=_exact_at_zero(0))
def _log1p(x, p):
    """log1p′(x) = 1/(1 + x), for log1p(x) = log(1 + x)"""
    return T.power(1 + x, -1)


@elementwise("expm1", value=np.expm1, code="np.expm1({x})", sympy=lambda sp, x: sp.exp(x) - 1,
             latex=r"\operatorname{expm1}", exact=_exact_at_zero(0))
def _expm1(x, p):
    """expm1′(x) = exp(x), for expm1(x) = eˣ − 1"""
    return T.func("exp", x)


_erf = np.vectorize(math.erf, otypes=[float])
_ERF_HELPER = ("try:\n    from scipy.special import erf\nexcept ImportError:          # exact, slower\n"
               "    import math\n    erf = np.vectorize(math.erf, otypes=[float])")


@elementwise("erf", bound=1, value=lambda x: _erf(x), code={"numpy": "erf({x})", "jax": "jax.scipy.special.erf({x})",
                                                    "torch": "torch.erf({x})"},
             sympy=lambda sp, x: sp.erf(x), latex=r"\operatorname{erf}", exact=_exact_at_zero(0),
             helpers={"numpy": {"erf": _ERF_HELPER}, "jax": {"jax.scipy.special": "import jax.scipy.special"}})
def _erf_rule(x, p):
    """erf′(x) = (2/√π) exp(−x²)"""
    return 2 * T.power(T.named("pi"), Fraction(-1, 2)) * T.func("exp", -(x ** 2))


@elementwise("relu", value=lambda x: np.maximum(x, 0), code={"numpy": "np.maximum({x}, 0)",
                                                             "torch": "torch.clamp({x}, min=0)"},
             sympy=lambda sp, x: sp.Max(x, 0), domain="nonzero", sign="nonnegative",
             exact=lambda c: max(c, Fraction(0)), homogeneous=1, activation="Z > 0", title="ReLU")
def _relu(x, p):
    """relu′(x) = [x > 0]  (the derivative at 0 is taken as 0)"""
    return T.func("gt0", x)


def _clip_value(x, lo, hi):
    return np.clip(x, float(lo), float(hi))


def _clip_exact(c, lo, hi):
    return min(max(c, lo), hi)


@elementwise("clip", value=_clip_value, code={"numpy": "np.clip({x}, {p0}, {p1})", "torch": "torch.clamp({x}, {p0}, {p1})"},
             sympy=lambda sp, x, lo, hi: sp.Min(sp.Max(x, lo), hi),
             latex=r"\operatorname{clip}", domain="nonzero", exact=_clip_exact, params=("lo", "hi"),
             check_params=lambda lo, hi: f"the bounds are in the wrong order ({lo} > {hi})" if lo > hi else None,
             example="clip(X, -0.5, 0.5)")
def _clip(x, p):
    """clip′(x, lo, hi) = [lo < x < hi]  (0 outside the interval)"""
    lo, hi = p
    return T.func("gt0", x - lo) * T.func("gt0", hi - x)


@elementwise("abs", value=np.abs, code="np.abs({x})", sympy=lambda sp, x: sp.Abs(x), domain="nonzero",
             style="bars", sign="nonnegative", exact=abs, homogeneous=1)
def _abs(x, p):
    """abs′(x) = sign(x)"""
    return T.func("sign", x)


@elementwise("sign", bound=1, value=np.sign, code="np.sign({x})", sympy=lambda sp, x: sp.sign(x), domain="nonzero",
             exact=lambda c: Fraction((c > 0) - (c < 0)), homogeneous=0)
def _sign(x, p):
    """sign′(x) = 0 away from 0"""
    return T.ZERO


@elementwise("gt0", bound=1, value=lambda x: np.heaviside(x, 0.0), code={"numpy": "np.heaviside({x}, 0)", "torch": "({x} > 0) * 1.0"},
             sympy=lambda sp, x: sp.Heaviside(x, 0), domain="nonzero", style="indicator", op=">", text="(· > 0)",
             sign="nonnegative", exact=lambda c: Fraction(int(c > 0)), homogeneous=0, surface=False)
def _gt0(x, p):
    """[x > 0]′ = 0 away from 0 (a comparison is piecewise constant)"""
    return T.ZERO


@elementwise("ge0", bound=1, value=lambda x: np.heaviside(x, 1.0), code={"numpy": "np.heaviside({x}, 1)", "torch": "({x} >= 0) * 1.0"},
             sympy=lambda sp, x: sp.Heaviside(x, 1), domain="nonzero", style="indicator", op=">=", text="(· ≥ 0)",
             sign="nonnegative", exact=lambda c: Fraction(int(c >= 0)), homogeneous=0, surface=False)
def _ge0(x, p):
    """[x ≥ 0]′ = 0 away from 0"""
    return T.ZERO


def indicator(op):
    """The element-wise primitive that is the comparison `x op 0` (op ">" or ">=")."""
    return next(f for f in ELEMENTWISE.values() if f.style == "indicator" and f.op == op)


def code_for(fn, target, x, wrapped, params=()):
    """An element-wise function's code for a target: `x` is the argument's code, `wrapped` the same in
    parentheses when it is compound (used where the template negates or powers it)."""
    template = fn.code[target]
    values = {f"p{k}": ("None" if v is None else number_code(v)) for k, v in enumerate(params)}
    return template.format(x=wrapped if "-{x}" in template else x, **values)


def number_code(v):
    """A constant as Python code: 3, 0.5."""
    v = Fraction(v)
    return str(v.numerator) if v.denominator == 1 else repr(float(v))


def numpy_namespace():
    """The names generated NumPy code may use besides the declared ones: np and the helpers (erf)."""
    ns = {"np": np, "erf": _erf}
    return ns


# -- named constants: π and e, printed and generated by name ------------------------------------

@dataclass(frozen=True)
class NamedConstant:
    name: str
    value: float
    text: str
    latex: str
    code: str                     # with {np} for the array library
    sympy: Callable


CONSTANTS = {
    "pi": NamedConstant("pi", math.pi, "π", r"\pi", "{np}.pi", lambda sp: sp.pi),
    "e": NamedConstant("e", math.e, "e", r"\mathrm{e}", "{np}.e", lambda sp: sp.E),
}


# -- matrix functions: differential in index form ---------------------------------------------
# Each takes the atom and a callable d(a, b) giving ∂arg[a, b] (an Expr) and returns the derivative.

@dataclass(frozen=True)
class MatrixFunction:
    """A function of a whole square matrix: its differential, value, code, SymPy form and printing."""
    name: str
    derivative: Callable          # (atom, d) -> derivative, d(a, b) giving ∂arg[a, b]
    domain: str
    doc: str
    value: Callable               # array -> array or number
    code: dict                    # target -> code with {x}
    sympy: Callable               # (sympy module, Matrix) -> Matrix or scalar
    text: str                     # Unicode name ("log det"); the inverse prints as X⁻¹
    latex: str
    scalar: bool                  # det and logdet are scalars; inv is a matrix


MATRIX_FUNCTIONS = {}


def matrix_function(name, domain, *, value, code, sympy, text, latex, scalar=True):
    def register(fn):
        MATRIX_FUNCTIONS[name] = MatrixFunction(name, fn, domain, (fn.__doc__ or "").strip(), value, code, sympy,
                                                text, latex, scalar)
        return fn
    return register


def _inverse(atom, i, j):
    """inv(arg)[i, j] as an expression."""
    return T.matfn("inv", atom.arg, atom.arg_idx, (i, j))


@matrix_function("inv", "invertible", value=np.linalg.inv, scalar=False, text="inv", latex="^{-1}",
                 code={"numpy": "np.linalg.inv({x})", "jax": "jnp.linalg.inv({x})", "torch": "torch.linalg.inv({x})"},
                 sympy=lambda sp, x: x.inv())
def _d_inv(atom, d):
    """d(X⁻¹) = −X⁻¹ (dX) X⁻¹   [Cookbook 59]"""
    i, j = atom.idx
    a, b = T.Index(atom.arg_idx[0].dim, "a"), T.Index(atom.arg_idx[1].dim, "b")
    return -(_inverse(atom, i, a) * d(a, b) * _inverse(atom, b, j)).sum_over((a, b))


@matrix_function("det", "invertible", value=np.linalg.det, text="det", latex=r"\det",
                 code={"numpy": "np.linalg.det({x})", "jax": "jnp.linalg.det({x})", "torch": "torch.linalg.det({x})"},
                 sympy=lambda sp, x: x.det())
def _d_det(atom, d):
    """d det(X) = det(X) tr(X⁻¹ dX)   [Cookbook 41]"""
    a, b = T.Index(atom.arg_idx[0].dim, "a"), T.Index(atom.arg_idx[1].dim, "b")
    return T.atom(atom) * (_inverse(atom, b, a) * d(a, b)).sum_over((a, b))


@matrix_function("logdet", "spd", value=lambda x: np.linalg.slogdet(x)[1], text="log det", latex=r"\log\det",
                 code={"numpy": "np.linalg.slogdet({x})[1]", "jax": "jnp.linalg.slogdet({x})[1]",
                       "torch": "torch.linalg.slogdet({x})[1]"},
                 sympy=lambda sp, x: sp.log(x.det()))
def _d_logdet(atom, d):
    """d log|det X| = tr(X⁻¹ dX)   [Cookbook 57]"""
    a, b = T.Index(atom.arg_idx[0].dim, "a"), T.Index(atom.arg_idx[1].dim, "b")
    return (_inverse(atom, b, a) * d(a, b)).sum_over((a, b))


# -- algebraic facts used by the normal form ------------------------------------------------

def is_positive(a, depth=4):
    """Is this atom known to be > 0 everywhere (so that log and fractional powers split)? A group is
    looked into `depth` levels deep, no further (a deeper one counts as unknown: asked of every
    factor of every term built, an unbounded look costs the square of the nesting)."""
    if isinstance(a, T.Func):
        return ELEMENTWISE[a.name].sign == "positive"
    if isinstance(a, T.Named):
        return CONSTANTS[a.name].value > 0
    if isinstance(a, T.Group) and depth > 0:
        return bool(a.expr.terms) and all(
            t.coef > 0 and all(is_positive(b, depth - 1) or (isinstance(x, int) and x % 2 == 0) for b, x in t.factors)
            for t in a.expr.terms)
    return False


def simplify_func(name, arg, params=()):
    """Rewrites applied when a function node is built, from the entry's facts: exact values at
    constants, homogeneity (relu(2x) = 2 relu(x), [3x > 0] = [x > 0]), and the entry's own rewrite."""
    fn = ELEMENTWISE[name]
    c = arg.constant_value()
    if c is not None and fn.exact is not None:
        v = fn.exact(c, *params)
        if v is not None:
            return T.const(v)
    if fn.homogeneous is not None and len(arg.terms) == 1 and abs(arg.terms[0].coef) != 1 and arg.terms[0].factors:
        t = arg.terms[0]                    # f(c x) = |c|ᵏ f(±x)
        inner = T.Expr([T.Term(Fraction(1 if t.coef > 0 else -1), t.factors, t.summed)])
        return T.power(T.const(abs(t.coef)), fn.homogeneous) * T.func(name, inner, params)
    if fn.rewrite is not None:
        return fn.rewrite(arg, params)
    return None


def _split_log(arg, params):
    """log∘exp = id, and the log of a product of positive factors is the sum of their logs."""
    if len(arg.terms) != 1:
        return None
    t = arg.terms[0]
    splits = t.coef != 1 or len(t.factors) > 1 or any(e != 1 or _is_exp(a) for a, e in t.factors)
    if splits and t.coef > 0 and not t.summed and all(is_positive(a) for a, _ in t.factors):
        out = T.const(0)
        if t.coef != 1:
            out = out + T.atom(T.Func("log", T.const(t.coef)))
        for a, e in t.factors:
            out = out + e * (a.arg if _is_exp(a) else T.func("log", T.Expr.make([T.Term.make(1, ((a, 1),))])))
        return out
    return None


def _is_exp(a):
    return isinstance(a, T.Func) and a.name == "exp"


def _one_plus_exp(a):
    """b when the atom is the group (1 + exp(b)), else None."""
    if not isinstance(a, T.Group) or len(a.expr.terms) != 2:
        return None
    one = [t for t in a.expr.terms if not t.factors and t.coef == 1]
    ex = [t for t in a.expr.terms if t.coef == 1 and not t.summed and len(t.factors) == 1
          and t.factors[0][1] == 1 and _is_exp(t.factors[0][0])]
    return ex[0].factors[0][0].arg if one and ex else None


def rewrite_product(factors):
    """Recognise the logistic function in a product: 1/(1 + exp(b)) = σ(−b), exp(b) σ(−b) = σ(b)."""
    if not any(isinstance(a, T.Group) and e == -1 for a, e in factors) and \
            not any(isinstance(a, T.Func) and a.name == "sigmoid" for a, _ in factors):
        return None                               # the common case, decided without building keys
    for k, (a, e) in enumerate(factors):
        b = _one_plus_exp(a) if e == -1 else None
        if b is not None:
            return factors[:k] + [(T.Func("sigmoid", -b), 1)] + factors[k + 1:]
    for k, (a, e) in enumerate(factors):
        if e != 1 or not _is_exp(a):
            continue
        neg = (-a.arg).key()
        for j, (c, x) in enumerate(factors):
            if x == 1 and isinstance(c, T.Func) and c.name == "sigmoid" and c.arg.key() == neg:
                rest = [f for n, f in enumerate(factors) if n not in (k, j)]
                return rest + [(T.Func("sigmoid", a.arg), 1)]
    return None


def complement_of(e):
    """b when the expression is 1 − σ(b) (which is σ(−b)), else None."""
    if len(e.terms) != 2:
        return None
    one = [t for t in e.terms if not t.factors and t.coef == 1]
    sig = [t for t in e.terms if t.coef == -1 and not t.summed and len(t.factors) == 1 and t.factors[0][1] == 1
           and isinstance(t.factors[0][0], T.Func) and t.factors[0][0].name == "sigmoid"]
    return sig[0].factors[0][0].arg if one and sig else None


def logistic_of(e):
    """u when the expression is 1 + exp(−u) (so that 1 / e is σ(u), the notebook's own sigmoid), else None."""
    if len(e.terms) != 2:
        return None
    one = [t for t in e.terms if not t.factors and t.coef == 1]
    exp = [t for t in e.terms if t.coef == 1 and not t.summed and len(t.factors) == 1 and t.factors[0][1] == 1
           and isinstance(t.factors[0][0], T.Func) and t.factors[0][0].name == "exp"]
    return -exp[0].factors[0][0].arg if one and exp else None


def _sigmoid_factors(t):
    return [(k, a) for k, (a, e) in enumerate(t.factors) if e == 1 and isinstance(a, T.Func) and a.name == "sigmoid"]


def _arg_labels(rest, t, arg):
    labels, _ = rest.labels()
    n = len(labels)
    for ix in arg.indices():
        if ix in t.summed and ix not in labels:
            labels[ix] = f"b{n}"
            n += 1
    return labels


def combine_complements(terms):
    """c R σ(b) + c R σ(−b) = c R, since σ(b) + σ(−b) = 1. Returns new terms, or None if nothing combined."""
    with_sigmoid = [(n, t) for n, t in enumerate(terms) if _sigmoid_factors(t)]
    if len(with_sigmoid) < 2:
        return None
    index = {}
    for n, t in with_sigmoid:
        for k, a in _sigmoid_factors(t):
            rest = T.Term(t.coef, t.factors[:k] + t.factors[k + 1:], t.summed - (a.free - _free_of(t, k)))
            labels = _arg_labels(rest, t, a.arg)
            index.setdefault((rest.key(), t.coef), []).append((n, a.arg.key(labels), (-a.arg).key(labels), rest))
    for group in index.values():
        for x in range(len(group)):
            for y in range(x + 1, len(group)):
                n1, k1, neg1, rest = group[x]
                n2, k2, _, _ = group[y]
                if n1 != n2 and k2 == neg1:
                    out = [t for n, t in enumerate(terms) if n not in (n1, n2)]
                    made = T.Term.make(rest.coef, rest.factors, terms[n1].summed)   # σ-only indices now sum 1
                    return out + ([made] if made is not None else [])
    return None


def _free_of(t, skip):
    s = set()
    for k, (a, _) in enumerate(t.factors):
        if k != skip:
            s |= a.free
    return s


class _RuleFacts(T.Facts):
    """The rule table's algebra, as the IR's normal form asks for it."""
    simplify_func = staticmethod(simplify_func)
    rewrite_product = staticmethod(rewrite_product)
    combine_complements = staticmethod(combine_complements)
    complement_of = staticmethod(complement_of)
    logistic_of = staticmethod(logistic_of)
    is_positive = staticmethod(is_positive)


T.install(_RuleFacts())
