"""A learner's notebook code read into a model's text: the Reader (lang.notebook) interprets it, the
lines the loss needs are kept, a name assigned again names its last value (A1_1, A1_2, A1), shapes are
inferred (lang.notebook_shapes), loops whose iterations are one body are written as a loop
(lang.notebook_loops), and the text says how the loss was bound."""
import ast
import re

from ..core.errors import ChainruleError
from .notebook import LAYERS, Arr, Reader, rename_names, too_deep
from .notebook_loops import rolled_text
from .notebook_shapes import Dims, ShapeMismatch, dim_names, fixed_names, shape_of


def notebook_model(source, loss=None, data=None, layers=LAYERS, shapes=None, dims=None):
    """The model text of a learner's Python source (see the module docstring). `shapes` fixes the
    dimensions of named arrays ({"W1": ("n_h", "n_x")} or sizes), `dims` renames or sizes the inferred
    dimensions ({"n_1": "n_h", "n_2": 7})."""
    try:
        return _notebook_model(source, loss, data, layers, shapes or {}, dims or {})
    except RecursionError:
        raise too_deep(source) from None


def _notebook_model(source, loss, data, layers, fixed_shapes, fixed_dims):
    reader = Reader(source, data, layers)
    loss_name = reader.run(loss)
    loss_function = loss or reader.chosen
    lines = _needed(reader.lines, loss_name)
    lines, loss_name = _last_takes_the_name(reader, lines, loss_name)
    dims = Dims()
    shapes = {}
    for name, kind in reader.decls.items():
        if kind == "scalar":
            shapes[name] = ()
        elif kind == "param" and re.match(r"b(\d|$|_|\[)", name):
            shapes[name] = (dims.new(), "1")           # a bias: a column, broadcast along the examples
        else:
            shapes[name] = (dims.new(), dims.new())
    for name, node, line in lines:
        try:
            shapes[name] = shape_of(node, shapes, dims)
        except ShapeMismatch as e:
            raise ChainruleError(f"line {line}: the shapes do not fit ({e}) in {name} = {ast.unparse(node)}", source,
                                 0, 1, line, kind="notebook") from None
    names = fixed_names(dim_names(reader, shapes, dims), shapes, dims, fixed_shapes, fixed_dims)
    uses_log = any("log" in ast.unparse(node) for _, node, _ in lines)
    out = ["# read from Python source (never run)", _loss_note(reader, loss_function)]
    read = {n for _, node, _ in lines for n in _names(node)}          # once: declarations × lines was quadratic
    for name, kind in reader.decls.items():
        if name not in read:
            continue
        dim_text = ", ".join(names.get(dims.find(d), "1") if d != "1" else "1" for d in shapes[name])
        tag = {"data": "data binary" if uses_log and name in ("Y", "y") else "data", "mask": "data binary",
               "scalar": "scalar data positive" if "keep" in name else "scalar data", "param": ""}[kind]
        out.append(f"{name}: {dim_text or 'scalar'} {tag}".rstrip() if dim_text else f"{name}: {tag}")
    loops = [(var, [(v, [n for n, _, _ in lines if reader.tags.get(n) == (k, v)]) for v in values])
             for k, (var, values) in enumerate(reader.loops)]
    taken = {n for n, _, _ in lines} | set(reader.decls)
    body, _ = rolled_text(lines, loops, reader.family, taken)
    return "\n".join(out + body) + "\n"


def _last_takes_the_name(reader, lines, loss_name):
    """A name assigned again (A1 = relu(Z1); A1 = A1 * D1; A1 = A1 / keep_prob) names its last value, as
    the code's later lines and the course's cache mean it: A1_1, A1_2, A1 (so dA1 = W2ᵀ dZ2 comes first)."""
    kept = {name for name, _, _ in lines}
    versions = {}
    for written, model, _ in reader.written:
        if model in kept:
            versions.setdefault(written, []).append(model)
    taken = kept | set(reader.decls)
    rename = {}
    for written, models in versions.items():
        if len(models) < 2 or models[0] != written:
            continue
        new = [f"{written}_{k}" for k in range(1, len(models))] + [written]
        if any(n in taken and n not in models for n in new):
            continue
        rename.update({m: n for m, n in zip(models, new) if m != n})
    if not rename:
        return lines, loss_name
    for table in (reader.tags, reader.family):
        table.update({rename[n]: table.pop(n) for n in [n for n in table if n in rename]})
    out = [(rename.get(n, n), rename_names(node, rename), line) for n, node, line in lines]
    return out, rename.get(loss_name, loss_name)


def _loss_note(reader, function):
    """`# the loss: compute_cost(AL, Y), AL being L_model_forward's AL (A3); Y data`: how it was bound."""
    f = reader.functions[function]
    parts = []
    for fn, arg, producer, value in reader.bindings:
        if fn == function:
            shown = ast.unparse(value.node) if isinstance(value, Arr) else "its value"
            parts.append(f"{arg} is what {producer} returns as {arg}" + (f" ({shown})" if shown != arg else ""))
    bound = {arg for fn, arg, _, _ in reader.bindings if fn == function}
    taken = [a.arg for a in f.args.args if reader.decls.get(a.arg) == "param" and a.arg not in bound
             and re.match(r"(A|AL|Yhat|y_hat|a)\d*$", a.arg)]
    if taken:
        parts.append(f"{', '.join(taken)} read as a parameter: no function returns a value of that name")
    data = [a.arg for a in f.args.args if reader.decls.get(a.arg) == "data"]
    if data:
        parts.append(f"{', '.join(data)} {'is' if len(data) == 1 else 'are'} data")
    call = f"{function}({', '.join(a.arg for a in f.args.args)})"
    return f"# the loss: {call}" + (f" — {'; '.join(parts)}" if parts else "")


def _names(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _needed(lines, loss):
    """The lines the loss reads, directly or not (a function that also computes dw, db: those go)."""
    need, out = {loss}, []
    for name, node, line in reversed(lines):
        if name in need:
            out.append((name, node, line))
            need |= _names(node)
    return out[::-1]
