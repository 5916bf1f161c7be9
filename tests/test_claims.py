"""Checks of claimed derivatives of expressions (issue 17, item 5): chainrule.check(claim=…, expr=…,
wrt=…, shapes=…) and `chainrule check --expr … --wrt … CLAIM`. Every verdict is numeric: the claim is
evaluated against the engine's derivative on random data at two sizes."""
import pytest

import chainrule

TRACE = dict(expr="trace(A @ X @ B)", wrt="X", shapes={"A": ("p", "n"), "X": ("n", "m"), "B": ("m", "p")})


@pytest.mark.parametrize("claim, correct, reason", [
    ("A.T @ B.T", True, "agrees with the derivative"),
    ("np.dot(A.T, B.T)", True, "agrees with the derivative"),
    ("dX = A.T @ B.T", True, "agrees with the derivative"),
    ("B @ A", False, "it is the transpose of ∂f/∂X: the claim has shape (m, n), the derivative has X's shape (n, m)"),
    ("2 * A.T @ B.T", False, "off by a constant factor: the claim is 2 times the derivative"),
    ("-A.T @ B.T", False, "the sign is wrong"),
    ("A.T @ B.T / n", False, "off by a factor 1/n"),
    ("A.T @ B.T * m", False, "off by a factor m"),
    ("A.T * B.T", False, "shape error"),
])
def test_a_claimed_derivative_of_an_expression_gets_a_verdict_and_the_reason(claim, correct, reason):
    v = chainrule.check(claim=claim, **TRACE)
    assert v.correct is correct and reason in v.reason, v
    assert v.expected == "AᵀBᵀ"


def test_a_vector_identity_used_on_matrices_holds_for_vectors_not_for_matrices():
    """d(aᵀXᵀXb)/dX = 2X abᵀ holds when X is a column (a, b scalars), not for a matrix — the thread's
    D.25 attempt in miniature."""
    v = chainrule.check(claim="2 * X @ np.outer(a, b)", expr="a @ X.T @ X @ b", wrt="X",
                        shapes={"X": ("n", "m"), "a": ("m",), "b": ("m",)})
    assert not v.correct
    assert v.reason.startswith("holds for vectors, not for matrices: it agrees when X is a column vector (m = 1)")
    assert "derive it for matrices, entry by entry" in v.hint and v.expected == "Xbaᵀ + Xabᵀ"
    right = chainrule.check(claim="X @ (np.outer(b, a) + np.outer(a, b))", expr="a @ X.T @ X @ b", wrt="X",
                            shapes={"X": ("n", "m"), "a": ("m",), "b": ("m",)})
    assert right.correct


def test_a_claim_with_an_unknown_name_is_a_positioned_error():
    with pytest.raises(chainrule.ChainruleError) as e:
        chainrule.check(claim="A.T @ C", **TRACE)
    assert "unknown name 'C'" in e.value.message and e.value.start == 6


def test_the_cli_checks_an_expression_claim(capsys):
    args = ["check", "--expr", "trace(A @ X @ B)", "--wrt", "X", "--shape", "A=p,n", "--shape", "X=n,m",
            "--shape", "B=m,p"]
    assert chainrule.main(args + ["A.T @ B.T"]) == 0
    assert "correct: A.T @ B.T" in capsys.readouterr().out
    assert chainrule.main(args + ["B @ A"]) == 1
    assert "it is the transpose of ∂f/∂X" in capsys.readouterr().out
    assert chainrule.main(args + ["A.T @ C"]) == 2


def test_the_scalar_chain_rule_gets_the_mentors_hint():
    """dZ1 = dZ2 * W2 * (1 - A1**2), the thread's own mistake: why W2ᵀ, this order, these shapes."""
    v = chainrule.check(chainrule.example("two-layer"), "dZ1 = dZ2 * W2 * (1 - A1**2)")
    assert not v.correct
    assert v.reason.startswith("the scalar chain rule written with matrices: dZ2 * W2 multiplies entry by entry")
    assert "the matrix product W2ᵀ dZ2" in v.reason
    assert "Z2 = W2 @ A1 + b2 brings in the entries of W2" in v.hint
    assert "W2ᵀ dZ2 (n_h, m), the shape of dZ1" in v.hint
    assert v.hint.endswith("Write dZ1 = np.dot(W2.T, dZ2) * (1 - A1**2)")
    assert chainrule.check(chainrule.example("two-layer"), "dZ1 = np.dot(W2.T, dZ2) * (1 - A1**2)").correct


def test_a_rule_that_needs_a_symmetric_matrix_is_answered_so():
    v = chainrule.check(claim="2 * A @ x", expr="x.T @ A @ x", wrt="x", shapes={"A": ("n", "n"), "x": ("n",)})
    assert not v.correct and v.reason.startswith("holds only for a symmetric A") and v.expected == "(A + Aᵀ)x"


def test_softmax_differentiated_entry_by_entry_is_named():
    """dS = P * (1 - P) * dP: the sigmoid's form, only the diagonal of softmax's Jacobian; the hint's
    formula is right."""
    model = ("S: T, T\nV: T, d data\nY: T, d data\nP = softmax(S, axis=1)\nO = P @ V\n"
             "loss = np.sum((O - Y) ** 2)\n")
    v = chainrule.check(model, "dS = P * (1 - P) * dP")
    assert not v.correct and v.reason.startswith("only the diagonal of softmax's Jacobian")
    assert "those terms are missing" in v.reason
    right = chainrule.backprop(model)["dS"].numpy
    assert chainrule.check(model, f"dS = {right}").correct


def _model(name):
    from pathlib import Path
    return (Path(__file__).parent / "models" / f"{name}.model").read_text()


@pytest.mark.parametrize("model,claim,start", [
    ("batchnorm", "dZ1 = dZn / np.sqrt(var + 1e-8)", "Z1 reaches the loss through mu, var and Zn, and the claim has only "
                                                     "the path through Zn: the terms through mu and var are missing"),
    ("cs231n-two-layer-net", "dW1 = X.T @ dhidden / N + reg * W1", "the ReLU's mask is missing: dhidden is the adjoint "
                                                                   "after hidden"),
    ("cs231n-two-layer-net", "db1 = np.sum(dhidden, axis=0) / N", "the ReLU's mask is missing"),
    ("cs231n-two-layer-net", "dscores = probs * (1 - probs) * dprobs", "only the diagonal of softmax's Jacobian"),
    ("softmax", "dZ2 = -Y / A2 * A2 * (1 - A2)", "only the diagonal of softmax's Jacobian"),
    ("deep-relu", "dZ1 = np.dot(W2.T, dZ2) * A1", "wrong activation derivative: the claim multiplies by A1 itself"),
    ("course-c1w3-leaky-relu-hidden", "dZ1 = dA1 * (Z1 > 0)",
     "right where Z1 > 0, wrong where Z1 ≤ 0: there A1 = np.maximum(0.01 * Z1, Z1) changes with slope 0.01"),
])
def test_learner_mistakes_get_the_mentors_reason(model, claim, start):
    """Mistakes of a held-out set of learner formulas: a path left out, the ReLU mask forgotten, softmax
    differentiated entry by entry (spelled out, or folded into its loss), the activation's output for
    its derivative — each named, and the hint's formula is right."""
    text = chainrule.example(model) if model in chainrule.examples() else _model(model)
    v = chainrule.check(text, claim)
    assert not v.correct and v.reason.startswith(start), v.reason
    target = claim.split("=")[0].strip()
    assert chainrule.check(text, f"{target} = {chainrule.backprop(text)[target].numpy}").correct


def test_softmax_s_cancellation_is_not_called_the_sigmoid_s():
    v = chainrule.check(chainrule.example("softmax"), "dZ2 = (A2 - Y) * A2 * (1 - A2)")
    assert "softmax's derivative is already inside" in v.hint and "sigmoid" not in v.hint


def test_an_inverse_is_told_from_its_transpose():
    """Data for inv and det are not symmetric, so X⁻¹ and X⁻ᵀ differ."""
    shapes = {"X": ("n", "n"), "A": ("n", "n")}
    assert not chainrule.check(claim="np.linalg.inv(X)", expr="log(det(X))", wrt="X", shapes=shapes).correct
    assert chainrule.check(claim="np.linalg.inv(X).T", expr="log(det(X))", wrt="X", shapes=shapes).correct
    assert not chainrule.check(claim="inv(X)", expr="trace(A @ inv(X))", wrt="A", shapes=shapes).correct


@pytest.mark.parametrize("model,claim", [
    ("softmax", "db1 = np.sum(dZ1, axis=1, keepdims=True) / m * 1e308 / 1e308"),
    ("mlp-rowmajor", "db1 = np.sum(dH1, axis=0) / N * 1e308 / 1e308"),
])
def test_an_overflowing_claim_on_a_bias_is_judged_without_a_crash(model, claim):
    """Found by the hostile generator (seed 23): the one-side diagnosis compared a bias with the mask of
    a reader of another shape (an IndexError), and named the sign of a parameter as the fault."""
    text = chainrule.example(model) if model in chainrule.examples() else _model(model)
    v = chainrule.check(text, claim)
    assert not v.correct and "right where" not in v.reason


@pytest.mark.parametrize("w", [("n", "k"), ("n", "n")])
def test_a_transposed_1d_array_is_said_to_be_itself_with_the_outer_product_as_the_hint(w):
    v = chainrule.check(claim="a @ b.T", expr="a @ W @ b", wrt="W", shapes={"a": ("n",), "W": w, "b": (w[1],)})
    assert not v.correct and "of the 1-D array b is b itself" in v.reason and "np.outer(a, b)" in v.hint
    assert chainrule.check(claim="np.outer(a, b)", expr="a @ W @ b", wrt="W",
                           shapes={"a": ("n",), "W": w, "b": (w[1],)}).correct
