"""Printers for matrix notation: Unicode text, LaTeX and NumPy code."""
import re
from fractions import Fraction

from ..core.matrix import (column, mat_scale, mat_t, MAdd, MExpand, MFunc, MHad, MIdentity, MMatFn, MMatMul,
                     MNamed, MNum, MOnes, MOuter, MPow, MScale, MSqueeze, MSum, MT, MVar)
from ..core.rules import CONSTANTS, ELEMENTWISE, MATRIX_FUNCTIONS

ADD, MUL, HAD, UNARY, POST, ATOM = 0, 1, 1, 2, 3, 4
SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_LEFT = re.compile(r"(?:^|[^A-Za-z0-9_])([A-Za-z]|[0-9]+)[ᵀ⁻¹²³⁰-⁹]*$")
_RIGHT = re.compile(r"^([A-Za-z])(?![A-Za-z0-9_(])")


def params_text(params):
    """A function's constant parameters after its argument: clip(x, 0, 1)."""
    return "".join(", " + ("None" if p is None else _frac_text(p) if p.denominator == 1 else str(float(p)))
                   for p in params)


def _frac_text(c):
    if _long(c):
        return _scientific(c)
    d = decimal_text(c)
    if d is not None:
        return d
    return str(c.numerator) if c.denominator == 1 else f"{c.numerator}/{c.denominator}"


def decimal_text(c):
    """A number as the user wrote it when it is a decimal (1e-8, 0.044715, 2.5e-5), exactly: a fraction
    whose denominator is 2ᵃ5ᵇ past 1,000 (1/100000000 is 1e-8); None for the others (1/2, 1/3, 2/m)."""
    d, a, b = c.denominator, 0, 0
    if d == 1 or (d < 1000 and len(str(abs(c.numerator))) < 4):
        return None
    while d % 2 == 0:
        d, a = d // 2, a + 1
    while d % 5 == 0:
        d, b = d // 5, b + 1
    if d != 1:
        return None
    k = max(a, b)
    digits = str(abs(c.numerator) * 10 ** k // c.denominator).rstrip("0")
    point = len(str(abs(c.numerator) * 10 ** k // c.denominator)) - k     # where the decimal point goes
    sign = "-" if c < 0 else ""
    if point <= -3:                                     # 0.00001 → 1e-5, 0.000025 → 2.5e-5
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{point - 1}"
    whole = abs(c.numerator) // c.denominator
    frac = str(abs(c.numerator) * 10 ** k // c.denominator - whole * 10 ** k).rjust(k, "0").rstrip("0")
    return f"{sign}{whole}.{frac}"


def coef_text(c):
    """A coefficient before a product: integers and decimals bare, other fractions in parentheses."""
    return _frac_text(c) if c.denominator == 1 or decimal_text(c) is not None else f"({_frac_text(c)})"


def _long(c):
    """A number whose exact digits nobody reads (1e200 · 1e200): printed in scientific notation."""
    return max(len(str(abs(c.numerator))), len(str(c.denominator))) > 15


def _scientific(c):
    from decimal import Decimal, getcontext
    getcontext().prec = 6
    mantissa, _, exponent = f"{Decimal(c.numerator) / Decimal(c.denominator):.5e}".partition("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def _edge(m, last):
    """The symbol a printed product starts (last=False) or ends with: a name, '#' for a number,
    '(' for a parenthesised group, or None for a function call."""
    if isinstance(m, MVar):
        return m.name
    if isinstance(m, MNum):
        return "#"
    if isinstance(m, MIdentity):
        return "I"
    if isinstance(m, MNamed):
        return CONSTANTS[m.name].text
    if isinstance(m, (MT, MSqueeze, MExpand)):
        return _edge(m.x, last)
    if isinstance(m, MMatFn) and m.name == "inv":
        return _edge(m.x, last) if isinstance(m.x, (MVar, MT)) else "("
    if isinstance(m, MMatMul):
        if last and isinstance(m.b, MOnes):
            return "𝟏"
        return _edge(m.b if last else m.a, last)
    if isinstance(m, MOuter):
        return _edge(m.v if last else m.u, last)
    if isinstance(m, MScale):
        return _edge(m.x, last) if last else "#"
    if isinstance(m, (MAdd,)):
        return "("
    if isinstance(m, MPow) and m.e.denominator == 1 and m.e > 0 and not isinstance(m.x, MFunc):
        return _edge(m.x, last) if isinstance(m.x, MVar) else "("
    return None


def _juxtapose(left, right, a=None, b=None):
    """Write a product without a space between one-letter symbols and groups (AᵀBᵀ, 2Mᵀ(Mx − t)),
    with a space around longer names and function calls (dZ2 A1ᵀ, X diag(v) Xᵀ)."""
    ea = _edge(a, True) if a is not None else ("(" if left.endswith(")") and left.startswith("(") else None)
    eb = _edge(b, False) if b is not None else ("(" if right.startswith("(") else None)
    if right.startswith("(") and eb is None:
        eb = "("
    if left.endswith(")") and left.startswith("(") and ea is None:
        ea = "("
    tight_a = ea is not None and (ea == "(" or (len(ea) == 1 and not (ea == "#" and ("." in left or "e" in left))))
    tight_b = eb is not None and (eb == "(" or len(eb) == 1) and eb != "𝟏"
    if ea == "#" and eb == "(" or (ea == "(" and eb == "("):
        return left + right
    return left + right if tight_a and tight_b else f"{left} {right}"


def _row_broadcast(m):
    """A 1-D vector made a row to scale a matrix's columns: NumPy broadcasts it so as it is (dout ⊙ gamma)."""
    return isinstance(m, MExpand) and m.axis == 0 and m.x.ndim == 1


def reciprocal(m):
    """x when m is 1/x (x^(−k) → x^k, through a size-1 axis too), else None: such factors print as
    divisions."""
    if isinstance(m, MPow) and m.e < 0:
        return MPow(m.x, -m.e) if m.e != -1 else m.x
    if isinstance(m, (MExpand, MSqueeze)) and isinstance(m.x, MPow) and m.x.e < 0:
        return type(m)(reciprocal(m.x), m.axis)
    return None


def split_division(factors):
    """(numerator factors, denominators) of an element-wise product."""
    return [f for f in factors if reciprocal(f) is None], [reciprocal(f) for f in factors if reciprocal(f) is not None]


def join_sum(printer, m, minus, term_prec, first_negated_prec):
    """A sum written with + and `minus`, positive term first, the all-ones term as 1."""
    out = ""
    for k, t in enumerate(_scalar_ones(m)):
        neg = _is_neg(t)
        if neg:
            t = mat_scale(-t.coef, t.x) if isinstance(t, MScale) else MNum(-t.value)
        if k == 0:
            out = minus + printer.wrap(t, first_negated_prec) if neg else printer.wrap(t, term_prec)
        else:
            out += (f" {minus} " if neg else " + ") + printer.wrap(t, term_prec)
    return out


def _positive_first(terms):
    """Print a sum starting with a positive term when there is one: σ − Y, not −Y + σ."""
    k = next((n for n, t in enumerate(terms) if not _is_neg(t)), 0)
    return (terms[k],) + terms[:k] + terms[k + 1:]


def _scalar_ones(m):
    """In a sum with a full-shape term, an all-ones term is just the number 1, v ⊙ 𝟏𝟏ᵀ just v and a
    row just the vector: they broadcast, as NumPy writes dP - np.sum(dP * P, axis=1, keepdims=True)."""
    if not any(t.shape == m.shape and not isinstance(t, MOnes) and _unbroadcast(t) is None for t in m.terms):
        return _positive_first(m.terms)
    return _positive_first(tuple(MNum(Fraction(1)) if isinstance(t, MOnes) else
                 mat_scale(t.coef, MNum(Fraction(1))) if isinstance(t, MScale) and isinstance(t.x, MOnes) else
                 _unbroadcast(t) or _bare_row(t) or t for t in m.terms))


def _bare_row(t):
    """v for a 1-D v made a row (coefficient kept), else None: beside a full-shape term it broadcasts
    down the rows as NumPy writes it, x - sample_mean (not x − sample_meanᵀ)."""
    c, x = (t.coef, t.x) if isinstance(t, MScale) else (None, t)
    if not _row_broadcast(x):
        return None
    return x.x if c is None else mat_scale(c, x.x)


def _spread_sum(f):
    """(a ⊙ 𝟏𝟏ᵀ + b ⊙ 𝟏𝟏ᵀ) beside a full-shape factor of ⊙ is (a + b): the product broadcasts it."""
    if not isinstance(f, MAdd):
        return f
    terms = [_unbroadcast(t) for t in f.terms]
    return f if any(t is None for t in terms) else MAdd(tuple(terms), f.shape)


def _unbroadcast(t):
    """v for v ⊙ 𝟏𝟏ᵀ (a column, row or scalar spread over a matrix; coefficients kept), else None."""
    c, x = (t.coef, t.x) if isinstance(t, MScale) else (None, t)
    if not (isinstance(x, MHad) and len(x.factors) == 2 and isinstance(x.factors[1], MOnes)):
        return None
    v = x.factors[0]
    if v.ndim and (v.ndim != x.ndim or any(a != b and a != 1 for a, b in zip(v.shape, x.shape))):
        return None
    return v if c is None else mat_scale(c, v)


def norm_of(m):
    """(y, k) when m is (Σ y²)^(k/2), which prints as ‖y‖ᵏ; else None."""
    if not (isinstance(m, MPow) and m.e.denominator == 2):
        return None
    x = m.x
    if isinstance(x, MSum) and x.axis is None and isinstance(x.x, MPow) and x.x.e == 2:
        return x.x.x, int(2 * m.e)
    if isinstance(x, MMatMul) and x.b.ndim == 1 and isinstance(x.a, MT) and x.a.x == x.b:
        return x.b, int(2 * m.e)
    return None


def _is_neg(m):
    return (isinstance(m, MScale) and m.coef < 0) or (isinstance(m, MNum) and m.value < 0)


class TextPrinter:
    """Unicode matrix notation, as a person writes it (1-D vectors are columns)."""

    def __call__(self, m):
        return self.p(m)[0]

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
        return m.name, ATOM

    def p_MNum(self, m):
        return _frac_text(m.value), ATOM if m.value.denominator == 1 and m.value >= 0 else MUL

    def p_MIdentity(self, m):
        return "I", ATOM

    def p_MOnes(self, m):
        return ("𝟏" if m.ndim < 2 else "𝟏𝟏ᵀ"), ATOM

    def p_MZeros(self, m):
        return "0", ATOM

    def p_MT(self, m):
        if isinstance(m.x, MMatFn) and m.x.name == "inv":
            return self.wrap(m.x.x, ATOM) + "⁻ᵀ", POST
        return self.wrap(m.x, ATOM) + "ᵀ", POST

    def p_MMatFn(self, m):
        if not MATRIX_FUNCTIONS[m.name].scalar:
            return self.wrap(m.x, ATOM) + "⁻¹", POST
        return MATRIX_FUNCTIONS[m.name].text + f"({self(m.x)})", ATOM

    def p_MFunc(self, m, power=""):
        fn = ELEMENTWISE[m.name]
        if fn.style == "indicator":
            op = ">" if fn.op == ">" else "≥"
            x = m.x
            if isinstance(x, MScale) and x.coef < 0 and isinstance(x.x, MAdd) and len(x.x.terms) == 2:
                x = MAdd(tuple(mat_scale(x.coef, t) for t in x.x.terms), x.shape)    # [−(1 − z) > 0] is [z − 1 > 0]
                if isinstance(x.terms[0], (MScale, MNum)) and not isinstance(x.terms[1], (MScale, MNum)):
                    x = MAdd((x.terms[1], x.terms[0]), x.shape)
            if isinstance(x, MAdd) and len(x.terms) == 2 and isinstance(x.terms[0], MNum) and \
                    isinstance(x.terms[1], MScale) and x.terms[1].coef == -1:     # [c − z > 0] is z < c
                flipped = "<" if fn.op == ">" else "≤"
                return f"({self.wrap(x.terms[1].x, ADD + 1)} {flipped} {_frac_text(x.terms[0].value)})", ATOM
            if isinstance(x, MAdd) and len(x.terms) == 2 and isinstance(x.terms[1], MNum):   # [z + c > 0] is z > −c
                c = -x.terms[1].value
                return f"({self.wrap(x.terms[0], ADD + 1)} {op} {'−' if c < 0 else ''}{_frac_text(abs(c))})", ATOM
            if isinstance(x, MAdd) and len(x.terms) == 2 and _is_neg(x.terms[1]):
                c, rest = (x.terms[1].coef, x.terms[1].x) if isinstance(x.terms[1], MScale) else (x.terms[1].value, None)
                rhs = self.wrap(rest, MUL) if rest is not None and c == -1 else _frac_text(-c) if rest is None else None
                if rhs is not None:
                    return f"({self.wrap(x.terms[0], ADD + 1)} {op} {rhs})", ATOM
            if isinstance(x, MScale) and x.coef < 0:          # [−z > 0] is z < 0
                flipped = "<" if fn.op == ">" else "≤"
                return f"({self(mat_scale(-x.coef, x.x))} {flipped} 0)", ATOM
            return f"({self(x)} {op} 0)", ATOM
        if fn.style == "bars":
            return f"|{self(m.x)}|" + power, ATOM
        return fn.text + power + f"({self(m.x)}{params_text(m.params)})", ATOM

    def p_MNamed(self, m):
        return CONSTANTS[m.name].text, ATOM

    def p_MPow(self, m):
        e = m.e
        if norm_of(m) is not None:
            y, k = norm_of(m)
            if k < 0:
                return "1/" + self.wrap(MPow(m.x, -m.e), POST), MUL
            return f"‖{self(y)}‖" + (str(k).translate(SUPERSCRIPT) if k != 1 else ""), POST
        if e == Fraction(1, 2):
            return "√" + self.wrap(m.x, ATOM), POST
        if e < 0:
            return ("1/" if m.ndim == 0 else "1 ⊘ ") + self.wrap(reciprocal(m), POST), MUL
        if e.denominator == 1 and 0 < e < 10:
            sup = str(e.numerator).translate(SUPERSCRIPT)
            if isinstance(m.x, MFunc) and ELEMENTWISE[m.x.name].style != "indicator":
                return self.p_MFunc(m.x, sup)
            return self.wrap(m.x, ATOM) + sup, POST
        return self.wrap(m.x, ATOM) + f"^({_frac_text(e)})", POST

    def p_MScale(self, m):
        c = m.coef
        if c == -1:
            return "−" + self.wrap(m.x, MUL), UNARY
        if c < 0:
            s, _ = self.p(mat_scale(-c, m.x))
            return "−" + s, UNARY
        if _long(c):
            return f"{_scientific(c)} {self.wrap(m.x, MUL)}", MUL
        if c.numerator == 1 and decimal_text(c) is None:
            return f"{self.wrap(m.x, MUL)} / {c.denominator}", MUL
        if isinstance(m.x, MHad) and any(isinstance(f, MPow) and f.e < 0 and f.ndim == 0 for f in m.x.factors):
            return self.p_MHad(m.x, coef=c)
        if isinstance(m.x, MPow) and m.x.e < 0:
            inner = MPow(m.x.x, -m.x.e) if m.x.e != -1 else m.x.x
            return f"{_frac_text(c)} {'/' if m.ndim == 0 else '⊘'} {self.wrap(inner, POST)}", MUL
        body = self.wrap(m.x, MUL + 1 if isinstance(m.x, MHad) and sum(1 for f in m.x.factors if f.ndim) > 1 else MUL)
        return _juxtapose(coef_text(c), body, MNum(c), m.x), MUL

    def p_MMatMul(self, m):
        if isinstance(m.b, MOnes) and m.a.ndim == 2:
            return _juxtapose(self.wrap(m.a, MUL + 1), "𝟏", m.a, m.b), MUL
        left = self.wrap(m.a, MUL + 1 if isinstance(m.a, MHad) else MUL)
        right = self.wrap(m.b, MUL if isinstance(m.b, MMatMul) else MUL + 1)
        return _juxtapose(left, right, m.a, m.b), MUL

    def p_MHad(self, m, coef=None):
        num, den = split_division(m.factors)
        if coef is not None:
            num.insert(0, MNum(coef))
        scal_nodes = [f for f in num if f.ndim == 0]
        scal = [self.wrap(f, MUL + 1) for f in scal_nodes]
        arr_nodes = [f.x if _row_broadcast(f) else f for f in num if f.ndim > 0]
        arr_nodes = [_spread_sum(f) if any(g is not f and g.shape == m.shape for g in arr_nodes) else f
                     for f in arr_nodes]
        arrs = [self.wrap(f, MUL + 1 if not isinstance(f, MMatMul) else MUL) for f in arr_nodes]
        s = " ⊙ ".join(arrs)
        if scal:
            head = scal[0]
            for x, node in zip(scal[1:], scal_nodes[1:]):
                head = _juxtapose(head, x, scal_nodes[0], node)
            if arrs:
                s = _juxtapose(head, s if len(arrs) <= 1 else f"({s})", scal_nodes[-1],
                               arr_nodes[0] if len(arrs) == 1 else None)
            else:
                s = head
        if not s:
            s = "1"
        for d in den:
            d = d.x if _row_broadcast(d) else d          # a row divides every row, as NumPy broadcasts it
            op = " / " if d.ndim == 0 else " ⊘ "
            s = f"{s}{op}{self.wrap(d, MUL + 1)}"
        return s, MUL

    def p_MAdd(self, m):
        return join_sum(self, m, "−", ADD + 1, ADD + 1), ADD

    def p_MSum(self, m):
        x = m.x
        if m.axis is None:
            if x.ndim == 1:
                return "𝟏ᵀ" + self.wrap(x, MUL + 1), MUL
            return f"Σ({self(x)})", ATOM
        if m.axis == 1:
            return self.wrap(x, MUL + 1 if isinstance(x, MHad) else MUL) + "𝟏", MUL
        if m.keepdims:
            return "𝟏ᵀ" + self.wrap(x, MUL + 1), MUL
        return (self.wrap(mat_t(x), MUL) + "𝟏") if not isinstance(x, (MAdd, MHad)) else f"({self(x)})ᵀ𝟏", MUL

    def p_MTrace(self, m):
        return f"tr({self(m.x)})", ATOM

    def p_MLoopSum(self, m):
        return f"Σ_{m.var} " + self.wrap(m.x, MUL), MUL

    def p_MDiag(self, m):
        return f"diag({self(m.v)})", ATOM

    def p_MDiagPart(self, m):
        return f"diag({self(m.x)})", ATOM

    def row(self, v):
        """A 1-D vector written as a row: (A v)ᵀ = vᵀAᵀ, (c v)ᵀ = c vᵀ."""
        v = column(v)
        if isinstance(v, MMatMul) and v.b.ndim == 1 and v.a.ndim == 2:
            inner = self.row(v.b)
            return _juxtapose(inner, self.wrap(mat_t(v.a), MUL), v.b, mat_t(v.a))
        if isinstance(v, MScale):
            return self.p(MScale(v.coef, MT(v.x)))[0]
        if isinstance(v, MSqueeze) and v.x.ndim == 2 and v.axis == 0:
            return self.wrap(v.x, MUL)                   # already a (1, n) row
        return self.wrap(v, ATOM) + "ᵀ"

    def p_MOuter(self, m):
        u = column(m.u)
        left = self.wrap(u, MUL) if isinstance(u, MMatMul) else self.wrap(u, MUL + 1)
        v = column(m.v)
        return _juxtapose(left, self.row(v), u, v.b if isinstance(v, MMatMul) else v), MUL

    def p_MExpand(self, m):
        if m.x.ndim == 1 and m.axis == 0:
            return self.row(m.x), MUL
        return self.p(m.x)

    def p_MSqueeze(self, m):
        if m.x.ndim == 2 and m.axis == 0 and m.x.shape[1] != 1:
            return self.wrap(m.x, ATOM) + "ᵀ", POST
        return self.p(m.x)

    def p_MEinsum(self, m):
        return f"einsum('{m.spec}', " + ", ".join(self(o) for o in m.operands) + ")", ATOM

    def p_MReshape(self, m):
        if m.x.ndim == 1 and len(m.shape) >= 2 and m.shape[-2] == 1 and m.shape[-1] != 1:
            return self.row(m.x), MUL                    # the entries lie along a row
        return self.p(m.x)

    def p_MSoftmax(self, m):
        extra = "" if m.axis is None or m.x.ndim < 2 else f", axis={m.axis}"
        return f"softmax({self(m.x)}{extra})", ATOM


class CourseTextPrinter(TextPrinter):
    """The course's way: (1/m) in front, Σ_columns for sums over examples."""

    def p_MHad(self, m, coef=None):
        inv_dims = [f for f in m.factors if isinstance(f, MPow) and f.e == -1 and isinstance(f.x, MVar) and f.x.is_dim]
        if inv_dims and coef is None:
            rest = tuple(f for f in m.factors if f not in inv_dims)
            body = rest[0] if len(rest) == 1 else MHad(rest, m.shape)
            head = "".join(f"(1/{d.x.name}) " for d in inv_dims)
            return head + self.wrap(body, MUL + (1 if isinstance(body, MHad) else 0)), MUL
        return super().p_MHad(m, coef)

    def p_MSum(self, m):
        if m.axis is not None and m.x.ndim == 2:
            return f"Σ_{'columns' if m.axis == 1 else 'rows'} " + self.wrap(m.x, MUL + 1), MUL
        if m.axis is None:
            x = m.x
            while isinstance(x, (MSqueeze, MT)):           # the orientation of what is summed is irrelevant
                x = x.x
            return "Σ " + self.wrap(x, MUL + 1), MUL
        return super().p_MSum(m)


def latex_name(name):
    indexed = re.match(r"^(.+?)\[(.+)\]$", name)
    if indexed:                                    # a loop's family member: W[l + 1] as the course writes W^{[l+1]}
        index = indexed.group(2).replace("−", "-").replace(" ", "")
        return "{" + latex_name(indexed.group(1)) + f"^{{[{index}]}}}}"     # braced: a ^\top may follow
    m = re.match(r"^([A-Za-z]+?)_?([0-9]+)$", name)
    if m:
        base, sub = m.groups()
        return (base if len(base) == 1 else rf"\mathit{{{base}}}") + f"_{{{sub}}}"
    if "_" in name:
        base, sub = name.split("_", 1)
        return (base if len(base) == 1 else rf"\mathit{{{base}}}") + rf"_{{\mathrm{{{sub}}}}}"
    return name if len(name) == 1 else rf"\mathit{{{name}}}"


def frac_latex(c):
    if _long(c):
        mantissa, _, exponent = _scientific(c).partition("e")
        return rf"{mantissa} \cdot 10^{{{exponent}}}"
    d = decimal_text(c)
    if d is not None:
        mantissa, _, exponent = d.partition("e")
        return rf"{mantissa} \cdot 10^{{{exponent}}}" if exponent else d
    return str(c.numerator) if c.denominator == 1 else rf"\frac{{{c.numerator}}}{{{c.denominator}}}"


class LatexPrinter(TextPrinter):
    """LaTeX matrix notation."""

    def p_MVar(self, m):
        return latex_name(m.name), ATOM

    def p_MNum(self, m):
        return frac_latex(m.value), ATOM if m.value.denominator == 1 and m.value >= 0 else MUL

    def p_MOnes(self, m):
        return (r"\mathbf{1}" if m.ndim < 2 else r"\mathbf{1}\mathbf{1}^\top"), ATOM

    def p_MT(self, m):
        if isinstance(m.x, MMatFn) and m.x.name == "inv":
            return self.wrap(m.x.x, ATOM) + r"^{-\top}", POST
        return self.wrap(m.x, ATOM) + r"^\top", POST

    def p_MMatFn(self, m):
        if not MATRIX_FUNCTIONS[m.name].scalar:
            return self.wrap(m.x, ATOM) + "^{-1}", POST
        return MATRIX_FUNCTIONS[m.name].latex + rf"\left({self(m.x)}\right)", ATOM

    def p_MFunc(self, m, power=""):
        fn = ELEMENTWISE[m.name]
        if fn.style == "indicator":
            op = ">" if fn.op == ">" else r"\ge"
            return f"[{self(m.x)} {op} 0]", ATOM
        if fn.style == "bars":
            return rf"\left|{self(m.x)}\right|" + power, ATOM
        return fn.latex + power + rf"\left({self(m.x)}{params_text(m.params)}\right)", ATOM

    def p_MNamed(self, m):
        return CONSTANTS[m.name].latex, ATOM

    def p_MPow(self, m):
        e = m.e
        if norm_of(m) is not None and norm_of(m)[1] > 0:
            y, k = norm_of(m)
            return rf"\left\|{self(y)}\right\|" + (f"^{{{k}}}" if k != 1 else ""), POST
        if e == Fraction(1, 2):
            return rf"\sqrt{{{self(m.x)}}}", ATOM
        if e < 0:
            inner = reciprocal(m)
            if m.ndim == 0:
                return rf"\frac{{1}}{{{self(inner)}}}", ATOM
            return r"1 \oslash " + self.wrap(inner, POST), HAD
        if isinstance(m.x, MFunc) and ELEMENTWISE[m.x.name].style == "call" and e.denominator == 1:
            return self.p_MFunc(m.x, f"^{{{e.numerator}}}")
        return self.wrap(m.x, ATOM) + f"^{{{frac_latex(e)}}}", POST

    def p_MScale(self, m):
        c = m.coef
        if c == -1:
            return "-" + self.wrap(m.x, MUL), UNARY
        if c < 0:
            return "-" + self.p(mat_scale(-c, m.x))[0], UNARY
        return frac_latex(c) + " " + self.wrap(m.x, MUL + 1 if isinstance(m.x, MHad) else MUL), MUL

    def p_MMatMul(self, m):
        left = self.wrap(m.a, MUL + 1 if isinstance(m.a, MHad) else MUL)
        return left + " " + self.wrap(m.b, MUL if isinstance(m.b, MMatMul) else MUL + 1), MUL

    def p_MHad(self, m):
        num, den = split_division(m.factors)
        scal = [self.wrap(f, MUL + 1) for f in num if f.ndim == 0]
        arrs = [self.wrap(f, MUL + 1 if not isinstance(f, MMatMul) else MUL) for f in
                (g.x if _row_broadcast(g) else g for g in num if g.ndim > 0)]
        s = r" \odot ".join(arrs)
        if scal:
            s = " ".join(scal) + (" " + (s if len(arrs) <= 1 else f"\\left({s}\\right)") if arrs else "")
        s = s or "1"
        for d in den:
            if d.ndim == 0 and all(f.ndim == 0 for f in num):
                s = rf"\frac{{{s}}}{{{self(d)}}}"
            else:
                op = "/" if d.ndim == 0 else r"\oslash"
                s = f"{s} {op} {self.wrap(d, MUL + 1)}"
        return s, MUL

    def p_MAdd(self, m):
        return join_sum(self, m, "-", ADD + 1, ADD + 1), ADD

    def p_MSum(self, m):
        x = m.x
        if m.axis is None:
            return (r"\mathbf{1}^\top " + self.wrap(x, MUL + 1)) if x.ndim == 1 else rf"\sum\left({self(x)}\right)", MUL
        if m.axis == 1:
            return self.wrap(x, MUL + 1) + r" \mathbf{1}", MUL
        return r"\mathbf{1}^\top " + self.wrap(x, MUL + 1), MUL

    def p_MTrace(self, m):
        return rf"\operatorname{{tr}}\left({self(m.x)}\right)", ATOM

    def p_MLoopSum(self, m):
        return rf"\sum_{{{m.var}}} " + self.wrap(m.x, MUL), MUL

    def p_MDiag(self, m):
        return rf"\operatorname{{diag}}\left({self(m.v)}\right)", ATOM

    def p_MDiagPart(self, m):
        return rf"\operatorname{{diag}}\left({self(m.x)}\right)", ATOM

    def p_MOuter(self, m):
        return self.wrap(m.u, MUL + 1) + " " + self.wrap(m.v, ATOM) + r"^\top", MUL

    def p_MExpand(self, m):
        if m.x.ndim == 1 and m.axis == 0:
            return self.wrap(m.x, ATOM) + r"^\top", POST
        return self.p(m.x)

    def p_MSqueeze(self, m):
        if m.x.ndim == 2 and m.axis == 0 and m.x.shape[1] != 1:
            return self.wrap(m.x, ATOM) + r"^\top", POST
        return self.p(m.x)

    def p_MSoftmax(self, m):
        extra = "" if m.axis is None or m.x.ndim < 2 else f", {m.axis}"
        return rf"\operatorname{{softmax}}\left({self(m.x)}{extra}\right)", ATOM

    def p_MEinsum(self, m):
        return r"\operatorname{einsum}(\texttt{" + m.spec.replace(">", r"{>}") + "}, " + \
            ", ".join(self(o) for o in m.operands) + ")", ATOM


def to_text(m):
    return TextPrinter()(m)


def to_latex(m):
    return LatexPrinter()(m)


