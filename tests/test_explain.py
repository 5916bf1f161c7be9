"""explain(): seven sections rendered from backprop's own record of the adjoint (one trace), the
one-step form made from backprop's own lines; the toy example and the numeric check must agree."""
import ast
import re
from pathlib import Path

import pytest
import numpy as np

import chainrule
from chainrule.tutor.mentor import TITLES

TWO = chainrule.example("two-layer")
# the mentor's one-step forms: backprop's line with its line for the activation's adjoint substituted
ONE_STEP = {
    "two-layer dZ1": "W2ᵀ dZ2 ⊙ (1 − A1²)", "batchnorm dZt": "W2ᵀ dZ2 ⊙ (1 − A1²)",
    "deep-relu dZ2": "W3ᵀ dZ3 ⊙ (Z2 > 0)", "deep-relu dZ1": "W2ᵀ dZ2 ⊙ (Z1 > 0)",
    "deep-loop dZ2": "W3ᵀ dZ3 ⊙ (Z2 > 0)", "deep-loop dZ1": "W2ᵀ dZ2 ⊙ (Z1 > 0)",
    "dropout dZ1": "dA1d ⊙ D1 ⊙ (Z1 > 0) / keep_prob", "l2 dZ1": "W2ᵀ dZ2 ⊙ (Z1 > 0)",
    "mlp-rowmajor dH1": "dYhat W2 ⊙ (H1 > 0)", "softmax dZ1": "W2ᵀ dZ2 ⊙ (Z1 > 0)"}


def test_dz1_of_the_two_layer_network_has_the_seven_sections():
    e = chainrule.explain()
    assert [s.title for s in e.steps] == list(TITLES)
    assert e.formula == "dA1 ⊙ (1 − A1²)" == chainrule.backprop(TWO)["dZ1"].text
    assert e.one_step == "W2ᵀ dZ2 ⊙ (1 − A1²)"                                # dA1 = W2ᵀ dZ2 substituted
    text = e.text()
    assert "dZ1 = dA1 ⊙ (1 − A1²) = W2ᵀ dZ2 ⊙ (1 − A1²)" in e.steps[3].text
    assert "dA1[i,j] = Σ_a W2[a,i] dZ2[a,j]" in text                          # backprop's dA1 line
    assert "dZ1[i,j] = Σ_a W2[a,i] dZ2[a,j] (1 − A1[i,j]²)" in text          # the index form, one step
    assert r"\sum_{a} (W_{2})_{ai}" in e.markdown and "$$" in e.markdown      # Markdown carries LaTeX math
    assert "inner dimensions differ" in e.steps[4].markdown                   # a wrong form refuted by shape
    assert "All 4 entries agree: yes" in e.steps[5].markdown                   # the toy example's numbers
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
        toy = e.steps[5].text
        assert "It is backprop's formula" in toy, (name, g.name, toy[-600:])       # read off the entries
        assert "agree: yes" in toy or ": the same." in toy, (name, g.name, toy[-300:])
        assert e.formula == g.text, (name, g.name, e.formula, g.text)      # one derivation: backprop's
        assert e.heading.startswith(f"Why {g.name} = {g.text}")
        assert e.one_step == ONE_STEP.get(f"{name} {g.name}"), (name, g.name, e.one_step)


def test_the_built_in_models_have_62_adjoints():
    assert sum(len(chainrule.backprop(chainrule.example(n)).gradients) for n in chainrule.examples()) == 73


def test_the_one_step_form_is_read_off_the_index_form_not_the_spelling():
    relu = TWO.replace("A1 = tanh(Z1)", "A1 = np.maximum(0, Z1)")
    e = chainrule.explain(relu, "dZ1")
    assert e.formula == "dA1 ⊙ (Z1 > 0)" and e.one_step == "W2ᵀ dZ2 ⊙ (Z1 > 0)"
    assert "All 4 entries agree: yes" in e.steps[5].text and "agrees" in e.steps[6].text
    # A1 read twice: dA1 is a sum, substituted whole
    twice = TWO.replace("log(1 - A2))", "log(1 - A2)) + sum(A1 ** 2)")
    e = chainrule.explain(twice, "dZ1")
    assert e.one_step == "(W2ᵀ dZ2 + 2 A1) ⊙ (1 − A1²)" and "entries agree: yes" in e.steps[5].text
    # Z1 also read directly: its other reader's term stays
    skip = TWO.replace("b2: n_y, 1", "b2: n_y, 1\nW3: n_y, n_h").replace("Z2 = W2 @ A1 + b2", "Z2 = W2 @ A1 + W3 @ Z1 + b2")
    e = chainrule.explain(skip, "dZ1")
    assert e.formula == "dA1 ⊙ (1 − A1²) + W3ᵀ dZ2" and e.one_step == "W2ᵀ dZ2 ⊙ (1 − A1²) + W3ᵀ dZ2"
    assert "entries agree: yes" in e.steps[5].text and "agrees" in e.steps[6].text
    assert chainrule.explain(TWO, "dA1").one_step is None               # no activation between


def test_a_hand_unrolled_rnn_is_explained_from_backprop_s_lines():
    rnn = ("Wh: n_h, n_h\nWx: n_h, n_x\nb: n_h, 1\nh0: n_h, m data\nY: n_h, m data\n"
           + "".join(f"x{t}: n_x, m data\n" for t in (1, 2, 3))
           + "".join(f"h{t} = tanh(Wh @ h{t - 1} + Wx @ x{t} + b)\n" for t in (1, 2, 3))
           + "J = 1/(2*m) * sum((h3 - Y) ** 2)\n")
    for g in chainrule.backprop(rnn).gradients:
        e = chainrule.explain(rnn, g.name)
        assert e.formula == g.text, (g.name, e.formula)
        assert "entries agree: yes" in e.steps[5].text and "agrees" in e.steps[6].text, (g.name, e.steps[5].text)


def test_the_trace_records_each_rule_with_what_it_differentiated_and_produced():
    from chainrule.engine.derivation import Parsed
    from chainrule.core.differentiate import Trace, diff
    from chainrule.render.index_notation import IndexPrinter
    from chainrule.lang.lower import fresh_idx
    p = Parsed("sum(A * tanh(X))", {"A": ("n", "m"), "X": ("n", "m")})
    q = fresh_idx(p.shapes["X"], "pq")
    trace = Trace()
    d = diff(p.expr, "X", q, trace)

    def show(s):
        printer = IndexPrinter([i for i in s.before.natural_order() if i not in s.widx], s.widx)
        return s.rule, printer.expr(s.before), printer.expr(s.after)
    assert [show(s) for s in trace.steps] == [
        ("variable", "X[i,j]", "δ[i,p] δ[j,q]"),
        ("chain rule through tanh", "tanh(X[i,j])", "(1 − tanh(X[i,j])²) δ[i,p] δ[j,q]"),
        ("product rule", "A[i,j] tanh(X[i,j])", "A[i,j] (1 − tanh(X[i,j])²) δ[i,p] δ[j,q]"),
        ("sum rule", "Σ_a,b A[a,b] tanh(X[a,b])", "A[p,q] (1 − tanh(X[p,q])²)")]
    assert all(s.wrt == "X" and s.widx == tuple(q) and s.derivative for s in trace.steps)
    assert trace.steps[-1].after.key() == d.key()                      # the last step is the result
    assert [r for r, _ in trace.rules] == ["variable", "chain rule through tanh", "product rule", "sum rule"]


def test_backprop_keeps_each_adjoint_s_trace_and_reductions():
    r = chainrule.backprop(TWO)
    g = r["dZ1"]
    assert [s.rule for s in g.trace.steps] == ["variable", "chain rule through tanh", "vector-Jacobian product"]
    assert g.trace.steps[-1].after.key() == g.index_expr.key() and not g.trace.steps[-1].derivative
    assert [rule for rule, _ in g.log] == ["Hadamard"] and [rule for rule, _ in r["dA1"].log] == ["contract"]
    assert r.activation_of("Z1").step.name == "A1" and r.activation_of("Z1").text == "1 − A1²"
    assert r.activation_of("Z2") is None                               # folded into the loss: no step
    assert not hasattr(r, "pass_")


def test_no_module_but_adjoints_reaches_into_the_backprop_result():
    r = chainrule.backprop(TWO)
    private = {n for n in set(vars(r)) | set(dir(type(r))) if n.startswith("_") and not n.startswith("__")}
    assert "_pass" in private
    src = Path(chainrule.__file__).parent
    for path in sorted(src.rglob("*.py")):
        if path.name == "adjoints.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            assert not (isinstance(node, ast.Attribute) and node.attr in private), (path.name, node.attr)
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("adjoints"):
                assert all(not a.name.startswith("_") for a in node.names), (path.name, node.lineno)


def test_strict_convention_explanations_agree_too():
    for name in ("l2", "mlp-rowmajor", "batchnorm"):
        text = chainrule.example(name)
        for g in chainrule.backprop(text, "strict").gradients:
            e = chainrule.explain(text, g.name, convention="strict")
            toy = e.steps[5].markdown
            assert "It is backprop's formula" in toy and ("agree: yes" in toy or ": the same." in toy), (name, g.name)
            assert "agrees" in e.steps[6].markdown, (name, g.name)


def test_the_numeric_check_evaluates_explain_s_own_formula():
    from chainrule.numeric.checks import check_backprop
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


def test_the_numeric_check_and_the_wrong_forms_are_of_the_formula_shown():
    for name in ("two-layer", "softmax", "deep-relu"):
        for g in chainrule.backprop(chainrule.example(name)).gradients:
            e = chainrule.explain(chainrule.example(name), g.name)
            assert f"{g.name} = {e.one_step or e.formula} against" in e.steps[6].text, (name, g.name)
            assert "agrees" in e.steps[6].markdown
    assert chainrule.explain(TWO, "dZ2").formula == "A2 − Y"
    shapes = chainrule.explain().steps[4].text                        # shapes read off the formula's IR
    assert "without the transpose: W2 @ dZ2 * (1 - A1 ** 2) fails: inner dimensions differ: n_h vs n_y" in shapes
    assert "⊙ replaced by a matrix product: W2.T @ dZ2 @ (1 - A1 ** 2) fails: inner dimensions differ: m vs n_h" \
        in shapes


def test_cli_explain(capsys):
    assert chainrule.main(["explain"]) == 0
    out = capsys.readouterr().out
    assert "1. Setup" in out and "7. Numeric check" in out
    assert chainrule.main(["explain", "--target", "dQ"]) == 2


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
    assert chainrule.main(["explain", "x.T @ A @ x", "--wrt", "x", "--shape", "A=n,n", "--shape", "x=n"]) == 0
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
        assert chainrule.main(["explain", "--format", fmt]) == 0
        assert marker in capsys.readouterr().out, fmt
    assert chainrule.main(["explain", "x.T @ A @ x", "--wrt", "x", "--shape", "A=n,n", "--shape", "x=n",
                 "--format", "markdown"]) == 0
    assert r"\frac{\partial f}{\partial x}" in capsys.readouterr().out


def test_wrong_forms_with_the_right_shape_get_a_numeric_counterexample():
    # square layers: the untransposed W2 @ dZ2 has the right shape, so only numbers can refute it
    square = TWO.replace("W2: n_y, n_h", "W2: n_h, n_h").replace("b2: n_y, 1", "b2: n_h, 1") \
                .replace("Y: n_y, m data binary", "Y: n_h, m data binary")
    e = chainrule.explain(square, "dZ1")
    shapes = e.steps[4].text
    assert "right shape, but counterexample on random data: entry" in shapes, shapes


def test_the_chain_section_states_each_local_derivative_and_how_they_combine():
    """The mentor's key step: ∂Z2/∂A1 brings in W2's entries, ∂A1/∂Z1 is 1 − A1² entry by entry —
    not the engine's rule list."""
    md = chainrule.explain(chainrule.example("two-layer"), "dZ1").text()
    chain = md.split("Chain of derivatives")[1].split("Index form")[0]
    assert "∂Z2[i,j]/∂A1[p,q] = W2[i,p] δ[j,q] — it brings in the entries of W2" in chain
    assert "∂A1[i,j]/∂Z1[p,q] = (1 − A1[i,j]²) δ[i,p] δ[j,q] — entry by entry" in chain
    assert "m·∂J/∂Z2 = A2 − Y (the course's adjoints carry the m: dZ2 is m·∂J/∂Z2)" in chain
    assert "dZ1[p,q] = Σ_a,b dA1[a,b] (1 − A1[a,b]²) δ[a,p] δ[b,q] = (1 − A1[p,q]²) dA1[p,q]" in chain
    assert "Rules that fired" not in md and "tanh(Z1[" not in chain     # forward values by name
    bias = chainrule.explain(chainrule.example("dropout"), "db1").text()
    assert "broadcast: each entry of b1 reaches every entry along j, so its adjoint sums over j" in bias


def test_every_local_derivative_stated_is_the_derivative_of_its_equation():
    """Each ∂u/∂v the chain section prints is the engine's diff of u's line: checked against central
    differences of that line, for every link of every built-in model's adjoints."""
    from chainrule.core.differentiate import diff
    from chainrule.lang.lower import fresh_idx
    from chainrule.numeric.evaluate import evaluate
    from chainrule.numeric.checks import sample_model
    for name in chainrule.examples():
        r = chainrule.backprop(chainrule.example(name))
        dims = {d: 3 + k for k, d in enumerate(sorted({d for s in r.shapes.values() for d in s if isinstance(d, str)}))}
        env = r.forward(sample_model(r.model, dims, np.random.default_rng(0), onehot_axis=r.onehot_axis), dims)
        for step in r.steps[:-1]:
            expr, idx = r.lowered_steps[step.name]
            for v in r.uses(step.name):
                if v not in r.shapes or not r.shapes[v] or v in r.fused:
                    continue
                p = fresh_idx(r.shapes[v], "pq")
                d = evaluate(diff(expr, v, p), tuple(idx) + p, env, dims)
                k = (0,) * len(p)
                bumped = {n: np.array(a, dtype=float) for n, a in env.items()}
                for sign in (1, -1):
                    bumped[v] = np.array(env[v], dtype=float)
                    bumped[v][k] += sign * 1e-6
                    val = evaluate(expr, tuple(idx), bumped, dims)
                    if sign == 1:
                        plus = val
                fd = (plus - val) / 2e-6
                assert np.allclose(d[(Ellipsis,) + k], fd, atol=1e-5), (name, step.name, v)


@pytest.mark.parametrize("example, cancel", [
    ("two-layer", "dZ2 = dA2 ⊙ A2 ⊙ (1 − A2)\n        = A2 − Y ⊙ (1 − A2) − Y ⊙ A2\n        = A2 − Y"),
    ("softmax", "dZ2 = (dA2 − Σ_rows (dA2 ⊙ A2)) ⊙ A2\n        = (Σ_rows Y) ⊙ A2 − Y\n        = A2 − Y")])
def test_an_activation_folded_into_its_loss_shows_the_cancellation(example, cancel):
    """σ or softmax meeting its cross-entropy: dA2 from the loss as written, the activation's local
    derivative, their product with the factors cancelling — every line evaluated against backprop's."""
    from chainrule.tutor.mentor import _ModelExplanation
    from chainrule.numeric.matrix_eval import evaluate_matrix
    from chainrule.numeric.checks import sample_model
    r = chainrule.backprop(chainrule.example(example))
    text = chainrule.explain(chainrule.example(example), "dZ2").text()
    chain = text.split("Chain of derivatives")[1].split("Index form")[0]
    lines = [ln.strip() for ln in chain.splitlines()]
    want_lines = [ln.strip() for ln in cancel.splitlines()]
    at = lines.index(want_lines[0])
    assert "dA2 = m·∂J/∂A2 = " in chain and lines[at:at + 3] == want_lines, chain
    x = _ModelExplanation(r, r["dZ2"])
    x.chain()
    dims = {d: 3 + k for k, d in enumerate(sorted({d for s in r.shapes.values() for d in s if isinstance(d, str)}))}
    env = r.forward(sample_model(r.model, dims, np.random.default_rng(1), onehot_axis=r.onehot_axis), dims)
    want = evaluate_matrix(r["dZ2"].matrix, env, dims)
    for _, m, extra in x.worked:
        env2 = dict(env, **{k: evaluate_matrix(v, env, dims) for k, v in extra.items()})
        assert np.allclose(evaluate_matrix(m, env2, dims), want)
