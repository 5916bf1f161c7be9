"""A learner's backward pass read for check: the assignments of a `def backward_propagation(…)` (or
bare lines) as expressions over the model's names, helpers inlined, each line named as the code means
it (the dict key it is stored under), arguments the forward functions return bound to them."""
import ast
import dataclasses
import re

from ..core.errors import ChainruleError
from .notebook import Arr, Func, Reader, pick, rename_names, returned, too_deep


def learner_lines(source, names, forward=None, model_lines=()):
    """See _learner_lines; a source nested past the interpreter's depth is an error, not a crash."""
    try:
        return _learner_lines(source, names, forward, model_lines)
    except RecursionError:
        raise too_deep(source) from None


def _learner_lines(source, names, forward, model_lines):
    """The assignments of a learner's backward pass — a `def backward_propagation(parameters, cache,
    X, Y):` or bare lines — as (name as written, expression text over the model's names, source line),
    the function read like a forward one: cache["A1"] and parameters["W2"] are the model's A1 and
    W2, helpers inlined. `names`: the model's names (each may be read directly). With `forward`, the
    Python source the model was read from, an argument the forward functions return (AL, caches of
    C1W4's L_model_backward(AL, Y, caches)) is what they return, each value named as the model names
    it (`model_lines`: the model's (name, expression text))."""
    text = source if re.search(r"^def ", source, re.M) else \
        f"def _lines({', '.join(_free_names(source, names) if forward else ())}):\n" + \
        "\n".join("    " + ln for ln in source.splitlines())
    own = [n.name for n in _parsed(text).body if isinstance(n, ast.FunctionDef)]
    fname = next((n for n in reversed(own) if n.startswith(("backward", "_lines"))), own[-1] if own else None)
    if fname is None:
        raise ChainruleError("no lines to check", source, 0, 1, 1, kind="notebook")
    if forward and fname in {n.name for n in _parsed(forward).body if isinstance(n, ast.FunctionDef)}:
        raise ChainruleError(f"your backward pass is called {fname}(), as a function of the forward code is: "
                             "rename it", source, 0, 1, 1, kind="notebook")
    reader = Reader(text + "\n\n\n" + forward if forward else text)
    reader.outside = {n: "model" for n in names}
    reader.used.update({n: 1 for n in names})        # the learner's lines never take a model's (or adjoint's) name
    last = len(text.splitlines())
    mine = [n for n in reader.tree.body if isinstance(n, ast.FunctionDef) and n.lineno <= last]
    f = next(n for n in mine if n.name == fname)
    args = {}
    for a in f.args.args:
        producer = next((g for g in reader.functions if g not in own and a.arg in returned(reader.functions[g])),
                        None) if forward and a.arg not in names else None
        if producer is not None:                       # L_model_backward(AL, Y, caches): L_model_forward's
            args[a.arg] = pick(reader.call_top(producer, set(own)), reader.functions[producer], a.arg)
        else:
            args[a.arg] = Arr(ast.Name(a.arg, ast.Load())) if a.arg in names else reader.input(a.arg)
    for n in mine:                                     # the forward ran with its own helpers; the backward, with its
        reader.functions[n.name] = n
        reader.globals[n.name] = Func(n)
    forward_lines = list(reader.lines)
    start = len(reader.written)
    reader.invoke(f, [], args, f)
    rename = _as_the_model_names(forward_lines, model_lines)
    exprs = {model: rename_names(node, rename) for model, node, _ in reader.lines}
    shift = 0 if text is source else 1
    bound = {a: ast.unparse(rename_names(v.node, rename)) for a, v in args.items()
             if isinstance(v, Arr) and isinstance(v.node, ast.Name)}
    return [LearnerLine(reader.keyed.get(model, written), written, model, ast.unparse(exprs[model]), line - shift,
                        hidden=line > last, bound=bound)
            for written, model, line in reader.written[start:] if model not in rename]


@dataclasses.dataclass
class LearnerLine:
    """One assignment of a learner's backward pass, as read: `name` is what it computes by the code's
    own account (a dict key it is stored under, grads["dW3"], else the name it is assigned to), `model`
    the reader's name for this value (a helper called per layer writes one per call), `expr` over the
    model's names and earlier lines' `model` names."""
    name: str
    written: str
    model: str
    expr: str
    line: int
    hidden: bool = False        # a line of a helper the forward source defines (sigmoid): read, not judged
    bound: dict = dataclasses.field(default_factory=dict, repr=False)   # the function's arguments: AL -> A3


def _free_names(source, names):
    """The names bare lines read that neither they nor the model define (AL in dAL = -(Y / AL …)): the
    arguments of the function they are read as, so that the forward code's returns bind them."""
    tree = _parsed(source)
    assigned = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) for t in n.targets
                if isinstance(t, ast.Name)}
    read = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    return [n for n in dict.fromkeys(read) if n not in assigned and n not in names and n not in ("np", "numpy")
            and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", n)]


def _parsed(text):
    try:
        return ast.parse(text)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return ast.Module([], [])                       # the Reader says why


def _as_the_model_names(lines, model_lines):
    """{a forward line's name as read here: the model's name for the same expression}: the model's
    names come from the whole reading (versions renamed, loops rolled), found here by expression."""
    by_text = {}
    for name, text in model_lines:
        try:
            by_text.setdefault(ast.unparse(ast.parse(text, mode="eval").body), name)
        except SyntaxError:
            continue
    rename = {}
    for name, node, _ in lines:
        found = by_text.get(ast.unparse(rename_names(node, rename)))
        if found is not None:
            rename[name] = found
    return rename
