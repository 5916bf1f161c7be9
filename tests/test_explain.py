"""explain() (work in progress): seven sections rendered from the engine's derivation; the toy
example and the numeric check must agree with the formula."""
import pytest

import chainrule
from chainrule.cli import main
from chainrule.mentor import TITLES

TWO = chainrule.example("two-layer")


def test_dz1_of_the_two_layer_network_has_the_seven_sections():
    e = chainrule.explain()
    assert [s.title for s in e.steps] == list(TITLES)
    assert e.formula == "W2ᵀ dZ2 ⊙ (1 − A1²)"
    text = e.markdown
    assert "Σ_a W2[a,i]" in text and "dZ2[a,j]" in text                       # the index form
    assert "inner dimensions differ" in e.steps[4].markdown                   # a wrong form refuted by shape
    assert "All 4 entries agree: yes" in e.steps[5].markdown                   # the SymPy toy expansion
    assert "agrees" in e.steps[6].markdown


@pytest.mark.parametrize("target", ["dW2", "db2", "dA1", "dZ1", "dW1", "db1"])
def test_toy_example_agrees_for_two_layer_adjoints(target):
    e = chainrule.explain(TWO, target)
    assert "agree: yes" in e.steps[5].markdown and "agrees" in e.steps[6].markdown


@pytest.mark.parametrize("name", chainrule.examples())
def test_every_adjoint_of_every_model_explains_without_error(name):
    text = chainrule.example(name)
    for g in chainrule.backprop(text).gradients:
        e = chainrule.explain(text, g.name)
        assert len(e.steps) == 7 and "agrees" in e.steps[6].markdown, (name, g.name)
        if "agree" in e.steps[5].markdown:                # when the toy expansion ran, it must agree
            assert "agree: yes" in e.steps[5].markdown, (name, g.name)


def test_the_explained_formula_is_the_engine_s_formula_numerically():
    import numpy as np
    from chainrule.mentor import _ModelExplanation
    from chainrule.numeric import check_backprop
    for name in ("two-layer", "softmax", "deep-relu"):
        r = chainrule.backprop(chainrule.example(name))
        for g in r.gradients:
            e = chainrule.explain(chainrule.example(name), g.name)
            assert "agrees" in e.steps[6].markdown
            x = _ModelExplanation(r, g)
            total, p, m, log, trace = x._vjp()
            assert not total.is_zero(), (name, g.name)
    assert chainrule.explain(TWO, "dZ2").formula == "A2 − Y"
    assert np.isfinite(max(check_backprop(chainrule.backprop(TWO)).values()))


def test_cli_explain(capsys):
    assert main(["explain"]) == 0
    out = capsys.readouterr().out
    assert "1. Setup" in out and "7. Numeric check" in out
    assert main(["explain", "--target", "dQ"]) == 2


@pytest.mark.parametrize("expr,wrt,shapes", [
    ("x.T @ A @ x", "x", {"A": ("n", "n"), "x": ("n",)}),
    ("trace(A @ X @ B)", "X", {"A": ("p", "n"), "X": ("n", "k"), "B": ("k", "p")}),
    ("sum(G * tanh(W @ X + b))", "W", {"G": ("n", "m"), "W": ("n", "d"), "X": ("d", "m"), "b": ("n", 1)}),
    ("sum((M @ w - t) ** 2)", "w", {"M": ("m", "n"), "w": ("n",), "t": ("m",)}),
])
def test_explain_a_derivative(expr, wrt, shapes):
    e = chainrule.explain(expr=expr, wrt=wrt, shapes=shapes)
    assert [s.title for s in e.steps] == list(TITLES)
    assert e.formula == chainrule.derive(expr, wrt, shapes).text
    assert "agree: yes" in e.steps[5].markdown and "agrees" in e.steps[6].markdown


def test_cli_explain_a_derivative(capsys):
    assert main(["explain", "x.T @ A @ x", "--wrt", "x", "--shape", "A=n,n", "--shape", "x=n"]) == 0
    assert "(A + Aᵀ)x" in capsys.readouterr().out
