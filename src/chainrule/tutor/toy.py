"""The mentor's toy example, generated: every dimension set to at most 2, every matrix equation
expanded into scalar equations with named entries, one entry differentiated by scalar calculus
(SymPy), shown equal to the matrix formula's entry, then every entry checked."""
import re

from ..core import matrix as X
from ..lang import syntax as S
from ..lang.fn_array import softmax_sympy
from ..lang.functions import FUNCTIONS
from ..core.rules import CONSTANTS, ELEMENTWISE, MATRIX_FUNCTIONS

TOY_MAX_DEPTH = 24      # levels of the expanded scalar function (SymPy is slow on deep towers)
TOY_MAX_CALLS = 8       # functions nested in the text: a person follows a few; SymPy's assumption queries
                        # on towers of them (abs(tanh(log(…)))) take minutes while it differentiates
TOY_MAX_TREE = 4_000    # nodes of a toy entry written out, for comparing two of them
TOY_MAX_FORMULA = 400   # nodes of the matrix formula the toy example expands
TOY_MAX_MATFN = 3       # inv, det, logdet of matrices up to 3×3 (SymPy's 4×4 inverses, nested, take minutes)
TOY_MAX_PRODUCTS = 12   # matrix products in the text: A @ A @ … 194 long makes degree-194 polynomials (seconds)


def _sympy():
    import sympy
    return sympy


def _small_enough(name, x):
    """x, when a matrix function of it stays a toy (a symbolic 4×4 inverse, nested, takes SymPy minutes)."""
    if x.rows > TOY_MAX_MATFN:
        raise NotImplementedError(f"the toy example applies {name} to matrices up to {TOY_MAX_MATFN}×{TOY_MAX_MATFN}; "
                                  f"here {x.rows}×{x.cols}")
    return x


def entry_symbols(name, shape):
    """A SymPy matrix of named entries: w2_11, w2_12, … (vectors and scalars too). Entries are real
    symbols: SymPy differentiates tanh(√…) of plain complex symbols very slowly (minutes)."""
    sp = _sympy()
    base = re.sub(r"[^0-9a-zA-Z]", "", name).lower()
    rows = shape[0] if len(shape) >= 1 else 1
    cols = shape[1] if len(shape) == 2 else 1
    if not shape:
        return sp.Matrix([[sp.Symbol(base, real=True)]])
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{base}_{i + 1}{j + 1}" if len(shape) == 2 else
                                                        f"{base}_{i + 1}", real=True))


def _broadcast(a, b):
    """NumPy-style broadcasting of two SymPy matrices (1×n, n×1, 1×1 against a full shape)."""
    sp = _sympy()
    r = max(a.rows, b.rows)
    c = max(a.cols, b.cols)
    grow = lambda m: sp.Matrix(r, c, lambda i, j: m[i if m.rows > 1 else 0, j if m.cols > 1 else 0])  # noqa
    return grow(a), grow(b)


def tree_to_sympy(node, env, dims, shapes=None):
    """The parsed expression on SymPy matrices; env maps names to matrices. A 1-D array is held as a
    column but broadcast as NumPy does, as a row, against a matrix (its ndim comes from `shapes`).
    Functions nested past TOY_MAX_CALLS are refused before SymPy builds them (its assumption queries
    on towers such as sinh(sin(erf(…))) take seconds while the expression is built)."""
    if _call_depth(node) > TOY_MAX_CALLS:
        raise NotImplementedError(f"functions are nested more than {TOY_MAX_CALLS} deep, too deep to follow by hand")
    products, stack = 0, [node]
    while stack:                                      # iterative: the tree may be deep
        n = stack.pop()
        products += isinstance(n, S.Binary) and n.op == "@"
        stack.extend(S.children(n))
    if products > TOY_MAX_PRODUCTS:
        raise NotImplementedError(f"{products} matrix products are too many to expand by hand (limit {TOY_MAX_PRODUCTS})")
    return _Toy(env, dims, shapes or {}).rec(node)[0]


def _call_depth(node):
    """Element-wise functions nested along the deepest path of a syntax tree (sums and products do not
    count: SymPy builds them as plain sums); iterative, the tree may be deep."""
    deepest, stack = 0, [(node, 0)]
    while stack:
        n, d = stack.pop()
        d += isinstance(n, S.Call) and n.fn in ELEMENTWISE
        deepest = max(deepest, d)
        stack.extend((c, d) for c in S.children(n))
    return deepest


def _ndim_of(m):
    return 0 if m.shape == (1, 1) else 2


class _Toy:
    """tree_to_sympy's walk: every value is a (SymPy matrix, NumPy ndim) pair."""

    def __init__(self, env, dims, shapes):
        self.env, self.dims, self.shapes = env, dims, shapes

    def elementwise(self, a, b, op):
        (ma, na), (mb, nb) = a, b
        if na == 1 and nb == 2:
            ma = ma.T
        if nb == 1 and na == 2:
            mb = mb.T
        ma, mb = _broadcast(ma, mb)
        return op(ma, mb), max(na, nb)

    def matmul(self, a, b):
        (ma, na), (mb, nb) = a, b
        if na == 1:
            ma = ma.T
        out = ma * mb
        if na == 1 and nb == 1:
            return out, 0
        if na == 1:
            return out.T, 1                     # a row back to the 1-D (column) layout
        return out, 2 if nb == 2 else 1

    def rec(self, node):
        sp = _sympy()
        if isinstance(node, S.Const):
            return sp.Matrix([[sp.Rational(node.value.numerator, node.value.denominator)]]), 0
        if isinstance(node, S.Dims):
            return None, len(node.items)              # a shape argument: its function reads the node
        if isinstance(node, S.Name):
            if node.id not in self.env:
                return sp.Matrix([[sp.Integer(self.dims[node.id])]]), 0
            m = self.env[node.id]
            return m, len(self.shapes[node.id]) if node.id in self.shapes else _ndim_of(m)
        if isinstance(node, S.Neg):
            m, n = self.rec(node.operand)
            return -m, n
        if isinstance(node, S.Transpose):
            m, n = self.rec(node.operand)
            return (m.T if n == 2 else m), n
        if isinstance(node, S.Binary):
            a, b = self.rec(node.left), self.rec(node.right)
            if node.op == "@":
                return self.matmul(a, b)
            if node.op == "**":
                e = b[0][0, 0]
                return a[0].applyfunc(lambda x: x ** e), a[1]
            ops = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x.multiply_elementwise(y),
                   "/": lambda x, y: sp.Matrix(x.rows, x.cols, lambda i, j: x[i, j] / y[i, j])}
            return self.elementwise(a, b, ops[node.op])
        if isinstance(node, S.Compare):
            a, b = self.rec(node.left), self.rec(node.right)
            if node.op in ("<", "<="):
                a, b = b, a
            d = self.elementwise(a, b, lambda x, y: x - y)
            at0 = 0 if node.op in (">", "<") else 1
            return d[0].applyfunc(lambda v: sp.Heaviside(v, at0)), d[1]
        if isinstance(node, S.Call):
            return self.call(node, [self.rec(x) for x in node.args])
        raise NotImplementedError(f"the toy example does not expand {type(node).__name__}")

    def call(self, node, args):
        if node.fn in MATRIX_FUNCTIONS:
            _small_enough(node.fn, args[0][0])
        return FUNCTIONS[node.fn].sympy(self, node, args)

    @property
    def sp(self):
        return _sympy()


def matrix_to_sympy(m, env, dims):
    """A matrix-notation result on SymPy matrices (1-D vectors as columns), for the toy comparison."""
    from ..core import matrix as X
    sp = _sympy()

    def rec(n):
        return matrix_to_sympy(n, env, dims)

    def size(d):
        return d if isinstance(d, int) else dims[d]
    if isinstance(m, X.MVar):
        return sp.Matrix([[sp.Integer(dims[m.name])]]) if m.is_dim else env[m.name]
    if isinstance(m, X.MNum):
        return sp.Matrix([[sp.Rational(m.value.numerator, m.value.denominator)]])
    if isinstance(m, X.MIdentity):
        return sp.eye(size(m.n))
    if isinstance(m, (X.MOnes, X.MZeros)):
        rows = size(m.shape[0]) if m.shape else 1
        cols = size(m.shape[1]) if len(m.shape) == 2 else 1
        return (sp.ones if isinstance(m, X.MOnes) else sp.zeros)(rows, cols)
    def row_if_1d(t):       # a 1-D operand broadcasts against a matrix as a row
        v = rec(t)
        return v.T if t.ndim == 1 and m.ndim == 2 else v
    if isinstance(m, X.MAdd):
        out = row_if_1d(m.terms[0])
        for t in m.terms[1:]:
            a, b = _broadcast(out, row_if_1d(t))
            out = a + b
        return out
    if isinstance(m, X.MScale):
        return rec(m.x) * sp.Rational(m.coef.numerator, m.coef.denominator)
    if isinstance(m, X.MMatMul):
        a, b = rec(m.a), rec(m.b)
        if m.a.ndim == 1:                             # a 1-D left operand is a row ...
            out = a.T * b
            return out.T if m.b.ndim == 2 else out     # ... and a 1-D result is held as a column
        return a * b
    if isinstance(m, X.MHad):
        out = row_if_1d(m.factors[0])
        for f in m.factors[1:]:
            a, b = _broadcast(out, row_if_1d(f))
            out = a.multiply_elementwise(b)
        return out
    if isinstance(m, X.MPow):
        e = sp.Rational(m.e.numerator, m.e.denominator)
        return rec(m.x).applyfunc(lambda v: v ** e)
    if isinstance(m, X.MT):
        return rec(m.x) if m.x.ndim == 1 else rec(m.x).T
    if isinstance(m, X.MFunc):
        fn = ELEMENTWISE[m.name]
        params = [None if p is None else sp.Rational(p.numerator, p.denominator) for p in m.params]
        return rec(m.x).applyfunc(lambda v: fn.sympy(sp, v, *params))
    if isinstance(m, X.MNamed):
        return sp.Matrix([[CONSTANTS[m.name].sympy(sp)]])
    if isinstance(m, X.MSum):
        x = rec(m.x)
        if m.axis is None or m.x.ndim == 1:
            return sp.Matrix([[sum(x)]])
        if m.axis == 1:
            return sp.Matrix(x.rows, 1, lambda i, j: sum(x[i, k] for k in range(x.cols)))
        out = sp.Matrix(1, x.cols, lambda i, j: sum(x[k, j] for k in range(x.rows)))
        return out if m.keepdims else out.T
    if isinstance(m, X.MSoftmax):
        return softmax_sympy(rec(m.x), m.axis if m.x.ndim == 2 else None)
    if isinstance(m, X.MTrace):
        return sp.Matrix([[rec(m.x).trace()]])
    if isinstance(m, X.MMatFn):
        fn = MATRIX_FUNCTIONS[m.name]
        out = fn.sympy(sp, _small_enough(m.name, rec(m.x)))
        return out if not fn.scalar else sp.Matrix([[out]])
    if isinstance(m, X.MDiag):
        v = rec(m.v)
        return sp.diag(*list(v))
    if isinstance(m, X.MDiagPart):
        x = rec(m.x)
        return sp.Matrix([x[i, i] for i in range(x.rows)])
    if isinstance(m, X.MOuter):
        return rec(m.u) * rec(m.v).T
    if isinstance(m, (X.MExpand, X.MSqueeze, X.MReshape)):
        x = rec(m.x)
        if isinstance(m, X.MExpand) and m.x.ndim == 1 and m.axis == 0:
            return x.T                                   # a 1-D vector made a row
        if isinstance(m, X.MSqueeze) and m.x.ndim == 2 and m.axis == 0:
            return x.T                                   # a row viewed as a 1-D (column) vector
        return x
    raise NotImplementedError(f"the toy example does not evaluate {type(m).__name__}")


def formula_too_large(m):
    """Is the matrix formula, written out, larger than TOY_MAX_FORMULA nodes (its toy expansion a page)?"""
    count, stack = 0, [m]
    while stack:
        count += 1
        if count > TOY_MAX_FORMULA:
            return True
        node = stack.pop()
        for f in node.__dataclass_fields__:
            v = getattr(node, f)
            stack.extend(c for c in (v if isinstance(v, tuple) else (v,)) if isinstance(c, X.M))
    return False


def _larger_than(e, cap):
    """Does the expression, written out as a tree (shared subexpressions repeated, as printing and
    lambdify see it), have more than `cap` nodes? Stops counting at the cap."""
    count, stack = 0, [e]
    while stack:
        count += 1
        if count > cap:
            return True
        stack.extend(stack.pop().args)
    return False


def _fits_a_float(ga, gb, values):
    """Raise OverflowError when either expression overflows a float at this point (then the point is
    moved nearer 0); other float failures (a complex intermediate, a function math lacks) say nothing."""
    for g in (ga, gb):
        try:
            v = g(*values)
        except OverflowError:
            raise
        except Exception:          # noqa: BLE001 — math's domain (log of a negative), not a magnitude
            continue
        if isinstance(v, float) and v != v - 0.0 and v == v:   # ±inf
            raise OverflowError("inf")


def same(a, b, trials=3, seed=0):
    """Do two SymPy expressions agree? Tested at random points (a zero-equivalence test) with mpmath at 30
    digits — quick where simplify(), or evalf's adaptive precision on nested complex logarithms (seconds
    per point), is not; mpmath has no float overflow (x ** 2048 is 1e472 at 1.7). A point where the
    values are too large even so (sinh nested 6 deep at 1.7) is retried nearer 0; where no point can be
    evaluated, the comparison is not possible (NotImplementedError), not "different"."""
    import random
    import mpmath
    sp = _sympy()
    a, b = sp.sympify(a), sp.sympify(b)
    if _larger_than(a, TOY_MAX_TREE) or _larger_than(b, TOY_MAX_TREE):
        raise NotImplementedError(f"the toy entries are expressions of more than {TOY_MAX_TREE:,} operations "
                                  "written out (nesting that repeats its argument doubles them per level)")
    free = sorted(a.free_symbols | b.free_symbols, key=str)
    # Heaviside, Max, Min and DiracDelta given directly: otherwise SymPy's printer rewrites them as
    # Piecewise first, which took seconds for a few hundred nodes
    modules = [{"Heaviside": lambda v, at0=0.5: mpmath.mpf(1 if v > 0 else 0 if v < 0 else at0),
                "Max": max, "Min": min, "DiracDelta": lambda v, k=0: mpmath.mpf(0) if v != 0 else mpmath.inf},
               "mpmath"]
    floats = [{"Heaviside": lambda v, at0=0.5: 1.0 if v > 0 else 0.0 if v < 0 else at0, "Max": max, "Min": min,
               "DiracDelta": lambda v, k=0: 0.0}, "math"]
    try:            # generated from chainrule's own SymPy expressions: entry symbols are plain identifiers
        fa, fb = sp.lambdify(free, a, modules), sp.lambdify(free, b, modules)
        ga, gb = sp.lambdify(free, a, floats), sp.lambdify(free, b, floats)
    except Exception:              # noqa: BLE001 — a function mpmath lacks: SymPy's own evaluation
        fa = fb = ga = gb = None
    rng = random.Random(seed)
    for _ in range(trials if free else 1):
        for low, high in ((0.3, 1.7), (0.05, 0.3), (0.01, 0.05)):
            values = [rng.uniform(low, high) for _ in free]
            try:
                if ga is not None:
                    _fits_a_float(ga, gb, values)   # exp(exp(exp(…))): mpmath's time grows with the magnitude
                with mpmath.workdps(30):
                    try:
                        va, vb = fa(*map(mpmath.mpf, values)), fb(*map(mpmath.mpf, values))
                    except (TypeError, NameError, AttributeError):      # a function mpmath lacks (DiracDelta)
                        point = {s: sp.Float(v, 30) for s, v in zip(free, values)}
                        va, vb = complex(a.xreplace(point).evalf(30)), complex(b.xreplace(point).evalf(30))
                    if abs(va - vb) > 1e-9 * (1 + abs(va)):
                        return False
                break
            except ZeroDivisionError:
                return False
            except (TypeError, ValueError, OverflowError, MemoryError):
                continue                   # too large at this point: nearer 0
        else:
            raise NotImplementedError("the toy entries are too large to compare at any sample point")
    return True


def show(e):
    """A SymPy expression as text, simplified only when small (simplify() is slow on large ones)."""
    sp = _sympy()
    small = sp.count_ops(e) <= 12 and not any(isinstance(f.args[0], sp.Add) for f in e.atoms(sp.Function))
    return sp.sstr(sp.simplify(e) if small else e)


def latex(e):
    """A toy expression in LaTeX with entries named as matrices' entries: dz2_11 → (dz_2)_{11}."""
    sp = _sympy()
    names = {}
    for sym in sp.sympify(e).free_symbols:
        m = re.match(r"^([a-z]+?)(\d*)_(\d+)$", sym.name)
        if m:
            base, num, ij = m.groups()
            head = (base if len(base) == 1 else rf"\mathit{{{base}}}") + (f"_{{{num}}}" if num else "")
            names[sym] = (f"({head})_{{{ij}}}" if num else f"{head}_{{{ij}}}")
    return sp.latex(e, symbol_names=names)
