"""Close the loop: data sets, batch gradient descent with chainrule's generated gradients, the course's
gradient check, and plots (matplotlib, optional).

The course's conventions: examples in columns (X is n_x × m, Y is 1 × m), weights initialised with
small seeded random numbers (× 0.01) and biases with zeros, plain batch gradient descent.
"""
import numpy as np

from ..core.errors import ChainruleError

DATASETS = ("planar", "moons", "circles")


def dataset(name="planar", seed=1, m=400):
    """(X, Y) with examples in columns: X is 2 × m, Y is 1 × m of 0/1 labels; or a CSV file whose last
    column is the label."""
    rng = np.random.default_rng(seed)
    if name == "planar":
        # the course's two-class "flower": r = a·sin(4t) petals, each class on half of the angles
        per = m // 2
        X, Y = np.zeros((m, 2)), np.zeros((m, 1))
        for j in range(2):
            rows = slice(per * j, per * (j + 1))
            t = np.linspace(j * 3.12, (j + 1) * 3.12, per) + rng.standard_normal(per) * 0.2
            r = 4 * np.sin(4 * t) + rng.standard_normal(per) * 0.2
            X[rows] = np.c_[r * np.sin(t), r * np.cos(t)]
            Y[rows] = j
        return X.T, Y.T
    if name == "moons":
        per = m // 2
        t = np.pi * rng.random(per)
        upper = np.c_[np.cos(t), np.sin(t)]
        t = np.pi * rng.random(m - per)
        lower = np.c_[1 - np.cos(t), 0.5 - np.sin(t)]
        X = np.r_[upper, lower] + rng.standard_normal((m, 2)) * 0.1
        Y = np.r_[np.zeros(per), np.ones(m - per)][None, :]
        return X.T, Y
    if name == "circles":
        per = m // 2
        t = 2 * np.pi * rng.random(m)
        radius = np.r_[np.ones(per), 0.5 * np.ones(m - per)]
        X = np.c_[radius * np.cos(t), radius * np.sin(t)] + rng.standard_normal((m, 2)) * 0.08
        Y = np.r_[np.zeros(per), np.ones(m - per)][None, :]
        return X.T, Y
    if isinstance(name, str) and name.lower().endswith(".csv"):
        import os
        import stat
        try:
            info = os.stat(name)
        except OSError as e:
            raise ChainruleError(f"cannot read {name!r}: {e.strerror}") from None
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_CSV_BYTES:
            raise ChainruleError(f"{name!r} is not a regular file of at most {MAX_CSV_BYTES // 10**6} MB")
        try:
            data = np.loadtxt(name, delimiter=",", ndmin=2)
        except (OSError, ValueError) as e:
            raise ChainruleError(f"cannot read {name!r} as a CSV of numbers: {e}") from None
        if data.shape[1] < 2:
            raise ChainruleError(f"{name!r}: need feature columns and a last label column")
        return data[:, :-1].T, data[:, -1:].T
    raise ChainruleError(f"unknown data set {name!r}: choose {', '.join(DATASETS)} or a .csv file")


MAX_CSV_BYTES = 200_000_000      # a data file for train (a device such as /dev/zero is refused)


class Training:
    """The result of train(): `.costs` (every iteration), `.params`, `.accuracy` (training set)."""

    def __init__(self, costs, params, accuracy, predict, X, Y):
        self.costs, self.params, self.accuracy = costs, params, accuracy
        self._predict, self.X, self.Y = predict, X, Y

    def predict(self, X):
        return self._predict(X)

    def plot_cost(self, path=None):
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(np.arange(len(self.costs)), self.costs, color="#23395d")
        ax.set_xlabel("iteration")
        ax.set_ylabel("cost J")
        ax.set_title(f"cost (final {self.costs[-1]:.4f})")
        ax.grid(alpha=0.3)
        return _finish(fig, path)

    def plot_boundary(self, path=None):
        if self.X.shape[0] != 2:
            raise ChainruleError("the decision boundary is drawn for 2-D inputs only")
        plt = _pyplot()
        x0, x1 = self.X
        pad = 0.5
        gx, gy = np.meshgrid(np.linspace(x0.min() - pad, x0.max() + pad, 300),
                             np.linspace(x1.min() - pad, x1.max() + pad, 300))
        grid = np.c_[gx.ravel(), gy.ravel()].T
        zz = self.predict(grid).reshape(gx.shape)
        fig, ax = plt.subplots(figsize=(6, 5))
        ax.contourf(gx, gy, zz, levels=[-0.5, 0.5, 1.5], colors=["#a9c8e8", "#f4c7a1"], alpha=0.8)
        ax.scatter(x0, x1, c=self.Y.ravel(), cmap="coolwarm", s=12, edgecolors="k", linewidths=0.3)
        ax.set_title(f"decision boundary (training accuracy {self.accuracy:.1%})")
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
        return _finish(fig, path)

    def _repr_html_(self):
        return (f"<p>Trained: final cost {self.costs[-1]:.4f}, training accuracy {self.accuracy:.1%} "
                f"after {len(self.costs)} iterations.</p>")


def _pyplot():
    try:
        import matplotlib
        if not _in_notebook():                   # files only, no window (a notebook keeps its inline backend)
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        raise ChainruleError("plots need matplotlib: pip install 'chainrule[plot]'") from None


def _in_notebook():
    try:
        from IPython import get_ipython
        return get_ipython() is not None and "IPKernelApp" in get_ipython().config
    except Exception:            # noqa: BLE001 — no IPython: not a notebook
        return False


def _finish(fig, path):
    """The file's path, or the figure. In a notebook the figure is closed: the inline backend would
    draw it at the end of the cell besides the returned figure, the plot twice."""
    if path is not None:
        fig.savefig(path, dpi=100, bbox_inches="tight")
    if path is not None or _in_notebook():
        import matplotlib.pyplot as plt
        plt.close(fig)
    return fig if path is None else path


def _layout(model, X, Y, hidden):
    """Dimension sizes from the data (examples in columns) and `hidden` for the other dimensions."""
    data = [d for d in model.declarations.values() if d.is_data]
    xs = next((d for d in data if d.name == "X"), data[0] if data else None)
    ys = next((d for d in data if d.name == "Y"), None)
    if xs is None or ys is None:
        raise ChainruleError("train() needs a model with data X and Y (examples in columns)")
    sizes = {}
    for decl, arr in ((xs, X), (ys, Y)):
        if len(decl.shape) != 2:
            raise ChainruleError(f"{decl.name} must be a matrix with examples in columns")
        for d, n in zip(decl.shape, arr.shape):
            if isinstance(d, str):
                sizes[d] = n
            elif d != n:
                raise ChainruleError(f"{decl.name} is declared {decl.shape} but the data has shape {arr.shape}")
    for decl in model.declarations.values():
        for d in decl.shape:
            if isinstance(d, str) and d not in sizes:
                sizes[d] = hidden or 4
    return xs.name, ys.name, sizes


def init_params(model, sizes, seed=1):
    """The course's initialisation: weights N(0, 1) × 0.01, biases (a size-1 axis) zeros."""
    rng = np.random.default_rng(seed)
    params = {}
    for name in model.parameters:
        shape = tuple(sizes[d] if isinstance(d, str) else d for d in model.declarations[name].shape)
        bias = len(shape) == 2 and shape[1] == 1 or len(shape) < 2
        params[name] = np.zeros(shape) if bias else rng.standard_normal(shape) * 0.01
    return params


def train(model_text=None, data="planar", lr=1.2, iterations=10000, seed=1, hidden=None, progress=None,
          print_every=None):
    """Batch gradient descent with the compiled exact gradients. `progress(i, cost)` is called every
    `print_every` iterations (the CLI draws a progress bar with it)."""
    from .generate import compile_callable as compile_model
    from ..lang.model import example
    from ..lang.model import parse_model
    text = model_text if model_text is not None else example("two-layer")
    model = parse_model(text)
    if hidden is not None and (isinstance(hidden, bool) or not isinstance(hidden, int) or not 1 <= hidden <= 10 ** 4):
        raise ChainruleError(f"hidden must be a size from 1 to 10,000, got {hidden!r}")
    X, Y = dataset(data, seed) if isinstance(data, str) else data
    X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
    Y = encode_labels(model, Y)
    xs, ys, sizes = _layout(model, X, Y, hidden)
    if not (isinstance(iterations, int) and 0 < iterations <= 10 ** 6) or not (0 < lr < 1e3):
        raise ChainruleError("iterations must be 1 … 1,000,000 and lr a positive number")
    step = compile_model(text)
    params = init_params(model, sizes, seed)
    values = dict(params, **{xs: X, ys: Y})
    for name, d in model.declarations.items():      # other data: scalars such as lambd take 0.7
        if name not in values:
            values[name] = 0.7 if not d.shape else np.ones(tuple(sizes.get(k, k) for k in d.shape))
    costs = np.empty(iterations)
    every = print_every or max(1, iterations // 100)
    for i in range(iterations):
        cost, grads = step(values)
        costs[i] = cost
        for p, g in grads.items():
            values[p] -= lr * g
        if progress is not None and (i % every == 0 or i == iterations - 1):
            progress(i, float(cost))
    output = _output_name(model, ys)
    params = {p: values[p] for p in model.parameters}

    def predict(Xnew):
        v = dict(values, **{xs: Xnew})
        v[ys] = np.zeros((Y.shape[0], Xnew.shape[1]))
        out = step.forward(v)[output]
        return np.argmax(out, axis=0)[None, :] * 1.0 if out.shape[0] > 1 else (out > 0.5) * 1.0
    labels = np.argmax(Y, axis=0)[None, :] if Y.shape[0] > 1 else Y
    accuracy = float(np.mean(predict(X) == labels))
    return Training(costs, params, accuracy, predict, X, labels)


def encode_labels(model, Y):
    """Labels as the model's Y wants them. A model with one-hot Y (C × m, softmax) given a row of class
    labels 0 … C−1 gets them one-hot encoded (C from the labels; at least 2); a model with one output
    (binary Y) given more than two classes is an error that says so."""
    ydecl = next((d for d in model.declarations.values() if d.is_data and d.name == "Y"), None)
    if ydecl is None or Y.ndim != 2 or Y.shape[0] != 1:
        return Y
    labels = Y[0]
    classes = np.unique(labels)
    if not np.allclose(labels, np.round(labels)) or labels.min() < 0:
        if "onehot" in ydecl.properties or "binary" in ydecl.properties:
            raise ChainruleError(f"the labels must be class numbers 0, 1, 2, …; got values such as {labels[0]:g}")
        return Y
    if "onehot" in ydecl.properties:
        C = max(2, int(labels.max()) + 1)
        if isinstance(ydecl.shape[0], int) and ydecl.shape[0] != C:
            raise ChainruleError(f"Y is declared with {ydecl.shape[0]} classes but the labels have {C}")
        return np.eye(C)[labels.astype(int)].T
    if len(classes) > 2 and ("binary" in ydecl.properties or len(ydecl.shape) == 2 and ydecl.shape[0] == 1):
        raise ChainruleError(f"the data has {len(classes)} classes but the model has one output (binary labels): "
                             "use a softmax model (chainrule train --example softmax)")
    return Y


def _output_name(model, ys):
    """The model's prediction: the last forward value (before the loss) shaped like the labels."""
    ydecl = model.declarations[ys]
    shapes = model.shapes()
    labelled = {ys}                                   # a line reading the labels is the cost's, not a prediction
    for a in model.assignments:
        if labelled & set(a.uses):
            labelled.add(a.name)
    for a in reversed(model.assignments[:-1]):
        if shapes.get(a.name) == ydecl.shape and a.name not in labelled:
            return a.name
    raise ChainruleError(f"no forward value has the shape of {ys}: cannot make predictions")


def gradcheck(model_text=None, epsilon=1e-7, seed=1, loss_and_grads=None):
    """The course's gradient check: two-sided differences over every parameter entry, and the relative
    difference ‖g − g̃‖₂ / (‖g‖₂ + ‖g̃‖₂) per parameter and overall. `loss_and_grads` checks another
    implementation (yours) instead of chainrule's."""
    from ..engine.adjoints import backprop
    from .generate import compile_callable as compile_model
    from ..lang.model import example
    from ..numeric.checks import concrete_dims, sample_model
    text = model_text if model_text is not None else example("two-layer")
    r = backprop(text)
    dims = concrete_dims(r.shapes)
    values = sample_model(r.model, dims, np.random.default_rng(seed), onehot_axis=r.onehot_axis)
    f = loss_and_grads or compile_model(text)
    _, grads = f(values)
    per, num_all, ana_all = {}, [], []
    for p in r.model.parameters:
        x0 = np.asarray(values[p], dtype=float)
        approx = np.zeros(x0.shape)
        for pos in np.ndindex(*x0.shape):
            plus, minus = x0.copy(), x0.copy()
            plus[pos] += epsilon
            minus[pos] -= epsilon
            approx[pos] = (f(dict(values, **{p: plus}))[0] - f(dict(values, **{p: minus}))[0]) / (2 * epsilon)
        g = np.asarray(grads[p], dtype=float).reshape(x0.shape)
        per[p] = _relative(g, approx)
        num_all.append(approx.ravel())
        ana_all.append(g.ravel())
    overall = _relative(np.concatenate(ana_all), np.concatenate(num_all))
    return GradCheck(per, overall, epsilon)


def _relative(g, approx):
    den = np.linalg.norm(g) + np.linalg.norm(approx)
    return float(np.linalg.norm(g - approx) / den) if den else 0.0


class GradCheck:
    """Per-parameter relative differences, the overall one, and the course's verdict."""
    THRESHOLD = 1e-7

    def __init__(self, per, overall, epsilon):
        self.per, self.overall, self.epsilon = per, overall, epsilon

    @property
    def ok(self):
        return self.overall < self.THRESHOLD

    def __getitem__(self, name):
        return self.per[name]

    def __str__(self):
        lines = [f"gradient check (two-sided differences, ε = {self.epsilon:g}):"]
        lines += [f"  d{p:<8} relative difference {v:.2e}" for p, v in self.per.items()]
        verdict = ("the gradients are right" if self.ok else
                   "MISTAKE: the gradients do not match the loss" if self.overall > 1e-5 else
                   "suspicious: look at the largest parameter difference")
        lines.append(f"  overall    relative difference {self.overall:.2e} — {verdict} (threshold {self.THRESHOLD:g})")
        return "\n".join(lines)

    def _repr_markdown_(self):
        return "```\n" + str(self) + "\n```"
