"""Differentiation in index form: one algorithm, structural rules here, operation rules in rules.py.

`diff(e, x, p)` returns ∂e/∂x[p] as an index expression whose free indices are e's plus `p`.
Every rule application is recorded in a trace (rule name, formula) for the explanations.
"""
from fractions import Fraction

from . import tensor as T
from .rules import ELEMENTWISE, MATRIX_FUNCTIONS


class Trace:
    """The rules that fired, in order, with their formulas (rendered by explain)."""

    def __init__(self):
        self.steps = []

    def record(self, rule, formula):
        if (rule, formula) not in self.steps:
            self.steps.append((rule, formula))


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
        if len(t.factors) > 1 or e != 1:
            trace.record("product rule" if len(t.factors) > 1 else "power rule",
                         "∂(f g) = ∂f g + f ∂g" if len(t.factors) > 1 else "∂(fⁿ) = n fⁿ⁻¹ ∂f")
        rest = t.factors[:k] + t.factors[k + 1:] + (((a, e - 1),) if e != 1 else ())
        coef = t.coef * Fraction(e)
        head = T.Expr([x for x in [T.Term.make(coef, rest, frozenset())] if x is not None])
        # da's own summed indices are freshened by the product; t.summed stays bound over both
        prod = head * da
        # t's summed indices stay summed over every piece, used or not (Σᵢ c = m c)
        pieces.extend(T.Expr.make([T.Term.make(u.coef, u.factors, u.summed | t.summed)
                                   for u in prod.terms]).terms)
    if t.summed:
        trace.record("sum rule", "∂(Σₖ fₖ) = Σₖ ∂fₖ")
    return T.Expr.make(pieces)


def _diff_atom(a, wrt, widx, trace, memo):
    if isinstance(a, T.Var):
        if a.name != wrt:
            return T.ZERO
        trace.record("variable", f"∂{wrt}[i]/∂{wrt}[p] = δ[i,p]")
        out = T.const(1)
        for i, p in zip(a.idx, widx):
            out = out * T.delta(i, p)
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
        trace.record(f"chain rule through {rule.text}", rule.doc)
        return rule.derivative(a.arg, a.params) * darg
    if isinstance(a, T.MatFn):
        rule = MATRIX_FUNCTIONS[a.name]
        darg = _diff_expr(a.arg, wrt, widx, trace, memo)
        if darg.is_zero():
            return T.ZERO
        trace.record(f"{a.name} rule", rule.doc)

        def d(i, j):
            return darg.rename({a.arg_idx[0]: i, a.arg_idx[1]: j})
        return rule.derivative(a, d)
    raise TypeError(f"unknown atom {a!r}")
