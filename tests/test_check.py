"""check(): verdicts on learner formulas, as learners write them, with the right reason."""
import pytest

import chainrule
from chainrule.cli import main

TWO = chainrule.example("two-layer")

RIGHT = [
    "dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))",
    "dZ1 = np.multiply(np.dot(W2.T, dZ2), 1 - np.power(A1, 2))",
    "dZ1 = dA1 * (1 - np.tanh(Z1) ** 2)",
    "dZ1 = (W2.T @ dZ2) * (1 - A1 * A1)",
    "dW1 = 1/m * np.dot(dZ1, X.T)",
    "dW1 = np.dot(dZ1, X.T) / m",
    "db1 = 1/m * np.sum(dZ1, axis=1, keepdims=True)",
    "db1 = np.sum(dZ1, axis=1, keepdims=True) / m",
    "dZ2 = A2 - Y",
    "dW2 = (1 / m) * dZ2 @ A1.T",
    "dA1 = np.dot(W2.T, dZ2)",
]

WRONG = [
    # claim, words the reason must contain
    ("dZ1 = np.dot(W2, dZ2) * (1 - np.power(A1, 2))", "shape error"),
    ("dA1 = np.dot(dZ2, W2.T)", "shape error"),
    ("dW1 = np.dot(dZ1, X.T)", "factor m"),
    ("dZ2 = (A2 - Y) / m", "factor 1/m"),
    ("db1 = 1/m * np.sum(dZ1, axis=1)", "wrong shape"),
    ("dZ1 = dA1 * A1 * (1 - A1)", "wrong activation derivative"),
    ("dZ2 = Y - A2", "wrong sign"),
    ("dW1 = np.dot(X, dZ1.T).T / m * 2", "factor"),
    ("dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A2, 2))", "shape error"),
    ("dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(Z1, 2))", "differ"),
]


@pytest.mark.parametrize("claim", RIGHT)
def test_right_formulas_are_correct(claim):
    v = chainrule.check(TWO, claim)
    assert v.correct, str(v)


@pytest.mark.parametrize("claim,why", WRONG)
def test_wrong_formulas_get_the_reason(claim, why):
    v = chainrule.check(TWO, claim)
    assert not v.correct and why in v.reason, str(v)
    assert v.expected and v.hint


def test_shape_error_hint_gives_the_fix():
    v = chainrule.check(TWO, "dZ1 = np.dot(W2, dZ2) * (1 - np.power(A1, 2))")
    assert "W2.T @ dZ2" in v.hint and v.expected == "dA1 ⊙ (1 − A1²)"


def test_strict_convention_judges_differently():
    assert chainrule.check(TWO, "dZ2 = (A2 - Y) / m", "strict").correct
    assert not chainrule.check(TWO, "dZ2 = A2 - Y", "strict").correct


def test_other_models():
    assert chainrule.check(chainrule.example("softmax"), "dZ2 = A2 - Y").correct
    assert chainrule.check(chainrule.example("deep-relu"), "dZ2 = dA2 * (Z2 > 0)").correct
    assert "activation" in chainrule.check(chainrule.example("deep-relu"), "dZ2 = dA2 * (1 - A2 ** 2)").reason
    assert chainrule.check(chainrule.example("logistic-regression"), "dw = np.dot(X, dZ.T) / m").correct


@pytest.mark.parametrize("claim", ["dQ = A1", "dZ1 == 1", "no equals sign", "dZ1 = foo(A1)", "dZ1 = A1 @"])
def test_bad_claims_are_errors(claim):
    with pytest.raises(chainrule.ChainruleError):
        chainrule.check(TWO, claim)


def test_cli_check_exit_codes(capsys):
    assert main(["check", "dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))"]) == 0
    assert main(["check", "dZ1 = np.dot(W2, dZ2) * (1 - np.power(A1, 2))"]) == 1
    out = capsys.readouterr().out
    assert "correct" in out and "shape error" in out
    assert main(["check", "--example", "softmax", "dZ2 = A2 - Y"]) == 0
    assert main(["check", "dQ = 1"]) == 2
