"""Loops kept as loops (issue 18, item 8): the model language's `for l in range(…)` over indexed
families, the notebook reader writing a loop whose iterations are one body as that loop, and the
backward pass read back per iteration (for l = 2, 1: dZ[l] = …), every rolled line evaluated against
each iteration's own adjoint."""
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.numeric.checks import adjoint_values
from chainrule.numeric.matrix_eval import evaluate_matrix

HERE = Path(__file__).parent / "notebooks"

LOOPED = """\
X: n0, m data
Y: 1, m data binary
W1: n1, n0
b1: n1, 1
W2: n2, n1
b2: n2, 1
W3: 1, n2
b3: 1, 1
A[0] = X
for l in range(1, 3):
    Z[l] = W[l] @ A[l - 1] + b[l]
    A[l] = relu(Z[l])
Z3 = W3 @ A2 + b3
A3 = sigmoid(Z3)
J = -mean(Y * log(A3) + (1 - Y) * log(1 - A3))
"""

UNROLLED = LOOPED.replace("""A[0] = X
for l in range(1, 3):
    Z[l] = W[l] @ A[l - 1] + b[l]
    A[l] = relu(Z[l])
""", """Z1 = W1 @ X + b1
A1 = relu(Z1)
Z2 = W2 @ A1 + b2
A2 = relu(Z2)
""")

TIED = """\
import numpy as np

def forward(X, parameters):
    W = parameters["W"]
    b = parameters["b"]
    V = parameters["V"]
    A = X
    for i in range(3):
        A = np.tanh(np.dot(W, A) + b)
    return np.dot(V, A)

def compute_cost(Y, X, parameters):
    m = Y.shape[1]
    Z = forward(X, parameters)
    cost = np.sum((Z - Y) ** 2) / (2 * m)
    return cost
"""


def _rolled_lines_equal_each_iteration_s_adjoint(r):
    """Every rolled line, read back at each iteration (a Σ written out), has that iteration's own
    adjoint's value, on drawn data."""
    values, dims = adjoint_values(r, seed=3)
    checked = 0
    for loop in r.loops:
        for line, v in [(line, v) for line in loop.lines for v in loop.steady] + \
                [(line, loop.values[0]) for line in loop.sums]:
            own = line.adjoints[loop.steady.index(v)] if line in loop.lines else line.name
            got = evaluate_matrix(loop.at(line.form, v), values, dims)
            assert np.allclose(got, values[own], rtol=1e-9, atol=1e-12), (line.name, v)
            checked += 1
    return checked


def test_a_loop_in_the_model_language_is_its_unrolled_lines_and_is_kept():
    model = chainrule.backprop(LOOPED).model
    assert [a.name for a in model.assignments] == ["Z1", "A1", "Z2", "A2", "Z3", "A3", "J"]
    assert model.assignment("Z1").text == "W1 @ X + b1"          # as the iteration reads it (A[0] is X)
    (loop,) = model.loops
    assert (loop.var, loop.values, loop.iterations) == ("l", (1, 2), [("Z1", "A1"), ("Z2", "A2")])
    assert loop.indexed("W2", 1) == "W[l + 1]" and loop.indexed("X", 1) == "A[l − 1]"
    looped, unrolled = chainrule.backprop(LOOPED), chainrule.backprop(UNROLLED)
    assert [(g.name, g.text) for g in looped.gradients] == [(g.name, g.text) for g in unrolled.gradients]
    assert max(looped.check().values()) < 1e-6
    assert unrolled.loops == []


def test_backprop_reads_the_loop_back_as_one_backward_body():
    r = chainrule.backprop(LOOPED)
    (loop,) = r.loops
    assert loop.values == (2, 1)                                 # the order the backward pass visits
    assert [(x.name, x.text) for x in loop.lines] == [
        ("dA[l]", "W[l + 1]ᵀ dZ[l + 1]"), ("dZ[l]", "dA[l] ⊙ (Z[l] > 0)"),
        ("dW[l]", "(1/m) dZ[l] A[l − 1]ᵀ"), ("db[l]", "(1/m) Σ_columns dZ[l]")]
    assert loop.aliases == {"A[0]": "X"} and loop.lines[2].adjoints == ("dW2", "dW1")
    assert "backwards through `for l in range(1, 3)` (l = 2, 1):" in r.text()
    assert '"loops"' in r.to_json() and r"{W^{[l+1]}}^\top" in loop.lines[0].latex
    assert r"\texttt{for l in range(1, 3)}" in r._repr_latex_() and r"{\mathit{dZ}^{[l]}} &=" in r._repr_latex_()
    assert _rolled_lines_equal_each_iteration_s_adjoint(r) == 8


def test_the_notebook_s_l_layer_loop_stays_a_loop_for_any_number_of_layers():
    src = (HERE / "l_layer.py").read_text()
    text = chainrule.read_notebook(src)
    assert "A[0] = X\nfor l in range(1, 3):\n    Z[l] = np.dot(W[l], A[l - 1]) + b[l]\n" in text
    for layers in (3, 5, 7):
        r = chainrule.backprop(chainrule.read_notebook(src, layers=layers))
        (loop,) = r.loops
        assert loop.values == tuple(range(layers - 1, 0, -1))
        assert [x.text for x in loop.lines][1:3] == ["dA[l] ⊙ (Z[l] > 0)", "(1/m) dZ[l] A[l − 1]ᵀ"]
        assert _rolled_lines_equal_each_iteration_s_adjoint(r) == 4 * (layers - 1)
    assert chainrule.backprop(src).loops[0].lines[0].text == "W[l + 1]ᵀ dZ[l + 1]"   # the source itself
    two = chainrule.read_notebook(src, layers=2)             # one iteration: nothing to roll
    assert "for " not in two and chainrule.backprop(two).loops == []


def test_a_weight_every_iteration_reads_is_summed_over_the_loop():
    """A weight-tied net (one W for every step): its adjoint is Σ_i of one term per iteration; the
    first iteration visited reads what follows the loop (dA3 = Vᵀ dZ), a boundary line of its own."""
    r = chainrule.backprop(TIED)
    (loop,) = r.loops
    assert "for i in range(1, 4):" in chainrule.read_notebook(TIED)     # range(3), counted from 1
    assert [(v, g.name, g.text) for v, g in loop.boundary] == [(3, "dA3", "Vᵀ dZ")]
    assert [(x.name, x.text) for x in loop.lines] == [("dA[i]", "Wᵀ(dA[i + 1] ⊙ (1 − A[i + 1]²))")]
    assert [(x.name, x.text) for x in loop.sums] == [
        ("dW", "(1/m) Σ_i (dA[i] ⊙ (1 − A[i]²)) A[i − 1]ᵀ"), ("db", "(1/m) Σ_columns (Σ_i dA[i] ⊙ (1 − A[i]²))")]
    assert max(r.check().values()) < 1e-6
    assert _rolled_lines_equal_each_iteration_s_adjoint(r) == 2 + 2     # dA[i] at i = 2, 1; dW, db


def test_iterations_that_are_not_one_body_stay_unrolled():
    src = (HERE / "l_layer.py").read_text().replace(
        "        A, cache = linear_activation_forward(A_prev, parameters['W' + str(l)], parameters['b' + str(l)],\n"
        "                                             activation=\"relu\")",
        "        A, cache = linear_activation_forward(A_prev, parameters['W' + str(l)], parameters['b' + str(l)],\n"
        "                                             activation=\"relu\" if l == 1 else \"sigmoid\")")
    text = chainrule.read_notebook(src)
    assert "for " not in text and "Z2 = " in text
    r = chainrule.backprop(text)
    assert r.loops == [] and max(r.check().values()) < 1e-6


def test_an_alias_is_the_name_it_stands_for_written_either_way():
    r = chainrule.backprop("X: n, m data\nW: n, n\nA[0] = X\nJ = sum(tanh(W @ A0) + W @ A[0])\n")
    assert r.model.assignment("J").text == "sum(tanh(W @ X) + W @ X)" and max(r.check().values()) < 1e-6


def test_reversed_and_nested_loops_unroll():
    nested = ("X: n, m data\nW: n, n\nA[0] = X\nfor i in range(0, 2):\n    for j in range(0, 2):\n"
              "        A[2 * i + j + 1] = tanh(W @ A[2 * i + j])\nJ = sum(A4)\n")
    model = chainrule.backprop(nested).model
    assert [a.name for a in model.assignments] == ["A1", "A2", "A3", "A4", "J"] and model.loops[0].nested
    r = chainrule.backprop(nested)
    assert r.loops == [] and max(r.check().values()) < 1e-6
    backwards = "X: n, m data\nW: n, n\nA[3] = X\nfor k in reversed(range(3)):\n    A[k] = tanh(W @ A[k + 1])\n" \
                "J = sum(A0)\n"
    assert [a.name for a in chainrule.backprop(backwards).model.assignments] == ["A2", "A1", "A0", "J"]


@pytest.mark.parametrize("text,fragment,line", [
    ("X: n, m data\nW: n, n\nfor l in range(1, L):\n    A[l] = W @ X\nJ = sum(A1)\n", "L is a name: write its value", 3),
    ("X: n, m data\nW: n, n\nfor l in range(1, 3):\n    A = W @ X\nJ = sum(A)\n", "without an index", 4),
    ("X: n, m data\nW: n, n\nfor l in range(0, 3):\n    A[l - 1] = W @ X\nJ = sum(A1)\n", "indices are 0 or more", 4),
    ("X: n, m data\nW: n, n\nfor l in range(1, 3):\nJ = sum(W)\n", "indented under it", 3),
    ("X: n, m data\nW: n, n\nfor l in range(100000):\n    A[l] = W @ X\nJ = sum(A1)\n", "limit", 3),
    ("X: n, m data\nW: n, n\nfor l in [1, 2]:\n    A[l] = W @ X\nJ = sum(A1)\n", "range(start, stop)", 3),
    ("X: n, m data\nW: n, n\nfor l in range(1, 3):\n    A[l] = W @ B[l]\nJ = sum(A1)\n", "B1 is not declared", 4),
    ("X: n, m data\nW: n, n\nfor l in range(1, 3):\n    A[l] = W @ A[l - 1]\nJ = sum(A2)\n",
     "or say what A[0] is before the loop (A[0] = X)", 4),
    ("X: n, m data\nW: n, n\nfor l in range(1, 3)\n    A[l] = W @ X\nJ = sum(A1)\n", "ends with a colon", 3),
    ("X: n, m data\nW: n, n\nfor l in range(99999999999999999999):\n    A[l] = W @ X\nJ = sum(A1)\n",
     "too large for an index or a loop bound", 3),
    ("X: n, m data\nW: n, n\nfor l in range(1, 3):\n    A[l * 999999999 * 99999] = W @ X\nJ = sum(A1)\n",
     "too large (limit", 4),
    ("X: n, m data\nW: n, n\nA[0] = X\nA[0] = W\nJ = sum(W)\n", "A0 is already X", 4),
    ("X: n, m data\nW: n, n\nA[0] = X\nA0: n, m\nJ = sum(W @ A0)\n", "A0 is already X", 4),
    ("X: n, m data\nW: n, n\nfor l in range(1, 3):\n    A[l] = X\nJ = sum(W @ A1)\n", "inside a loop", 4),
    ("X: n, m data\nW: n, n\nfor l in range(1, 3):\n    A[l] = W[l] @ X\nJ = sum(A1)\n", "needs a name of its own", 4),
    ("X: n, m data\nW: n, n\nfor i in range(200):\n  for j in range(200):\n    A[i * 200 + j + 1] = W @ X\n"
     "J = sum(A1)\n", "more than 20,000 lines read", 5),
    ("X: n, m data\nW: n, n\nfor " + " " * 20000 + "x\nJ = sum(W)\n", "ends with a colon", 3),   # no backtracking
])
def test_loop_errors_are_positioned(text, fragment, line):
    with pytest.raises(chainrule.ChainruleError) as e:
        chainrule.backprop(text)
    assert fragment in str(e.value) and e.value.line == line


def test_derivation_work_grows_linearly_with_the_number_of_iterations():
    """Counted, not timed: the engine's work budget's steps for a deep loop grow in proportion."""
    from chainrule.core import tensor as T
    src = (HERE / "l_layer.py").read_text()
    steps = {}
    for layers in (8, 16, 32):
        text = chainrule.read_notebook(src, layers=layers)
        with T.work_budget():
            chainrule.backprop(text)
            steps[layers] = T.work_used()
    assert steps[32] / steps[16] < 2.5 and steps[16] / steps[8] < 2.5


def test_a_last_iteration_folded_into_the_loss_is_a_boundary_and_the_sum_covers_the_rest():
    """J = sum(A5): A5's activation is folded into the loss (no dA5), dA4 reads it (a boundary line),
    and dW sums one term per iteration where the term is the loop's, the last one's apart."""
    text = "X: n, m data\nW: n, n\nA[0] = X\nfor l in range(1, 6):\n    A[l] = tanh(W @ A[l - 1])\nJ = sum(A5)\n"
    r = chainrule.backprop(text)
    (loop,) = r.loops
    assert loop.values == (5, 4, 3, 2, 1) and loop.steady == (3, 2, 1)
    assert [(v, g.name) for v, g in loop.boundary] == [(4, "dA4")]
    assert loop.sums[0].text == "(1 − A5²) A4ᵀ + Σ_l=1..4 (dA[l] ⊙ (1 − A[l]²)) A[l − 1]ᵀ"
    assert max(r.check().values()) < 1e-6
    assert _rolled_lines_equal_each_iteration_s_adjoint(r) == 3 + 1


def test_the_cli_takes_layers_and_loss_for_python_source(capsys):
    path = str(HERE / "l_layer.py")
    assert chainrule.main(["backprop", path, "--layers", "4", "--loss", "compute_cost"]) == 0
    out = capsys.readouterr().out
    assert "dZ4 = A4 − Y" in out and "backwards through `for l in range(1, 4)` (l = 3, 2, 1):" in out
    assert chainrule.main(["backprop", "--example", "two-layer", "--layers", "4"]) == 2
    assert "are for Python source" in capsys.readouterr().err
    assert chainrule.main(["gradcheck", path, "--layers", "101"]) == 2


def test_explain_takes_a_rolled_adjoint_and_explains_it_at_one_iteration():
    e = chainrule.explain(chainrule.example("deep-loop"), "dZ[l]")
    assert e.target == "dZ2" and e.formula == "dA2 ⊙ (Z2 > 0)"
    assert "every iteration's dZ[l] is that formula in its own layer's names" in e.steps[0].text
    assert "l = 2: dZ2, l = 1: dZ1" in e.steps[0].text
    with pytest.raises(chainrule.ChainruleError) as err:
        chainrule.explain(chainrule.example("deep-loop"), "dQ[l]")
    assert "the loop's: dA[l], dZ[l], dW[l], db[l]" in str(err.value)
