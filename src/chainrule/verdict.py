"""check(): a verdict on a learner's NumPy formula for one adjoint of a model.

The claim is parsed like any expression (never executed), shape-checked against the model, then
evaluated on random data next to the engine's own adjoint. A wrong claim gets the reason a mentor
would give: a shape error (with the transpose or order that fixes it), a constant factor (the 1/m
convention), a missing keepdims, a wrong activation derivative, or a value from another layer —
plus the correct formula and a small numeric counterexample.
"""
import numpy as np

from . import syntax as S
from .errors import ChainruleError
from .evaluate import evaluate_tree
from .functions import FUNCTIONS
from .shapes import ShapeChecker, fmt_shape


class Verdict:
    def __init__(self, correct, reason, hint, expected, claim, target):
        self.correct, self.reason, self.hint, self.expected = correct, reason, hint, expected
        self.claim, self.target = claim, target

    def __str__(self):
        head = "correct" if self.correct else "wrong"
        lines = [f"{head}: {self.claim}", f"  {self.reason}"]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        if not self.correct:
            lines.append(f"  expected: {self.target} = {self.expected}")
        return "\n".join(lines)

    def _repr_markdown_(self):
        return ("✅ " if self.correct else "❌ ") + str(self).replace("\n", "  \n")


def check(model_text, claim, convention="course"):
    from .adjoints import backprop
    from .numeric import adjoint_values
    result = backprop(model_text, convention)
    target, expr = _split_claim(claim)
    names = {g.name: g for g in result.gradients}
    if target not in names:
        raise ChainruleError(f"{target} is not an adjoint of this model (adjoints: {', '.join(names)})",
                             claim, 0, len(target))
    g = names[target]
    expected = g.text
    tree = S.parse_expression(expr, source=claim, col=claim.index(expr))
    pass_shapes = dict(result.model.shapes())
    pass_shapes.update({e.name: e.shape for e in result.gradients})
    try:
        shape = ShapeChecker(pass_shapes, FUNCTIONS).check(tree)
    except ChainruleError as e:
        if "cannot tell the shape" in e.message or "unknown function" in e.message or "there is no axis" in e.message:
            raise
        reason, _, fix = e.message.partition(" — ")
        values, dims = adjoint_values(result)
        order = [e.name for e in result.gradients]
        edit = one_edit(tree, values, dims, values[target], pass_shapes, result.model, target, order)
        change = fix or (edit[0][0].upper() + edit[0][1:] + "." if edit else "")
        hint = (change + " " if change else "") + ("With that change the formula is right. " if edit else "") \
            + f"({g.name} has shape {fmt_shape(g.shape)})"
        if edit and not fix:
            reason += f" — {edit[1]}"
        return Verdict(False, f"shape error: {reason}", hint, expected, claim, target)

    values, dims = adjoint_values(result)
    want = values[target]
    with np.errstate(all="ignore"):
        got = np.asarray(evaluate_tree(tree, values, dims), dtype=float)
    return _compare(got, want, shape, g, result, values, claim, target, expected, dims, tree, pass_shapes)


def _split_claim(claim):
    if not isinstance(claim, str) or "=" not in claim:
        raise ChainruleError("write the claim as NAME = expression, e.g. dZ1 = np.dot(W2.T, dZ2) * (1 - A1**2)",
                             claim if isinstance(claim, str) else None, 0, 1)
    name, expr = claim.split("=", 1)
    name = name.strip()
    if not name.isidentifier():
        raise ChainruleError(f"bad name {name!r} on the left of '='", claim, 0, max(1, len(name)))
    return name, expr


def _compare(got, want, shape, g, result, values, claim, target, expected, dims, tree, shapes):
    if got.shape != want.shape:
        if got.size == want.size and got.ndim != want.ndim:
            if np.allclose(got.reshape(want.shape), want):
                return Verdict(False, f"right values, wrong shape: {fmt_shape(shape)} instead of {fmt_shape(g.shape)}"
                               " — the sum dropped the summed axis",
                               "use keepdims=True (np.sum(..., axis=1, keepdims=True)); otherwise the update "
                               f"{g.of} - alpha * {target} broadcasts {g.of} {fmt_shape(g.shape)} against "
                               f"{fmt_shape(shape)} into a matrix, silently", expected, claim, target)
        if got.shape == want.shape[::-1] and np.allclose(got.T, want):
            return Verdict(False, f"transposed: the claim has shape {fmt_shape(shape)}, {target} has "
                           f"{fmt_shape(g.shape)}", "transpose the result (swap the order of the product and "
                           "transpose both factors)", expected, claim, target)
        edit = one_edit(tree, values, dims, want, shapes, result.model, target, [e.name for e in result.gradients])
        if edit:
            return Verdict(False, f"shape {fmt_shape(shape)} but {target} has shape {fmt_shape(g.shape)}: "
                           + edit[1], f"{edit[0]}; with that change it is right", expected, claim, target)
        return Verdict(False, f"shape {fmt_shape(shape)} but {target} has shape {fmt_shape(g.shape)}",
                       entry_example(got, want), expected, claim, target)
    if np.allclose(got, want, rtol=1e-7, atol=1e-9):
        return Verdict(True, f"equals the engine's {target} = {expected} on random data", None, expected, claim, target)
    mask = np.abs(want) > 1e-9
    if mask.any():
        ratio = got[mask] / want[mask]
        if np.allclose(ratio, ratio.flat[0], rtol=1e-6):
            reason, hint = _factor_reason(float(ratio.flat[0]), g, result, dims, values)
            edit = one_edit(tree, values, dims, want, shapes, result.model, target, [e.name for e in result.gradients]) if "constant factor" in reason else None
            if edit:
                reason, hint = f"{reason}: {edit[1]}", f"{edit[0]}; with that change it is right"
            return Verdict(False, reason, hint + "; " + entry_example(got, want), expected, claim, target)
    for other in result.gradients:
        if other.name != target and values[other.name].shape == got.shape and np.allclose(got, values[other.name]):
            return Verdict(False, f"this is the value of {other.name}, not of {target}",
                           f"{target} = {expected}", expected, claim, target)
    activation = _activation_mistake(got, g, result, values) or _derivative_factor(tree, g, result, values, dims)
    if activation:
        return Verdict(False, activation[0], activation[1] + "; " + entry_example(got, want), expected, claim,
                       target)
    edit = one_edit(tree, values, dims, want, shapes, result.model, target, [e.name for e in result.gradients])
    if edit:
        return Verdict(False, edit[1], f"{edit[0]}; with that change it is right; " + entry_example(got, want),
                       expected, claim, target)
    term = _missing_term(g, values, dims, got, want)
    if term:
        return Verdict(False, term, entry_example(got, want), expected, claim, target)
    return Verdict(False, "the values differ from the engine's " + target, entry_example(got, want),
                   expected, claim, target)


def _factor_reason(c, g, result, dims, values=None):
    m = result.example_dim
    n = dims.get(m) if m else None
    if n and np.isclose(c, n):
        return (f"off by a factor {m}: the claim is {m} × {g.name}",
                f"in the {result.convention} convention {g.name} "
                + (f"already has the 1/{m} of the average" if g.scale == "1" else f"is per example (no 1/{m})")
                + "; remove the extra factor")
    if n and np.isclose(c, 1 / n):
        return (f"off by a factor 1/{m}: the claim is {g.name} / {m}",
                f"in the {result.convention} convention {g.name} = {m}·∂J/∂{g.of} carries no 1/{m}; "
                f"the 1/{m} appears in dW and db")
    if np.isclose(c, -1):
        return "wrong sign: the claim is −" + g.name, "check the sign of the loss (J = −1/m Σ …)"
    for name, v in (values or {}).items():
        if name in result.model.declarations and np.ndim(v) == 0 and not np.isclose(v, 1):
            if np.isclose(c, v):
                return f"off by a factor {name}: the claim is {name} × {g.name}", f"divide by {name}"
            if np.isclose(c, 1 / v):
                return f"off by a factor 1/{name}: the claim is {g.name} / {name}", f"the division by {name} is missing"
    return f"off by a constant factor {c:.4g}", "compare the constants with the loss"


def _activation_mistake(got, g, result, values):
    """dZ = dA ⊙ g′(Z): a claim that used the derivative of another activation."""
    model = result.model
    step = next((a for a in model.assignments if isinstance(a.tree, S.Call) and len(a.tree.args) == 1
                 and isinstance(a.tree.args[0], S.Name) and a.tree.args[0].id == g.of), None)
    if step is None or "d" + step.name not in values:
        return None
    upstream = values["d" + step.name]
    a = values[step.name]
    z = values[g.of]
    candidates = {"tanh": ("1 − A²", 1 - a ** 2), "sigmoid": ("A ⊙ (1 − A)", a * (1 - a)),
                  "relu": ("(Z > 0)", (z > 0).astype(float))}
    for fn, (form, deriv) in candidates.items():
        if fn != step.tree.fn and np.allclose(got, upstream * deriv):
            right = {"tanh": "1 − A²", "sigmoid": "A ⊙ (1 − A)", "relu": "(Z > 0)",
                     "maximum": "(Z > 0)"}.get(step.tree.fn, "its derivative")
            right = right.replace("A", step.name).replace("Z", g.of)
            return (f"wrong activation derivative: this uses the derivative of {fn} ({form}), but "
                    f"{step.name} = {step.tree.fn}({g.of})",
                    f"{step.tree.fn}′ is {right}")
    return None


def entry_example(got, want):
    diff = np.abs(got.reshape(-1) - want.reshape(-1)) if got.size == want.size else None
    if diff is None:
        return None
    k = int(np.argmax(diff))
    pos = [int(i) for i in np.unravel_index(k, want.shape)] if want.shape else []
    return f"counterexample on random data: entry {pos} is {got.reshape(-1)[k]:.4g}, expected {want.reshape(-1)[k]:.4g}"


DERIVATIVES = {"tanh": "1 − {A}²", "sigmoid": "{A} ⊙ (1 − {A})", "relu": "({Z} > 0)", "maximum": "({Z} > 0)"}


def _activation_step(g, model):
    return next((a for a in model.assignments if isinstance(a.tree, S.Call) and a.tree.fn in DERIVATIVES
                 and isinstance(a.tree.args[-1], S.Name) and a.tree.args[-1].id == g.of), None)


def _derivative_factor(tree, g, result, values, dims):
    """dZ = (upstream) * (factor): the upstream part is right, so the factor is the learner's g′ — name it.
    Or the whole answer times something: an extra factor (σ′ again after A2 − Y)."""
    factors = list(_product_factors(tree))
    if len(factors) < 2:
        return None
    for k, f in enumerate(factors):
        v = _value(f, values, dims)
        if v is not None and v.shape == values[g.name].shape and np.allclose(v, values[g.name]):
            rest = " * ".join(_src(x) for j, x in enumerate(factors) if j != k)
            return (f"an extra factor `{rest}`: {f.text} alone is {g.name}",
                    f"{g.name} = {g.text}" + (" (σ′ is already inside: the cross-entropy's derivative cancels it)"
                                             if "1 -" in rest else ""))
    step = _activation_step(g, result.model)
    if step is None or "d" + step.name not in values:
        return None
    upstream = values["d" + step.name]
    for k, f in enumerate(factors):
        v = _value(f, values, dims)
        if v is not None and v.shape == upstream.shape and np.allclose(v, upstream):
            rest = " * ".join(_src(x) for j, x in enumerate(factors) if j != k)
            right = DERIVATIVES[step.tree.fn].format(A=step.name, Z=g.of)
            return (f"wrong activation derivative: the factor `{rest}` should be "
                    f"{step.tree.fn}′({g.of}) = {right} (the rest, {f.text}, is right: it is d{step.name})",
                    f"{step.name} = {step.tree.fn}({g.of}), whose derivative is {right}")
    return None


def _src(node):
    """A factor's source text, parenthesized where a product needs it: (1 - A2)."""
    t = node.text or "…"
    return f"({t})" if isinstance(node, (S.Binary, S.Neg)) and getattr(node, "op", "-") in "+-" else t


def _value(node, values, dims):
    try:
        with np.errstate(all="ignore"):
            return np.asarray(evaluate_tree(node, values, dims), dtype=float)
    except Exception:              # noqa: BLE001 — a part that does not evaluate alone
        return None


def _product_factors(node):
    if isinstance(node, S.Binary) and node.op == "*":
        yield from _product_factors(node.left)
        yield from _product_factors(node.right)
    elif isinstance(node, S.Call) and node.fn == "multiply" and len(node.args) == 2:
        yield from _product_factors(node.args[0])
        yield from _product_factors(node.args[1])
    else:
        yield node


def one_edit(tree, values, dims, want, shapes, model, target=None, order=()):
    """The single change that makes the claim right, if there is one: a name from the wrong place
    (A1 where X belongs), a transpose too many or too few, a sum over the wrong axis or without
    keepdims. Returns (what to change, why) or None."""
    later = set(order[order.index(target):]) if target in order else set()     # not known yet
    arrays = [n for n, v in values.items() if isinstance(v, np.ndarray) and v.ndim > 0]
    for description, why, edited in _edits(tree, arrays, [n for n in arrays if n not in later], model):
        try:
            ShapeChecker(shapes, FUNCTIONS).check(edited)
            with np.errstate(all="ignore"):
                got = np.asarray(evaluate_tree(edited, values, dims), dtype=float)
        except Exception:          # noqa: BLE001 — an edit that does not even evaluate is not the fix
            continue
        if got.shape == want.shape and np.allclose(got, want, rtol=1e-7, atol=1e-9):
            return description, why
    return None


def _role(name, model):
    a = next((a for a in model.assignments if a.name == name), None)
    if a is not None:
        return f"{name} = {a.text}"
    d = model.declarations.get(name)
    if d is not None and d.is_data:
        return f"{name}, the data"
    if name in model.parameters:
        return f"{name}, a parameter"
    return f"{name}, the adjoint of {name[1:]}" if name.startswith("d") and name[1:] in model.shapes() else name


def _edits(node, arrays, candidates, model):
    """Every tree one edit away from `node`, with (what to change, why it was wrong)."""
    import dataclasses
    if isinstance(node, S.Name) and node.id in arrays:
        for other in candidates:
            if other != node.id:
                yield (f"use {other} instead of {node.id}",
                       f"{node.id} is in the place of {other} ({_role(node.id, model)}; {_role(other, model)})",
                       dataclasses.replace(node, id=other))
    if isinstance(node, S.Transpose):
        yield (f"drop the transpose in {node.text}", f"{node.text} should not be transposed", node.operand)
    elif isinstance(node, (S.Name, S.Call)) and node.text:
        yield (f"transpose {node.text}", f"{node.text} should be transposed",
               S.Transpose(node.start, node.end, node.line, node.source, node))
    if isinstance(node, S.Call) and node.fn == "dim":
        k = int(node.args[1].value)
        for other in (0, 1):
            if other != k:
                yield (f"use {node.args[0].text}.shape[{other}]", f"{node.text} is the size of the wrong axis",
                       dataclasses.replace(node, args=(node.args[0], dataclasses.replace(node.args[1], value=other))))
        return
    if isinstance(node, S.Call) and node.fn in ("sum", "mean"):
        kw = dict(node.kwargs)
        axis = kw.get("axis")
        for other in ((0, 1) if axis in (0, 1) else ()):
            if other != axis:
                yield (f"sum over axis={other}", f"it sums over axis={axis} instead of axis={other}",
                       dataclasses.replace(node, kwargs=tuple({**kw, "axis": other}.items())))
        if axis is None:
            for other in (0, 1):
                yield (f"sum over axis={other} with keepdims=True",
                       f"it sums every entry, but {'the examples' if other == 1 else 'the rows'} only should be summed",
                       dataclasses.replace(node, kwargs=tuple({**kw, "axis": other, "keepdims": True}.items())))
        if not kw.get("keepdims"):
            yield ("add keepdims=True", "the sum drops the summed axis (keepdims is missing)",
                   dataclasses.replace(node, kwargs=tuple({**kw, "keepdims": True}.items())))
    for field in ("operand", "left", "right"):
        child = getattr(node, field, None)
        if child is not None:
            for d, why, c in _edits(child, arrays, candidates, model):
                yield d, why, dataclasses.replace(node, **{field: c})
    if isinstance(node, S.Call):
        for k, child in enumerate(node.args):
            for d, why, c in _edits(child, arrays, candidates, model):
                yield d, why, dataclasses.replace(node, args=node.args[:k] + (c,) + node.args[k + 1:])


def _missing_term(g, values, dims, got, want):
    """The claim lacks (or adds) one additive term of the engine's formula, e.g. the L2 term λ/m W."""
    try:
        terms = _terms(S.parse_expression(g.numpy), values, dims)
    except Exception:              # noqa: BLE001 — generated code always parses; be safe anyway
        return None
    if len(terms) < 2:
        return None
    for value, node in terms:
        if np.shape(value) == want.shape or np.ndim(value) == 0:
            if np.allclose(want - got, value):
                return f"a term is missing: the part `{node.text}` of {g.name} = {g.text}"
            if np.allclose(got - want, value):
                return f"an extra term: `{node.text}` does not belong in {g.name} = {g.text}"
            mask = np.abs(np.broadcast_to(value, want.shape)) > 1e-9
            if mask.any():
                r = ((got - want) / np.where(mask, value, 1))[mask]
                if np.allclose(r, r.flat[0], rtol=1e-6):
                    return (f"the term `{node.text}` of {g.name} = {g.text} is off by a factor "
                            f"{_factor_name(1 + float(r.flat[0]), dims)} (the rest is right)")
    return None


def _factor_name(c, dims):
    for d, n in dims.items():
        if np.isclose(c, n):
            return d
        if np.isclose(c, 1 / n):
            return f"1/{d}"
    return f"{c:.4g}"


def _terms(node, values, dims, sign=1.0):
    """Additive terms of an expression as (value, node), scalar factors multiplied in."""
    if isinstance(node, S.Binary) and node.op in "+-":
        return _terms(node.left, values, dims, sign) + _terms(node.right, values, dims,
                                                              sign * (-1 if node.op == "-" else 1))
    if isinstance(node, S.Neg):
        return _terms(node.operand, values, dims, -sign)
    if isinstance(node, S.Binary) and node.op in "*/":
        a = np.asarray(evaluate_tree(node.left, values, dims))
        b = np.asarray(evaluate_tree(node.right, values, dims))
        whole = lambda ts: [(v, node) for v, _ in ts] if len(ts) == 1 else ts   # noqa: E731
        if node.op == "/" and b.ndim == 0:
            return whole([(v / b, n) for v, n in _terms(node.left, values, dims, sign)])
        if node.op == "*" and a.ndim == 0:
            return whole([(a * v, n) for v, n in _terms(node.right, values, dims, sign)])
        if node.op == "*" and b.ndim == 0:
            return whole([(v * b, n) for v, n in _terms(node.left, values, dims, sign)])
    return [(sign * np.asarray(evaluate_tree(node, values, dims), dtype=float), node)]
