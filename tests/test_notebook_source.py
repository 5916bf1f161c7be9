"""Python source as learners write it (issue 18, first part): the notebook's functions read into a
model by lang/notebook.py — never executed — and derived like any model. The sources in
tests/notebooks are written in this project in the course's style."""
from pathlib import Path

import pytest

import chainrule

HERE = Path(__file__).parent / "notebooks"


def _src(name):
    return (HERE / f"{name}.py").read_text()


def test_forward_propagation_and_compute_cost_give_the_course_s_formulas():
    """C1W3: parameters from a dict, a sigmoid helper inlined, the cost of logprobs and np.squeeze,
    compute_cost(A2, Y) bound to forward_propagation's A2; shapes inferred (n_x, m from X, n_y, n_h)."""
    r = chainrule.backprop(_src("shallow_tanh"))
    text = {g.name: g.text for g in r.gradients}
    assert text == {"dZ2": "A2 − Y", "dW2": "(1/m) dZ2 A1ᵀ", "db2": "(1/m) Σ_columns dZ2", "dA1": "W2ᵀ dZ2",
                    "dZ1": "dA1 ⊙ (1 − A1²)", "dW1": "(1/m) dZ1 Xᵀ", "db1": "(1/m) Σ_columns dZ1"}
    assert r.shapes["W1"] == ("n_h", "n_x") and r.shapes["X"] == ("n_x", "m")
    assert max(r.check().values()) < 1e-6


def test_propagate_s_own_gradient_lines_are_left_out_and_derived():
    """C1W2's propagate computes dw and db itself: those lines are not the forward pass; the engine's dw
    and db are the course's."""
    r = chainrule.backprop(_src("logreg_propagate"))
    assert {g.name: g.text for g in r.gradients} == {"dw": "(1/m) X(A − Y)ᵀ", "db": "(1/m) Σ_columns (A − Y)"}
    assert max(r.check().values()) < 1e-6


def test_dropout_masks_drawn_with_np_random_are_data():
    r = chainrule.backprop(_src("dropout"))
    assert r.model.declarations["D1"].is_data and r.model.declarations["keep_prob"].is_data
    assert max(r.check().values()) < 1e-6
    # A1 = relu(Z1); A1 = A1 * D1; A1 = A1 / keep_prob: the last value is A1, as the code's later lines
    # and the course's cache mean it, so the course's backward lines come out in its order
    text = {g.name: g.text for g in r.gradients}
    assert text["dW2"] == "(1/m) dZ2 A1ᵀ" and text["dA1"] == "W2ᵀ dZ2" and text["dA1_2"] == "dA1 / keep_prob"
    assert text["dA1_1"] == "dA1_2 ⊙ D1" and text["dZ1"] == "dA1_1 ⊙ (Z1 > 0)"


def test_explain_and_check_take_the_source_too():
    src = _src("shallow_tanh")
    assert "It is backprop's formula" in chainrule.explain(src, "dZ1").steps[5].text
    assert chainrule.check(src, "dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))").correct
    assert not chainrule.check(src, "dZ1 = np.dot(W2, dZ2) * (1 - np.power(A1, 2))").correct


@pytest.mark.parametrize("code,fragment", [
    ("def f(X, w):\n    while True:\n        pass\n", "a `while` loop"),
    ("import os\ndef f(X, w):\n    os.system('echo hi')\n    return np.sum(w)\n", "os.system() is not read"),
    ("def f(X, w):\n    Z = w * X\n    if Z > 0:\n        Z = -Z\n    return np.sum(Z)\n", "data-dependent"),
    ("def f(X, w):\n    return g(w)\n", "'g' is not defined here"),
])
def test_code_out_of_reach_is_named_at_its_line_and_never_run(code, fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(chainrule.ChainruleError) as e:
        chainrule.backprop(code)
    assert fragment in str(e.value) and e.value.line >= 2
    assert list(tmp_path.iterdir()) == []                     # nothing ran


def test_an_l_layer_net_with_helpers_and_a_loop_gives_the_course_s_formulas():
    """C1W4: sigmoid/relu helpers returning (A, cache), linear_forward, linear_activation_forward with
    activation="relu", a for loop over range(1, L) with parameters['W' + str(l)], caches.append;
    L = len(parameters) // 2 is 3 unless layers= says otherwise. Names are the course's (Z2, A2, dW2)."""
    r = chainrule.backprop(_src("l_layer"))
    text = {g.name: g.text for g in r.gradients}
    assert text["dZ3"] == "A3 − Y" and text["dZ2"] == "dA2 ⊙ (Z2 > 0)" and text["dA1"] == "W2ᵀ dZ2"
    assert text["dW1"] == "(1/m) dZ1 Xᵀ" and len(text) == 11
    assert max(r.check().values()) < 1e-6


def test_the_regularized_cost_calls_the_plain_one_and_adds_the_l2_term():
    r = chainrule.backprop(_src("l2_regularized"))
    assert r["dW2"].text == "(1/m) (dZ2 A1ᵀ + lambd W2)" and r["dZ3"].text == "A3 − Y"
    assert max(r.check().values()) < 1e-6


def _reordered(src):
    """The same code with its functions in reverse order and some local names changed."""
    import re
    parts = re.split(r"\n(?=def )", src)
    head, defs = parts[0], parts[1:]
    out = head + "\n" + "\n".join(reversed(defs))
    for old, new in (("A_prev", "A_in"), ("linear_cache", "lin_memo"), ("caches", "memos")):
        out = re.sub(rf"\b{old}\b", new, out)
    return out


@pytest.mark.parametrize("name", ["shallow_tanh", "l_layer", "l2_regularized", "dropout", "logreg_propagate"])
def test_the_same_code_reordered_and_renamed_gives_the_same_adjoints(name):
    src = _src(name)
    a = {g.name: g.text for g in chainrule.backprop(src).gradients}
    b = {g.name: g.text for g in chainrule.backprop(_reordered(src)).gradients}
    assert a == b


def test_reading_is_the_same_under_every_hash_seed():
    """Names and order come from the code, not from set order (a layer number once did)."""
    import os
    import subprocess
    import sys
    code = ("import chainrule, pathlib, sys\n"
            "for n in ('l_layer', 'l2_regularized', 'dropout'):\n"
            "    print(chainrule.backprop(pathlib.Path(sys.argv[1], n + '.py').read_text()).text())\n")
    outs = {subprocess.run([sys.executable, "-c", code, str(HERE)], capture_output=True, text=True,
                           env=dict(os.environ, PYTHONHASHSEED=str(seed))).stdout for seed in (1, 2, 3)}
    assert len(outs) == 1 and "dW1" in next(iter(outs))


def test_a_whole_backward_function_gets_a_verdict_per_line():
    """C1W3's backward_propagation with one bug (dW1 without X's transpose): that line, and only that
    line, is flagged, each line judged with the engine's values for what it reads."""
    model = _src("shallow_tanh")
    v = chainrule.check(model, _src("backward_one_bug"))
    assert not v.correct and [x.name for x in v.lines] == ["dZ2", "dW2", "db2", "dZ1", "dW1", "db1"]
    assert [x.name for x in v.lines if not x.correct] == ["dW1"] and v.lines[4].line == 14
    assert "X should be transposed" in v.lines[4].reason and "dW1 = (1 / m) * np.dot(dZ1, X)" in str(v)
    fixed = _src("backward_one_bug").replace("np.dot(dZ1, X)", "np.dot(dZ1, X.T)")
    assert chainrule.check(model, fixed).correct
    # a bug early does not flag the lines after it: each reads the engine's dZ2
    early = _src("backward_one_bug").replace("dZ2 = A2 - Y", "dZ2 = A2 + Y").replace("np.dot(dZ1, X)", "np.dot(dZ1, X.T)")
    assert [x.name for x in chainrule.check(model, early).lines if not x.correct] == ["dZ2"]


def test_bare_lines_are_checked_too(capsys, tmp_path):
    lines = "dZ2 = A2 - Y\ndW2 = np.dot(dZ2, A1.T) / m\ndb2 = np.sum(dZ2, axis=1, keepdims=True)\n"
    v = chainrule.check(chainrule.example("two-layer"), lines)
    assert [x.correct for x in v.lines] == [True, True, False] and "a factor m" in v.lines[2].reason
    path = tmp_path / "mine.py"
    path.write_text(_src("backward_one_bug"))
    assert chainrule.main(["check", str(HERE / "shallow_tanh.py"), str(path)]) == 1
    out = capsys.readouterr().out
    assert "line 14: WRONG: dW1 = (1 / m) * np.dot(dZ1, X)" in out and "line 13: right" in out


@pytest.mark.parametrize("name,forward,sizes", [
    ("shallow_tanh", "forward_propagation", {"W1": (4, 3), "b1": (4, 1), "W2": (1, 4), "b2": (1, 1)}),
    ("l_layer", "L_model_forward", {"W1": (4, 3), "b1": (4, 1), "W2": (3, 4), "b2": (3, 1), "W3": (1, 3),
                                    "b3": (1, 1)}),
])
def test_compile_of_the_source_matches_finite_differences_of_the_code_itself(name, forward, sizes):
    """compile(source): values and grads keyed by the code's names; the gradients equal central
    differences of a plain NumPy run of the same code (run here, in the test: it is this project's own
    file — chainrule itself never runs the source)."""
    import numpy as np
    src = _src(name)
    f = chainrule.compile(src)
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s) * 0.5 for k, s in sizes.items()}
    X, Y = rng.standard_normal((3, 6)), (rng.random((1, 6)) > 0.5) * 1.0
    cost, grads = f(dict(params, X=X, Y=Y))
    ns = {}
    exec(compile(src, name, "exec"), ns)                 # noqa: S102 — the test's own source file

    def J(p):
        return float(ns["compute_cost"](ns[forward](X, p)[0], Y))
    assert np.isclose(cost, J(params))
    for k in sizes:
        assert np.allclose(grads[k], _central_differences(J, params, k), atol=1e-6), k


def _central_differences(J, params, k, h=1e-6):
    """∂J/∂params[k] by central differences, entry by entry."""
    import numpy as np
    num = np.zeros(params[k].shape)
    for pos in np.ndindex(*params[k].shape):
        up, down = {**params, k: params[k].copy()}, {**params, k: params[k].copy()}
        up[k][pos] += h
        down[k][pos] -= h
        num[pos] = (float(J(up)) - float(J(down))) / (2 * h)
    return num


def test_a_learner_s_own_intermediate_name_is_matched_to_its_adjoint():
    """dtanh = dA1 * (1 - A1**2) is dZ1 under another name: said so, and the lines reading dtanh are
    judged as reading dZ1; a wrong line after it is still the only one flagged."""
    lines = ("dZ2 = A2 - Y\ndA1 = np.dot(W2.T, dZ2)\ndtanh = dA1 * (1 - np.power(A1, 2))\n"
             "dW1 = np.dot(dtanh, X.T) / m\ndb1 = np.sum(dtanh, axis=0, keepdims=True) / m\n")
    v = chainrule.check(chainrule.example("two-layer"), lines)
    assert [x.correct for x in v.lines] == [True, True, True, True, False]
    assert v.lines[2].reason.startswith("this is dZ1 = ") and "axis" in v.lines[4].reason
    assert "this is dZ1" in str(v)


def test_read_notebook_chooses_the_loss_the_data_and_the_number_of_layers():
    src = _src("l_layer")
    five = chainrule.read_notebook(src, layers=5)
    assert "W5: n_y, n_4" in five and "Z5 = " in five
    assert len(chainrule.backprop(five).gradients) == 19                   # dZ5, dW5, db5, dA4, … db1
    text = chainrule.read_notebook(_src("shallow_tanh"), loss="compute_cost", data=["W1"])
    assert "W1: n_h, n_x data" in text
    with pytest.raises(chainrule.ChainruleError, match="no function named 'nope'"):
        chainrule.read_notebook(src, loss="nope")
    with pytest.raises(chainrule.ChainruleError, match="layers must be"):
        chainrule.read_notebook(src, layers=0)


def test_compile_of_propagate_and_of_the_regularized_cost_match_the_code_itself():
    """C1W2's propagate (w, b as arguments) and C2W1's regularized cost (lambd an argument): the
    compiled gradients against central differences of the test's own NumPy run of the same source."""
    import numpy as np
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((3, 7)), (rng.random((1, 7)) > 0.5) * 1.0
    cases = [("logreg_propagate", {"w": (3, 1), "b": (1, 1)}, {},
              lambda ns, p: ns["propagate"](p["w"], p["b"], X, Y)[1]),
             ("l2_regularized", {"W1": (4, 3), "b1": (4, 1), "W2": (3, 4), "b2": (3, 1), "W3": (1, 3), "b3": (1, 1)},
              {"lambd": 0.7}, lambda ns, p: ns["compute_cost_with_regularization"](
                  ns["forward_propagation"](X, p)[0], Y, p, 0.7))]
    for name, sizes, extra, run in cases:
        src = _src(name)
        f = chainrule.compile(src)
        params = {k: rng.standard_normal(s) * 0.5 for k, s in sizes.items()}
        cost, grads = f(dict(params, X=X, Y=Y, **extra))
        ns = {}
        exec(compile(src, name, "exec"), ns)             # noqa: S102 — the test's own source file
        assert np.isclose(cost, float(run(ns, params)))
        for k in sizes:
            num = _central_differences(lambda p: run(ns, p), params, k)
            assert np.allclose(np.reshape(grads[k], sizes[k]), num, atol=1e-6), (name, k)


@pytest.mark.parametrize("source", [
    "def f(X, w):\n    return np.sum(" + "w + " * 3000 + "w)\n",
    "def f(X, w):\n    return np.sum(" + "-" * 5000 + "w)\n",
])
def test_code_nested_past_the_reader_s_depth_is_an_error_not_a_crash(source):
    with pytest.raises(chainrule.ChainruleError, match="nested too deeply"):
        chainrule.backprop(source)


def test_backward_lines_nested_past_the_parser_are_judged_or_refused_without_a_crash():
    model = chainrule.example("two-layer")
    for claim in ("dZ2 = A2 - Y\ndZ1 = " + "(" * 200 + "A1" + ")" * 200, "def backward(cache):\n    return 1\nlambda: 0\n"
                  "dZ2 = " + "(" * 200 + "A2" + ")" * 200):
        try:
            chainrule.check(model, claim)
        except chainrule.ChainruleError:
            pass


def test_train_and_gradcheck_take_the_source():
    """The notebook's own functions train on the planar data as the model file does (the prediction is
    A2, not logprobs, the last line shaped like Y but reading it)."""
    src = _src("shallow_tanh")
    r = chainrule.train(src, iterations=2000)
    assert r.accuracy > 0.85 and r.costs[-1] < r.costs[0]
    assert chainrule.gradcheck(src).ok


def test_the_loss_s_binding_is_printed():
    """compute_cost(AL, Y) takes L_model_forward's AL: said in the model text and in backprop's output."""
    src = _src("l_layer")
    note = "the loss: compute_cost(AL, Y) — AL is what L_model_forward returns as AL (A3); Y is data"
    assert f"# {note}\n" in chainrule.read_notebook(src)
    assert note in chainrule.backprop(src).text().splitlines()[1]
    assert "the loss: propagate(w, b, X, Y) — X, Y are data" in chainrule.read_notebook(_src("logreg_propagate"))


def test_shapes_and_dims_fix_the_inferred_dimensions():
    src = _src("l_layer")
    text = chainrule.read_notebook(src, shapes={"W1": ("n_h", "n_x")}, dims={"n_2": 5, "m": "batch"})
    assert "W1: n_h, n_x\n" in text and "W2: 5, n_h\n" in text and "X: n_x, batch data\n" in text
    r = chainrule.backprop(text)
    assert r.shapes["W2"] == (5, "n_h") and max(r.check().values()) < 1e-6
    for kwargs, fragment in [(dict(shapes={"Q": ("n", "m")}), "which the code does not use"),
                             (dict(shapes={"W1": ("n",)}), "1 axes, but the code makes it 2-D"),
                             (dict(shapes={"b1": ("n_1", 3)}), "the size 3 where the code needs 1"),
                             (dict(shapes={"W1": ("a", "b"), "W2": ("c", "d")}), "two sizes"),
                             (dict(dims={"n_9": 4}), "not a dimension of the code"),
                             (dict(dims={"n_1": "1x"}), "a name or a whole number")]:
        with pytest.raises(chainrule.ChainruleError) as e:
            chainrule.read_notebook(src, **kwargs)
        assert fragment in str(e.value), kwargs


def test_the_l_layer_backward_pass_with_its_helpers_is_judged_line_by_line():
    """C1W4's L_model_backward(AL, Y, caches): AL and caches are what L_model_forward returns (the
    caches' tuples hold the model's A1, W2, Z2, …); helpers called once per layer give a verdict per
    call, each named by the key the code stores it under (grads["dW2"]); relu_backward's
    dZ[Z <= 0] = 0 reads as np.where; dAL is the adjoint backprop folds into dZ3."""
    forward, backward = _src("l_layer"), _src("l_layer_backward")
    v = chainrule.check(forward, backward)
    assert v.correct and len([x for x in v.lines if x.correct]) == 12
    by_name = {x.name: x for x in v.lines}
    assert by_name["dA3"].correct and by_name["dA3"].line == 43               # dAL: AL is A3, so dA3
    assert by_name["dA0"].correct is None and "which is data" in by_name["dA0"].reason
    assert {x.name for x in v.lines if x.line == 16} == {"dZ2", "dZ1"}          # dZ[Z <= 0] = 0, per layer
    # one bug in a helper: its line is flagged at every layer it serves, and nothing else
    v = chainrule.check(forward, backward.replace("np.dot(dZ, A_prev.T)", "np.dot(dZ, A_prev)"))
    assert not v.correct and {(x.line, x.name) for x in v.lines if x.correct is False} == \
        {(7, "dW3"), (7, "dW2"), (7, "dW1")}
    # the hidden layers given the sigmoid's backward: the dZ line is flagged (as dZ2, dZ1), not what reads it
    wrong = backward.replace('current_cache, "relu")', 'current_cache, "sigmoid")')
    v = chainrule.check(forward, wrong)
    assert {(x.line, x.name) for x in v.lines if x.correct is False} == {(23, "dZ2"), (23, "dZ1")}
    assert "should be relu′(Z2)" in next(x for x in v.lines if x.name == "dZ2").reason


def test_the_adjoint_backprop_folds_into_the_loss_can_be_checked():
    src = _src("l_layer")
    assert chainrule.check(src, "dA3 = -(np.divide(Y, A3) - np.divide(1 - Y, 1 - A3))").correct
    v = chainrule.check(src, "dA3 = -(np.divide(Y, A3) + np.divide(1 - Y, 1 - A3))")
    assert not v.correct and v.target == "dA3"


def test_a_function_returning_the_cost_s_call_binds_its_arguments():
    """model(X, Y, parameters) computing AL = forward(X, parameters) and returning compute_cost(AL, Y) is
    the loss (its AL is the forward pass's); with no such function, an AL no function returns is read as
    a parameter, and the model text says so."""
    src = _src("l_layer").replace("def L_model_forward", "def forward_pass").replace(
        "    return AL, caches", "    return AL") + \
        "\n\ndef model(X, Y, parameters):\n    out = forward_pass(X, parameters)\n    return compute_cost(out, Y)\n"
    r = chainrule.backprop(src)
    assert r["dZ3"].text == "A3 − Y" and "the loss: model(X, Y, parameters)" in r.text()
    alone = src[:src.index("\n\ndef model")].replace("def compute_cost(AL, Y)", "def compute_cost(Yhat, Y)").replace(
        "np.log(AL)", "np.log(Yhat)").replace("np.log(1 - AL)", "np.log(1 - Yhat)")
    assert "Yhat read as a parameter: no function returns a value of that name" in chainrule.read_notebook(alone)


def _variant(source, *edits):
    for old, new in edits:
        assert old in source, old
        source = source.replace(old, new)
    return source


@pytest.mark.parametrize("edits,flagged", [
    ([('grads["dA" + str(L - 1)]', 'grads[f"dA{L-1}"]'), ('grads["dW" + str(l + 1)]', 'grads[f"dW{l+1}"]'),
      ("for l in reversed(range(L - 1)):", "for l in range(L - 2, -1, -1):")], set()),     # f-strings, range(…, -1)
    ([("    s = 1 / (1 + np.exp(-Z))\n    dZ = dA * s * (1 - s)", "    s = 1 / (1 + np.exp(-Z))\n    dZ = dA * s * (1 + s)")],
     {(23, "dZ3")}),
    ([("dAL = - (np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))", "dAL = (np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))")],
     {(43, "dA3")}),                                    # dAL's sign: its line, judged as dA3, and not dZ3 after it
    ([("1 / m * np.sum(dZ, axis=1, keepdims=True)", "1 / m * np.sum(dZ, axis=1)")], {(8, "db3"), (8, "db2"), (8, "db1")}),
])
def test_variants_of_the_l_layer_backward_flag_their_own_line(edits, flagged):
    v = chainrule.check(_src("l_layer"), _variant(_src("l_layer_backward"), *edits))
    assert {(x.line, x.name) for x in v.lines if x.correct is False} == flagged
    assert v.correct == (not flagged)


def test_a_loop_backward_over_dict_caches_is_judged_per_iteration():
    """One function, no helpers: dZ, dA reassigned in every iteration of `for l in range(L, 0, -1)`, caches
    as dicts, grads["dW" + str(l)] written directly; the model's names are versions (Z_1, Z_2, Z): each dZ
    is judged as the adjoint the next line's formula reads (dZ_2 before dW2), so one bug is one line."""
    forward, backward = _src("l_layer_inline"), _src("l_layer_inline_backward")
    v = chainrule.check(forward, backward)
    assert v.correct and [x.name for x in v.lines if x.line == 19] == ["dZ_2", "dZ_1"]
    wrong = _variant(backward, ('dZ = dA * (c["Z"] > 0)', 'dZ = dA * (c["Z"] < 0)'))
    assert {(x.line, x.name) for x in chainrule.check(forward, wrong).lines if x.correct is False} == \
        {(19, "dZ_2"), (19, "dZ_1")}


@pytest.mark.parametrize("code,fragment", [
    ("def f(X, w):\n    for l in reversed():\n        pass\n    return np.sum(w)\n", "reversed() of something"),
    ("def f(X, w):\n    for l in range():\n        pass\n    return np.sum(w)\n", "one to three whole-number bounds"),
    ("def f(X, w):\n    for l in range(1, 5, 0):\n        pass\n    return np.sum(w)\n", "a step of 0"),
])
def test_odd_loops_in_the_source_are_positioned_errors(code, fragment):
    with pytest.raises(chainrule.ChainruleError) as e:
        chainrule.backprop(code)
    assert fragment in str(e.value) and e.value.line == 2


def test_a_backward_function_named_like_a_forward_one_and_an_empty_one_are_said_so():
    src = _src("l_layer")
    with pytest.raises(chainrule.ChainruleError) as e:
        chainrule.check(src, "def L_model_forward(AL, Y):\n    dZ3 = AL - Y\n    return dZ3\n")
    assert "your backward pass is called L_model_forward(), as a function of the forward code is" in str(e.value)
    assert chainrule.check(src, "def backward(AL, Y):\n    return 0\n").reason.startswith("no assignments to check")
    for dims, fragment in (({"n_1": "m"}, "another dimension of the code has"), ({"n_1": "W1"}, "an array of the code")):
        with pytest.raises(chainrule.ChainruleError) as e:
            chainrule.read_notebook(src, dims=dims)
        assert fragment in str(e.value)


def test_one_line_reading_the_code_s_own_names_binds_them():
    """dAL = -(np.divide(Y, AL) - …) on the C1W4 source: AL is L_model_forward's A3, so the line is dA3."""
    src = _src("l_layer")
    v = chainrule.check(src, "dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))")
    assert v.correct and v.lines[0].name == "dA3" and v.reason == "the judged line is right"
    v = chainrule.check(src, "dAL = (np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))")
    assert not v.correct and "wrong sign" in v.lines[0].reason
    assert chainrule.check(src, "dZ3 = AL - Y").correct


def test_the_backward_pass_s_own_helper_of_a_forward_name_is_its_own():
    """A backward pass defining its own sigmoid (returning (A, Z)) runs with it; the forward ran with its."""
    own = _variant(_src("l_layer_backward"),
                   ("import numpy as np\n", "import numpy as np\n\n\ndef sigmoid(Z):\n    A = 1 / (1 + np.exp(-Z))\n"
                                            "    return A, Z\n"),
                   ("    s = 1 / (1 + np.exp(-Z))\n", "    s, _ = sigmoid(Z)\n"))
    v = chainrule.check(_src("l_layer"), own)
    assert v.correct and len([x for x in v.lines if x.correct]) == 12


def test_a_wrong_sigmoid_derivative_after_dal_is_named():
    """dZ = dA * (1 - s) in sigmoid_backward: dA is the adjoint backprop folds into dZ3, and the factor is
    said to be the wrong activation derivative (σ′ = A3 ⊙ (1 − A3))."""
    wrong = _variant(_src("l_layer_backward"), ("    dZ = dA * s * (1 - s)", "    dZ = dA * (1 - s)"))
    (bad,) = [x for x in chainrule.check(_src("l_layer"), wrong).lines if x.correct is False]
    assert (bad.line, bad.name) == (23, "dZ3") and "should be sigmoid′(Z3) = A3 ⊙ (1 − A3)" in bad.reason
