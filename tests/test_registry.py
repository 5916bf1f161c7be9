"""Generated from the registries: every function of the language and every primitive is run through
every consumer — derive (orders 1 and 2 on its declared domain), the two evaluators, codegen for
NumPy/JAX/PyTorch, the toy expansion's SymPy forms, check, explain and every printer — and each
result is compared numerically. An entry missing a part fails at import (fn_spec.function) or here."""
import importlib.util
import re
from fractions import Fraction

import numpy as np
import pytest

import chainrule
from chainrule.lang import syntax as S
from chainrule.core import tensor as T
from chainrule.engine.derivation import Parsed
from chainrule.render.document import tree_latex
from chainrule.numeric.evaluate import evaluate, evaluate_tree
from chainrule.lang.functions import unique_functions
from chainrule.numeric.checks import concrete_dims, domains, sample
from chainrule.core.rules import CONSTANTS, ELEMENTWISE, MATRIX_FUNCTIONS, numpy_namespace
from chainrule.tutor.toy import matrix_to_sympy, tree_to_sympy

SHAPES = {"X": ("n", "n"), "Y": ("n", "n"), "M": ("n", "m"), "x": ("n",), "y": ("n",), "s": ()}
SPECS = unique_functions()
COMPARISONS = ["(X > 0) * X ** 2", "(X >= 0) * X ** 2", "(X < 0) * X", "(X <= Y) * X", "sign(X) * X"]
TARGETS = ["numpy"] + [t for t, module in (("jax", "jax"), ("torch", "torch")) if importlib.util.find_spec(module)]
DOMAIN_PROPERTY = {"positive": "positive", "spd": "spd", "invertible": "spd"}


def _variables(example):
    tree = Parsed(example, SHAPES)
    return [n for n in SHAPES if n in {x.id for x in S.names(tree.tree)}]


def _data(example, seed=0, dims=None):
    p = Parsed(example, SHAPES)
    dims = dims or concrete_dims(p.shapes)
    return p, sample(p.shapes, dims, domains(p.tree), np.random.default_rng(seed)), dims


def _close(a, b, tol=1e-7):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape or a.size == b.size, (a.shape, b.shape)
    assert np.allclose(a.reshape(b.shape), b, rtol=tol, atol=tol), (a, b)


# -- derive ------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.name)
@pytest.mark.parametrize("order", [1, 2])
def test_every_function_differentiates(spec, order):
    for wrt in _variables(spec.example):
        r = chainrule.derive(spec.example, wrt, SHAPES, order)
        assert r.check(seed=order) < 1e-6, (spec.example, wrt, order, r.text)


@pytest.mark.parametrize("expr", COMPARISONS)
def test_comparisons_are_piecewise_constant(expr):
    r = chainrule.derive(expr, "X", SHAPES)
    assert r.check() < 1e-6, r.text


# -- the two evaluators: the lowered index form against NumPy's reading of the text ----------------
@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.name)
def test_lowering_agrees_with_the_numpy_value(spec):
    p, env, dims = _data(spec.example)
    with np.errstate(all="ignore"):
        _close(evaluate(p.expr, tuple(p.idx), env, dims), evaluate_tree(p.tree, env, dims))


# -- the primitives themselves: derivative rule against a finite difference of the value ---------
def _primitive_points(fn, rng):
    x = rng.standard_normal(7) * 1.5
    if fn.domain == "positive":
        x = np.abs(x) + 0.3
    if fn.domain in ("nonzero",):
        x = np.sign(x) * (np.abs(x) + 0.3)
    return x


PARAMS = {"clip": (Fraction(-1, 2), Fraction(1, 2))}


@pytest.mark.parametrize("fn", list(ELEMENTWISE.values()), ids=lambda f: f.name)
def test_every_primitive_rule_matches_its_value(fn):
    params = PARAMS.get(fn.name, ())
    assert len(params) == len(fn.params), f"add test parameters for {fn.name}"
    x = _primitive_points(fn, np.random.default_rng(1))
    x = x[np.all([np.abs(x - float(p)) > 1e-3 for p in params], axis=0)] if params else x
    i = T.Index(len(x), "i")
    arg = T.var("x", (i,))
    d = fn.derivative(arg, params)
    got = evaluate(d, (i,), {"x": x}, {}) if not d.is_zero() else np.zeros_like(x)
    eps = 1e-6
    want = (fn.apply(x + eps, params) - fn.apply(x - eps, params)) / (2 * eps)
    _close(got, want, 1e-6)
    assert fn.doc and "′" in fn.doc, fn.name


@pytest.mark.parametrize("fn", list(ELEMENTWISE.values()), ids=lambda f: f.name)
def test_every_primitive_states_its_facts_truly(fn):
    """SymPy form, sign, exact values and the course's form of the derivative all agree with the value."""
    import sympy as sp
    params = PARAMS.get(fn.name, ())
    x = _primitive_points(fn, np.random.default_rng(2))
    v = fn.apply(x, params)
    sym = [float(fn.sympy(sp, sp.Float(float(a)), *[sp.Rational(p.numerator, p.denominator) for p in params]))
           for a in x]
    _close(sym, v, 1e-9)
    if fn.sign == "positive":
        assert np.all(v > 0)
    if fn.sign == "nonnegative":
        assert np.all(v >= 0)
    if fn.bound is not None:
        assert np.all(np.abs(fn.apply(np.linspace(-30, 30, 601) if fn.domain != "positive" else np.linspace(0.01, 30, 601),
                                      params)) <= fn.bound)
    for c in (Fraction(0), Fraction(1), Fraction(-1, 2)):
        exact = fn.exact(c, *params) if fn.exact else None
        if exact is not None:
            assert float(exact) == pytest.approx(float(fn.apply(np.array([float(c)]), params)[0]))
    if fn.activation:
        tree = S.parse_expression(fn.activation)
        eps = 1e-6
        slope = (fn.apply(x + eps, params) - fn.apply(x - eps, params)) / (2 * eps)
        _close(evaluate_tree(tree, {"A": v, "Z": x}, {}), slope, 1e-6)
    for target in ("numpy", "jax", "torch"):
        assert "{x}" in fn.code[target], (fn.name, target)


def test_every_rule_is_reached_by_the_language():
    reached = set()
    for expr in [f.example for f in SPECS] + COMPARISONS:
        for a in T.walk_atoms(Parsed(expr, SHAPES).expr):
            if isinstance(a, (T.Func, T.MatFn, T.Named)):
                reached.add(a.name)
    missing = (set(ELEMENTWISE) | set(MATRIX_FUNCTIONS) | set(CONSTANTS)) - reached
    assert not missing, f"rules with no test through the language: {missing}"


def test_every_rule_documents_its_formula():
    for rule in list(ELEMENTWISE.values()) + list(MATRIX_FUNCTIONS.values()):
        assert rule.doc and ("′" in rule.doc or "d" in rule.doc), rule.name
    for spec in SPECS:
        assert spec.doc, spec.name


# -- codegen: the forward code from the registry, the gradient and Hessian code from the printers ----
def _to(target, v):
    if target == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        return jnp.asarray(v)
    if target == "torch":
        import torch
        return torch.tensor(np.asarray(v, dtype=float), dtype=torch.float64)
    return v


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.name)
def test_codegen_computes_every_function(spec, target):
    wrt = _variables(spec.example)[0]
    p, env, dims = _data(spec.example, seed=3)
    f = chainrule.compile(expr=spec.example, wrt=wrt, shapes=SHAPES, order=2, target=target)
    values = {n: _to(target, v) for n, v in env.items()}
    value, grad = f(values)
    with np.errstate(all="ignore"):
        _close(np.asarray(value), evaluate_tree(p.tree, env, dims))
        for order, got in ((1, grad), (2, f.hessian(values))):
            r = chainrule.derive(spec.example, wrt, SHAPES, order)
            want = eval(r.numpy, {"__builtins__": {}}, dict(env, **numpy_namespace()))   # the engine's own code
            _close(np.asarray(got), want)


# -- the toy expansion's SymPy forms, on numbers ---------------------------------------------------
@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.name)
def test_toy_forms_agree_with_numpy(spec):
    import sympy as sp
    p, env, dims = _data(spec.example, seed=4, dims={"n": 2, "m": 3})

    def held(name, v):                         # the toy layout: 1-D arrays as columns, scalars 1×1
        a = np.asarray(v, dtype=float)
        return sp.Matrix(a.reshape(a.shape[0], -1) if a.ndim else [[float(a)]])
    symbolic = {n: held(n, v) for n, v in env.items()}
    with np.errstate(all="ignore"):
        want = np.asarray(evaluate_tree(p.tree, env, dims), dtype=float)
    got = np.array(tree_to_sympy(p.tree, symbolic, dims, p.shapes).evalf(), dtype=float)
    _close(got.T if want.ndim == 2 and got.shape == want.shape[::-1] and got.shape != want.shape else got, want)
    for wrt in _variables(spec.example):
        r = chainrule.derive(spec.example, wrt, SHAPES)
        if r.matrix_form and len(r.shape) <= 2:
            formula = np.array(matrix_to_sympy(r.matrix, symbolic, dims).evalf(), dtype=float)
            value = np.asarray(eval(r.numpy, {"__builtins__": {}}, dict(env, **numpy_namespace())), dtype=float)
            _close(formula if value.ndim == 2 or formula.size == value.size else formula.T, value)


# -- the printers --------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.name)
def test_every_printer_prints_every_function(spec):
    from chainrule.render.document import mathml
    for wrt in _variables(spec.example):
        r = chainrule.derive(spec.example, wrt, SHAPES)
        assert r.text and r.index and r.numpy
        assert "<pre" not in mathml(r.latex), r.latex              # latex2mathml read it
    latex = tree_latex(Parsed(spec.example, SHAPES).tree)
    assert "<pre" not in mathml(latex), latex


@pytest.mark.parametrize("fn", [f for f in ELEMENTWISE.values() if f.surface and not f.params], ids=lambda f: f.name)
def test_printers_name_each_primitive(fn):
    r = chainrule.derive(f"{fn.name}(x).T @ y", "y", {"x": ("n",), "y": ("n",)})
    assert ("|x|" if fn.style == "bars" else f"{fn.text}(x)") == r.text
    assert (r"\left|" if fn.style == "bars" else fn.latex) in r.latex and r.numpy == fn.code["numpy"].format(x="x")


# -- check and explain ----------------------------------------------------------------------------
def _model(spec):
    """A model whose loss reads the function: the example's names as parameters, J = Σ F²."""
    p = Parsed(spec.example, SHAPES)
    doms = domains(p.tree)
    lines = []
    for name in _variables(spec.example):
        dims = ", ".join(str(d) for d in SHAPES[name]) or "scalar"
        prop = DOMAIN_PROPERTY.get(doms.get(name))
        lines.append(f"{name}: {dims}" + (f" {prop}" if prop else ""))
    return "\n".join(lines + [f"F = {spec.example}", "J = sum(F * F)"])


@pytest.mark.parametrize("spec", [s for s in SPECS if s.domain not in ("spd", "invertible")], ids=lambda f: f.name)
def test_check_judges_claims_through_every_function(spec):
    model = _model(spec)
    r = chainrule.backprop(model, "strict")
    for g in r.gradients:
        if g.of not in SHAPES or "[" in g.numpy:      # slicing ([:, None]) is not in the claim language yet
            continue
        v = chainrule.check(model, f"{g.name} = {g.numpy}", "strict")
        assert v.correct, (model, g.name, g.numpy, v.reason)
        assert not chainrule.check(model, f"{g.name} = {g.numpy} + 1", "strict").correct


@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.name)
def test_explain_derives_and_checks_every_function(spec):
    wrt = _variables(spec.example)[0]
    e = chainrule.explain(expr=f"sum({spec.example})", wrt=wrt, shapes=SHAPES)
    assert e.formula == chainrule.derive(f"sum({spec.example})", wrt, SHAPES).text
    assert "(agrees)" in e.steps[6].text, e.steps[6].text
    assert "agree: yes" in e.steps[5].text, e.steps[5].text      # the toy expansion ran and agreed


def test_named_constants_print_by_name():
    r = chainrule.derive("np.pi * sum(x ** 2) + np.e * sum(x)", "x", {"x": ("n",)})
    assert "π" in r.text and "e" in r.text and r.check() < 1e-8
    assert "np.pi" in r.numpy


def test_constant_expressions_where_numbers_go():
    r = chainrule.derive("sum(x ** (1/2))", "x", {"x": ("n",)})
    assert r.check() < 1e-8
    assert chainrule.derive("sum(x ** (2 * 3 - 4))", "x", {"x": ("n",)}).text == "2x"
    with pytest.raises(chainrule.ChainruleError, match="division by zero"):
        chainrule.derive("sum(x / (1 - 1))", "x", {"x": ("n",)})


def test_learners_spellings_change_nothing():
    shapes = {"A": ("n", "m"), "Y": ("n", "m")}
    plain = chainrule.derive("sum(Y * log(A))", "A", shapes).text
    for spelled in ("np.nansum(Y * np.log(A))", "float(np.sum(np.array(Y) * np.log(A)))",
                    "np.squeeze(np.sum(Y * np.log(A)))", "np.sum(Y * np.log(A).astype(float))"):
        assert chainrule.derive(spelled, "A", shapes).text == plain, spelled


def test_leaky_relu_is_maximum():
    r = chainrule.derive("sum(np.maximum(0.01 * z, z))", "z", {"z": ("n",)})
    assert r.check() < 1e-8
    assert r.text == "(z ≤ 0) / 100 + (z > 0)"


def test_slogdet_is_logdet():
    r = chainrule.derive("np.linalg.slogdet(X)[1]", "X", {"X": ("n", "n")})
    assert r.text == chainrule.derive("logdet(X)", "X", {"X": ("n", "n")}).text and r.check(domain={"X": "spd"}) < 1e-7


def test_bounds_decide_what_codegen_knows_is_nonnegative():
    from chainrule.core.matrix import MAdd, MFunc, MNum, MPow, MScale, MVar
    from chainrule.generation.generate import nonnegative
    x = MVar("x", ("n",))
    one_minus = lambda m: MAdd((MNum(1), MScale(-1, m)), ("n",))          # noqa: E731
    assert nonnegative(one_minus(MFunc("sigmoid", x)))
    assert nonnegative(one_minus(MPow(MFunc("tanh", x), 2)))
    assert not nonnegative(one_minus(MPow(x, 2))) and not nonnegative(one_minus(MFunc("exp", x)))


def test_irrational_constants_stay_exact():
    r = chainrule.derive("sum(0.5 * z * (1 + erf(z / np.sqrt(2))))", "z", {"z": ("n",)})    # GELU
    assert r.check() < 1e-8 and "√2" in r.text and not re.search(r"\d{4}", r.text), r.text   # no 388883860/549964829
    assert chainrule.derive("sum(x * np.sqrt(2) * np.sqrt(2))", "x", {"x": ("n",)}).text == "2 𝟏"
    assert chainrule.derive("sum(x * 4 ** 0.5)", "x", {"x": ("n",)}).text == "2 𝟏"


def test_numbers_nobody_reads_digit_by_digit_print_in_scientific_notation():
    assert chainrule.derive("sum(x * 1e200 * 1e200)", "x", {"x": ("n",)}).text == "1e400 𝟏"
    assert chainrule.derive("sum(x * 0.123456789 ** 9)", "x", {"x": ("n",)}).text == "6.66246e-9 𝟏"
