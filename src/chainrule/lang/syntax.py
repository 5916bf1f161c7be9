"""Parse NumPy-style matrix expressions with Python's `ast` against a whitelist (never executed)."""
import ast
from dataclasses import dataclass, field
from fractions import Fraction

from ..core.errors import ChainruleError

MAX_LENGTH = 20_000
MAX_DEPTH = 200
MAX_EXPONENT = 64

PREFIXES = ("np.linalg.", "numpy.linalg.", "np.", "numpy.", "scipy.special.", "special.", "jnp.", "la.")
KEYWORDS = {"axis", "keepdims"}
METHODS = {"sum", "mean", "dot", "transpose", "astype", "squeeze"}
CASTS = {"int64", "int32", "float64", "float32", "int", "float", "double"}
# np.pi and np.e are calls of functions with no arguments, named by symbols no one can type (user
# text is ASCII), so that they can never clash with a user's names.
CONSTANT_SYMBOLS = {"pi": "π", "e": "ℯ"}
CONSTANT_PREFIXES = ("np.", "numpy.", "math.", "jnp.")
MAX_CONSTANT_DIGITS = 600          # past floating point (308), below Python's 4300-digit str() limit
SHAPE_ARGUMENT = {"zeros", "ones"}       # functions whose first argument is a shape: np.zeros((n, m))


@dataclass(frozen=True, eq=False)
class Node:
    """A surface-syntax node with its position in the source text."""
    start: int = field(repr=False)
    end: int = field(repr=False)
    line: int = field(repr=False)
    source: str = field(repr=False)

    @property
    def text(self):
        lines = self.source.splitlines()
        row = lines[self.line - 1] if 0 < self.line <= len(lines) else ""
        return row[self.start:self.end]


@dataclass(frozen=True, eq=False)
class Name(Node):
    id: str = ""


@dataclass(frozen=True, eq=False)
class Const(Node):
    value: Fraction = Fraction(0)


@dataclass(frozen=True, eq=False)
class Binary(Node):
    op: str = "+"
    left: Node = None
    right: Node = None


@dataclass(frozen=True, eq=False)
class Neg(Node):
    operand: Node = None


@dataclass(frozen=True, eq=False)
class Transpose(Node):
    operand: Node = None


@dataclass(frozen=True, eq=False)
class Call(Node):
    fn: str = ""
    args: tuple = ()
    kwargs: tuple = ()          # ((name, value), ...) with constant values

    def kw(self, name, default=None):
        return dict(self.kwargs).get(name, default)


@dataclass(frozen=True, eq=False)
class Compare(Node):
    op: str = ">"
    left: Node = None
    right: Node = None


@dataclass(frozen=True, eq=False)
class Dims(Node):
    """A shape written as a tuple, (n, m): only as the argument of the functions that take one."""
    items: tuple = ()         # dimension names (str) and sizes (int)


def names(node):
    """Every Name node of a tree, in order."""
    if isinstance(node, Name):
        yield node
    for f in ("operand", "left", "right"):
        child = getattr(node, f, None)
        if child is not None:
            yield from names(child)
    for a in getattr(node, "args", ()):
        yield from names(a)


def children(node):
    """The sub-expressions of a node, in order."""
    out = [getattr(node, f) for f in ("operand", "left", "right") if getattr(node, f, None) is not None]
    return out + list(getattr(node, "args", ()))


def depth(node):
    """Levels of the tree (a name is 1)."""
    return 1 + max((depth(c) for c in children(node)), default=0)


_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}
_CMPOPS = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<="}


def dotted_name(node):
    """'np.linalg.inv' for an attribute chain of plain names, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


NAMESPACED = set()         # functions reached only as np.name, so the bare name stays free: var = np.var(x)


def function_name(dotted):
    for prefix in PREFIXES:
        if dotted.startswith(prefix):
            name = dotted[len(prefix):]
            return "np." + name if name in NAMESPACED else name
    return dotted


class _Parser:
    def __init__(self, source, line, col, index=None, aliases=None):
        self.source, self.line0, self.col0, self.index = source, line, col, index
        self.aliases = aliases or {}

    def err(self, message, node, hint=None, kind="syntax"):
        line = self.line0 + node.lineno - 1
        start = node.col_offset + (self.col0 if node.lineno == 1 else 0)
        end = (node.end_col_offset or node.col_offset + 1) + (self.col0 if node.end_lineno == 1 else 0)
        if node.end_lineno != node.lineno:
            end = len(self.source.splitlines()[line - 1]) if self.source.splitlines() else start + 1
        raise ChainruleError(message, self.source, start, end, line, hint, kind=kind)

    def pos(self, node):
        line = self.line0 + node.lineno - 1
        start = node.col_offset + (self.col0 if node.lineno == 1 else 0)
        end = node.end_col_offset + (self.col0 if node.end_lineno == 1 else 0)
        if node.end_lineno != node.lineno:
            end = start + 1
        return dict(start=start, end=end, line=line, source=self.source)

    def constant(self, node):
        """A plain constant (for keyword values): int, None, bool."""
        if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (bool, int))):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
                and isinstance(node.operand.value, int) and not isinstance(node.operand.value, bool):
            return -node.operand.value
        if isinstance(node, ast.Tuple):
            return tuple(self.constant(e) for e in node.elts)
        self.err("keyword values must be constants such as 0, 1, None, True", node)

    def fold(self, op, left, right, node):
        """An operation on two constants is the constant it makes (x ** (1/2), 1 / (2 * 3))."""
        a, b = left.value, right.value
        if op == "/" and b == 0:
            self.err("division by zero", node)
        if op == "**":
            if b.denominator != 1 or abs(b) > MAX_EXPONENT or (a == 0 and b < 0):
                return None                     # a root, or 0 ** -1: left to the algebra (and its errors)
            value = a ** int(b)
        else:
            value = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else None}.get(op)
        if value is None:
            return None
        if max(len(str(value.numerator)), len(str(value.denominator))) > MAX_CONSTANT_DIGITS:
            self.err(f"constant out of range: more than {MAX_CONSTANT_DIGITS} digits", node)
        return Const(value=value, **self.pos(node))

    def dims(self, node):
        """(n, m), n or 3 as a shape: dimension names and positive integer sizes."""
        items = node.elts if isinstance(node, ast.Tuple) else [node]
        out = []
        for it in items:
            if isinstance(it, ast.Name) and not it.id.startswith("_"):
                out.append(it.id)
            elif isinstance(it, ast.Constant) and isinstance(it.value, int) and not isinstance(it.value, bool) \
                    and 1 <= it.value <= 10 ** 6:
                out.append(it.value)
            else:
                self.err("a shape is a tuple of dimension names and sizes, e.g. (n, m)", it)
        if len(out) > 2:
            self.err("chainrule handles scalars, vectors and matrices (at most 2 axes)", node)
        return Dims(items=tuple(out), **self.pos(node))

    def shape_entry(self, node, d):
        """X.shape[1]: the size of an axis of a declared array (a dimension, e.g. m)."""
        v = node.value
        if isinstance(v, ast.Call) and dotted_name(v.func) and function_name(dotted_name(v.func)) == "slogdet" and \
                isinstance(node.slice, ast.Constant) and node.slice.value == 1 and len(v.args) == 1 and not v.keywords:
            return Call(fn="logdet", args=(self.visit(v.args[0], d),), kwargs=(), **self.pos(node))   # log|det X|
        if isinstance(v, ast.Attribute) and v.attr == "shape" and isinstance(node.slice, ast.Constant) \
                and isinstance(node.slice.value, int) and not isinstance(node.slice.value, bool):
            arr = self.visit(v.value, d)
            axis = Const(value=Fraction(node.slice.value), **self.pos(node.slice))
            return Call(fn="dim", args=(arr, axis), kwargs=(), **self.pos(node))
        self.err("indexing is not supported (only X.shape[k], the size of an axis)", node)

    def method(self, node, dotted, d):
        """x.sum(axis=0), x.mean(), a.dot(b), x.transpose(), x.astype(float): the function form."""
        f = node.func
        if not isinstance(f, ast.Attribute) or f.attr not in METHODS:
            return None
        if dotted is not None and any(dotted.startswith(p) for p in PREFIXES):
            return None                                     # np.sum(x) is a function, not a method
        receiver = self.visit(f.value, d)
        if f.attr == "astype":
            return receiver                                 # (Z > 0).astype(float): the same 0/1 values
        call = ast.Call(func=ast.Name(id=f.attr, ctx=ast.Load()), args=list(node.args), keywords=node.keywords)
        ast.copy_location(call, node)
        call.end_lineno, call.end_col_offset = node.end_lineno, node.end_col_offset
        parsed = self.visit(call, d)
        return Call(fn=parsed.fn, args=(receiver,) + parsed.args, kwargs=parsed.kwargs, **self.pos(node))

    def visit(self, node, depth=0):
        if depth > MAX_DEPTH:
            self.err(f"expression nested too deeply (limit {MAX_DEPTH})", node)
        d = depth + 1
        if isinstance(node, ast.Name):
            if node.id.startswith("_"):
                self.err(f"names starting with '_' are not allowed: {node.id}", node)
            return Name(id=self.aliases.get(node.id, node.id), **self.pos(node))     # A0 after A[0] = X: X
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                self.err(f"unsupported constant {v!r}: only numbers are allowed", node)
            if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
                self.err("constants must be finite numbers", node)
            if isinstance(v, int) and abs(v) > 10 ** 12:
                self.err("constant too large (limit 1e12)", node)
            return Const(value=Fraction(str(v)) if isinstance(v, float) else Fraction(v), **self.pos(node))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            op = _BINOPS[type(node.op)]
            left, right = self.visit(node.left, d), self.visit(node.right, d)
            if op == "**":
                if not isinstance(right, Const) and not (isinstance(right, Neg) and isinstance(right.operand, Const)):
                    self.err("exponents must be constant numbers (x ** 2, x ** -1, x ** 0.5)", node.right)
                value = right.value if isinstance(right, Const) else -right.operand.value
                if abs(value) > MAX_EXPONENT:
                    self.err(f"exponent too large: exponents must be constants between -{MAX_EXPONENT} and {MAX_EXPONENT}", node.right)
            if isinstance(left, Const) and isinstance(right, Const) and op != "@":
                folded = self.fold(op, left, right, node)
                if folded is not None:
                    return folded
            return Binary(op=op, left=left, right=right, **self.pos(node))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                operand = self.visit(node.operand, d)
                if isinstance(operand, Const):
                    return Const(value=-operand.value, **self.pos(node))
                return Neg(operand=operand, **self.pos(node))
            if isinstance(node.op, ast.UAdd):
                return self.visit(node.operand, d)
            self.err("unsupported operator (use + - * / ** @)", node, kind="unsupported-operator")
        if isinstance(node, ast.Attribute):
            if node.attr == "T":
                return Transpose(operand=self.visit(node.value, d), **self.pos(node))
            dotted = dotted_name(node)
            if dotted and node.attr in CONSTANT_SYMBOLS and dotted[:-len(node.attr)] in CONSTANT_PREFIXES:
                return Call(fn=CONSTANT_SYMBOLS[node.attr], args=(), kwargs=(), **self.pos(node))
            self.err(f"unsupported attribute '.{node.attr}' (only .T is allowed)", node,
                     "hint: write functions as np.sum(x), not x.sum()")
        if isinstance(node, ast.Subscript):
            if self.index is not None and isinstance(node.value, ast.Name):     # a family's member: Z[l - 1]
                name = self.index(node.value.id, node.slice, self.err)
                if name is not None:
                    return Name(id=name, **self.pos(node))
            return self.shape_entry(node, d)
        if isinstance(node, ast.Call):
            dotted = dotted_name(node.func)
            method = self.method(node, dotted, d)
            if method is not None:
                return method
            if dotted is None:
                self.err("only plain function calls such as np.sum(x) are allowed", node)
            if function_name(dotted) in CASTS and len(node.args) == 1 and not node.keywords:
                return self.visit(node.args[0], d)          # np.int64(Z > 0) is the 0/1 array itself
            if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
                self.err("* and ** arguments are not allowed", node)
            takes_shape = function_name(dotted) in SHAPE_ARGUMENT
            args = tuple(self.dims(a) if takes_shape and k == 0 else self.visit(a, d) for k, a in enumerate(node.args))
            kwargs = []
            for k in node.keywords:
                if k.arg not in KEYWORDS:
                    self.err(f"unsupported keyword '{k.arg}' (allowed: axis, keepdims)", k.value)
                if any(name == k.arg for name, _ in kwargs):
                    self.err(f"keyword '{k.arg}' given twice", k.value)
                kwargs.append((k.arg, self.constant(k.value)))
            return Call(fn=function_name(dotted), args=args, kwargs=tuple(kwargs), **self.pos(node))
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1 or type(node.ops[0]) not in _CMPOPS:
                self.err("only single comparisons with > >= < <= are allowed", node)
            return Compare(op=_CMPOPS[type(node.ops[0])], left=self.visit(node.left, d),
                           right=self.visit(node.comparators[0], d), **self.pos(node))
        if isinstance(node, ast.BinOp):
            self.err("unsupported operator (use + - * / ** @)", node, kind="unsupported-operator")
        kind = type(node).__name__
        self.err(f"unsupported syntax ({kind}): only arithmetic, @, .T and whitelisted functions are allowed", node)


def parse_expression(text, *, source=None, line=1, col=0, index=None, aliases=None):
    """Parse one expression. `source`/`line`/`col` place it inside a larger text (for models);
    positions in errors always point into the text as the user wrote it (several lines included).
    `index(base, index node, err)`, given by a model, names an indexed family's member (Z[l - 1] → Z1)
    or returns None (then X[0] is refused, as without it); `aliases` renames names (A0 → X, from A[0] = X)."""
    if not isinstance(text, str):
        raise ChainruleError(f"expression must be a string, got {type(text).__name__}")
    source = text if source is None else source
    if len(text) > MAX_LENGTH:
        row = text[:MAX_LENGTH].count("\n")
        column = MAX_LENGTH - (text.rfind("\n", 0, MAX_LENGTH) + 1) + (col if row == 0 else 0)
        raise ChainruleError(f"expression too long ({len(text)} characters, limit {MAX_LENGTH}): it is cut here",
                             source, column, column + 1, line + row)
    if not text.strip():
        raise ChainruleError("empty expression", source, col, col + 1, line)
    if not text.isascii():
        bad = next(i for i, ch in enumerate(text) if not ch.isascii())
        rows = text[:bad].count("\n")
        column = bad - (text.rfind("\n", 0, bad) + 1) + (col if rows == 0 else 0)
        raise ChainruleError(f"non-ASCII character {text[bad]!r}: write names and operators in ASCII "
                             "(x.T, @, *)", source, column, column + 1, line + rows)
    stripped = text.lstrip()
    prefix = text[:len(text) - len(stripped)]
    if "\n" in prefix:                       # leading blank lines: start on the first written line
        line += prefix.count("\n")
        col = 0
        prefix = prefix[prefix.rfind("\n") + 1:]
    col += len(prefix)
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as e:
        lineno = e.lineno or 1
        offset = max(0, (e.offset or 1) - 1) + (col if lineno == 1 else 0)
        raise ChainruleError(f"syntax error: {e.msg}", source, offset, offset + 1, line + lineno - 1,
                             kind="syntax") from None
    except (RecursionError, MemoryError, ValueError):
        raise ChainruleError(f"expression nested too deeply (limit {MAX_DEPTH})", source, col, col + 1, line) from None
    try:
        return _Parser(source, line, col, index, aliases).visit(tree.body)
    except RecursionError:
        raise ChainruleError(f"expression nested too deeply (limit {MAX_DEPTH})", source, col, col + 1, line) from None
