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
