"""Backprop's public API (lowered forms, forward values, readers, scales), the numeric check built on
it lowering nothing, the matrix IR evaluated directly, and verdicts that never read printed code."""
import numpy as np
import pytest

import chainrule
import chainrule.engine.adjoints
from chainrule.lang import lower
from chainrule.core.errors import ChainruleError
from chainrule.numeric.evaluate import evaluate
from chainrule.numeric.matrix_eval import evaluate_matrix, variables
from chainrule.numeric.checks import adjoint_values, check_backprop, concrete_dims, sample_model
from chainrule.render.numpy_code import to_numpy

TWO = chainrule.example("two-layer")


def rnn(steps):
    """A hand-unrolled tanh RNN: h_t = tanh(Wh h_{t−1} + Wx x_t + b), squared error on the last state."""
    lines = ["Wh: n_h, n_h", "Wx: n_h, n_x", "b: n_h, 1", "h0: n_h, m data", "Y: n_h, m data"]
    lines += [f"x{t}: n_x, m data" for t in range(1, steps + 1)]
    lines += [f"h{t} = tanh(Wh @ h{t - 1} + Wx @ x{t} + b)" for t in range(1, steps + 1)]
    lines.append(f"J = 1/(2*m) * sum((h{steps} - Y) ** 2)")
    return "\n".join(lines) + "\n"


def _two_layer_values(seed=0):
    rng = np.random.default_rng(seed)
    n_x, n_h, n_y, m = 3, 4, 1, 5
    return dict(X=rng.standard_normal((n_x, m)), Y=(rng.random((n_y, m)) > 0.5) * 1.0,
                W1=rng.standard_normal((n_h, n_x)), b1=rng.standard_normal((n_h, 1)),
                W2=rng.standard_normal((n_y, n_h)), b2=rng.standard_normal((n_y, 1)))


def test_forward_equals_numpy_by_hand():
    r = chainrule.backprop(TWO)
    v = _two_layer_values()
    got = r.forward(v)                                       # sizes read off the arrays
    Z1 = v["W1"] @ v["X"] + v["b1"]
    A1 = np.tanh(Z1)
    Z2 = v["W2"] @ A1 + v["b2"]
    A2 = 1 / (1 + np.exp(-Z2))
    m = v["X"].shape[1]
    J = -1 / m * np.sum(v["Y"] * np.log(A2) + (1 - v["Y"]) * np.log(1 - A2))
    for name, want in dict(Z1=Z1, A1=A1, Z2=Z2, A2=A2, J=J).items():
        assert np.allclose(got[name], want), name
    assert set(v) <= set(got)
    assert r.sizes(v) == {"n_x": 3, "m": 5, "n_h": 4, "n_y": 1}
    later = r.forward(dict(got, A2=np.full((1, m), 0.5)), r.sizes(v), after="A2")     # only J again
    assert np.isclose(later["J"], np.log(2)) and np.allclose(later["Z1"], Z1)


def test_forward_refuses_values_of_the_wrong_shape():
    r = chainrule.backprop(TWO)
    v = _two_layer_values()
    with pytest.raises(ChainruleError, match="n_h"):
        r.forward(dict(v, b1=np.zeros((7, 1))))
    with pytest.raises(ChainruleError, match="no value for W2"):
        r.forward({k: x for k, x in v.items() if k != "W2"})


def test_lowered_readers_uses_scale_and_fused():
    r = chainrule.backprop(TWO)
    assert list(r.lowered) == [a.name for a in r.model.assignments]       # every assignment, as written
    assert r.fused == ["A2"] and [s.name for s in r.steps] == ["Z1", "A1", "Z2", "J"]
    assert r.lowered_steps["J"] is not r.lowered["J"]                      # the loss with σ folded in
    assert r.lowered_steps["Z2"] is r.lowered["Z2"]
    assert r.readers("A1") == ["Z2"] and r.readers("Z2") == ["J"] and r.readers("W1") == ["Z1"]
    assert r.uses("Z1") == ["W1", "X", "b1"] and "Z2" in r.uses("J")
    assert r.scale("Z1") == "m" and r.scale("W1") is None
    assert r.shapes["A1"] == ("n_h", "m")
    expr, idx = r.lower(r.trees["J"])
    v = _two_layer_values()
    env = r.forward(v)
    assert np.isclose(evaluate(expr, tuple(idx), env, r.sizes(v)), env["J"])


class _Counting(lower.Lowering):
    made = 0

    def __init__(self, checker):
        type(self).made += 1
        super().__init__(checker)


@pytest.mark.parametrize("text", [TWO, rnn(3)], ids=["two-layer", "rnn"])
def test_every_assignment_is_lowered_once_and_the_check_lowers_nothing(text, monkeypatch):
    monkeypatch.setattr(chainrule.engine.adjoints, "Lowering", _Counting)
    _Counting.made = 0
    r = chainrule.backprop(text)
    assert _Counting.made == len(r.model.assignments) + (1 if r.fused else 0)
    visits = []
    original = lower.Lowering.visit
    monkeypatch.setattr(lower.Lowering, "visit", lambda self, node: visits.append(node) or original(self, node))
    errors = check_backprop(r)
    adjoint_values(r)
    assert visits == [] and max(errors.values()) < 1e-6


@pytest.mark.parametrize("name", chainrule.examples())
def test_evaluate_matrix_equals_the_generated_code(name):
    """The one place generated code is compared: the matrix IR evaluated directly = its NumPy code."""
    r = chainrule.backprop(chainrule.example(name))
    dims = concrete_dims(r.shapes)
    values = dict(r.forward(sample_model(r.model, dims, np.random.default_rng(0)), dims), **dims)
    for g in r.gradients:
        direct = evaluate_matrix(g.matrix, values, dims)
        code = eval(to_numpy(g.matrix), {"__builtins__": {}}, dict(values, np=np))   # generated code only
        assert np.shape(direct) == np.shape(code) and np.allclose(direct, code, rtol=1e-10, atol=1e-12), g.name
        values[g.name] = direct
        assert set(variables(g.matrix)) <= set(values)


CLAIMS = [
    ("l2", "dW2 = np.dot(dZ2, A1.T) / m", "a term is missing: the part `lambd * W2`"),
    ("two-layer", "dA1 = dZ1 / (1 - A1**2)", "computes from dA1"),
    ("two-layer", "dZ1 = np.dot(W2, dZ2) * (1 - np.power(A1, 2))", "shape error"),
    ("softmax", "dZ2 = A2 * (1 - A2) * (A2 - Y)", "an extra factor `A2 * (1 - A2)`"),
]


@pytest.mark.parametrize("model,claim,why", CLAIMS)
def test_verdicts_never_read_the_printed_code(model, claim, why, monkeypatch):
    """With every adjoint's printed NumPy code made unreadable, check() judges exactly as before."""
    before = str(chainrule.check(chainrule.example(model), claim))
    monkeypatch.setattr(chainrule.engine.adjoints, "to_numpy", lambda m, dims=None: "<not code>")
    after = str(chainrule.check(chainrule.example(model), claim))
    assert why in after and after == before


def test_errors_carry_a_kind_and_a_fix():
    with pytest.raises(ChainruleError) as e:
        chainrule.derive("A @ x", "x", {"A": ("n", "m"), "x": ("n",)})
    assert e.value.kind == "shape" and e.value.fix == "did you mean A.T @ x?"
    assert e.value.problem == "inner dimensions differ: m vs n"
    assert e.value.message == "inner dimensions differ: m vs n — did you mean A.T @ x?"         # the text as before
    with pytest.raises(ChainruleError) as e:
        chainrule.derive("x // 2", "x", {"x": ("n",)})
    assert e.value.kind == "unsupported-operator" and e.value.fix is None
    with pytest.raises(ChainruleError) as e:
        chainrule.check(TWO, "dZ1 = nosuch(A1)")
    assert e.value.kind == "unknown-function"
