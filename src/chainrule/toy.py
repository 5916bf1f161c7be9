"""The mentor's toy example, generated: every dimension set to at most 2, every matrix equation
expanded into scalar equations with named entries, one entry differentiated by scalar calculus
(SymPy), shown equal to the matrix formula's entry, then every entry checked."""
import re


def _sympy():
    import sympy
    return sympy


def entry_symbols(name, shape):
    """A SymPy matrix of named entries: w2_11, w2_12, … (vectors and scalars too)."""
    sp = _sympy()
    base = re.sub(r"[^0-9a-zA-Z]", "", name).lower()
    rows = shape[0] if len(shape) >= 1 else 1
    cols = shape[1] if len(shape) == 2 else 1
    if not shape:
        return sp.Matrix([[sp.Symbol(base)]])
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{base}_{i + 1}{j + 1}" if len(shape) == 2 else
                                                        f"{base}_{i + 1}"))


def _broadcast(a, b):
    """NumPy-style broadcasting of two SymPy matrices (1×n, n×1, 1×1 against a full shape)."""
    sp = _sympy()
    r = max(a.rows, b.rows)
    c = max(a.cols, b.cols)
    grow = lambda m: sp.Matrix(r, c, lambda i, j: m[i if m.rows > 1 else 0, j if m.cols > 1 else 0])  # noqa
    return grow(a), grow(b)


SYMPY_FUNCS = {"exp": "exp", "log": "log", "sin": "sin", "cos": "cos", "tanh": "tanh", "sqrt": "sqrt",
               "abs": "Abs", "sign": "sign"}


def tree_to_sympy(node, env, dims):
    """The parsed expression on SymPy matrices (vectors as columns); env maps names to matrices."""
    from . import syntax as S
    sp = _sympy()

    def rec(n):
        return tree_to_sympy(n, env, dims)
    if isinstance(node, S.Const):
        return sp.Matrix([[sp.Rational(node.value.numerator, node.value.denominator)]])
    if isinstance(node, S.Name):
        return env[node.id] if node.id in env else sp.Matrix([[sp.Integer(dims[node.id])]])
    if isinstance(node, S.Neg):
        return -rec(node.operand)
    if isinstance(node, S.Transpose):
        return rec(node.operand).T
    if isinstance(node, S.Binary):
        a, b = rec(node.left), rec(node.right)
        if node.op == "@":
            return a * b
        if node.op == "**":
            e = b[0, 0]
            return a.applyfunc(lambda x: x ** e)
        a, b = _broadcast(a, b)
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a.multiply_elementwise(b)
        return sp.Matrix(a.rows, a.cols, lambda i, j: a[i, j] / b[i, j])
    if isinstance(node, S.Call):
        fn = node.fn
        args = [rec(x) for x in node.args]
        if fn in SYMPY_FUNCS:
            f = getattr(sp, SYMPY_FUNCS[fn])
            return args[0].applyfunc(f)
        if fn == "sigmoid":
            return args[0].applyfunc(lambda x: 1 / (1 + sp.exp(-x)))
        if fn in ("relu", "maximum"):
            x = args[-1] if fn == "maximum" else args[0]
            return x.applyfunc(lambda v: sp.Max(v, 0))
        if fn in ("dot", "matmul"):
            return args[0] * args[1]
        if fn in ("multiply",):
            a, b = _broadcast(args[0], args[1])
            return a.multiply_elementwise(b)
        if fn == "power":
            return args[0].applyfunc(lambda x: x ** args[1][0, 0])
        if fn == "transpose":
            return args[0].T
        if fn in ("trace", "tr"):
            return sp.Matrix([[args[0].trace()]])
        if fn in ("det", "logdet"):
            d = args[0].det()
            return sp.Matrix([[d if fn == "det" else sp.log(d)]])
        if fn == "inv":
            return args[0].inv()
        if fn == "norm":
            return sp.Matrix([[sp.sqrt(sum(v ** 2 for v in args[0]))]])
        if fn == "outer":
            return args[0].reshape(len(args[0]), 1) * args[1].reshape(1, len(args[1]))
        if fn == "diag":
            x = args[0]
            return sp.diag(*list(x)) if 1 in x.shape else sp.Matrix([x[i, i] for i in range(x.rows)])
        if fn == "eye":
            a = node.args[0]
            return sp.eye(int(a.value) if isinstance(a, S.Const) else dims[a.id])
        if fn == "softmax":
            e = args[0].applyfunc(sp.exp)
            axis = node.kw("axis")
            if axis is None:
                return e / sum(e)
            if axis == 0:
                return sp.Matrix(e.rows, e.cols, lambda i, j: e[i, j] / sum(e[k, j] for k in range(e.rows)))
            return sp.Matrix(e.rows, e.cols, lambda i, j: e[i, j] / sum(e[i, k] for k in range(e.cols)))
        if fn in ("sum", "mean"):
            x = args[0]
            axis = node.kw("axis")
            if axis is None:
                total = sum(x)
                return sp.Matrix([[total / (len(x) if fn == "mean" else 1)]])
            if axis == 1 or (axis == -1):
                out = sp.Matrix(x.rows, 1, lambda i, j: sum(x[i, k] for k in range(x.cols)))
                return out / (x.cols if fn == "mean" else 1)
            out = sp.Matrix(1, x.cols, lambda i, j: sum(x[k, j] for k in range(x.rows)))
            return out / (x.rows if fn == "mean" else 1)
    raise NotImplementedError(f"the toy example does not expand {type(node).__name__} "
                              f"{getattr(node, 'fn', '')}".strip())


def matrix_to_sympy(m, env, dims):
    """A matrix-notation result on SymPy matrices (1-D vectors as columns), for the toy comparison."""
    from . import matrix as X
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
    if isinstance(m, X.MAdd):
        out = rec(m.terms[0])
        for t in m.terms[1:]:
            a, b = _broadcast(out, rec(t))
            out = a + b
        return out
    if isinstance(m, X.MScale):
        return rec(m.x) * sp.Rational(m.coef.numerator, m.coef.denominator)
    if isinstance(m, X.MMatMul):
        a, b = rec(m.a), rec(m.b)
        if a.cols != b.rows and a.cols == 1 and a.rows == b.rows:     # a 1-D left operand is a row
            a = a.T
        return a * b
    if isinstance(m, X.MHad):
        out = rec(m.factors[0])
        for f in m.factors[1:]:
            a, b = _broadcast(out, rec(f))
            out = a.multiply_elementwise(b)
        return out
    if isinstance(m, X.MPow):
        e = sp.Rational(m.e.numerator, m.e.denominator)
        return rec(m.x).applyfunc(lambda v: v ** e)
    if isinstance(m, X.MT):
        return rec(m.x) if m.x.ndim == 1 else rec(m.x).T
    if isinstance(m, X.MFunc):
        f = {"sigmoid": lambda v: 1 / (1 + sp.exp(-v)), "relu": lambda v: sp.Max(v, 0),
             "gt0": sp.Heaviside, "ge0": sp.Heaviside}.get(m.name) or getattr(sp, SYMPY_FUNCS[m.name])
        return rec(m.x).applyfunc(f)
    if isinstance(m, X.MSum):
        x = rec(m.x)
        if m.axis is None or m.x.ndim == 1:
            return sp.Matrix([[sum(x)]])
        if m.axis == 1:
            return sp.Matrix(x.rows, 1, lambda i, j: sum(x[i, k] for k in range(x.cols)))
        out = sp.Matrix(1, x.cols, lambda i, j: sum(x[k, j] for k in range(x.rows)))
        return out if m.keepdims else out.T
    if isinstance(m, X.MSoftmax):
        e = rec(m.x).applyfunc(sp.exp)
        if m.axis is None:
            return e / sum(e)
        if m.axis == 0:
            return sp.Matrix(e.rows, e.cols, lambda i, j: e[i, j] / sum(e[k, j] for k in range(e.rows)))
        return sp.Matrix(e.rows, e.cols, lambda i, j: e[i, j] / sum(e[i, k] for k in range(e.cols)))
    if isinstance(m, X.MTrace):
        return sp.Matrix([[rec(m.x).trace()]])
    if isinstance(m, X.MMatFn):
        x = rec(m.x)
        return x.inv() if m.name == "inv" else sp.Matrix([[x.det() if m.name == "det" else sp.log(x.det())]])
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


def same(a, b, trials=3, seed=0):
    """Do two SymPy expressions agree? Tested at random points (a zero-equivalence test), which is
    quick where simplify() can take a minute on nested tanh."""
    import random
    sp = _sympy()
    diff = sp.sympify(a - b)
    free = sorted(diff.free_symbols, key=str)
    if not free:
        return abs(complex(sp.N(diff))) < 1e-9
    rng = random.Random(seed)
    f = sp.lambdify(free, diff, modules="math")
    for _ in range(trials):
        point = [rng.uniform(0.3, 1.7) for _ in free]
        try:
            if abs(f(*point)) > 1e-9 * (1 + abs(sp.lambdify(free, a, modules="math")(*point))):
                return False
        except (ValueError, ZeroDivisionError, OverflowError):
            return False
    return True


def show(e):
    """A SymPy expression as text, simplified only when small (simplify() is slow on large ones)."""
    sp = _sympy()
    small = sp.count_ops(e) <= 12 and not any(isinstance(f.args[0], sp.Add) for f in e.atoms(sp.Function))
    return sp.sstr(sp.simplify(e) if small else e)
