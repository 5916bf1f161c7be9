"""Training with the derived gradients, the course's gradient check, data sets and plots."""
import numpy as np
import pytest

import chainrule


def test_two_layer_network_learns_the_planar_flower():
    r = chainrule.train(chainrule.example("two-layer"), data="planar", lr=1.2, iterations=10000, seed=1)
    assert r.accuracy >= 0.85                                  # the course's network reaches about 90 %
    assert r.costs[0] == pytest.approx(np.log(2), abs=1e-3) and r.costs[-1] < 0.25
    assert np.all(np.diff(r.costs[::100]) <= 1e-9)             # batch gradient descent: the cost goes down
    assert set(r.params) == {"W1", "b1", "W2", "b2"} and r.params["W1"].shape == (4, 2)
    again = chainrule.train(iterations=300)
    assert np.array_equal(again.costs, chainrule.train(iterations=300).costs)   # deterministic


@pytest.mark.parametrize("name", ["planar", "moons", "circles"])
def test_datasets(name):
    X, Y = chainrule.dataset(name, seed=3)
    assert X.shape == (2, 400) and Y.shape == (1, 400) and set(np.unique(Y)) == {0.0, 1.0}
    assert np.array_equal(X, chainrule.dataset(name, seed=3)[0])


def test_csv_data(tmp_path):
    X, Y = chainrule.dataset("moons")
    path = tmp_path / "moons.csv"
    np.savetxt(path, np.c_[X.T, Y.T], delimiter=",")
    r = chainrule.train(data=str(path), iterations=2000, hidden=5)
    assert r.accuracy > 0.8 and r.params["W1"].shape == (5, 2)
    with pytest.raises(chainrule.ChainruleError):
        chainrule.dataset(str(tmp_path / "missing.csv"))


@pytest.mark.parametrize("name", chainrule.examples())
def test_gradcheck_passes_for_every_built_in_model(name):
    g = chainrule.gradcheck(chainrule.example(name))
    assert g.overall < 1e-7 and all(v < 1e-7 for v in g.per.values()), str(g)


def test_gradcheck_catches_a_missing_one_over_m():
    text = chainrule.example("two-layer")
    right = chainrule.compile(text)

    def wrong(values):                                         # a learner's dW1 without the 1/m
        loss, grads = right(values)
        return loss, dict(grads, W1=grads["W1"] * values["X"].shape[1])
    g = chainrule.gradcheck(text, loss_and_grads=wrong)
    assert not g.ok and g["W1"] > 0.1 and g["b1"] < 1e-7 and "MISTAKE" in str(g)


def test_plots_are_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    r = chainrule.train(iterations=500)
    for path in (r.plot_cost(tmp_path / "cost.png"), r.plot_boundary(tmp_path / "boundary.png")):
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_cli_train_and_gradcheck(tmp_path, capsys):
    assert chainrule.main(["train", "--iterations", "300", "--plot", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Cost after iteration 0: 0.693" in out and "training accuracy" in out
    assert (tmp_path / "cost.png").exists() and (tmp_path / "decision_boundary.png").exists()
    assert chainrule.main(["gradcheck", "--example", "softmax"]) == 0
    assert "the gradients are right" in capsys.readouterr().out
    assert chainrule.main(["train", "--data", "spirals"]) == 2


def _three_blobs(m=300, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 3.0], [-2.6, -1.5], [2.6, -1.5]])
    labels = np.repeat(np.arange(3), m // 3)
    X = (centres[labels] + rng.standard_normal((m, 2)) * 0.6).T
    return X, labels[None, :].astype(float)


def test_a_softmax_model_learns_three_classes_from_class_labels(tmp_path):
    """Labels 0, 1, 2 in a row are one-hot encoded for a model with one-hot Y (C = 3 from the data):
    the cost falls from log 3 and the accuracy is far above chance (it once trained C = 1 and printed
    −0.000000 at chance)."""
    X, Y = _three_blobs()
    r = chainrule.train(chainrule.example("softmax"), data=(X, Y), lr=0.5, iterations=1500, seed=1)
    assert r.params["W2"].shape == (3, 4) and r.costs[0] == pytest.approx(np.log(3), abs=1e-3)
    assert r.costs[-1] < 0.3 and r.accuracy > 0.9
    path = tmp_path / "blobs.csv"                                # the CLI's CSV path: the same
    np.savetxt(path, np.c_[X.T, Y.T], delimiter=",")
    assert chainrule.main(["train", "--example", "softmax", "--data", str(path), "--iterations", "300"]) == 0
    with pytest.raises(chainrule.ChainruleError, match="the data has 3 classes but the model has one output"):
        chainrule.train(chainrule.example("two-layer"), data=(X, Y), iterations=10)
