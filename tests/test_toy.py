"""The toy example, the mentor's way (tutor/entries.py, tutor/toy_example.py): every dimension 2,
the equations as named scalars, one entry followed along every path of the scalar chain rule, every
entry, and the matrix form read off the entries alone. Every scalar the toy prints is evaluated here:
its IR against the matrix formula, its printed text against its IR, and — SymPy as a test-time
cross-check only — an expression's scalar derivatives against SymPy's."""
import re
import subprocess
import sys

import numpy as np
import pytest

import chainrule
from chainrule.core import tensor as T
from chainrule.engine.adjoints import backprop
from chainrule.numeric.matrix_eval import evaluate_matrix
from chainrule.tutor.entries import Toy, read_off
from chainrule.tutor.mentor import _ModelExplanation, substitute_index
from chainrule.tutor.toy_example import ModelToy, factored_text, scalar_text, toy_values

TWO = chainrule.example("two-layer")
CAS = re.compile(r"cosh|Heaviside|Max\(|\*\*|\d{7,}")        # SymPy's spellings, huge integers


def _toy(text, target):
    r = backprop(text)
    return ModelToy(_ModelExplanation(r, r[target]))


def test_dz1_is_found_the_mentors_way():
    """The quality of ../shared/MENTOR_EXAMPLE.md, produced from the derivation."""
    toy = chainrule.explain(TWO, "dZ1").steps[5].text
    order = ["Make it small", "z2_11 = w2_11 a1_11 + w2_12 a1_21 + b2_1", "Follow one entry",
             "z1_11 changes only a1_11; a1_11 appears in z2_11 and z2_21",
             "∂J/∂z1_11 = ∂J/∂z2_11 · ∂z2_11/∂a1_11 · ∂a1_11/∂z1_11  +  ∂J/∂z2_21 · ∂z2_21/∂a1_11 · ∂a1_11/∂z1_11",
             "dz1_11 = dz2_11 · w2_11 · (1 − a1_11²)  +  dz2_21 · w2_21 · (1 − a1_11²)",
             "= (dz2_11 w2_11 + dz2_21 w2_21) (1 − a1_11²)", "Do all 4 the same way",
             "dz1_22 = (dz2_12 w2_12 + dz2_22 w2_22) (1 − a1_22²)",
             "Find the matrix form that gives every entry", "dZ1[i,j] = Σ_a W2[a,i] dZ2[a,j] (1 − A1[i,j]²)",
             "so W2 enters transposed", "dZ1 = W2ᵀ dZ2 ⊙ (1 − A1²)", "It is backprop's formula",
             "Check with numbers", "All 4 entries agree: yes"]
    at = 0
    for want in order:                                   # in this order: the form is the conclusion
        k = toy.find(want, at)
        assert k >= 0, (want, toy[at:at + 400])
        at = k + len(want)
    assert not CAS.search(toy), CAS.search(toy)
    assert "a1_11 = tanh(z1_11)" in toy and "w2_11 tanh(z1_11)" not in toy        # z2 reads a1_11 by name
    assert "tanh′(z1_11) = 1 − a1_11², written with a1_11 = tanh(z1_11)" in toy


@pytest.mark.parametrize("name", chainrule.examples())
def test_every_toy_entry_is_the_matrix_formula_s_entry(name):
    """The scalar IR of every entry (the paths' sum, and the simplified form shown) against backprop's
    matrix formula on the model's own values at toy sizes; and the printed entry lines, read back as
    arithmetic, against the IR."""
    text = chainrule.example(name)
    r = backprop(text)
    checked = 0
    for g in r.gradients:
        mt = ModelToy(_ModelExplanation(r, g))
        toy = mt.toy
        values = toy_values(r, dict(toy.dims), seed=9)
        arrays = {n: v for n, v in values.items() if n in toy.shapes}
        want = np.asarray(evaluate_matrix(g.matrix, values, dict(toy.dims)), dtype=float).reshape(toy.shape(g.of))
        entries = {e: mt.entry(e) for e in toy.entries(g.of)}
        shown = mt._simplified(entries) or entries
        for e in entries:
            for v in (entries[e], shown[e]):
                assert np.isclose(toy.value(v, arrays), want[e], rtol=1e-7, atol=1e-10), (name, g.name, e)
            printed = _arith(factored_text(shown[e]))
            got = eval(printed, {"__builtins__": {}}, _scope(toy, arrays))     # our own output, not user text
            assert np.isclose(got, want[e], rtol=1e-7, atol=1e-10), (name, g.name, printed)
            checked += 1
    assert checked >= 4


def _arith(s):
    """A printed scalar (dz2_11 w2_11 (1 − a1_11²), (1/m)(…), σ(z), (z > 0)) as Python arithmetic."""
    s = s.replace("−", "-").replace("·", "*").replace("σ(", "sig(").replace("√(", "sqrt(")
    s = re.sub(r"√(\w+)", r"sqrt(\1)", s)
    s = re.sub(r"\^\(?([-\d/]+)\)?", r"**(\1)", s)
    for k, sup in enumerate("⁰¹²³⁴⁵⁶⁷⁸⁹"):
        s = s.replace(sup, f"**{k}")
    s = re.sub(r"(?<=[\w)]) (?=[\w(])", "*", s)            # juxtaposition is a product
    s = s.replace(")(", ")*(")
    s = re.sub(r"\((\w+) > 0\)", r"(\1 > 0)", s)
    return s


def _scope(toy, arrays):
    scope = {s: float(np.asarray(arrays[a])[v]) if v else float(np.asarray(arrays[a]).reshape(()))
             for s, (a, v) in toy.of.items() if a in arrays}
    scope.update({d: float(n) for d, n in toy.dims.items()})
    scope.update(exp=np.exp, log=np.log, tanh=np.tanh, sqrt=np.sqrt, sig=lambda z: 1 / (1 + np.exp(-z)))
    return scope


def test_the_read_off_is_computed_from_the_entries_alone():
    """Fed the entries of a wrong formula — W2 not transposed, in a net where that has the right shape
    — the read-off finds that wrong formula, not backprop's; fed the right entries, backprop's."""
    square = TWO.replace("n_y, n_h", "n_h, n_h").replace("Y: n_y, m", "Y: n_h, m").replace("b2: n_y, 1", "b2: n_h, 1")
    r = backprop(square)
    g = r["dZ1"]
    x = _ModelExplanation(r, g)
    toy = ModelToy(x).toy
    right = x._named(substitute_index(g.index_expr, x.up.name, x.up.index_expr, x.up.idx))

    def untransposed(e):
        return T.Expr([T.Term(t.coef, tuple((T.Var(a.name, a.idx[::-1]) if isinstance(a, T.Var) and a.name == "W2"
                                             else a, k) for a, k in t.factors), t.summed) for t in e.terms])
    printed = {}
    for label, form in (("right", right), ("wrong", untransposed(right))):
        entries = {e: toy.at(form, dict(zip(g.idx, e))) for e in toy.entries(g.of)}
        found = read_off(toy, entries, tuple(g.idx))
        m, _ = r.matrix_form(found, tuple(g.idx), g.of)
        printed[label] = chainrule.render.printing.CourseTextPrinter()(m)
    assert printed["right"] == "W2ᵀ dZ2 ⊙ (1 − A1²)" == x.shown
    assert printed["wrong"] == "W2 dZ2 ⊙ (1 − A1²)"
    # and entries no single pattern gives (one entry changed) are not given a matrix form
    entries = {e: toy.at(right, dict(zip(g.idx, e))) for e in toy.entries(g.of)}
    entries[(1, 1)] = entries[(1, 1)] + T.Expr([T.Term.make(1, [(toy.scalar("W2", (0, 0)), 1)])])
    assert read_off(toy, entries, tuple(g.idx)) is None


@pytest.mark.parametrize("expr,wrt,shapes", [
    ("trace(A @ X @ B)", "X", {"A": "n, n", "X": "n, n", "B": "n, n"}),
    ("trace(X.T @ A @ X)", "X", {"A": "n, n", "X": "n, k"}),
    ("a @ X @ b", "X", {"a": "n", "X": "n, k", "b": "k"}),
    ("sum(tanh(W @ x))", "W", {"W": "k, n", "x": "n"}),
    ("sum(sigmoid(X @ w) * y)", "w", {"X": "m, n", "w": "n", "y": "m"}),
    ("log(sum(exp(x)))", "x", {"x": "n"}),
    ("sum((X @ w - y) ** 2) / 2", "w", {"X": "m, n", "w": "n", "y": "m"}),
    ("sum(relu(W @ x))", "x", {"W": "k, n", "x": "n"}),
])
def test_an_expression_s_toy_derivatives_are_sympy_s(expr, wrt, shapes):
    """Each scalar derivative the toy computes (the registry's rules on scalars) against SymPy's
    derivative of the same expansion, and the matrix form read off the entries against derive's."""
    import sympy as sp
    from chainrule.engine.derivation import derive
    from chainrule.tutor.toy import entry_symbols, tree_to_sympy
    r = derive(expr, wrt, shapes)
    p = r.parsed
    toy = Toy(p.shapes)
    f = toy.at(p.expr, {})
    env = {n: entry_symbols(n, toy.shape(n)) for n in p.shapes}
    reference = tree_to_sympy(p.tree, env, dict(toy.dims), p.shapes)[0, 0]
    rng = np.random.default_rng(2)
    arrays = toy.random_arrays(rng)
    point = {sym: float(np.asarray(arrays[n]).reshape(env[n].shape)[k]) for n in p.shapes
             for k, sym in np.ndenumerate(np.asarray(env[n]))}
    for e in toy.entries(wrt):
        mine = toy.value(chainrule.core.differentiate.diff(f, toy.name(wrt, e), ()), arrays)
        sym = np.asarray(env[wrt]).reshape(toy.shape(wrt))[e]
        theirs = float(sp.diff(reference, sym).subs(point))
        assert np.isclose(mine, theirs, rtol=1e-9), (expr, e, mine, theirs)
    toy_text = chainrule.explain(expr=expr, wrt=wrt, shapes=shapes).steps[5].text
    assert "Find the matrix form that gives every entry" in toy_text and "agree: yes" in toy_text, toy_text
    assert "the same as the engine's" in toy_text or "The engine writes it" in toy_text       # (A + Aᵀ)X, (Aᵀ + A)X
    assert not CAS.search(toy_text)


def test_explain_needs_no_sympy():
    """A plain install (no SymPy) explains fully, toy included; SymPy is never imported."""
    code = ("import sys; sys.modules['sympy'] = None\n"
            "import chainrule\n"
            "t = chainrule.explain().text()\n"
            "assert \"It is backprop's formula\" in t and 'No scalar expansion' not in t, t\n"
            "d = chainrule.explain(expr='trace(A @ X @ B)', wrt='X', shapes={'A': 'n, n', 'X': 'n, n', 'B': 'n, n'})\n"
            "assert \"the same as the engine's\" in d.text()\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]


def test_a_loss_side_adjoint_shows_the_cancellation_at_entry_level():
    toy = chainrule.explain(TWO, "dZ2").steps[5].text
    assert "∂J/∂z2_11 = ∂J/∂a2_11 · ∂a2_11/∂z2_11" in toy
    assert "· a2_11 (1 − a2_11)" in toy and "= a2_11 − y_11" in toy and "dZ2 = A2 − Y" in toy
    assert "= a2_11 − y_11 (1 − a2_11) − y_11 a2_11" in toy                 # term by term, factors cancelling
    assert "σ′(z2_11) = a2_11 (1 − a2_11), written with a2_11 = σ(z2_11)" in toy
    soft = chainrule.explain(chainrule.example("softmax"), "dZ2").steps[5].text
    assert "z2_11 appears in a2_11 and a2_21" in soft                       # softmax: every entry of the column
    assert "Y is one-hot, so each column of it sums to 1" in soft and "It is backprop's formula" in soft


def test_forward_values_are_read_by_their_entry_names():
    relu = "x: n, m data\ny: 1, m data\nw1: k, n\nw2: 1, k\nh = relu(w1 @ x)\np = w2 @ h\nJ = sum((p - y) ** 2) / m\n"
    toy = chainrule.explain(relu, "dw1").steps[5].text
    assert "(h_11 > 0)" in toy or "(h_" in toy
    assert "w1_11 x_11" not in toy.split("Follow one entry")[1]         # relu(w1_11 x_11 + …) is h_11
    assert "It is backprop's formula" in toy


@pytest.mark.parametrize("name", chainrule.examples())
def test_the_worked_numbers_compute_what_they_claim(name):
    """'dz1_11 = (0.833 · (−1.06) + 0.426 · 0.482) · (1 − (−0.438)²) = −0.544144': the numbers line, read
    as arithmetic, gives the value printed under it (up to the 3-digit rounding of its inputs), and
    that value is the matrix formula's entry."""
    text = chainrule.example(name)
    for g in backprop(text).gradients:
        toy = chainrule.explain(text, g.name).steps[5].text
        block = toy.split("Check with numbers")[1]
        worked, value = [ln.strip() for ln in block.splitlines() if " = " in ln and "With" not in ln][:2]
        arith = worked.split(" = ", 1)[1].replace("−", "-").replace("·", "*").replace("²", "**2").replace("√", "sqrt")
        arith = re.sub(r"\((-?[\d.e+-]+) > 0\)", r"(\1 > 0)", arith)
        got = eval(arith, {"__builtins__": {}, "sqrt": np.sqrt, "tanh": np.tanh, "exp": np.exp, "log": np.log,
                           "sig": lambda z: 1 / (1 + np.exp(-z))})       # our own printed numbers, not user text
        printed = float(value.split("= ", 1)[1].replace("−", "-"))
        assert np.isclose(got, printed, rtol=3e-2, atol=3e-3), (name, g.name, worked, got, printed)
        assert f"is {value.split('= ', 1)[1]}" in block                    # the matrix formula's entry


@pytest.mark.parametrize("name", chainrule.examples())
def test_no_computer_algebra_spelling_reaches_the_reader(name):
    """cosh, Heaviside, Max, ** or a huge integer in no section the engine writes (Setup quotes the
    model and Shapes the wrong forms as NumPy code: those are the learner's own spelling)."""
    text = chainrule.example(name)
    for g in backprop(text).gradients:
        e = chainrule.explain(text, g.name)
        for k, step in enumerate(e.steps):
            if step.title not in ("Setup", "Shapes"):
                found = re.compile(r"cosh|Heaviside|Max\(|\*\*|(?<![\d.])\d{9,}(?![\d.])").search(step.text)
                assert not found, (name, g.name, step.title, step.text[max(0, found.start() - 80):found.end() + 20])


@pytest.mark.parametrize("model,target", [("cs231n-rnn-step-forward", "db"), ("course-c1w2-logreg-propagate", "db")])
def test_a_bias_under_a_broadcast_activation_gets_its_toy(model, target):
    """next_h = tanh(… + b) with a 1-D b: the activation's derivative note was written at b's entry for
    next_h's (a crash, and for propagate no toy at all); it is stated only where the shapes agree."""
    from pathlib import Path
    text = (Path(__file__).parent / "models" / f"{model}.model").read_text()
    toy = chainrule.explain(text, target).steps[5].text
    assert "It is backprop's formula" in toy and ("agree: yes" in toy or ": the same." in toy), toy[-400:]
