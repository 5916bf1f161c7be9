"""Inputs for fuzzing chainrule: grammar-generated expressions and model files (valid and not),
their mutations (near-valid), and random bytes. Deterministic for a given random.Random. The
functions come from the registry, so every new operation is fuzzed."""
from chainrule.lang.functions import unique_functions
from chainrule.core.rules import ELEMENTWISE as _PRIMITIVES

SHAPES = {"A": ("n", "n"), "B": ("n", "m"), "C": ("m", "n"), "x": ("n",), "y": ("m",), "s": (),
          "W": ("k", "n"), "b": ("k", 1), "G": ("k", "m"), "X": ("n", "m"), "Y": (1, "m")}
NAMES = list(SHAPES)
_SPECIAL = {"eye", "dim", "ones", "zeros"}              # arguments that are dimensions or shapes
UNARY = sorted(f.name for f in unique_functions() if f.arity == 1 and f.name.isascii() and f.name not in _SPECIAL) + \
    ["np.exp", "np.linalg.inv", "np.tanh", "np.squeeze", "np.linalg.slogdet"]
BINARY_FUNCTIONS = sorted(f.name for f in unique_functions() if f.arity == 2 and f.name not in _SPECIAL)
CONSTANT_PARAMETERS = sorted(f.name for f in _PRIMITIVES.values() if f.surface and f.params)
BINARY = ["+", "-", "*", "/", "@"]
TOKENS = list("()[]{}.,:;+-*/@%^&|<>=!~'\"\\ \t\n_0123456789") + NAMES + UNARY + [
    "**", "//", ".T", "axis=", "keepdims=True", "lambda", "__class__", "import", "1e999", "nan", "eye(", ")"]


def expression(rng, depth=0):
    r = rng.random()
    if depth > 4 or r < 0.25:
        return rng.choice(NAMES + ["2", "0.5", "1", "3"])
    if r < 0.5:
        return f"{expression(rng, depth + 1)} {rng.choice(BINARY)} {expression(rng, depth + 1)}"
    if r < 0.7:
        f = rng.choice(UNARY)
        extra = rng.choice(["", "", ", axis=0", ", axis=1", ", axis=1, keepdims=True", ", 0"]) \
            if f in ("sum", "mean", "softmax", "logsumexp") else ""
        return f"{f}({expression(rng, depth + 1)}{extra})"
    if r < 0.8:
        return f"({expression(rng, depth + 1)}).T"
    if r < 0.87:
        return f"-{expression(rng, depth + 1)}"
    if r < 0.94:
        return f"({expression(rng, depth + 1)}) ** {rng.choice(['2', '3', '-1', '0.5', '-2'])}"
    if r < 0.96:
        return f"maximum(0, {expression(rng, depth + 1)})"
    if r < 0.98:
        return f"np.{rng.choice(BINARY_FUNCTIONS)}({expression(rng, depth + 1)}, {expression(rng, depth + 1)})"
    if r < 0.99:
        f = rng.choice(CONSTANT_PARAMETERS)
        return f"{f}({expression(rng, depth + 1)}, {rng.choice(['-1', '0', '0.5'])}, {rng.choice(['1', '2', 'np.pi'])})"
    return f"np.where({expression(rng, depth + 1)} > 0, {expression(rng, depth + 1)}, {expression(rng, depth + 1)})"


ELEMENTWISE = sorted(f.name for f in _PRIMITIVES.values() if f.surface and not f.params)
DIMS = ("n", "m", "k")


def typed(rng, shape, depth=0):
    """A well-shaped expression of the given shape (mostly valid input)."""
    leaves = [n for n, s in SHAPES.items() if s == shape]
    r = rng.random()
    if depth > 3 or (leaves and r < 0.3):
        return rng.choice(leaves) if leaves else _leaf(rng, shape)
    if r < 0.45:
        return f"{rng.choice(ELEMENTWISE)}({typed(rng, shape, depth + 1)})"
    if r < 0.5:
        f = rng.choice(["maximum", "minimum", "logaddexp", "where"])
        if f == "where":
            return f"np.where({typed(rng, shape, depth + 1)} > 0, {typed(rng, shape, depth + 1)}, {typed(rng, shape, depth + 1)})"
        return f"np.{f}({typed(rng, shape, depth + 1)}, {typed(rng, shape, depth + 1)})"
    if r < 0.65:
        op = rng.choice(["+", "-", "*"])
        return f"({typed(rng, shape, depth + 1)} {op} {typed(rng, shape, depth + 1)})"
    if r < 0.72:
        return f"{rng.choice(['2', '0.5', 's'])} * {typed(rng, shape, depth + 1)}"
    if r < 0.85 and len(shape) == 2:
        mid = rng.choice(DIMS)
        return f"({typed(rng, (shape[0], mid), depth + 1)} @ {typed(rng, (mid, shape[1]), depth + 1)})"
    if r < 0.85 and len(shape) == 1:
        mid = rng.choice(DIMS)
        return f"({typed(rng, (shape[0], mid), depth + 1)} @ {typed(rng, (mid,), depth + 1)})"
    if shape == ():
        inner = rng.choice([("n",), ("m",), ("n", "n"), ("n", "m")])
        f = rng.choice(["sum", "mean", "trace", "norm", "logsumexp"]) if len(inner) == 2 and inner[0] == inner[1] \
            else rng.choice(["sum", "mean", "norm", "logsumexp"])
        return f"{f}({typed(rng, inner, depth + 1)})"
    if len(shape) == 2 and rng.random() < 0.5:
        return f"sum({typed(rng, shape, depth + 1)}, axis={rng.choice([0, 1])}, keepdims=True) * " \
               f"{typed(rng, shape, depth + 1)}"
    return f"({typed(rng, shape, depth + 1)}) ** 2"


def _vector(rng, d):
    rows = [n for n, s in SHAPES.items() if len(s) == 2 and s[0] == d]
    return f"sum({rng.choice(rows)}, axis=1)"


def _leaf(rng, shape):
    """A small expression of any shape built from the names (no recursion)."""
    if shape == ():
        return rng.choice(["2", "0.5", "s"])
    if len(shape) == 1:
        return _vector(rng, shape[0])
    if shape[1] == 1:
        return f"sum({[n for n, s in SHAPES.items() if len(s) == 2 and s[0] == shape[0]][0]}, axis=1, keepdims=True)"
    return f"outer({_vector(rng, shape[0])}, {_vector(rng, shape[1])})"


def mutate(rng, text, times=None):
    """Near-valid: a few random edits (delete, insert a token, duplicate, swap, truncate)."""
    for _ in range(times or rng.randint(1, 3)):
        if not text:
            text = rng.choice(TOKENS)
            continue
        k = rng.randrange(len(text))
        op = rng.random()
        if op < 0.3:
            text = text[:k] + text[k + 1:]
        elif op < 0.6:
            text = text[:k] + rng.choice(TOKENS) + text[k:]
        elif op < 0.75:
            j = min(len(text), k + rng.randint(1, 6))
            text = text[:j] + text[k:j] + text[j:]
        elif op < 0.9 and k + 1 < len(text):
            text = text[:k] + text[k + 1] + text[k] + text[k + 2:]
        else:
            text = text[:k]
    return text


def random_bytes_text(rng, n=None):
    data = bytes(rng.randrange(256) for _ in range(n or rng.randint(0, 80)))
    return data.decode(rng.choice(["latin-1", "utf-8"]), errors="replace")


def model(rng):
    """A model file: declarations, 1–4 assignments, a loss; often not a valid one."""
    names = rng.sample(NAMES, rng.randint(2, 6))
    lines = []
    for n in names:
        dims = ", ".join(str(d) for d in SHAPES[n]) or "scalar"
        lines.append(f"{n}: {dims}" + rng.choice(["", "", " data", " data binary", " positive"]))
    prev = list(names)
    for k in range(rng.randint(1, 4)):
        e = expression(rng)
        for old in NAMES:
            if old not in prev and rng.random() < 0.5:
                e = e.replace(old, rng.choice(prev))
        name = f"Z{k}"
        lines.append(f"{name} = {e}")
        prev.append(name)
    lines.append(f"J = {rng.choice(['sum', 'mean', '-sum', ''])}({rng.choice(prev)}{rng.choice(['', ' ** 2', ' * Y'])})")
    return "\n".join(lines) + "\n"


def case(rng):
    """One fuzz input: (kind, text, wrt). Kinds: expr, expr-mutated, bytes, model, model-mutated."""
    r = rng.random()
    if r < 0.2:
        e = typed(rng, ())
        return "expr-typed", e, rng.choice([n for n in NAMES if n in e] or NAMES)
    if r < 0.35:
        return "expr", expression(rng), rng.choice(NAMES)
    if r < 0.6:
        return "expr-mutated", mutate(rng, expression(rng)), rng.choice(NAMES)
    if r < 0.7:
        return "bytes", random_bytes_text(rng), rng.choice(NAMES)
    if r < 0.85:
        return "model", model(rng), None
    return "model-mutated", mutate(rng, model(rng), rng.randint(1, 4)), None
