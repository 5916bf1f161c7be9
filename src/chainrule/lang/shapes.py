"""Shape checking and inference on the surface syntax, with NumPy's rules (broadcasting, 1-D @)."""
import re

from . import syntax as S
from ..core.errors import ChainruleError, argument_error

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# names the generated code and the numeric checks use for libraries and helpers: not for arrays
RESERVED = {"np", "numpy", "jnp", "jax", "torch", "math", "dtype", "values", "erf", "softmax", "logsumexp"}


def reserved_problem(name):
    """Why a name cannot be an array's, or None."""
    if name in RESERVED:
        return f"{name} is a reserved name (generated code uses it for a library or helper): rename it"
    return None


def fmt_shape(shape):
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def normalize_shapes(shapes):
    """{"A": ("n", "n"), "B": "n, m", "x": "n", "t": ()} → {name: tuple of int|str}; dimension names
    checked."""
    if shapes is None:
        return {}
    if not isinstance(shapes, dict):
        raise argument_error("shapes must be a dict such as {'A': ('n', 'n'), 'x': ('n',)}", "shapes", shapes)
    out = {}
    for name, shape in shapes.items():
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise argument_error(f"bad variable name {name!r} in shapes", "shapes", {name: shape})
        if reserved_problem(name):
            raise argument_error(reserved_problem(name), "shapes", {name: shape}, kind="reserved")
        if isinstance(shape, str):          # "n", "n, m", "(n, m)" as the model language writes them
            inner = shape.strip().removeprefix("(").removesuffix(")").strip()
            shape = tuple(d for d in inner.split(",") if d.strip()) if inner else ()
        elif isinstance(shape, int) and not isinstance(shape, bool):
            shape = (shape,)
        try:
            dims = tuple(shape)
        except TypeError:
            raise argument_error(f"shape of {name} must be a tuple of dimensions, got {shape!r}", f"shapes[{name!r}]",
                                 shape) from None
        if len(dims) > 2:
            raise argument_error(f"{name} has {len(dims)} axes: chainrule handles scalars, vectors and matrices",
                                 f"shapes[{name!r}]", shape)
        norm = []
        for d in dims:
            if isinstance(d, bool) or not isinstance(d, (int, str)):
                raise argument_error(f"dimension {d!r} of {name} must be an int or a name", f"shapes[{name!r}]", shape)
            if isinstance(d, str):
                d = d.strip()
                if d.isascii() and d.isdigit():
                    d = int(d)
                elif not NAME_RE.match(d):
                    raise argument_error(f"bad dimension name {d!r} in the shape of {name}", f"shapes[{name!r}]", shape)
                elif reserved_problem(d):
                    raise argument_error(reserved_problem(d).replace("a reserved name", "a reserved dimension name"),
                                         f"shapes[{name!r}]", shape, kind="reserved")
            if isinstance(d, int) and not 1 <= d <= 10 ** 6:
                raise argument_error(f"dimension {d} of {name} must be between 1 and 1e6", f"shapes[{name!r}]", shape)
            norm.append(d)
        out[name] = tuple(norm)
    clash = sorted(dim_names(out) & set(out))
    if clash:
        raise argument_error(f"{clash[0]} is both a variable and a dimension name: rename one of them", "shapes",
                             shapes)
    return out


def parse_shape(text):
    """'A=n,n' → ('A', ('n', 'n')); 'x=n' → ('x', ('n',)); 't=' or 't=scalar' → ('t', ())."""
    if "=" not in text:
        raise ChainruleError(f"--shape expects NAME=DIMS such as A=n,n or x=n or t=scalar, got {text!r}")
    name, dims = text.split("=", 1)
    dims = dims.strip().strip("()")
    if dims in ("", "scalar"):
        return name.strip(), ()
    items = [d.strip() for d in dims.split(",") if d.strip()]
    return name.strip(), tuple(int(d) if d.isascii() and d.isdigit() else d for d in items)   # '²'.isdigit() too


def dim_names(shapes):
    return {d for s in shapes.values() for d in s if isinstance(d, str)}


def broadcast(a, b):
    """NumPy broadcasting of two shapes, or None."""
    out = []
    for k in range(1, max(len(a), len(b)) + 1):
        x = a[-k] if k <= len(a) else 1
        y = b[-k] if k <= len(b) else 1
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    return tuple(reversed(out))


def matmul_shape(a, b):
    """Result shape of a @ b, or None when the inner dimensions differ."""
    if len(a) == 0 or len(b) == 0:
        return None
    inner_a = a[-1]
    inner_b = b[0] if len(b) == 1 else b[-2]
    if inner_a != inner_b:
        return None
    return a[:-1] + (b[1:] if len(b) == 2 else ())


class ShapeChecker:
    """Computes the shape of every node; infers undeclared names from element-wise partners."""

    def __init__(self, shapes, functions, dims=None):
        self.shapes = dict(shapes)
        self.dims = dim_names(shapes) if dims is None else dims      # given: a model's, computed once
        self.functions = functions
        self.of = {}

    def check(self, node):
        while True:
            self.of = {}
            self.unknown = None
            self.learned = False
            shape = self.visit(node)
            if not self.learned:
                break
        if shape is None:
            n = self.unknown
            raise ChainruleError(f"cannot tell the shape of '{n.id}': declare it (e.g. shapes={{'{n.id}': ('n',)}} "
                                 f"or --shape {n.id}=n)", n.source, n.start, n.end, n.line, kind="unknown-name")
        return shape

    def learn(self, name_node, shape):
        if isinstance(name_node, S.Name) and name_node.id not in self.shapes and shape is not None:
            self.shapes[name_node.id] = shape
            self.learned = True

    def visit(self, node):
        if node in self.of:                   # visited in this pass (function rules revisit arguments)
            return self.of[node]
        shape = self._visit(node)
        self.of[node] = shape
        return shape

    def _visit(self, node):
        if isinstance(node, (S.Const, S.Dims)):
            return ()
        if isinstance(node, S.Name):
            if node.id in self.shapes:
                return self.shapes[node.id]
            if node.id in self.dims:
                return ()
            if node.id in ("pi", "e") or node.id in self.functions:
                raise ChainruleError(f"'{node.id}' is not a variable", node.source, node.start, node.end, node.line)
            if self.unknown is None:
                self.unknown = node
            return None
        if isinstance(node, S.Neg):
            return self.visit(node.operand)
        if isinstance(node, S.Transpose):
            s = self.visit(node.operand)
            return None if s is None else tuple(reversed(s))
        if isinstance(node, (S.Binary, S.Compare)):
            a, b = self.visit(node.left), self.visit(node.right)
            if getattr(node, "op", None) == "@":
                return self.matmul(node, a, b)
            if a is None or b is None:
                self.learn(node.left, b)
                self.learn(node.right, a)
                return None
            out = broadcast(a, b)
            if out is None:
                self.elementwise_error(node, a, b)
            return out
        if isinstance(node, S.Call):
            if any(self.visit(a) is None for a in node.args):
                return None                     # an argument's shape is not known yet
            spec = self.functions.get(node.fn)
            if spec is None:
                raise ChainruleError(f"unknown function '{node.fn}'", node.source, node.start, node.end, node.line,
                                     "hint: supported functions are " + ", ".join(sorted(self.functions)),
                                     kind="unknown-function")
            return spec.shape(self, node)
        raise ChainruleError(f"unsupported node {type(node).__name__}")

    def matmul(self, node, a, b, left=None, right=None):
        left = left or node.left
        right = right or node.right
        if a is None or b is None:
            return None
        if len(a) == 0 or len(b) == 0:
            raise self.error(node, f"@ needs vectors or matrices, not a scalar: {left.text} {fmt_shape(a)}, "
                                   f"{right.text} {fmt_shape(b)}", "hint: use * to multiply by a scalar")
        out = matmul_shape(a, b)
        if out is not None:
            return out
        inner_b = b[0] if len(b) == 1 else b[-2]
        hint = None
        ta, tb = tuple(reversed(a)), tuple(reversed(b))
        if len(a) == 2 and matmul_shape(ta, b) is not None:
            hint = f"did you mean {_t(left)} @ {right.text}?"
        elif len(b) == 2 and matmul_shape(a, tb) is not None:
            hint = f"did you mean {left.text} @ {_t(right)}?"
        elif matmul_shape(b, a) is not None:
            hint = f"did you mean {right.text} @ {left.text}?"
        raise self.error(node, f"inner dimensions differ: {a[-1]} vs {inner_b}",
                         f"  {left.text}: {fmt_shape(a)}, {right.text}: {fmt_shape(b)}", fix=hint)

    def elementwise_error(self, node, a, b):
        fix = None
        if broadcast(tuple(reversed(a)), b) == b and len(a) == 2:
            fix = f"did you mean {_t(node.left)}?"
        elif broadcast(a, tuple(reversed(b))) == a and len(b) == 2:
            fix = f"did you mean {_t(node.right)}?"
        elif len(a) == 2 and len(b) == 2 and a[-1] == b[0]:
            fix = "did you mean @ (matrix product)?"
        raise self.error(node, f"shapes {fmt_shape(a)} and {fmt_shape(b)} do not broadcast",
                         f"  {node.left.text}: {fmt_shape(a)}, {node.right.text}: {fmt_shape(b)}", fix=fix)

    def error(self, node, message, hint=None, fix=None):
        return ChainruleError(message, node.source, node.start, node.end, node.line, hint, kind="shape", fix=fix)


def _t(node):
    if isinstance(node, S.Transpose):
        return node.operand.text if isinstance(node.operand, (S.Name, S.Call)) else f"({node.operand.text})"
    text = node.text
    return f"{text}.T" if isinstance(node, (S.Name, S.Call, S.Transpose)) else f"({text}).T"
