"""Differentiation in index form: one algorithm, structural rules here, operation rules in rules.py.

`diff(e, x, p)` returns ∂e/∂x[p] as an index expression whose free indices are e's plus `p`.
Every rule application is recorded in a trace, in order: the rule, its formula, what it
differentiated and what that produced (index-form IR); explain renders that record.
"""
import dataclasses
from fractions import Fraction

from . import tensor as T
from .rules import ELEMENTWISE, MATRIX_FUNCTIONS


@dataclasses.dataclass(frozen=True, eq=False)
class Step:
    """One rule application: ∂before/∂wrt[widx] = after; with `derivative` False, a rewrite
    before = after of a derivative already taken (backprop's vector-Jacobian product)."""
    rule: str              # "product rule", "chain rule through tanh", …
    formula: str           # the rule's formula (the entry's docstring form)
    before: T.Expr         # what was differentiated (an atom, a term or a sum, as an expression)
    after: T.Expr          # what it produced
    wrt: str
    widx: tuple
    derivative: bool = True


class Trace:
    """The derivation's record: `steps` in the order the rules fired (inner derivatives first);
    `rules`, the (rule, formula) pairs that fired, each once, for a short list."""

    def __init__(self):
        self.steps = []

    def record(self, rule, formula, before, after, wrt, widx, derivative=True):
        self.steps.append(Step(rule, formula, before, after, wrt, tuple(widx), derivative))

    @property
    def rules(self):
        return list(dict.fromkeys((s.rule, s.formula) for s in self.steps))


def diff(expr, wrt, widx, trace=None):
    """∂expr/∂wrt[widx] in index form."""
    memo = {}
    return _diff_expr(expr, wrt, tuple(widx), trace or Trace(), memo)


def _diff_expr(expr, wrt, widx, trace, memo):
    key = id(expr)
    if key in memo:
        return memo[key][1]
    out = []
    for t in expr.terms:
        out.extend(_diff_term(t, wrt, widx, trace, memo).terms)
    result = T.Expr.make(out)
    memo[key] = (expr, result)          # keep expr alive so its id is not reused
    return result


def _diff_term(t, wrt, widx, trace, memo):
    """Product rule: ∂(c Π fₖ^eₖ) = Σₖ c eₖ fₖ^(eₖ−1) ∂fₖ Π_{j≠k} fⱼ^eⱼ."""
    pieces = []
    for k, (a, e) in enumerate(t.factors):
        da = _diff_atom(a, wrt, widx, trace, memo)
        if da.is_zero():
            continue
        rest = t.factors[:k] + t.factors[k + 1:] + (((a, e - 1),) if e != 1 else ())
        coef = t.coef * Fraction(e)
        head = T.Expr([x for x in [T.Term.make(coef, rest, frozenset())] if x is not None])
        # da's own summed indices are freshened by the product; t.summed stays bound over both
        pieces.extend((head * da).terms)
    if not pieces:
        return T.ZERO
    if len(t.factors) > 1 or t.factors[0][1] != 1:
        rule = ("product rule", "∂(f g) = ∂f g + f ∂g") if len(t.factors) > 1 else ("power rule", "∂(fⁿ) = n fⁿ⁻¹ ∂f")
        trace.record(*rule, T.Expr([T.Term(t.coef, t.factors, frozenset())]), T.Expr(pieces), wrt, widx)
    if not t.summed:
        return T.Expr.make(pieces)
    # t's summed indices stay summed over every piece, used or not (Σᵢ c = m c)
    result = T.Expr.make([T.Term.make(u.coef, u.factors, u.summed | t.summed) for u in pieces])
    trace.record("sum rule", "∂(Σₖ fₖ) = Σₖ ∂fₖ", T.Expr([t]), result, wrt, widx)
    return result


def _diff_atom(a, wrt, widx, trace, memo):
    if isinstance(a, T.Var):
        if a.name != wrt:
            return T.ZERO
        out = T.const(1)
        for i, p in zip(a.idx, widx):
            out = out * T.delta(i, p)
        trace.record("variable", f"∂{wrt}[i]/∂{wrt}[p] = δ[i,p]", T.atom(a), out, wrt, widx)
        return out
    if isinstance(a, (T.Delta, T.Named)):
        return T.ZERO
    if isinstance(a, T.Group):
        return _diff_expr(a.expr, wrt, widx, trace, memo)
    if isinstance(a, T.Func):
        darg = _diff_expr(a.arg, wrt, widx, trace, memo)
        if darg.is_zero():
            return T.ZERO
        rule = ELEMENTWISE[a.name]
        out = rule.derivative(a.arg, a.params) * darg
        trace.record(f"chain rule through {rule.text}", rule.doc, T.atom(a), out, wrt, widx)
        return out
    if isinstance(a, T.MatFn):
        rule = MATRIX_FUNCTIONS[a.name]
        darg = _diff_expr(a.arg, wrt, widx, trace, memo)
        if darg.is_zero():
            return T.ZERO

        def d(i, j):
            return darg.rename({a.arg_idx[0]: i, a.arg_idx[1]: j})
        out = rule.derivative(a, d)
        trace.record(f"{a.name} rule", rule.doc, T.atom(a), out, wrt, widx)
        return out
    raise TypeError(f"unknown atom {a!r}")
