"""Index notation for index expressions: ∂f/∂x[p] = Σ_j A[p,j] x[j] + …"""
from fractions import Fraction

from . import tensor as T

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

    def expr(self, e):
        if not e.terms:
            return "0"
        out = ""
        for k, t in enumerate(e.terms):
            s = self.term(t)
            if k == 0:
                out = s
            elif s.startswith("−"):
                out += " − " + s[1:]
            else:
                out += " + " + s
        return out

    def term(self, t):
        summed = sorted((i for i in t.summed if i.dim != 1), key=lambda i: i.n)
        for i in summed:
            self.name(i)
        front = [(a, e) for a, e in t.factors if isinstance(a, T.Var) and a.is_dim and e == -1]
        parts = [f"(1/{a.name})" for a, _ in front] + [self.factor(a, e) for a, e in t.factors if (a, e) not in front]
        body = " ".join(parts)
        coef = t.coef
        sign = "−" if coef < 0 else ""
        coef = abs(coef)
        if coef != 1 or not parts:
            c = str(coef) if coef.denominator == 1 else f"({coef})"
            body = f"{c} {body}".strip()
        if summed:
            body = "Σ_" + ",".join(self.name(i) for i in summed) + " " + body
        return sign + body

    def factor(self, a, e):
        s = self.atom(a)
        if e == 1:
            return s
        if e == Fraction(1, 2):
            return f"√{s}"
        if e == -1:
            return f"1/{s}"
        return f"{s}^{e}"

    def atom(self, a):
        if isinstance(a, T.Var):
            if not a.idx:
                return a.name
            return f"{a.name}[{','.join(self.name(i) for i in a.idx)}]"
        if isinstance(a, T.Delta):
            return f"δ[{self.name(a.a)},{self.name(a.b)}]"
        if isinstance(a, T.Func):
            if a.name in ("gt0", "ge0"):
                return f"[{self.expr(a.arg)} {'>' if a.name == 'gt0' else '≥'} 0]"
            name = {"sigmoid": "σ"}.get(a.name, a.name)
            return f"{name}({self.expr(a.arg)})"
        if isinstance(a, T.Group):
            return f"({self.expr(a.expr)})"
        if isinstance(a, T.MatFn):
            simple = len(a.arg.terms) == 1 and a.arg.terms[0].coef == 1 and len(a.arg.terms[0].factors) == 1 \
                and isinstance(a.arg.terms[0].factors[0][0], T.Var) and a.arg.terms[0].factors[0][0].idx == a.arg_idx \
                and a.arg.terms[0].factors[0][1] == 1
            inner = a.arg.terms[0].factors[0][0].name if simple else self.expr(a.arg)
            if a.name == "inv" and simple:
                return f"{inner}⁻¹[{','.join(self.name(i) for i in a.idx)}]"
            if a.name == "inv":
                return f"inv({inner})[{','.join(self.name(i) for i in a.idx)}]"
            return f"{a.name}({inner})"
        raise TypeError(a)


def index_text(expr, out, wrt_idx, label):
    """'∂f[i]/∂x[p] = …' with readable index names."""
    p = IndexPrinter([i for i in out if i not in wrt_idx], wrt_idx)
    lhs_idx = ",".join(p.name(i) for i in out)
    lhs = f"{label}[{lhs_idx}]" if out else label
    return f"{lhs} = {p.expr(expr)}"
