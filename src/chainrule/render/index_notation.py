"""Index notation for index expressions: ∂f/∂x[p] = Σ_j A[p,j] x[j] + …"""
from fractions import Fraction

from ..core import tensor as T
from .printing import coef_text, frac_latex, latex_name, params_text
from ..core.rules import CONSTANTS, ELEMENTWISE, MATRIX_FUNCTIONS

OUT_NAMES = "ijkl"
WRT_NAMES = "pqrsuv"
BOUND_NAMES = "abcdefghmnotwyz"


class IndexPrinter:
    def __init__(self, out=(), wrt=()):
        self.names = {}
        for i, n in zip(out, OUT_NAMES):
            self.names[i] = n
        for i, n in zip(wrt, WRT_NAMES):
            self.names[i] = n
        self.next_bound = 0

    def name(self, i):
        if i not in self.names:
            k = self.next_bound
            self.next_bound += 1
            base = BOUND_NAMES[k % len(BOUND_NAMES)]
            self.names[i] = base + ("" if k < len(BOUND_NAMES) else str(k // len(BOUND_NAMES)))
        return "0" if i.dim == 1 else self.names[i]

    # -- notation hooks (Unicode here; LaTeX in IndexLatexPrinter) --------------------------
    MINUS = "−"

    def sum_prefix(self, names):
        return "Σ_" + ",".join(names) + " "

    def over_dim(self, name):
        return f"(1/{name})"

    def coef_text(self, c):
        return coef_text(c)

    def power(self, s, e):
        if e == Fraction(1, 2):
            return f"√{s}"
        if e == -1:
            return f"1/{s}"
        if e == Fraction(-1, 2):
            return f"1/√{s}"
        if e.denominator == 1 and 2 <= e <= 9:
            return s + "⁰¹²³⁴⁵⁶⁷⁸⁹"[e.numerator]
        return f"{s}^{e}" if e.denominator == 1 and e > 0 else f"{s}^({str(e).replace('-', self.MINUS)})"   # x^(3/2)

    def indexed(self, name, idx):
        return f"{name}[{','.join(idx)}]" if idx else name

    def func(self, fn, inner, params):
        if fn.style == "bars":
            return f"|{inner}|"
        return f"{fn.text}({inner}{params_text(params)})"

    def indicator(self, inner, op):
        return f"[{inner} {op.replace('>=', '≥')} 0]"

    def constant(self, c):
        return c.text

    def matrix_function(self, fn, inner):
        return f"{fn.text}({inner})"

    def paren(self, s):
        return f"({s})"

    # -- the walk ----------------------------------------------------------------------------
    def expr(self, e):
        if not e.terms:
            return "0"
        out = ""
        for k, t in enumerate(e.terms):
            s = self.term(t)
            if k == 0:
                out = s
            elif s.startswith(self.MINUS):
                out += f" {self.MINUS} " + s[len(self.MINUS):]
            else:
                out += " + " + s
        return out

    def term(self, t):
        T.spend(0.25 + len(t.factors) / 32)  # printing is work too (a quarter of building a term, as measured)
        summed = sorted((i for i in t.summed if i.dim != 1), key=lambda i: i.n)
        for i in summed:
            self.name(i)
        front = [(a, e) for a, e in t.factors if isinstance(a, T.Var) and a.is_dim and e == -1]
        parts = [self.over_dim(a.name) for a, _ in front] + \
            [self.factor(a, e) for a, e in t.factors if (a, e) not in front]
        body = " ".join(parts)
        coef = t.coef
        sign = self.MINUS if coef < 0 else ""
        coef = abs(coef)
        if coef != 1 or not parts:
            body = f"{self.coef_text(coef)} {body}".strip()
        if summed:
            body = self.sum_prefix([self.name(i) for i in summed]) + body
        return sign + body

    def factor(self, a, e):
        s = self.atom(a)
        return s if e == 1 else self.power(s, e)

    def atom(self, a):
        if isinstance(a, T.Var):
            return self.indexed(a.name, [self.name(i) for i in a.idx])
        if isinstance(a, T.Delta):
            return self.indexed("δ", [self.name(a.a), self.name(a.b)])
        if isinstance(a, T.Func):
            fn = ELEMENTWISE[a.name]
            if fn.style == "indicator":
                return self.indicator(self.expr(a.arg), fn.op)
            return self.func(fn, self.expr(a.arg), a.params)
        if isinstance(a, T.Named):
            return self.constant(CONSTANTS[a.name])
        if isinstance(a, T.Group):
            return self.paren(self.expr(a.expr))
        if isinstance(a, T.MatFn):
            simple = len(a.arg.terms) == 1 and a.arg.terms[0].coef == 1 and len(a.arg.terms[0].factors) == 1 \
                and isinstance(a.arg.terms[0].factors[0][0], T.Var) and a.arg.terms[0].factors[0][0].idx == a.arg_idx \
                and a.arg.terms[0].factors[0][1] == 1
            inner = a.arg.terms[0].factors[0][0].name if simple else self.expr(a.arg)
            idx = [self.name(i) for i in a.idx]
            fn = MATRIX_FUNCTIONS[a.name]
            if not fn.scalar:
                return self.indexed(f"{inner}⁻¹" if simple else f"inv({inner})", idx)
            return self.matrix_function(fn, inner)
        raise TypeError(a)


class IndexLatexPrinter(IndexPrinter):
    """The same index expression in LaTeX: \\sum_{a} (W_{2})_{ai} (\\mathit{dZ}_{2})_{aj} …"""
    MINUS = "-"

    def sum_prefix(self, names):
        return r"\sum_{" + ",".join(names) + "} "

    def over_dim(self, name):
        return rf"\frac{{1}}{{{latex_name(name)}}}"

    def coef_text(self, c):
        return frac_latex(c)

    def power(self, s, e):
        if e == Fraction(1, 2):
            return rf"\sqrt{{{s}}}"
        if e == -1:
            return rf"\frac{{1}}{{{s}}}"
        exp = str(e) if e.denominator == 1 else rf"{e.numerator}/{e.denominator}"
        return f"{{{s}}}^{{{exp}}}"

    def indexed(self, name, idx):
        base = {"δ": r"\delta"}.get(name) or (latex_name(name[:-2]) + "^{-1}" if name.endswith("⁻¹")
                                               else latex_name(name))
        if not idx:
            return base
        if "_" in base or "^" in base:
            base = f"({base})"
        return f"{base}_{{{''.join(idx)}}}"

    def func(self, fn, inner, params):
        if fn.style == "bars":
            return rf"\left|{inner}\right|"
        return rf"{fn.latex}\left({inner}{params_text(params)}\right)"

    def indicator(self, inner, op):
        return f"[{inner} " + (">" if op == ">" else r"\ge") + " 0]"

    def constant(self, c):
        return c.latex

    def matrix_function(self, fn, inner):
        return rf"{fn.latex}\left({inner}\right)"

    def paren(self, s):
        return rf"\left({s}\right)"


def index_text(expr, out, wrt_idx, label):
    """'∂f[i]/∂x[p] = …' with readable index names."""
    p = IndexPrinter([i for i in out if i not in wrt_idx], wrt_idx)
    lhs_idx = ",".join(p.name(i) for i in out)
    lhs = f"{label}[{lhs_idx}]" if out else label
    return f"{lhs} = {p.expr(expr)}"


def index_latex(expr, out, wrt_idx, label):
    """The same equation as index_text, in LaTeX (label already LaTeX)."""
    p = IndexLatexPrinter([i for i in out if i not in wrt_idx], wrt_idx)
    names = [p.name(i) for i in out]
    lhs = f"\\left({label}\\right)_{{{''.join(names)}}}" if out else label
    return f"{lhs} = {p.expr(expr)}"
