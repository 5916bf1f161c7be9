"""Random data of the right domain, and finite-difference checks of derived results."""
import functools

import numpy as np

from ..lang import syntax as S
from .evaluate import evaluate, evaluate_tree
from ..lang.functions import FUNCTIONS
from ..core.errors import ChainruleError
from ..core.rules import numpy_namespace
from .matrix_eval import evaluate_matrix, variables
from . import cost

SIZES = (3, 4, 2, 5, 6, 7)
MAX_PERTURBED = 400              # entries of the variable perturbed by a finite-difference check


def concrete_dims(shapes, sizes=SIZES):
    """A distinct small size for every dimension name (distinct, so transposes cannot hide)."""
    names = sorted({d for s in shapes.values() for d in s if isinstance(d, str)})
    return {n: sizes[k % len(sizes)] + (k // len(sizes)) for k, n in enumerate(names)}


def domains(tree):
    """Each name's data domain, read off the functions it is passed to directly."""
    out = {}

    def visit(node, parent_domain=None):
        if isinstance(node, S.Name) and parent_domain:
            out[node.id] = _stronger(out.get(node.id), parent_domain)
        if isinstance(node, S.Call):
            dom = FUNCTIONS[node.fn].domain if node.fn in FUNCTIONS else None
            for a in node.args:
                visit(a, dom if dom != "real" else None)
        elif isinstance(node, S.Binary) and node.op == "+" and parent_domain == "positive":
            visit(node.left, "positive")              # √(var + eps): eps drawn positive too
            visit(node.right, "positive")
        elif isinstance(node, S.Binary):
            visit(node.left, "positive" if node.op == "**" and isinstance(node.right, S.Const)
                  and node.right.value.denominator != 1 else None)
            visit(node.right, "positive" if node.op == "/" else None)
        elif isinstance(node, (S.Neg, S.Transpose)):
            visit(node.operand, parent_domain if isinstance(node, S.Transpose) else None)
        elif isinstance(node, S.Compare):
            visit(node.left)
            visit(node.right)
    visit(tree)
    return out


def _stronger(a, b):
    rank = {None: 0, "nonzero": 1, "positive": 2, "invertible": 3, "spd": 4}
    return a if rank.get(a, 0) >= rank.get(b, 0) else b


def draw(kind, shape, rng):
    """Random data of one domain: spd/invertible, positive, nonzero, binary, onehot, symmetric, or real."""
    square = len(shape) == 2 and shape[0] == shape[1]
    if kind == "spd" and square:
        r = rng.standard_normal(shape)
        return r @ r.T + shape[0] * np.eye(shape[0])
    if kind == "invertible" and square:        # not symmetric (X⁻¹ and X⁻ᵀ differ), det > 0: each row's other
        n = shape[0]                           # entries sum to less than its diagonal, so every eigenvalue has a
        return n * np.eye(n) + rng.uniform(-0.9, 0.9, shape)       # positive real part
    if kind == "symmetric" and square:
        r = rng.standard_normal(shape)
        return (r + r.T) / 2
    if kind == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if kind == "nonzero":
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 2.0, shape)
    if kind == "binary":
        return (rng.random(shape) > 0.5).astype(float)
    if kind == "onehot-rows" and len(shape) == 2:
        return draw("onehot", shape[::-1], rng).T
    if kind == "onehot":
        return np.eye(shape[0])[:, rng.integers(0, shape[0], shape[1])] if len(shape) == 2 else \
            np.eye(shape[0])[rng.integers(shape[0])]
    return rng.standard_normal(shape)


def _concrete(shape, dims):
    return tuple(d if isinstance(d, int) else dims[d] for d in shape)


def sample(shapes, dims, doms, rng):
    env = {}
    for name, shape in shapes.items():
        shp = _concrete(shape, dims)
        v = draw(doms.get(name), shp, rng)
        env[name] = v if shp else float(v)
    return env


def _whole(result):
    """(source, start, end, line) of a derivation's whole expression, or of a model's loss line."""
    if hasattr(result, "parsed"):
        return result.parsed.text, 0, max(1, len(result.parsed.text)), 1
    model = result.model
    row = model.text.splitlines()[model.loss.line - 1]
    return model.text, 0, max(1, len(row)), model.loss.line


def _beyond_floating_point(result):
    """The first constant of a derivation's expression or a model's lines that a float cannot hold."""
    trees = [result.parsed.tree] if hasattr(result, "parsed") else [a.tree for a in result.model.assignments]

    def visit(node):
        if isinstance(node, S.Const) and node.value:
            try:
                if not 1e-307 < abs(float(node.value)) < 1e308:     # past a float, or its reciprocal is
                    return node
            except OverflowError:
                return node
        for child in S.children(node):
            found = visit(child)
            if found is not None:
                return found
        return None
    return next((n for n in map(visit, trees) if n is not None), None)


def _numerically_guarded(check):
    """A numeric check meeting a matrix that random data cannot make invertible (inv(A * 0)), or a constant
    beyond floating point, reports it as an input error, not a crash."""
    @functools.wraps(check)
    def guarded(*args, **kwargs):
        try:
            return check(*args, **kwargs)
        except np.linalg.LinAlgError as e:
            raise ChainruleError(f"no numeric check: on random data a matrix function met a {str(e).lower()} (is "
                                 "its argument singular for every value?)", *_whole(args[0]), kind="numeric") from None
        except OverflowError:
            node = _beyond_floating_point(args[0])
            where = (node.source, node.start, node.end, node.line) if node is not None else _whole(args[0])
            raise ChainruleError("no numeric check: a constant is beyond floating point (its magnitude is past "
                                 "1.8e308, or so small that its reciprocal is)", *where, kind="numeric") from None
        except (SyntaxError, RecursionError):           # Python's parser stops at 200 nested parentheses
            raise ChainruleError("no numeric check: the formula is nested too deeply for Python to evaluate",
                                 *_whole(args[0]), kind="numeric") from None
    return guarded


@_numerically_guarded
def finite_difference_error(result, seed=0, eps=1e-6, domain=None):
    """Max relative error of result.numpy against central differences of the (order−1)th derivative;
    `domain` (name → spd, invertible, positive, symmetric, …) adds to what the expression implies.
    At most MAX_PERTURBED entries of the variable are perturbed (a random sample when it is larger)."""
    from ..core.differentiate import diff
    parsed = result.parsed
    rng = np.random.default_rng(seed)
    dims = concrete_dims(parsed.shapes)
    doms = dict(domains(parsed.tree), **(domain or {}))
    base_expr, base_out = parsed.expr, tuple(parsed.idx)
    for p in result.wrt_idx[:-1]:
        base_expr = diff(base_expr, result.wrt, p)
        base_out = base_out + tuple(p)
    one = cost.of_tree(parsed.tree, parsed.shapes, dims) if result.order == 1 else cost.of_index(base_expr, base_out, dims)
    cost.require(one, "a numeric check", parsed.tree)
    cost.require(one + cost.of_matrix(result.matrix, dims, "the derivative"), "a numeric check", parsed.tree)
    wanted = cost.perturbations(one, MAX_PERTURBED, "a numeric check", parsed.tree)

    def value(env):
        """The (order−1)th derivative: order 1 reads the parsed text itself (independent of lowering)."""
        if result.order == 1:
            return np.asarray(evaluate_tree(parsed.tree, env, dims), dtype=float)
        return evaluate(base_expr, base_out, env, dims)
    needed = _read(parsed.tree) | {result.wrt} | set(variables(result.matrix)) | \
        {code.split(".")[0] for code in parsed.dim_code().values()}      # the generated code's names
    drawn = {n: s for n, s in parsed.shapes.items() if n in needed}     # a declared, unused array: not drawn
    cost.require(cost.of_declared(drawn, dims), "a numeric check", parsed.tree)
    for attempt in range(5):
        env = sample(drawn, dims, doms if attempt < 3 else {k: "positive" for k in drawn}, rng)
        try:
            with np.errstate(all="ignore"):
                f0 = value(env)
        except np.linalg.LinAlgError:
            f0 = np.nan
        if np.all(np.isfinite(f0)):
            break
    else:
        raise undefined(parsed.tree, env, dims, "the expression")
    try:
        return _compare(result, value, env, f0, wanted, rng, eps)
    except np.linalg.LinAlgError:
        raise undefined(parsed.tree, env, dims, "the derivative") from None


def _compare(result, value, env, f0, wanted, rng, eps):
    """finite_difference_error's comparison at the drawn point `env` (where the expression is finite)."""
    parsed = result.parsed
    namespace = dict(env, **numpy_namespace())
    with np.errstate(all="ignore"):
        got = np.asarray(eval(result.numpy, {"__builtins__": {}}, namespace), dtype=float)   # generated code only
    x0 = np.asarray(env[result.wrt], dtype=float)
    got = got.reshape(f0.shape + x0.shape)
    positions = _sample_positions(x0.shape, wanted, rng)
    worst, scale = 0.0, 1.0
    x = x0.copy()
    for pos in positions:
        with np.errstate(all="ignore"):
            column = np.zeros(f0.shape) + _central_difference(
                x, x0, pos, eps, lambda x: value(dict(env, **{result.wrt: x if x.shape else float(x)})))
        if column.size:
            worst = max(worst, float(np.max(np.abs(got[(Ellipsis,) + pos] - column))))
            scale = max(scale, float(np.max(np.abs(column))))
        if not (np.all(np.isfinite(column)) and np.all(np.isfinite(got[(Ellipsis,) + pos]))):
            raise ChainruleError("no numeric check: the derivative or its finite difference is not finite on "
                                 "random data (an overflow, or data at the edge of the domain)", parsed.text, 0,
                                 len(parsed.text), 1, kind="numeric")
    return worst / scale


def _central_difference(x, x0, pos, eps, f):
    """(f(x0 + ε·e_pos) − f(x0 − ε·e_pos)) / 2ε, perturbing `x`, a copy of x0, in place and restoring it:
    one copy for a whole check, not one per perturbation (a 10⁶-entry variable: 801 copies took 1.9 s)."""
    out = 0.0
    for sign in (1, -1):
        x[pos] = x0[pos] + sign * eps
        out = out + sign * np.asarray(f(x), dtype=float) / (2 * eps)
    x[pos] = x0[pos]
    return out


def _read(tree):
    return {n.id for n in S.names(tree)}


def undefined(tree, env, dims, what, draws="five draws, positive ones included"):
    """The error for an expression that is not finite (or meets a singular matrix) on random data,
    positioned at the smallest sub-expression that is: evaluated bottom-up, each node once."""
    memo, culprit = {}, [None, ""]

    def visit(node):
        for child in S.children(node):
            if visit(child):
                return True
        try:
            with np.errstate(all="ignore"):
                v = np.asarray(evaluate_tree(node, env, dims, memo), dtype=float)
            bad = not np.all(np.isfinite(v))
            culprit[1] = "is not finite"
        except np.linalg.LinAlgError:
            bad, culprit[1] = True, "meets a singular matrix"
        except Exception:          # noqa: BLE001 — any other failure of NumPy here: this node is the cause
            bad, culprit[1] = True, "cannot be evaluated"
        if bad:
            culprit[0] = node
        return bad
    visit(tree)
    node, how = culprit
    if node is None:                  # the expression is fine: its derivative meets the singular matrix
        text = getattr(tree, "source", "")
        return ChainruleError(f"no numeric check: {what} meets a singular matrix on random data", text, 0,
                              max(1, len(text)), 1, kind="numeric")
    singular = "singular" in how
    return ChainruleError(f"no numeric check: {node.text or what} {how} on random data"
                          + (f" ({draws}) — is it defined anywhere?" if not singular
                             else " — is its argument singular for every value?"),
                          node.source, node.start, node.end, node.line, kind="numeric")


def _sample_positions(shape, wanted, rng):
    """Every entry of an array of this shape, or a random sample of `wanted` of them (sorted)."""
    total = int(np.prod(shape)) if shape else 1
    if total <= wanted:
        return list(np.ndindex(*shape)) if shape else [()]
    keep = np.sort(rng.choice(total, wanted, replace=False))
    return [tuple(int(k) for k in np.unravel_index(flat, shape)) for flat in keep]


def sample_model(model, dims, rng, data_scale=0.5, onehot_axis=None):
    """Random values for a model's declared names, honouring their properties (a onehot array along
    its class axis, onehot_axis[name]: 0 one-hot columns, 1 one-hot rows)."""
    env = {}
    inferred = {}
    for a in model.assignments:                         # eps in np.sqrt(var + eps): what the lines pass it to
        for n, dom in domains(a.tree).items():
            inferred[n] = _stronger(inferred.get(n), dom)
    for name, d in model.declarations.items():
        shp = _concrete(d.shape, dims)
        kind = next((p for p in ("onehot", "binary", "spd", "positive", "symmetric") if p in d.properties), None)
        if kind is None and not shp and inferred.get(name) == "positive":
            kind = "positive"                           # a scalar hyperparameter under a root or a log
        if kind == "onehot" and (onehot_axis or {}).get(name) == 1 and len(shp) == 2:
            v = draw(kind, shp[::-1], rng).T                  # one-hot rows
        else:
            v = draw(kind, shp, rng) * (data_scale if kind is None and d.is_data else 1.0)
        env[name] = v if shp else float(v)
    return env


@_numerically_guarded
def check_backprop(result, seed=0, eps=1e-6, only=None, code=None):
    """{gradient name: max relative error} of each printed adjoint (evaluated from its NumPy code,
    in order) against central differences of the loss, divided by its scale; `only` limits the
    finite differences to one adjoint (the others are still evaluated: later ones read them);
    `code` maps an adjoint to other NumPy code to check in its place (explain's own formula).
    Perturbing an entry re-evaluates the assignments after the perturbed name; nothing is lowered."""
    model = result.model
    rng = np.random.default_rng(seed)
    dims = concrete_dims(result.shapes)
    steps = model_cost(result, dims, "a numeric check")
    rerun = {name: sum(c.work for _, c in steps[k + 1:]) for k, (name, _) in enumerate(steps)}
    per_entry = sum(rerun[g.of if g.of in rerun else None] for g in result.gradients
                    if only is None or g.name == only)
    wanted = cost.shared_perturbations(per_entry, MAX_PERTURBED, "a numeric check", (model.text, model.loss.line))
    env = finite_forward(result, sample_model(model, dims, rng, onehot_axis=result.onehot_axis), dims)
    names = dict(env, **numpy_namespace(), **dims)
    loss = model.loss.name
    assigned = {a.name for a in model.assignments}
    errors = {}
    for g in result.gradients:
        source = (code or {}).get(g.name, g.numpy)
        got = np.asarray(eval(source, {"__builtins__": {}}, names), dtype=float)   # generated code only
        names[g.name] = got
        if only is not None and g.name != only:
            continue
        x0 = np.asarray(env[g.of], dtype=float)
        after = g.of if g.of in assigned else None
        want = np.zeros(x0.shape)
        positions = _sample_positions(x0.shape, wanted, rng)
        x = x0.copy()
        for pos in positions:
            want[pos] = _central_difference(x, x0, pos, eps,
                                            lambda x: result.forward(dict(env, **{g.of: x}), dims, after)[loss])
        if got.shape != want.shape:                    # keepdims and 1-D biases must come out exactly right
            errors[g.name] = float("inf")
            continue
        scale = 1 if g.scale == "1" else dims[g.scale]
        got = got / scale
        if len(positions) < want.size:
            index = tuple(np.array(positions).T)
            got, want = got[index], want[index]
        errors[g.name] = float(np.max(np.abs(got - want)) / max(1e-3, float(np.max(np.abs(want)))))
    return errors


def finite_forward(result, values, dims):
    """The model's forward values from `values`; a line whose value is not finite (or meets a singular
    matrix) is an error at its smallest sub-expression that is not."""
    try:
        with np.errstate(all="ignore"):
            env = result.forward(values, dims)
    except np.linalg.LinAlgError:
        env = None
    for a in result.model.assignments:
        if env is None or a.name not in env or not np.all(np.isfinite(env[a.name])):
            known = dict(values) if env is None else env
            raise undefined(a.tree, dict(known, **dims), dims, a.name, "data drawn for every declared name")
    return env


def model_cost(result, dims, purpose):
    """The cost of each step of a model's forward pass (numeric.cost.of_steps), checked against the
    limits together with its printed adjoints."""
    steps = cost.of_steps(result.model, dims, result.lowered)
    total = cost.Cost()
    for _, c in steps:
        total += c
    for g in result.gradients:
        total += cost.of_matrix(g.matrix, dims, g.name)
    cost.require(total, purpose, (result.model.text, result.model.loss.line))
    return steps


def adjoint_values(result, seed=0, sizes=SIZES, data_scale=0.5):
    """Random data for the model, its forward values and every adjoint (its matrix IR evaluated):
    {name: value} with the dimension sizes, and the sizes."""
    rng = np.random.default_rng(seed)
    dims = concrete_dims(result.shapes, sizes)
    model_cost(result, dims, "the numeric checks")
    return model_values(result, sample_model(result.model, dims, rng, data_scale, result.onehot_axis), dims), dims


def model_values(result, data, dims):
    """{name: value} for drawn data: the data, the forward values the model computes from them, the
    dimension sizes and every adjoint (its matrix IR evaluated)."""
    values = dict(finite_forward(result, data, dims), **dims)
    for g in result.gradients:
        values[g.name] = np.asarray(evaluate_matrix(g.matrix, values, dims), dtype=float)
    return values
