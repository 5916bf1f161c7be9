"""Loops in a model: a `for l in range(1, 3):` header over an indented body whose names are indexed
families (`Z[l] = W[l] @ A[l - 1] + b[l]`). The model's lines are the body unrolled (Z1, Z2, …, named
member by member: Z[2] is Z2), and the loop is kept as a record, `Loop`: its variable, values, body
and the family member each name is, so that results can be read back per iteration (dZ[l] = …) and
a later derivation can work on the body once. `A[0] = X` before a loop says the family member A0 is
X (an alias: no line of its own).

Indices are whole-number expressions of the loop variables (l, l - 1, 2 * t + 1) and constants.
"""
import ast
import re
from dataclasses import dataclass, field

from ..core.errors import ChainruleError

MAX_ITERATIONS = 2000
MAX_INDEX = 10 ** 9
INDEXED_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\s*\[(.*)\]$")


@dataclass
class Loop:
    """A loop of a model, kept as a loop although its lines are unrolled."""
    var: str
    values: tuple                          # the loop variable's values, in order
    line: int                              # the `for` line
    header: str                            # for l in range(1, 3)
    body: tuple                            # (line number, text) of each line of the body, as written
    iterations: list = field(default_factory=list)   # per value: the names its assignments define
    members: dict = field(default_factory=dict)      # name -> (family, index): Z2 -> ("Z", 2)
    aliases: dict = field(default_factory=dict)      # member name -> the name it is (A0 -> "X")
    nested: bool = False                             # a loop inside its body (unrolled into it)

    def indexed(self, name, value):
        """How the body writes `name` in the iteration with the loop variable at `value`: Z[l + 1]
        for Z3 at l = 2; None for a name that is no family's member."""
        if name not in self.members:
            return None
        family, k = self.members[name]
        return f"{family}[{offset_text(self.var, k - value)}]"


def offset_text(var, d):
    return var if d == 0 else f"{var} + {d}" if d > 0 else f"{var} − {-d}"


def member_name(family, k):
    """The name of a family's member: Z[2] is Z2 (W_a[1] is W_a1, h1[2] is h1_2)."""
    return f"{family}_{k}" if family[-1].isdigit() else f"{family}{k}"


def index_value(node, env, err):
    """A whole number from an index expression over the loop variables (`env`), or err(message, node)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        if abs(node.value) > MAX_INDEX:
            raise err(f"{node.value} is too large for an index or a loop bound (limit {MAX_INDEX:,})", node)
        return node.value
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        raise err(f"{node.id} is not a loop variable here: an index is a whole number or an expression of "
                  f"the loop's variable ({', '.join(env) or 'none here'})", node)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -index_value(node.operand, env, err)
    if isinstance(node, ast.BinOp) and type(node.op) in (ast.Add, ast.Sub, ast.Mult):
        a, b = index_value(node.left, env, err), index_value(node.right, env, err)
        out = a + b if isinstance(node.op, ast.Add) else a - b if isinstance(node.op, ast.Sub) else a * b
        if abs(out) > MAX_INDEX:
            raise err(f"this index is {out:,}: too large (limit {MAX_INDEX:,})", node)
        return out
    raise err("an index must be a whole number or an expression such as l, l - 1, 2 * t + 1", node)


def loop_values(iterable, err):
    """The values of `range(a)`, `range(a, b)`, `range(a, b, step)` or `reversed(range(…))` with
    whole-number bounds."""
    node, backwards = iterable, False
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "reversed" \
            and len(node.args) == 1 and not node.keywords:
        node, backwards = node.args[0], True
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
            and 1 <= len(node.args) <= 3 and not node.keywords):
        raise err("a model's loop runs over range(start, stop), e.g. for l in range(1, 4):", iterable)
    for a in node.args:
        name = next((n.id for n in ast.walk(a) if isinstance(n, ast.Name)), None)
        if name is not None:
            raise err(f"a loop's bounds are whole numbers, and {name} is a name: write its value, e.g. "
                      "range(1, 4) (a symbolic number of steps is not read yet)", a)
    bounds = [index_value(a, {}, err) for a in node.args]
    if len(bounds) == 3 and bounds[2] == 0:
        raise err("range() with a step of 0", node.args[2])
    values = range(*bounds)
    if len(values) > MAX_ITERATIONS:
        raise err(f"a loop of {len(values):,} steps (limit {MAX_ITERATIONS:,})", iterable)
    return tuple(reversed(values) if backwards else values)


def is_header(code):
    """Is this line a loop's header, `for … :`? (String tests: a regex here backtracked cubically.)"""
    stripped = code.strip()
    return stripped.startswith("for") and stripped[3:4].isspace() and stripped.endswith(":")


def parse_header(code, err_at):
    """(variable, values) of a `for VAR in range(…):` line; `err_at(message, start, end)` positions errors."""
    indent = len(code) - len(code.lstrip())
    text = code.strip()[3:-1].strip()
    col = code.index(text, indent + 3) if text else indent

    def err(message, node=None):
        if node is None or not hasattr(node, "col_offset"):
            return err_at(message, col, col + len(text))
        return err_at(message, col + node.col_offset, col + (node.end_col_offset or node.col_offset + 1))
    try:
        tree = ast.parse(f"for {text}: pass").body[0]
    except SyntaxError:
        raise err("a loop is written `for l in range(1, 4):`") from None
    col -= 4                                                   # positions in the parsed `for …` text
    if not isinstance(tree.target, ast.Name):
        raise err("a loop has one variable: for l in range(1, 4):", tree.target)
    return tree.target.id, loop_values(tree.iter, err)


def resolve_indexed(text, env, err_at, col=0):
    """`Z[l - 1]` written as a name with `env` {l: 2}: (family, index, member name), or None when
    `text` is not indexed; `err_at(message, start, end)` positions errors."""
    m = INDEXED_RE.match(text.strip())
    if not m:
        return None
    inner = m.group(2)
    at = col + text.index("[") + 1

    def err(message, node=None):
        if node is None or not hasattr(node, "col_offset"):
            return err_at(message, at, at + max(1, len(inner)))
        return err_at(message, at + node.col_offset, at + (node.end_col_offset or node.col_offset + 1))
    try:
        node = ast.parse(inner, mode="eval").body
    except SyntaxError:
        raise err("an index must be a whole number or an expression such as l, l - 1") from None
    k = index_value(node, env, err)
    if k < 0:
        raise err(f"the index of {m.group(1)}[{inner}] is {k} here: indices are 0 or more")
    return m.group(1), k, member_name(m.group(1), k)


INDEXED_ANYWHERE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\s*\[[^\[\]]*\]")


def write_members(text, env, err_at, aliases=None):
    """`text` with every indexed name written as the member it is here (Z[l - 1] → Z1 at l = 2, an
    alias as what it stands for); `err_at(message, start, end)` makes the error for a bad index."""
    aliases = aliases or {}

    def sub(m):
        name = resolve_indexed(m.group(0), env, err_at, 0)[2]
        return aliases.get(name, name)
    return INDEXED_ANYWHERE_RE.sub(sub, text) if "[" in text else text


def loop_error(message, text, line, start, end, env):
    """A positioned error in a loop's body, saying which iteration it is."""
    where = ", ".join(f"{v} = {k}" for v, k in env.items())
    return ChainruleError(f"line {line}: {message}" + (f" (at {where})" if where else ""), text, start,
                          max(end, start + 1), line)
