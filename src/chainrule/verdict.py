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
        if "cannot tell the shape" in e.message or "unknown function" in e.message:
            raise
        reason, _, fix = e.message.partition(" — ")
        hint = (fix + " " if fix else "") + f"({g.name} has shape {fmt_shape(g.shape)})"
        return Verdict(False, f"shape error: {reason}", hint, expected, claim, target)

    values, dims = adjoint_values(result)
    want = values[target]
    with np.errstate(all="ignore"):
        got = np.asarray(evaluate_tree(tree, values, dims), dtype=float)
    return _compare(got, want, shape, g, result, values, claim, target, expected, dims)


def _split_claim(claim):
    if not isinstance(claim, str) or "=" not in claim:
        raise ChainruleError("write the claim as NAME = expression, e.g. dZ1 = np.dot(W2.T, dZ2) * (1 - A1**2)",
                             claim if isinstance(claim, str) else None, 0, 1)
    name, expr = claim.split("=", 1)
    name = name.strip()
    if not name.isidentifier():
        raise ChainruleError(f"bad name {name!r} on the left of '='", claim, 0, max(1, len(name)))
    return name, expr


def _compare(got, want, shape, g, result, values, claim, target, expected, dims):
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
        return Verdict(False, f"shape {fmt_shape(shape)} but {target} has shape {fmt_shape(g.shape)}",
                       entry_example(got, want), expected, claim, target)
    if np.allclose(got, want, rtol=1e-7, atol=1e-9):
        return Verdict(True, f"equals the engine's {target} = {expected} on random data", None, expected, claim, target)
    mask = np.abs(want) > 1e-9
    if mask.any():
        ratio = got[mask] / want[mask]
        if np.allclose(ratio, ratio.flat[0], rtol=1e-6):
            reason, hint = _factor_reason(float(ratio.flat[0]), g, result, dims)
            return Verdict(False, reason, hint + "; " + entry_example(got, want), expected, claim, target)
    for other in result.gradients:
        if other.name != target and values[other.name].shape == got.shape and np.allclose(got, values[other.name]):
            return Verdict(False, f"this is the value of {other.name}, not of {target}",
                           f"{target} = {expected}", expected, claim, target)
    activation = _activation_mistake(got, g, result, values)
    if activation:
        return Verdict(False, activation[0], activation[1] + "; " + entry_example(got, want), expected, claim,
                       target)
    return Verdict(False, "the values differ from the engine's " + target, entry_example(got, want),
                   expected, claim, target)


def _factor_reason(c, g, result, dims):
    m = result.example_dim
    n = dims.get(m) if m else None
    if n and np.isclose(c, n):
        return (f"off by a factor {m}: the claim is {m} × {g.name}",
                f"in the {result.convention} convention {g.name} "
                + ("already has the 1/m of the average" if g.scale == "1" else "is per example (no 1/m)")
                + "; remove the extra factor")
    if n and np.isclose(c, 1 / n):
        return (f"off by a factor 1/{m}: the claim is {g.name} / {m}",
                f"in the {result.convention} convention {g.name} = {m}·∂J/∂{g.of} carries no 1/{m}; "
                f"the 1/{m} appears in dW and db")
    if np.isclose(c, -1):
        return "wrong sign: the claim is −" + g.name, "check the sign of the loss (J = −1/m Σ …)"
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
