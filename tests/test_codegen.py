"""Generated code: the loss and every parameter gradient against the engine's own values and central
finite differences; JAX and PyTorch modules also against their autodiff of the same forward pass."""
import numpy as np
import pytest

import chainrule
from chainrule.numeric.checks import concrete_dims, sample_model

MODELS = chainrule.examples()


def _values(text, seed=0):
    r = chainrule.backprop(text)
    dims = concrete_dims(r.shapes)
    values = sample_model(r.model, dims, np.random.default_rng(seed))
    return r, dims, values


def _fd(loss, values, name, eps=1e-6):
    x0 = np.asarray(values[name], dtype=float)
    out = np.zeros(x0.shape)
    for pos in np.ndindex(*x0.shape):
        for sign in (1, -1):
            x = x0.copy()
            x[pos] += sign * eps
            out[pos] += sign * loss(dict(values, **{name: x})) / (2 * eps)
    return out


@pytest.mark.parametrize("name", MODELS)
def test_numpy_module_gives_the_loss_and_exact_gradients(name):
    text = chainrule.example(name)
    r, dims, values = _values(text)
    f = chainrule.compile(text)
    loss, grads = f(values)
    env = r.forward(values, dims)
    assert np.isclose(loss, env[r.model.loss.name])
    assert set(grads) == set(r.model.parameters)
    engine = dict(env, **dims, np=np)
    for e in r.gradients:                                  # the engine's own printed adjoints, in order
        engine[e.name] = eval(e.numpy, {"__builtins__": {}}, engine)
    for p, g in grads.items():
        assert np.allclose(g, engine["d" + p], rtol=1e-10, atol=1e-12), (name, p)
        want = _fd(lambda v: f(v)[0], values, p)
        assert g.shape == np.shape(values[p]), (name, p, g.shape)
        assert np.max(np.abs(g - want)) <= 1e-5 * max(1.0, np.max(np.abs(want))), (name, p)


def test_generated_module_is_readable_and_matches_the_course():
    src = chainrule.codegen(chainrule.example("two-layer"))
    for line in ("dZ2 = A2 - Y", "dW2 = dZ2 @ A1.T / m", "db2 = np.sum(dZ2, axis=1, keepdims=True) / m",
                 "dZ1 = dA1 * (1 - A1 ** 2)", "m = X.shape[1]", "def loss_and_grads(values):"):
        assert line in src
    assert "for " not in src.split('"""')[-1]               # no Python loops in the code


def test_common_subexpressions_are_computed_once():
    src = chainrule.codegen(expr="mean(log(1 + exp(-y * (X.T @ w))))", wrt="w",
                            shapes={"X": ("d", "m"), "y": ("m",), "w": ("d",)}, order=2)
    hess = src.split("def hessian")[1]
    assert hess.count("np.exp") == 1 and "t1 = " in hess


@pytest.mark.parametrize("expr,wrt,shapes", [
    ("x.T @ A @ x", "x", {"A": ("n", "n"), "x": ("n",)}),
    ("sum((A @ x - b) ** 2)", "x", {"A": ("m", "n"), "x": ("n",), "b": ("m",)}),
    ("mean(log(1 + exp(-y * (X.T @ w))))", "w", {"X": ("d", "m"), "y": ("m",), "w": ("d",)}),
    ("logsumexp(W @ x)", "W", {"W": ("k", "n"), "x": ("n",)}),
    ("trace(A @ X @ B)", "X", {"A": ("p", "n"), "X": ("n", "k"), "B": ("k", "p")}),
])
def test_expression_modules(expr, wrt, shapes):
    from chainrule.numeric.checks import sample
    fn = chainrule.compile(expr=expr, wrt=wrt, shapes=shapes, order=2)
    dims = concrete_dims(shapes)
    values = sample(shapes, dims, {}, np.random.default_rng(1))
    f, g = fn(values)
    want = _fd(lambda v: fn(v)[0], values, wrt)
    assert np.allclose(g, want, atol=1e-6)
    h = fn.hessian(values)
    n = np.asarray(values[wrt]).size
    rows = [(_fd(lambda v: fn(v)[1].reshape(-1)[k], values, wrt)).reshape(-1) for k in range(n)]
    assert np.allclose(np.reshape(h, (n, n)), np.array(rows), atol=1e-5)


@pytest.mark.parametrize("name", ["two-layer", "softmax", "batchnorm", "mlp-rowmajor", "l2"])
def test_jax_module_against_jax_autodiff(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    text = chainrule.example(name)
    _, _, values = _values(text)
    f = chainrule.compile(text, "jax")
    vals = {k: jax.numpy.asarray(v) for k, v in values.items()}
    loss, grads = jax.jit(f)(vals)
    params = chainrule.backprop(text).model.parameters
    auto = jax.grad(lambda p: f(dict(vals, **p))[0])({p: vals[p] for p in params})
    for p in params:
        assert np.allclose(np.asarray(grads[p]), np.asarray(auto[p]), atol=1e-9), (name, p)


@pytest.mark.parametrize("name", ["two-layer", "softmax", "batchnorm", "mlp-rowmajor", "dropout"])
def test_torch_module_against_autograd(name):
    torch = pytest.importorskip("torch")
    text = chainrule.example(name)
    _, _, values = _values(text)
    f = chainrule.compile(text, "torch")
    params = chainrule.backprop(text).model.parameters
    vals = {k: torch.tensor(np.asarray(v, dtype=float), requires_grad=k in params) for k, v in values.items()}
    loss, grads = f(vals)
    loss.backward()
    for p in params:
        assert torch.allclose(grads[p].detach(), vals[p].grad, atol=1e-9), (name, p)


ACTIVATIONS = {   # hidden layers with the newer operations, constants inside functions included
    "gelu": "0.5 * Z1 * (1 + erf(Z1 / np.sqrt(2)))",
    "leaky": "np.maximum(0.01 * Z1, Z1)",
    "mixed": "np.logaddexp(0, Z1) * np.log(2) + np.where(Z1 > 0, Z1, 0.1 * Z1) + np.clip(Z1, -1, 1) * np.cosh(0.5)",
}


@pytest.mark.parametrize("target", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("hidden", sorted(ACTIVATIONS))
def test_new_activations_generate_exact_gradients(hidden, target):
    pytest.importorskip(target)
    text = chainrule.example("two-layer").replace("A1 = tanh(Z1)", f"A1 = {ACTIVATIONS[hidden]}")
    assert ACTIVATIONS[hidden] in text
    _, _, values = _values(text)
    params = chainrule.backprop(text).model.parameters
    f = chainrule.compile(text, target)
    if target == "torch":
        import torch
        vals = {k: torch.tensor(np.asarray(v, dtype=float), requires_grad=k in params) for k, v in values.items()}
        loss, grads = f(vals)
        loss.backward()
        auto = {p: vals[p].grad for p in params}
    elif target == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
        vals = {k: jax.numpy.asarray(v) for k, v in values.items()}
        loss, grads = f(vals)
        auto = jax.grad(lambda q: f(dict(vals, **q))[0])({p: vals[p] for p in params})
    else:                                    # NumPy: the course's gradient check of the generated module
        assert chainrule.gradcheck(text, loss_and_grads=f).ok and max(chainrule.backprop(text).check().values()) < 1e-6
        return
    for p in params:
        assert np.allclose(np.asarray(grads[p].detach() if target == "torch" else grads[p]),
                           np.asarray(auto[p].detach() if target == "torch" else auto[p]), atol=1e-10), (hidden, p)


def test_cli_codegen(tmp_path, capsys):
    out = tmp_path / "two_layer.py"
    assert chainrule.main(["codegen", "--example", "two-layer", "--target", "numpy", "-o", str(out)]) == 0
    assert "def loss_and_grads" in out.read_text()
    assert chainrule.main(["codegen", "x.T @ A @ x", "--wrt", "x", "--shape", "A=n,n", "--shape", "x=n", "--order", "2"]) == 0
    assert "def hessian" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        chainrule.main(["codegen", "--example", "two-layer", "--target", "fortran"])


def test_a_parameter_the_loss_does_not_read_has_a_zero_gradient():
    text = "W: n, n\nV: n, n\nX: n, m data\nJ = sum(W @ X)\n"
    assert chainrule.gradcheck(text).ok
    f = chainrule.compile(text)
    _, grads = f({"W": np.ones((2, 2)), "V": np.ones((2, 2)), "X": np.ones((2, 3))})
    assert np.all(grads["V"] == 0) and grads["V"].shape == (2, 2)


def test_text_in_the_generated_docstring_cannot_run(tmp_path):
    """A model comment (or an expression's comment) holding triple quotes once ended the generated
    module's docstring, and compile() ran what followed: user text must never execute."""
    import os
    flag = tmp_path / "ran"
    evil = f'__import__("os").system("touch {flag}")'
    model = f'X: n, m data\nW: k, n\n# """; {evil}; """\nJ = sum(W @ X)\n'
    f = chainrule.compile(model)
    f.forward  # noqa: B018 — compiled, not run beyond the module's definitions
    g = chainrule.compile(expr=f'sum(x) # """; {evil}; """', wrt="x", shapes={"x": "n"})
    assert callable(g) and not os.path.exists(flag)
    assert 'W = values' in chainrule.codegen(model) and '\\"\\"\\"' in chainrule.codegen(model)
