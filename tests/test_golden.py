"""A small golden set: the printed matrix form of textbook identities (Matrix Cookbook equation
numbers, November 2012 edition, in comments — each checked against a text of that edition). Every result is also checked numerically."""
import pytest

import chainrule

V = ("n",)
GOLDEN = [
    # (expression, wrt, shapes, order, expected text)
    ("a.T @ x", "x", dict(a=V, x=V), 1, "a"),                                                   # (69)
    ("a.T @ X @ b", "X", dict(a=V, X=("n", "k"), b=("k",)), 1, "abᵀ"),                          # (70)
    ("a.T @ X.T @ b", "X", dict(a=("k",), X=("n", "k"), b=V), 1, "baᵀ"),                        # (71)
    ("x.T @ B @ x", "x", dict(B=("n", "n"), x=V), 1, "(B + Bᵀ)x"),                              # (81)
    ("x.T @ B @ x", "x", dict(B=("n", "n"), x=V), 2, "B + Bᵀ"),
    ("sum((A @ x - b) ** 2)", "x", dict(A=("m", "n"), x=V, b=("m",)), 1, "2Aᵀ(Ax − b)"),         # cf. (84), W = I
    ("norm(A @ x - b) ** 2", "x", dict(A=("m", "n"), x=V, b=("m",)), 2, "2AᵀA"),
    ("trace(A @ X)", "X", dict(A=("k", "n"), X=("n", "k")), 1, "Aᵀ"),                            # (100)
    ("trace(A @ X @ B)", "X", dict(A=("p", "n"), X=("n", "k"), B=("k", "p")), 1, "AᵀBᵀ"),       # (101)
    ("trace(X.T @ X)", "X", dict(X=("n", "k")), 1, "2X"),                                       # (115)
    ("trace(X.T @ B @ X)", "X", dict(B=("n", "n"), X=("n", "k")), 1, "(B + Bᵀ)X"),              # (108)
    ("det(X)", "X", dict(X=("n", "n")), 1, "det(X) X⁻ᵀ"),                                       # (49)
    ("logdet(X)", "X", dict(X=("n", "n")), 1, "X⁻ᵀ"),                                           # (57)
    ("a.T @ inv(X) @ b", "X", dict(a=V, X=("n", "n"), b=V), 1, "−X⁻ᵀabᵀX⁻ᵀ"),                  # (61)
    ("trace(inv(X) @ A)", "X", dict(X=("n", "n"), A=("n", "n")), 1, "−X⁻ᵀAᵀX⁻ᵀ"),              # (63)
    ("norm(X) ** 2", "X", dict(X=("n", "k")), 1, "2X"),                                         # (132)
    ("norm(x)", "x", dict(x=V), 1, "x / ‖x‖"),                                                  # cf. (129), a = 0
    ("sum(G * tanh(W @ X + b))", "W", dict(G=("n", "m"), W=("n", "d"), X=("d", "m"), b=("n", 1)), 1,
     "(G ⊙ (1 − tanh²(WX + b)))Xᵀ"),
    ("sum(G * tanh(W @ X + b))", "b", dict(G=("n", "m"), W=("n", "d"), X=("d", "m"), b=("n", 1)), 1,
     "(G ⊙ (1 − tanh²(WX + b)))𝟏"),
    ("mean(log(1 + exp(-y * (X.T @ w))))", "w", dict(X=("d", "m"), y=("m",), w=("d",)), 1,
     "−X(y ⊙ σ(−y ⊙ Xᵀw)) / m"),
    ("sigmoid(x)", "x", dict(x=V), 1, "diag(σ(x) ⊙ (1 − σ(x)))"),
    ("sum(relu(Z) * G)", "Z", dict(Z=("n", "m"), G=("n", "m")), 1, "G ⊙ (Z > 0)"),
    ("A @ X @ B", "X", dict(A=("p", "n"), X=("n", "k"), B=("k", "q")), 1,
     "∂f/∂X[i,j,p,q] = A[i,p] B[q,j]\nvec form: ∂vec F/∂vec X = (Bᵀ ⊗ A)"),
]


@pytest.mark.parametrize("expr,wrt,shapes,order,text", GOLDEN, ids=[f"{g[0]}|{g[1]}|{g[3]}" for g in GOLDEN])
def test_golden_form(expr, wrt, shapes, order, text):
    r = chainrule.derive(expr, wrt, shapes, order)
    assert r.text == text
    assert r.check() < 1e-6


def test_logistic_hessian_is_x_diag_xt():
    r = chainrule.derive("mean(log(1 + exp(-y * (X.T @ w))))", "w", dict(X=("d", "m"), y=("m",), w=("d",)), 2)
    assert r.text.startswith("X diag(") and r.text.endswith(") Xᵀ / m")
    assert r.matrix_form and r.check() < 1e-6


def test_matrix_by_matrix_falls_back_to_einsum():
    r = chainrule.derive("P @ Q", "Q", dict(P=("n", "k"), Q=("k", "m")))
    assert not r.matrix_form and "einsum" in r.numpy and "(I ⊗ P)" in r.text
    assert r.check() < 1e-6
