"""Sizes and costs estimated before the work (docs/reliability.md): a numeric path refuses arrays past
numeric.cost's limits before any array is drawn, positioned at the array in the source; costly but
allowed evaluations get fewer finite-difference perturbations; long products and long claims cost
work linear in their length. Work is counted (calls), never timed."""
import collections

import numpy as np
import pytest

import chainrule
import chainrule.core.matrix
import chainrule.engine.adjoints
import chainrule.numeric.checks
import chainrule.numeric.evaluate
import chainrule.tutor.verdict
from chainrule import ChainruleError
from chainrule.numeric import cost


def _error(fn):
    with pytest.raises(ChainruleError) as info:
        fn()
    return info.value


@pytest.fixture
def draws(monkeypatch):
    """Counts of random arrays drawn (numeric.checks.draw) and trees evaluated."""
    counts = collections.Counter()
    for name, key in (("draw", "draws"), ("evaluate_tree", "evaluations")):
        original = getattr(chainrule.numeric.checks, name)

        def wrapper(*args, _original=original, _key=key, **kwargs):
            counts[_key] += 1
            return _original(*args, **kwargs)
        monkeypatch.setattr(chainrule.numeric.checks, name, wrapper)
    return counts


def test_a_huge_declared_array_is_refused_before_any_data_is_drawn(draws):
    model = "W: 100000, 1000\nJ = sum(W ** 2)"
    err = _error(lambda: chainrule.check(model, "dW = 2 * W"))
    assert err.kind == "too-large" and err.line == 1 and "100,000,000 entries" in err.message
    assert "W: 100000, 1000" in str(err) and "^" in str(err)
    err = _error(lambda: chainrule.backprop(model).check())
    assert err.kind == "too-large" and err.line == 1
    assert draws["draws"] == 0


def test_a_huge_intermediate_is_refused_at_its_sub_expression(draws):
    err = _error(lambda: chainrule.derive("sum(eye(10000) @ x)", "x", {"x": "10000"}).check())
    assert err.kind == "too-large"
    assert err.source[err.start:err.end] == "eye(10000)"
    assert draws["draws"] == 0 and draws["evaluations"] == 0


def test_a_huge_claim_is_refused_at_its_sub_expression():
    m = chainrule.example("two-layer")
    err = _error(lambda: chainrule.check(m, "dW1 = np.dot(dZ1, X.T) + np.sum(np.ones((100000, 1000)))"))
    assert err.kind == "too-large" and err.source[err.start:err.end] == "np.ones((100000, 1000))"


def test_a_costly_check_perturbs_fewer_entries_and_still_checks(draws):
    r = chainrule.derive("sum(tanh(X @ X))", "X", {"X": (300, 300)})
    one = cost.of_tree(r.parsed.tree, r.parsed.shapes, {})
    wanted = cost.perturbations(one, chainrule.numeric.checks.MAX_PERTURBED, "a check")
    assert cost.MIN_PERTURBED <= wanted < chainrule.numeric.checks.MAX_PERTURBED
    assert r.check() < 1e-5
    assert draws["evaluations"] == 1 + 2 * wanted          # the base point, then ±eps per entry
    # past MIN_PERTURBED perturbations the check is refused instead
    with pytest.raises(ChainruleError, match="operations"):
        cost.perturbations(cost.Cost(1, "x", None, cost.MAX_CHECK), 400, "a check")


def test_index_form_and_einsum_costs_come_from_the_shapes():
    r = chainrule.derive("sum(X @ X)", "X", {"X": ("n", "n")}, order=2)
    c = cost.of_index(r.index_expr, r.out, {"n": 100})
    assert c.largest >= 100 ** 4                  # the Hessian of a 100×100 matrix has 10⁸ entries
    e = chainrule.core.matrix.MEinsum("ij,jk->ik", (chainrule.core.matrix.MVar("A", ("n", "n")),
                                                     chainrule.core.matrix.MVar("B", ("n", "n"))), ("n", "n"))
    flops = cost.of_matrix(e, {"n": 50}).work
    assert 50 ** 3 <= flops <= 3 * 50 ** 3


def test_a_long_product_chain_computes_each_shape_once(monkeypatch):
    prop = chainrule.core.matrix.MMatMul.__dict__["shape"]
    calls = collections.Counter()

    def counted(self, _f=prop.func):
        calls["shape"] += 1
        return _f(self)
    patched = type(prop)(counted)
    patched.__set_name__(chainrule.core.matrix.MMatMul, "shape")
    monkeypatch.setattr(chainrule.core.matrix.MMatMul, "shape", patched)
    n = 60
    r = chainrule.derive("sum(" + " @ ".join(f"A{i}" for i in range(n)) + ")", "A3",
                         {f"A{i}": "n, n" for i in range(n)})
    assert r.text.startswith("A2ᵀ A1ᵀ (A0ᵀ𝟏)")
    # measured: about 1,000 for 60 factors (one per product node built); recomputed, 2⁶⁰
    assert calls["shape"] < 50 * n


def test_shapes_may_be_written_as_the_model_language_writes_them():
    r = chainrule.derive("x.T @ A @ x", "x", {"A": "n, n", "x": "(n)"})
    assert r.text == "(A + Aᵀ) x" or "A" in r.text
    assert chainrule.derive("sum(A)", "A", {"A": "(n, m)"}).shape == ("n", "m")


def test_a_long_wrong_claim_is_judged_with_a_bounded_edit_search(monkeypatch):
    m = chainrule.example("two-layer")
    calls = collections.Counter()
    original = chainrule.tutor.verdict.evaluate_tree

    def counted(*args, **kwargs):
        calls["evaluations"] += 1
        return original(*args, **kwargs)
    monkeypatch.setattr(chainrule.tutor.verdict, "evaluate_tree", counted)
    counts = []
    for pads in (20, 160):
        calls.clear()
        v = chainrule.check(m, "dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 3))" + " + 0*A1" * pads)
        assert not v.correct
        counts.append(calls["evaluations"])
    # each edit rebuilds its path to the root; the search stops at MAX_EDIT_NODES such nodes, so a
    # claim 8 times longer does not try 8 times more edits
    assert counts[1] < 4 * counts[0] + 100, counts


def _deep_model(layers):
    lines, prev = ["X: 3, m data", "Y: 1, m data binary"], "X"
    for i in range(1, layers + 1):
        lines += [f"W{i}: 3, 3", f"b{i}: 3, 1", f"Z{i} = W{i} @ {prev} + b{i}", f"A{i} = tanh(Z{i})"]
        prev = f"A{i}"
    lines += [f"W{layers + 1}: 1, 3", f"A{layers + 1} = sigmoid(W{layers + 1} @ {prev})",
              f"J = -1/m * sum(Y * log(A{layers + 1}) + (1 - Y) * log(1 - A{layers + 1}))"]
    return "\n".join(lines)


def test_a_long_model_is_checked_with_fewer_perturbations_or_refused(monkeypatch):
    calls = collections.Counter()
    forward = chainrule.engine.adjoints.Backprop.forward

    def counted(self, *args, **kwargs):
        calls["forward"] += 1
        return forward(self, *args, **kwargs)
    monkeypatch.setattr(chainrule.engine.adjoints.Backprop, "forward", counted)
    r = chainrule.backprop(_deep_model(30))
    errors = r.check()
    assert max(errors.values()) < 1e-5
    # 122 adjoints of up to 9 entries: 1,813 forward passes unbounded; measured 1,093 (5 entries each)
    dims = chainrule.numeric.checks.concrete_dims(r.shapes)
    unbounded = 1 + 2 * sum(cost.size(g.shape, dims) for g in r.gradients)
    assert calls["forward"] < 0.7 * unbounded, (calls, unbounded)
    long = chainrule.backprop(_deep_model(120))
    err = _error(long.check)
    assert err.kind == "too-large" and "one adjoint at a time" in str(err) and err.line == long.model.loss.line
    assert long.check(only="dW1")["dW1"] < 1e-5


def test_a_reduction_costs_the_entries_it_reads():
    """logsumexp(x) makes one number from 10⁶ entries: its check cost counts the 10⁶ (it was priced
    as one entry, and 400 perturbations took 6 s)."""
    from chainrule.numeric import cost
    from chainrule.lang.syntax import parse_expression
    one = cost.of_tree(parse_expression("logsumexp(x)"), {"x": (1_000_000,)}, {})
    assert one.work >= 4_000_000
    assert cost.perturbations(one, 400, "a check") <= cost.MAX_CHECK // (2 * 4_000_000)
