"""The documented limits (docs/reliability.md): each is a clear, positioned ChainruleError, refused
before the work it guards is done.

No wall-clock bounds here: the work is counted instead (calls of the engine's inner constructors,
numeric evaluations, toy entries), which is the same on a loaded CI machine as on a laptop. The
timings of these inputs are measured by benchmarks/bench_limits.py."""
import collections

import numpy as np
import pytest

import chainrule
import chainrule.engine.adjoints
import chainrule.tutor.mentor
import chainrule.numeric.checks
import chainrule.render.numpy_code
import chainrule.render.printing
import chainrule.lang.syntax
import chainrule.core.tensor
import chainrule.tutor.entries
from chainrule import ChainruleError
from work_counter import counting_work
from chainrule.numeric.checks import MAX_PERTURBED

V = {"x": ("n",)}

# Work a refused call may do. Measured (tests below): every expression, model and dimension limit
# builds 0 index-form terms and visits at most 6 parser nodes; the largest is the refused numeric check,
# 17 constructions (the derivation of sum(X) runs before check() refuses). Bounds are about 10x that.
REFUSED_WORK = 170        # Term.make + Expr.make calls
REFUSED_NODES = 100       # parser nodes visited

EXPRESSION_LIMITS = [
    ("(" * 10_000 + "x" + ")" * 10_000, "too long"),
    ("(" * 5_000 + "x" + ")" * 5_000, "nested"),
    ("-" * 10_000 + "x", "nested"),
    ("x+" * 500_000 + "x", "too long"),                  # 1 MB
    ("x ** 10 ** 10", "exponents"),
    ("x ** 100", "exponent too large"),
    ("eye(10**9) @ x", "eye()"),
    ("x * 1e999", "finite"),
    ("x * np.inf", "only .T"),
    ("x * float('nan')", "only numbers"),
    ("\u0445 + x", "non-ASCII"),                         # Cyrillic х looks like x
    ("x.__class__", "__class__"),
    ("(lambda: x)()", "lambda"),
    ("[x for x in y]", "ListComp"),
    ("sum(x, dtype=int)", "dtype"),
]

MODEL_LIMITS = [
    ("W: n, n\nJ = W @ W", "must be a scalar"),
    ("W: n, n\nA = A @ W\nJ = sum(A)", "used before it is assigned"),
    ("W: n, n\nA = W\nA = A @ W\nJ = sum(A)", "already defined"),
    ("X: n, m data\nJ = sum(X)", "no parameters"),
    ("X: n, m data", "no assignments"),
    ("W: n, n\n" + "# comment\n" * 3000 + "J = sum(W)", "model too long"),
    ("W: n, n\nJ = sum(W @@ W)", "line 2"),
]

DIMENSION_LIMIT = ("sum(x)", "x", {"x": (10 ** 12,)})
HUGE_CHECK = ("sum(X)", "X", {"X": (3000, 3000)})               # refused: 9M entries
LARGE_CHECK = ("sum(tanh(X @ X))", "X", {"X": (120, 120)})      # 14,400 entries: 400 sampled

# The toy example: fixed sizes too large to expand (as an expression, then as a model), and a nested
# expression whose expansion is small enough to show.
TOY_LARGE = dict(expr="sum(X @ X)", wrt="X", shapes={"X": (300, 300)})
TOY_MODEL = ("X: 200, 200 data\nW: 200, 200\nJ = sum(tanh(W @ X))", "dW")
TOY_NESTED = dict(expr="sum(tanh(tanh(X @ X)))", wrt="X", shapes={"X": ("n", "n")})
TOY_DEEP = dict(expr="sum(tanh(" + "tanh(sum(" * 13 + "X @ X" + "))" * 14, wrt="X", shapes={"X": ("n", "n")})


def _error(call):
    with counting_work() as work, pytest.raises(ChainruleError) as e:
        call()
    assert work["terms"] + work["exprs"] <= REFUSED_WORK, f"{dict(work)}: refused only after building the index form"
    assert work["nodes"] <= REFUSED_NODES, f"{dict(work)}: refused only after walking the whole input"
    assert len(str(e.value)) < 2000                      # a long source is shown as a window, not whole
    return e.value


@pytest.mark.parametrize("text,fragment", EXPRESSION_LIMITS)
def test_expression_limits(text, fragment):
    err = _error(lambda: chainrule.derive(text, "x", V))
    assert fragment in str(err) and err.start is not None


@pytest.mark.parametrize("model,fragment", MODEL_LIMITS)
def test_model_limits(model, fragment):
    err = _error(lambda: chainrule.backprop(model))
    assert fragment in str(err) and err.start is not None


def test_dimension_limit():
    assert "between 1 and 1e6" in str(_error(lambda: chainrule.derive(*DIMENSION_LIMIT)))


def test_a_numeric_check_refuses_huge_arrays_and_samples_large_ones(monkeypatch):
    # Every evaluation of f during a check, and which entries of X it perturbed (against the first,
    # unperturbed evaluation).
    evaluations, perturbed, base = [], set(), []
    evaluate_tree = chainrule.numeric.checks.evaluate_tree

    def counted(tree, env, dims):
        x = np.asarray(env["X"])
        if base:
            changed = np.argwhere(x != base[0])
            assert len(changed) == 1, f"an evaluation perturbed {len(changed)} entries at once"
            perturbed.add(tuple(changed[0]))
        else:
            base.append(x.copy())
        evaluations.append(1)
        return evaluate_tree(tree, env, dims)
    monkeypatch.setattr(chainrule.numeric.checks, "evaluate_tree", counted)

    err = _error(lambda: chainrule.derive(*HUGE_CHECK).check())
    assert "too large for a numeric check" in str(err)
    assert evaluations == []                             # refused before any data is drawn or evaluated

    assert chainrule.derive(*LARGE_CHECK).check() < 1e-5
    # measured: 801 evaluations (the base point, then +eps and -eps for each of 400 entries); without
    # the cap it would be 1 + 2 * 14,400
    assert len(perturbed) == MAX_PERTURBED == 400
    assert len(evaluations) == 1 + 2 * MAX_PERTURBED


def _count_toy_work(monkeypatch):
    """Counters of an explanation's work: index forms the toy example writes out at an entry, its
    read-off searches, and numeric evaluations (expression and model)."""
    work = collections.Counter()

    def wrap(owner, name, key, amount=lambda *args: 1):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            work[key] += amount(*args)
            return original(*args, **kwargs)
        monkeypatch.setattr(owner, name, wrapper)
    wrap(chainrule.tutor.entries.Toy, "at", "toy entries")
    wrap(chainrule.tutor.entries, "_read_off", "read-offs")
    wrap(chainrule.numeric.checks, "evaluate_tree", "evaluations")
    wrap(chainrule.engine.adjoints.Backprop, "forward", "evaluations")
    return work


def test_the_toy_example_is_bounded(monkeypatch):
    toy = _count_toy_work(monkeypatch)

    # Too large to expand: the section says why, no entry is written out, the numeric check is capped.
    with counting_work() as work:
        e = chainrule.explain(**TOY_LARGE)
    text = e.steps[5].text
    assert "No scalar expansion" in text and "at most 4" in text and "X is 300×300" in text
    assert toy["toy entries"] == 0 and toy["read-offs"] == 0
    assert toy["evaluations"] <= 1 + 2 * MAX_PERTURBED   # measured 801 (uncapped: 180,001)
    assert work["terms"] + work["exprs"] <= 400          # measured 37

    # The same for a model's adjoint.
    toy.clear()
    with counting_work() as work:
        e = chainrule.explain(*TOY_MODEL)
    text = e.steps[5].text
    assert "No scalar expansion" in text and "at most 4" in text and "W is 200×200" in text
    assert toy["toy entries"] == 0 and toy["read-offs"] == 0
    assert toy["evaluations"] <= 8_000                   # measured 803 (uncapped: over 80,000)
    # measured 8,129: lowering inside each forward evaluation, so it scales with the perturbed entries
    assert work["terms"] + work["exprs"] <= 80_000

    # Small enough to expand: every dimension 2, f written out, each entry differentiated, read off.
    toy.clear()
    with counting_work() as work:
        e = chainrule.explain(**TOY_NESTED)
    text = e.steps[5].text
    assert len(e.steps) == 7 and "Make it small: take n = 2" in text
    assert "∂f/∂x_11 = " in text and "agree: yes" in text
    assert toy["toy entries"] <= 4_000                   # measured 2,023 (most in the read-off's search)
    assert toy["read-offs"] == 1
    assert toy["evaluations"] <= 200                     # measured 19
    assert work["terms"] + work["exprs"] <= 20_000       # measured 8,755 (the toy's own budget: 12,000 steps)

    # Nested past what a person follows: the toy gives up within its own budget, the rest goes on.
    toy.clear()
    e = chainrule.explain(**TOY_DEEP)
    assert "No scalar expansion" in e.steps[5].text and "to follow by hand" in e.steps[5].text
    assert "(agrees)" in e.steps[6].text


def test_a_numeric_check_of_an_always_singular_matrix_is_an_input_error():
    err = _error(lambda: chainrule.derive("sum(inv(A * 0))", "A", {"A": ("n", "n")}).check())
    assert "singular" in err.message
    e = chainrule.explain(expr="sum(inv(A * 0))", wrt="A", shapes={"A": ("n", "n")})
    assert "No numeric check here" in e.steps[6].text and "singular" in e.steps[6].text


def test_a_numeric_check_of_a_constant_beyond_floating_point_is_an_input_error():
    err = _error(lambda: chainrule.derive("sum(x * 1e200 * 1e200)", "x", {"x": ("n",)}).check())
    assert "no numeric check" in err.message          # inf on every draw, or beyond floating point


def test_exponential_algebra_hits_the_work_budget():
    nested = "x"
    for _ in range(6):
        nested = f"np.maximum({nested}, 1 - {nested})"       # each level copies both arguments
    with counting_work() as work, pytest.raises(ChainruleError, match="too much algebra"):
        chainrule.derive(f"sum({nested})", "x", {"x": ("n",)})
    assert work["terms"] <= chainrule.core.tensor.MAX_WORK + 1


def test_the_work_budget_leaves_room_for_real_models():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from bench_backprop import mlp
    spent = []
    spend = chainrule.core.tensor.spend

    def counted(units=1):
        spend(units)
        spent.append(units)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(chainrule.core.tensor, "spend", counted)
        chainrule.backprop(mlp(50))
    # measured: 4,052 units (terms built, converted to matrix notation, printed) of 12,000: models up to
    # about 140 layers fit
    assert sum(spent) * 2.5 < chainrule.core.tensor.MAX_WORK


def test_nesting_up_to_the_syntax_limit_derives_or_fails_cleanly():
    # 100 levels derive (the chain rule's product has 100 factors, each a tower); at 190 — the syntax
    # allows 200 — the whole derivation (printing included) needs more than the 12,000-step budget, so it
    # stops with a positioned error instead of a crash or a long wait
    deep = "sum(" + "tanh(" * 190 + "x" + ")" * 190 + ")"
    with counting_work() as work, pytest.raises(ChainruleError, match="too much algebra") as info:
        chainrule.derive(deep, "x", V)
    assert info.value.start == 0 and info.value.kind == "budget" and work["terms"] < chainrule.core.tensor.MAX_WORK
    deep = "sum(" + "tanh(" * 100 + "x" + ")" * 100 + ")"
    r = chainrule.derive(deep, "x", V)
    assert r.text.startswith("(1 − tanh²(") and chainrule.codegen(expr=deep, wrt="x", shapes=V)
    e = chainrule.explain(expr=deep, wrt="x", shapes=V)
    assert "too deep to follow by hand" in e.steps[5].text
    assert "No numeric check here" in e.steps[6].text or "agrees" in e.steps[6].text


def test_a_tower_written_out_in_full_is_refused_before_its_keys_fill_memory():
    """minimum(minimum(x, 1 − x), 1 − minimum(x, 1 − x)) … five levels, every copy written out (the
    hostile generator's seed 6 case 17070): each canonical key spells its shared arguments in full, so
    keys are charged by length — a positioned budget error instead of a MemoryError at 1.1 GB."""
    e = "x"
    for _ in range(5):
        e = f"minimum({e}, 1 - {e})"
    with pytest.raises(ChainruleError, match="too much algebra") as info:
        chainrule.derive(f"sum(maximum({e}, 1 - {e}))", "x", {"x": "n"})
    assert info.value.kind == "budget" and info.value.start is not None


def test_a_nested_argument_renamed_many_times_is_renamed_once():
    """100 nested sqrt: the chain rule's 100 factors share their arguments; renaming one shared
    argument once (not once per factor) keeps the derivation linear in work (was quadratic: 2.2 s)."""
    deep = "sum(" + "sqrt(" * 100 + "x" + ")" * 100 + ")"
    with counting_work() as work:
        r = chainrule.derive(deep, "x", {"x": "n"})
    assert work["terms"] < 8_000 and r.check() < 1e-6


def test_the_toy_example_refuses_a_long_matrix_product():
    """A @ A @ … 20 long: each entry would be a sum of 2²¹ products, so the section says why it is
    skipped (before writing any out) and the numeric check still runs."""
    e = chainrule.explain(expr="sum(" + " @ ".join(["A"] * 20) + " @ x)", wrt="x", shapes={"A": "n, n", "x": "n"})
    assert "a term sums over 21 indices (2,097,152 products per entry), too many to expand by hand" in e.steps[5].text
    assert "(agrees)" in e.markdown
