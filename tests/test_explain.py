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
    text = e.text()
    assert "Σ_a W2[a,i]" in text and "dZ2[a,j]" in text                       # the index form
    assert r"\sum_{a} (W_{2})_{ai}" in e.markdown and "$$" in e.markdown      # Markdown carries LaTeX math
    assert "inner dimensions differ" in e.steps[4].markdown                   # a wrong form refuted by shape
    assert "All 4 entries agree: yes" in e.steps[5].markdown                   # the SymPy toy expansion
    assert "agrees" in e.steps[6].markdown


@pytest.mark.parametrize("target", ["dW2", "db2", "dA1", "dZ1", "dW1", "db1"])
def test_toy_example_agrees_for_two_layer_adjoints(target):
    e = chainrule.explain(TWO, target)
    assert "agree: yes" in e.steps[5].markdown and "agrees" in e.steps[6].markdown


@pytest.mark.parametrize("name", chainrule.examples())
def test_every_adjoint_of_every_model_is_explained_and_its_toy_check_passes(name):
    text = chainrule.example(name)
    result = chainrule.backprop(text)
    for g in result.gradients:
        e = chainrule.explain(text, g.name)
        assert [s.title for s in e.steps] == list(TITLES)
        assert "agrees" in e.steps[6].markdown, (name, g.name)
        toy = e.steps[5].markdown
        assert "entries agree: yes" in toy and "the same." in toy, (name, g.name, toy[-300:])
        # the explained formula is the printed adjoint, or (through an activation) the mentor's
        # one-step form W2ᵀ dZ2 ⊙ g′(Z1), which the numeric check above evaluated itself
        assert e.formula == g.text or "⊙" in e.formula, (name, g.name, e.formula, g.text)


def test_strict_convention_explanations_agree_too():
    for name in ("l2", "mlp-rowmajor", "batchnorm"):
        text = chainrule.example(name)
        for g in chainrule.backprop(text, "strict").gradients:
            e = chainrule.explain(text, g.name, convention="strict")
            assert "entries agree: yes" in e.steps[5].markdown and "agrees" in e.steps[6].markdown, (name, g.name)


def test_the_numeric_check_evaluates_explain_s_own_formula():
    from chainrule.numeric import check_backprop
    r = chainrule.backprop(TWO)
    good = check_backprop(r, only="dZ1", code={"dZ1": "np.dot(W2.T, dZ2) * (1 - A1 ** 2)"})["dZ1"]
    bad = check_backprop(r, only="dZ1", code={"dZ1": "np.dot(W2.T, dZ2) * (1 - A1)"})["dZ1"]
    assert good < 1e-6 < 0.01 < bad


def test_output_is_reproducible_across_hash_seeds():
    import subprocess
    import sys
    code = "import chainrule; print(chainrule.backprop(chainrule.example('batchnorm')).text())"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PYTHONHASHSEED": str(seed), "PATH": ""}).stdout for seed in range(4)}
    assert len(outs) == 1 and "dmu" in outs.pop()


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


def _balanced(tex):
    depth = 0
    for c in tex.replace(r"\{", "").replace(r"\}", ""):
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            return False
    return depth == 0


@pytest.mark.parametrize("name", ["two-layer", "softmax", "batchnorm", "mlp-rowmajor", "l2"])
def test_every_format_renders_every_section(name):
    pytest.importorskip("latex2mathml")
    text = chainrule.example(name)
    for g in chainrule.backprop(text).gradients:
        e = chainrule.explain(text, g.name)
        for s in e.steps:
            assert s.markdown and s.latex and s.text, (name, g.name, s.title)
            assert _balanced(s.latex), (name, g.name, s.title, s.latex)
        page = e.html()
        assert page.startswith("<!DOCTYPE html>") and page.count("<section>") == 7
        assert 'class="tex"' not in page, (name, g.name)            # every formula became MathML
        assert "<script" not in page and "<link" not in page and "src=" not in page   # offline: nothing fetched
        assert "\\section*{7. Numeric check}" in e.latex()


def test_cli_explain_formats(capsys):
    for fmt, marker in [("markdown", "## 3. Index form"), ("latex", "\\section*{1. Setup}"),
                        ("html", "<h2>6. Toy example</h2>"), ("text", "4. Matrix form")]:
        assert main(["explain", "--format", fmt]) == 0
        assert marker in capsys.readouterr().out, fmt
    assert main(["explain", "x.T @ A @ x", "--wrt", "x", "--shape", "A=n,n", "--shape", "x=n",
                 "--format", "markdown"]) == 0
    assert r"\frac{\partial f}{\partial x}" in capsys.readouterr().out


def test_wrong_forms_with_the_right_shape_get_a_numeric_counterexample():
    # square layers: the untransposed W2 @ dZ2 has the right shape, so only numbers can refute it
    square = TWO.replace("W2: n_y, n_h", "W2: n_h, n_h").replace("b2: n_y, 1", "b2: n_h, 1") \
                .replace("Y: n_y, m data binary", "Y: n_h, m data binary")
    e = chainrule.explain(square, "dZ1")
    shapes = e.steps[4].text
    assert "right shape, but counterexample on random data: entry" in shapes, shapes
