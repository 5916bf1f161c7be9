"""The derivative rules: one entry per primitive operation of the index IR, formula in the docstring.

Element-wise functions give f′ as an index expression of the argument; matrix functions give the
differential (Matrix Cookbook numbers in brackets). Structural rules (sums, products, deltas) are
the algorithm itself, in differentiate.py. Each entry also names its valid input domain, which the
tests use to draw data (the registry test is generated from this table).
"""
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np

from . import tensor as T


@dataclass(frozen=True)
class Elementwise:
    name: str
    derivative: Callable          # arg Expr -> f′(arg) Expr
    domain: str                   # "real" | "positive" | "nonzero"
    numpy: str                    # NumPy code, {x} standing for the argument
    text: str                     # how the Unicode printer names it
    latex: str                    # how the LaTeX printer names it
    value: Callable               # the function on arrays (for numeric evaluation)
    doc: str


ELEMENTWISE = {}


def elementwise(name, *, numpy, value, domain="real", text=None, latex=None):
    def register(fn):
        ELEMENTWISE[name] = Elementwise(name, fn, domain, numpy, text or name,
                                        latex or rf"\operatorname{{{name}}}", value, (fn.__doc__ or "").strip())
        return fn
    return register


@elementwise("exp", numpy="np.exp({x})", value=np.exp, latex=r"\exp")
def _exp(x):
    """exp′(x) = exp(x)"""
    return T.func("exp", x)


@elementwise("log", numpy="np.log({x})", value=np.log, domain="positive", latex=r"\log")
def _log(x):
    """log′(x) = 1/x"""
    return T.power(x, -1)


@elementwise("sin", numpy="np.sin({x})", value=np.sin, latex=r"\sin")
def _sin(x):
    """sin′(x) = cos(x)"""
    return T.func("cos", x)


@elementwise("cos", numpy="np.cos({x})", value=np.cos, latex=r"\cos")
def _cos(x):
    """cos′(x) = −sin(x)"""
    return -T.func("sin", x)


@elementwise("tanh", numpy="np.tanh({x})", value=np.tanh, latex=r"\tanh")
def _tanh(x):
    """tanh′(x) = 1 − tanh²(x)"""
    return T.factor(1 - T.func("tanh", x) ** 2)


@elementwise("sigmoid", numpy="1 / (1 + np.exp(-{x}))", value=lambda x: 1 / (1 + np.exp(-x)), text="σ",
             latex=r"\sigma")
def _sigmoid(x):
    """σ′(x) = σ(x)(1 − σ(x)) = σ(x)σ(−x)   (kept as two σ factors so that they can cancel)"""
    return T.func("sigmoid", x) * T.func("sigmoid", -x)


@elementwise("relu", numpy="np.maximum({x}, 0)", value=lambda x: np.maximum(x, 0), domain="nonzero")
def _relu(x):
    """relu′(x) = [x > 0]  (the derivative at 0 is taken as 0)"""
    return T.func("gt0", x)


@elementwise("abs", numpy="np.abs({x})", value=np.abs, domain="nonzero")
def _abs(x):
    """abs′(x) = sign(x)"""
    return T.func("sign", x)


@elementwise("sign", numpy="np.sign({x})", value=np.sign, domain="nonzero")
def _sign(x):
    """sign′(x) = 0 away from 0"""
    return T.ZERO


@elementwise("gt0", numpy="np.heaviside({x}, 0)", value=lambda x: np.heaviside(x, 0.0), domain="nonzero")
def _gt0(x):
    """[x > 0]′ = 0 away from 0 (a comparison is piecewise constant)"""
    return T.ZERO


@elementwise("ge0", numpy="np.heaviside({x}, 1)", value=lambda x: np.heaviside(x, 1.0), domain="nonzero")
def _ge0(x):
    """[x ≥ 0]′ = 0 away from 0"""
    return T.ZERO


# -- matrix functions: differential in index form ---------------------------------------------
# Each takes the atom and a callable d(a, b) giving ∂arg[a, b] (an Expr) and returns the derivative.

@dataclass(frozen=True)
class MatrixFunction:
    name: str
    derivative: Callable
    domain: str
    doc: str


MATRIX_FUNCTIONS = {}


def matrix_function(name, domain):
    def register(fn):
        MATRIX_FUNCTIONS[name] = MatrixFunction(name, fn, domain, (fn.__doc__ or "").strip())
        return fn
    return register


def _inverse(atom, i, j):
    """inv(arg)[i, j] as an expression."""
    return T.matfn("inv", atom.arg, atom.arg_idx, (i, j))


@matrix_function("inv", "invertible")
def _d_inv(atom, d):
    """d(X⁻¹) = −X⁻¹ (dX) X⁻¹   [Cookbook 59]"""
    i, j = atom.idx
    a, b = T.Index(atom.arg_idx[0].dim, "a"), T.Index(atom.arg_idx[1].dim, "b")
    return -(_inverse(atom, i, a) * d(a, b) * _inverse(atom, b, j)).sum_over((a, b))


@matrix_function("det", "invertible")
def _d_det(atom, d):
    """d det(X) = det(X) tr(X⁻¹ dX)   [Cookbook 41]"""
    a, b = T.Index(atom.arg_idx[0].dim, "a"), T.Index(atom.arg_idx[1].dim, "b")
    return T.atom(atom) * (_inverse(atom, b, a) * d(a, b)).sum_over((a, b))


@matrix_function("logdet", "spd")
def _d_logdet(atom, d):
    """d log|det X| = tr(X⁻¹ dX)   [Cookbook 57]"""
    a, b = T.Index(atom.arg_idx[0].dim, "a"), T.Index(atom.arg_idx[1].dim, "b")
    return (_inverse(atom, b, a) * d(a, b)).sum_over((a, b))


# -- algebraic facts used by the normal form ------------------------------------------------

POSITIVE_FUNCS = {"exp", "sigmoid"}


def is_positive(a):
    """Is this atom known to be > 0 everywhere (so that log and fractional powers split)?"""
    if isinstance(a, T.Func):
        return a.name in POSITIVE_FUNCS
    if isinstance(a, T.Group):
        return bool(a.expr.terms) and all(
            t.coef > 0 and all(is_positive(b) or (isinstance(x, int) and x % 2 == 0) for b, x in t.factors)
            for t in a.expr.terms)
    return False


def simplify_func(name, arg):
    """Rewrites applied when a function node is built: log∘exp, log of a positive product, constants."""
    c = arg.constant_value()
    if c is not None:
        if name == "exp" and c == 0:
            return T.const(1)
        if name == "log" and c == 1:
            return T.ZERO
        if name in ("sin", "tanh", "relu", "abs", "sign", "gt0") and c == 0:
            return T.ZERO
        if name == "cos" and c == 0:
            return T.const(1)
        if name == "sigmoid" and c == 0:
            return T.const(Fraction(1, 2))
    if name == "log" and len(arg.terms) == 1:
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
