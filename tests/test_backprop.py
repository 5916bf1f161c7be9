"""Backprop: every adjoint of every built-in model, in both conventions, checked against finite
differences of the loss; the course's formulas; errors with line numbers; the CLI."""
import json

import numpy as np
import pytest

import chainrule

MODELS = chainrule.examples()


def test_the_built_in_models_are_all_there():
    assert set(MODELS) == {"two-layer", "logistic-regression", "deep-relu", "softmax", "l2", "dropout",
                           "batchnorm", "mlp-rowmajor", "deep-loop"}


@pytest.mark.parametrize("convention", ["course", "strict"])
@pytest.mark.parametrize("name", MODELS)
def test_every_adjoint_matches_finite_differences(name, convention):
    r = chainrule.backprop(chainrule.example(name), convention)
    errors = r.check(seed=1)
    assert errors and max(errors.values()) < 1e-6, errors
    params = {n for n, d in r.model.declarations.items() if not d.is_data}
    assert params <= {g.of for g in r.gradients}


def test_two_layer_is_written_as_the_course_writes_it():
    r = chainrule.backprop(chainrule.example("two-layer"))
    assert [str(g) for g in r.gradients] == [
        "dZ2 = A2 − Y", "dW2 = (1/m) dZ2 A1ᵀ", "db2 = (1/m) Σ_columns dZ2", "dA1 = W2ᵀ dZ2",
        "dZ1 = dA1 ⊙ (1 − A1²)", "dW1 = (1/m) dZ1 Xᵀ", "db1 = (1/m) Σ_columns dZ1"]
    assert [g.scale for g in r.gradients] == ["m", "1", "1", "m", "m", "1", "1"]
    assert r["db1"].numpy == "np.sum(dZ1, axis=1, keepdims=True) / m"
    assert r["dW1"].shape == ("n_h", "n_x") and "course" in r.text()


def test_strict_convention_puts_the_one_over_m_in_dz():
    r = chainrule.backprop(chainrule.example("two-layer"), "strict")
    assert r["dZ2"].text == "(1/m) (A2 − Y)" and r["dW2"].text == "dZ2 A1ᵀ"
    assert all(g.scale == "1" for g in r.gradients)


@pytest.mark.parametrize("name,entry,text", [
    ("softmax", "dZ2", "A2 − Y"),                       # softmax + cross-entropy with one-hot labels
    ("logistic-regression", "dZ", "A − Y"),
    ("logistic-regression", "dw", "(1/m) X dZᵀ"),
    ("deep-relu", "dZ2", "dA2 ⊙ (Z2 > 0)"),             # ReLU′ as an indicator
    ("l2", "dW2", "(1/m) (dZ2 A1ᵀ + lambd W2)"),
    ("dropout", "dA1", "dA1d ⊙ D1 / keep_prob"),
    ("mlp-rowmajor", "dW1", "(1/N) dH1ᵀ X"),
])
def test_simplified_forms(name, entry, text):
    assert chainrule.backprop(chainrule.example(name))[entry].text == text


def test_sigmoid_derivative_is_written_with_the_forward_value():
    model = "X: n, m data\nW: k, n\nZ = W @ X\nA = sigmoid(Z)\nB = tanh(A)\nJ = sum(B) / m\n"
    r = chainrule.backprop(model)
    assert r["dZ"].text == "dA ⊙ A ⊙ (1 − A)"
    assert max(r.check().values()) < 1e-6


def test_gradient_entries_use_only_known_names():
    r = chainrule.backprop(chainrule.example("two-layer"))
    known = set(r.model.declarations) | {a.name for a in r.model.assignments} | {"m", "n_x", "n_h", "n_y", "np"}
    for g in r.gradients:
        code = compile(g.numpy, "<entry>", "eval")
        assert set(code.co_names) <= known | {"sum", "T"} | {x.name for x in r.gradients}
        known.add(g.name)


def test_json_and_layout_of_the_result():
    data = json.loads(chainrule.backprop(chainrule.example("logistic-regression")).to_json())
    assert data["convention"] == "course" and [g["name"] for g in data["gradients"]] == ["dZ", "dw", "db"]


@pytest.mark.parametrize("model,message", [
    ("X: n, m data\nZ = X\n", "must be a scalar"),
    ("X: n, m data\nJ = sum(Q)\n", "Q is not declared"),
    ("X: n, m data\nX: n, m\nJ = sum(X)\n", "already defined on line 1"),
    ("X: n, m data fancy\nJ = sum(X)\n", "unknown property 'fancy'"),
    ("X: n, m, k\nJ = sum(X)\n", "3 axes"),
    ("X: n, m%\nJ = sum(X)\n", "bad dimension or property"),
    ("X: n, m data\nZ = Z + X\nJ = sum(Z)\n", "used before it is assigned"),
    ("X: n, m data\nW: k, n\nZ = W.T @ X\nJ = sum(Z)\n", "inner dimensions differ(.|\n)*line 3, column 5: Z = W.T @ X"),
    ("X: n, m data\n", "no assignments"),
    ("X: n, m data\nthis is not a line\nJ = sum(X)\n", "line 2"),
])
def test_bad_models_get_positioned_errors(model, message):
    with pytest.raises(chainrule.ChainruleError, match=message if "(.|" in message else message.replace("(", r"\(")):
        chainrule.backprop(model)


def test_cli_backprop(tmp_path, capsys):
    assert chainrule.main(["backprop", "--check"]) == 0
    out = capsys.readouterr().out
    assert "dZ1 = dA1 ⊙ (1 − A1²)" in out and "(ok)" in out
    path = tmp_path / "m.model"
    path.write_text(chainrule.example("softmax"))
    assert chainrule.main(["backprop", str(path), "--format", "numpy"]) == 0
    assert "dZ2 = A2 - Y" in capsys.readouterr().out
    path.write_text("X: n, m data\nJ = X\n")
    assert chainrule.main(["backprop", str(path)]) == 2
    assert "must be a scalar" in capsys.readouterr().err
    assert chainrule.main(["backprop", "--example", "nope"]) == 2


def test_row_major_mlp_matches_torch_autograd():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    N, d, h, k = 5, 3, 4, 2
    vals = dict(X=rng.standard_normal((N, d)), Y=rng.standard_normal((N, k)), W1=rng.standard_normal((h, d)),
                b1=rng.standard_normal(h), W2=rng.standard_normal((k, h)), b2=rng.standard_normal(k))
    t = {n: torch.tensor(v, requires_grad=n in ("W1", "b1", "W2", "b2")) for n, v in vals.items()}
    a1 = torch.relu(t["X"] @ t["W1"].T + t["b1"])
    ((a1 @ t["W2"].T + t["b2"] - t["Y"]) ** 2).mean().backward()
    r = chainrule.backprop(chainrule.example("mlp-rowmajor"), "strict")
    env = dict(vals, np=np, N=N, d=d, h=h, k=k)
    env["H1"] = vals["X"] @ vals["W1"].T + vals["b1"]
    env["A1"] = np.maximum(env["H1"], 0)
    env["Yhat"] = env["A1"] @ vals["W2"].T + vals["b2"]
    for g in r.gradients:
        env[g.name] = eval(g.numpy, {"__builtins__": {}}, env)
        if g.of in ("W1", "b1", "W2", "b2"):
            assert np.allclose(env[g.name], t[g.of].grad.numpy()), g.name
