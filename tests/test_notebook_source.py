"""Python source as learners write it (issue 18, first part): the notebook's functions read into a
model by lang/notebook.py — never executed — and derived like any model. The sources in
tests/notebooks are written in this project in the course's style."""
from pathlib import Path

import pytest

import chainrule

HERE = Path(__file__).parent / "notebooks"


def _src(name):
    return (HERE / f"{name}.py").read_text()


def test_forward_propagation_and_compute_cost_give_the_course_s_formulas():
    """C1W3: parameters from a dict, a sigmoid helper inlined, the cost of logprobs and np.squeeze,
    compute_cost(A2, Y) bound to forward_propagation's A2; shapes inferred (n_x, m from X, n_y, n_h)."""
    r = chainrule.backprop(_src("shallow_tanh"))
    text = {g.name: g.text for g in r.gradients}
    assert text == {"dZ2": "A2 − Y", "dW2": "(1/m) dZ2 A1ᵀ", "db2": "(1/m) Σ_columns dZ2", "dA1": "W2ᵀ dZ2",
                    "dZ1": "dA1 ⊙ (1 − A1²)", "dW1": "(1/m) dZ1 Xᵀ", "db1": "(1/m) Σ_columns dZ1"}
    assert r.shapes["W1"] == ("n_h", "n_x") and r.shapes["X"] == ("n_x", "m")
    assert max(r.check().values()) < 1e-6


def test_propagate_s_own_gradient_lines_are_left_out_and_derived():
    """C1W2's propagate computes dw and db itself: those lines are not the forward pass; the engine's dw
    and db are the course's."""
    r = chainrule.backprop(_src("logreg_propagate"))
    assert {g.name: g.text for g in r.gradients} == {"dw": "(1/m) X(A − Y)ᵀ", "db": "(1/m) Σ_columns (A − Y)"}
    assert max(r.check().values()) < 1e-6


def test_dropout_masks_drawn_with_np_random_are_data():
    r = chainrule.backprop(_src("dropout"))
    assert r.model.declarations["D1"].is_data and r.model.declarations["keep_prob"].is_data
    assert r["dZ1"].text == "dA1 ⊙ (Z1 > 0)" and max(r.check().values()) < 1e-6


def test_explain_and_check_take_the_source_too():
    src = _src("shallow_tanh")
    assert "It is backprop's formula" in chainrule.explain(src, "dZ1").steps[5].text
    assert chainrule.check(src, "dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))").correct
    assert not chainrule.check(src, "dZ1 = np.dot(W2, dZ2) * (1 - np.power(A1, 2))").correct


@pytest.mark.parametrize("code,fragment", [
    ("def f(X, w):\n    while True:\n        pass\n", "a `while` loop"),
    ("import os\ndef f(X, w):\n    os.system('echo hi')\n    return np.sum(w)\n", "os.system() is not read"),
    ("def f(X, w):\n    Z = w * X\n    if Z > 0:\n        Z = -Z\n    return np.sum(Z)\n", "data-dependent"),
    ("def f(X, w):\n    return g(w)\n", "'g' is not defined here"),
])
def test_code_out_of_reach_is_named_at_its_line_and_never_run(code, fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(chainrule.ChainruleError) as e:
        chainrule.backprop(code)
    assert fragment in str(e.value) and e.value.line >= 2
    assert list(tmp_path.iterdir()) == []                     # nothing ran
