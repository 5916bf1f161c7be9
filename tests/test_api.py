"""The public API and the CLI as a user calls them; every printed result is evaluated."""
import json
import subprocess
import sys

import numpy as np
import pytest

import chainrule


def _eval(r, env):
    return np.asarray(eval(r.numpy, {"__builtins__": {}}, dict(np=np, **env)), dtype=float)


def test_result_fields():
    r = chainrule.derive("x.T @ A @ x", "x", {"A": ("n", "n"), "x": ("n",)})
    assert r.text == "(A + Aᵀ)x"
    assert r.latex == r"(A + A^\top) x"
    assert r.numpy == "(A + A.T) @ x"
    assert r.shape == ("n",)
    assert r.index.startswith("∂f/∂x[p] = ")
    assert r._repr_latex_() == f"$${r.latex}$$"
    data = json.loads(r.to_json())
    assert {"expression", "wrt", "order", "shape", "text", "latex", "numpy", "index"} <= set(data)


def test_numpy_is_right_for_1d_vectors_and_columns():
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal(3), rng.standard_normal(5)
    r = chainrule.derive("u.T @ M @ v", "M", {"u": (3,), "M": (3, 5), "v": (5,)})
    got = _eval(r, dict(u=u, v=v, M=rng.standard_normal((3, 5))))
    assert got.shape == (3, 5) and np.allclose(got, np.outer(u, v))       # outer, not inner
    r = chainrule.derive("sum(G * tanh(W @ X + b))", "b", {"G": ("n", "m"), "W": ("n", "d"), "X": ("d", "m"),
                                                          "b": ("n", 1)})
    assert "keepdims=True" in r.numpy
    env = dict(G=rng.standard_normal((4, 6)), W=rng.standard_normal((4, 3)), X=rng.standard_normal((3, 6)),
               b=rng.standard_normal((4, 1)))
    assert _eval(r, env).shape == (4, 1)


def test_derivative_layout_matches_jacobian_convention():
    # entry [i, p] = ∂f[i]/∂x[p]: for f = A x that is A itself, not Aᵀ
    r = chainrule.derive("A @ x", "x", {"A": (2, 3), "x": (3,)})
    A = np.arange(6.0).reshape(2, 3)
    assert np.allclose(_eval(r, dict(A=A, x=np.ones(3))), A)
    assert r.shape == (2, 3)


def test_scalar_variable_and_dimension_scalars():
    r = chainrule.derive("sum(W ** 2) / m + t * sum(W)", "t", {"W": ("n", "m"), "t": ()})
    assert r.shape == () and r.text == "Σ(W)" and r.check() < 1e-6
    r = chainrule.derive("sum(W ** 2) / m", "W", {"W": ("n", "m")})
    assert r.text == "2W / m" and "W.shape[1]" in r.numpy and r.check() < 1e-6


def test_higher_orders():
    r = chainrule.derive("sum(exp(x))", "x", {"x": ("n",)}, order=3)
    assert r.shape == ("n", "n", "n") and r.check() < 1e-5
    with pytest.raises(chainrule.ChainruleError):
        chainrule.derive("sum(x)", "x", {"x": ("n",)}, order=0)


def test_shape_inference_for_undeclared_names():
    r = chainrule.derive("sum(G * tanh(W @ X))", "W", {"W": ("n", "d"), "X": ("d", "m")})
    assert r.text == "(G ⊙ (1 − tanh²(WX)))Xᵀ" and r.check() < 1e-6
    with pytest.raises(chainrule.ChainruleError, match="declare it"):
        chainrule.derive("sum(A @ q)", "A", {"A": ("n", "n")})


def test_import_is_light():
    code = "import sys, chainrule; print('sympy' in sys.modules, 'chainrule.engine.derivation' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


@pytest.mark.parametrize("fmt,needle", [("text", "(A + Aᵀ)x"), ("latex", r"A^\top"), ("numpy", "(A + A.T) @ x"),
                                        ("index", "∂f/∂x[p]"), ("json", '"numpy"')])
def test_cli_formats(fmt, needle, capsys):
    assert chainrule.main(["derive", "x.T @ A @ x", "--wrt", "x", "--shape", "A=n,n", "--shape", "x=n", "--format", fmt]) == 0
    assert needle in capsys.readouterr().out


def test_cli_check_and_errors(capsys):
    assert chainrule.main(["derive", "logdet(X)", "--wrt", "X", "--shape", "X=n,n", "--check"]) == 0
    assert "max relative error" in capsys.readouterr().out
    assert chainrule.main(["derive", "W2 @ dZ2", "--wrt", "W2", "--shape", "W2=1,4", "--shape", "dZ2=1,m"]) == 2
    err = capsys.readouterr().err
    assert "did you mean W2.T @ dZ2?" in err and "Traceback" not in err


def test_cli_demo_runs(capsys):
    assert chainrule.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "(A + Aᵀ)x" in out and "MISMATCH" not in out


def test_api_names_are_functions_even_after_every_submodule_is_imported():
    import importlib
    import pkgutil
    import types
    for mod in pkgutil.iter_modules(chainrule.__path__):
        if mod.name != "__main__":                  # that one runs the command line
            importlib.import_module(f"chainrule.{mod.name}")
    for name in chainrule.__all__:
        value = getattr(chainrule, name)
        assert not isinstance(value, types.ModuleType), f"chainrule.{name} is shadowed by a module"
