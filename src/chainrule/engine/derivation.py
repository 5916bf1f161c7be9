"""derive(): parse → check shapes → index form → differentiate → matrix notation → print."""
import json

from ..core import tensor as T
from ..core.differentiate import Trace, diff
from ..core.errors import ChainruleError, argument_error
from ..lang.functions import FUNCTIONS
from ..render.index_notation import index_text
from ..lang.lower import Lowering, fresh_idx
from ..render.numpy_code import to_numpy
from ..render.printing import to_latex, to_text
from ..lang.shapes import ShapeChecker, normalize_shapes
from ..lang.syntax import parse_expression
from ..notation.to_matrix import NoMatrixForm, to_einsum, to_matrix

MAX_ORDER = 4


class Parsed:
    """A parsed, shape-checked expression with its index form."""

    def __init__(self, text, shapes):
        self.text = text
        self.shapes = normalize_shapes(shapes)
        self.tree = parse_expression(text)
        self.checker = ShapeChecker(self.shapes, FUNCTIONS)
        self.shape = self.checker.check(self.tree)
        self.shapes = self.checker.shapes               # with inferred names
        self.expr, self.idx = Lowering(self.checker).visit(self.tree)

    def dim_code(self):
        """NumPy code for each dimension name, read off a declared array (A.shape[0])."""
        out = {}
        for name, shape in self.shapes.items():
            for k, d in enumerate(shape):
                if isinstance(d, str) and d not in out:
                    out[d] = f"{name}.shape[{k}]"
        return out


class Derivative:
    """A derivative in matrix notation (or index notation where no matrix form exists)."""

    def __init__(self, parsed, wrt, order, expr, out, wrt_idx, trace, domain=None):
        self.parsed, self.expression, self.wrt, self.order = parsed, parsed.text, wrt, order
        self.domain = domain or {}
        self.index_expr, self.out, self.wrt_idx, self.trace = expr, out, wrt_idx, trace
        self.shape = tuple(i.dim for i in out)
        self.log = []
        try:
            self.matrix = to_matrix(expr, out, self.log)
            self.matrix_form = True
        except NoMatrixForm:
            self.matrix = to_einsum(expr, out)
            self.matrix_form = False
        sup = "" if order == 1 else str(order).translate(str.maketrans("234", "²³⁴"))
        label = f"∂{sup}f/∂{wrt}{sup}"                        # ∂²f/∂X², as written by hand
        self.index = index_text(expr, out, [i for w in wrt_idx for i in w], label)
        self.kron = None if self.matrix_form else kronecker_form(expr, out, parsed, wrt)
        self.text = to_text(self.matrix) if self.matrix_form else \
            self.index + (f"\nvec form: {self.kron}" if self.kron else "")
        self.latex = to_latex(self.matrix)
        self.numpy = to_numpy(self.matrix, parsed.dim_code())

    def __str__(self):
        d = "∂" if self.order == 1 else f"∂{self.order}".translate(str.maketrans("234", "²³⁴"))
        x = self.wrt if self.order == 1 else f"{self.wrt}{'²³⁴'[self.order - 2]}"
        return f"{d}/∂{x} {self.expression} = {self.text}"

    def _repr_latex_(self):
        return f"$${self.latex}$$"

    def to_json(self):
        return json.dumps(dict(expression=self.expression, wrt=self.wrt, order=self.order,
                               shape=list(self.shape), text=self.text, latex=self.latex, numpy=self.numpy,
                               index=self.index, matrix_form=self.matrix_form), ensure_ascii=False)

    def check(self, seed=0, domain=None):
        """Max relative error of `.numpy` against central finite differences on random data
        (`domain`: name → spd, invertible, positive, symmetric, … for the data drawn)."""
        from ..numeric.checks import finite_difference_error
        return finite_difference_error(self, seed, domain=dict(self.domain, **(domain or {})))


DOMAINS = ("onehot", "onehot-rows", "binary", "positive", "nonzero", "symmetric", "spd", "invertible")


def derive(expr, wrt, shapes=None, order=1, domain=None):
    """The derivative of `expr` with respect to `wrt`, of the given order (layout f.shape + x.shape);
    `domain` (name → one of DOMAINS, the words models use) says what the data are: a onehot Y's columns
    sum to 1 ("onehot-rows": its rows), which the derivation uses, and the check draws such data."""
    with T.work_budget():
        return _derive(expr, wrt, shapes, order, domain)


def _derive(expr, wrt, shapes=None, order=1, domain=None):
    try:
        return _derive_positioned(expr, wrt, shapes, order, domain)
    except ChainruleError as e:               # the algebra's own errors (the work budget): at the expression
        if e.start is not None or not isinstance(expr, str) or not expr.strip():
            raise
        raise ChainruleError(e.message, expr, 0, len(expr), 1, e.hint, kind=e.kind) from None


def _derive_positioned(expr, wrt, shapes=None, order=1, domain=None):
    if not isinstance(order, int) or isinstance(order, bool) or not 1 <= order <= MAX_ORDER:
        raise argument_error(f"order must be an integer from 1 to {MAX_ORDER}, got {order!r}", "order", order)
    parsed = Parsed(expr, shapes)
    if not isinstance(wrt, str) or wrt not in parsed.shapes:
        declared = ", ".join(sorted(parsed.shapes)) or "none"
        raise argument_error(f"cannot differentiate with respect to {wrt!r}: it is not a declared variable "
                             f"(declared: {declared})", "wrt", wrt, kind="unknown-name")
    domain = _domain(domain, parsed)
    e, out = parsed.expr, tuple(parsed.idx)
    trace = Trace()
    wrt_idx = []
    for k in range(order):
        p = fresh_idx(parsed.shapes[wrt], "pqrsuv"[2 * k:] + "pq")
        e = diff(e, wrt, p, trace)
        out = out + p
        wrt_idx.append(p)
    onehot = {n: 1 if d == "onehot-rows" else 0 for n, d in domain.items() if d.startswith("onehot")}
    if onehot:
        e = use_onehot(e, onehot)
    return Derivative(parsed, wrt, order, drop_unit_deltas(e), out, wrt_idx, trace, domain)


def _domain(domain, parsed):
    """{name: domain word}, each name declared and each word one of DOMAINS (a onehot is a matrix)."""
    if domain is None:
        return {}
    if not isinstance(domain, dict):
        raise argument_error("domain must be a dict such as {'Y': 'onehot'}", "domain", domain)
    for name, word in domain.items():
        if name not in parsed.shapes:
            raise argument_error(f"domain names {name!r}, which is not a declared variable", "domain", domain,
                                 kind="unknown-name")
        if word not in DOMAINS:
            raise argument_error(f"domain of {name} must be one of {', '.join(DOMAINS)}, got {word!r}", "domain",
                                 domain)
    return dict(domain)


def drop_unit_deltas(expr):
    """δ between two free size-1 indices is 1; kept during differentiation (it links a size-1 axis of
    the variable to the expression's), it only adds noise to the final result."""
    terms = []
    for t in expr.terms:
        kept = tuple((a, e) for a, e in t.factors if not (isinstance(a, T.Delta) and a.a.dim == 1
                                                           and a.a not in t.summed and a.b not in t.summed))
        terms.append(t if len(kept) == len(t.factors) else T.Term.make(t.coef, kept, t.summed))
    return T.Expr.make(terms)


def kronecker_form(expr, out, parsed, wrt):
    """vec(dF) = (B ⊗ A) vec(dX) when ∂F[i,j]/∂X[p,q] = Σ terms A[i,p] B[j,q] (column-major vec)."""
    if len(out) != 4:
        return None
    i, j, p, q = out
    pieces = []
    for t in expr.terms:
        if t.summed or any(not a.free for a, _ in t.factors):
            return None                 # a summed or scalar factor: no plain (B ⊗ A) form to print
        sub = T.Expr([T.Term(T.Fraction(1), t.factors, frozenset())])
        try:
            left = to_matrix(_pick(t, {i, p}), (i, p))
            right = to_matrix(_pick(t, {j, q}), (j, q))
        except (NoMatrixForm, ValueError):
            return None
        if _pick(t, {i, p}).free | _pick(t, {j, q}).free != sub.free:
            return None
        coef = "" if t.coef == 1 else ("−" if t.coef == -1 else f"{t.coef} ")
        pieces.append(f"{coef}({to_text(right)} ⊗ {to_text(left)})")
    if not pieces:
        return None
    return "∂vec F/∂vec X = " + " + ".join(pieces).replace("+ −", "− ")


def _pick(t, indices):
    chosen = [(a, e) for a, e in t.factors if a.free and a.free <= indices]
    if sum(len(a.free) for a, _ in chosen) and any(a.free & indices and not a.free <= indices for a, _ in t.factors):
        raise ValueError("mixed")
    if not chosen:
        raise ValueError("empty")
    return T.Expr([T.Term.make(1, chosen)])


def use_onehot(expr, onehot):
    """Declared properties that simplify: a onehot Y sums to 1 along its class axis (onehot: name →
    that axis), so Σ_k Y[k, j] = 1 (columns one-hot) or Σ_k Y[i, k] = 1 (rows)."""
    if not onehot:
        return expr
    terms = []
    for t in expr.terms:
        factors, summed = list(t.factors), set(t.summed)
        for k, (a, e) in enumerate(factors):
            k_ax = onehot.get(a.name, 0) if isinstance(a, T.Var) else 0
            if isinstance(a, T.Var) and a.name in onehot and e == 1 and len(a.idx) > k_ax and \
                    a.idx[k_ax] in summed and sum(a.idx[k_ax] in b.free for b, _ in factors) == 1 and \
                    a.idx.count(a.idx[k_ax]) == 1:
                summed.discard(a.idx[k_ax])
                del factors[k]
                break
        terms.append(T.Term.make(t.coef, factors, summed))
    return T.Expr.make(terms)
