"""What a numeric evaluation will allocate and compute, estimated before any array exists.

Every numeric path (derive's check, a model's checks, check's random draws, explain's numbers,
training) evaluates arrays whose sizes come from the user's dimensions. Before drawing data, the
path asks this module for the cost of one evaluation — the largest array it builds and the entries
and multiply-adds of all of them together — read off shapes alone: each syntax node's shape (the
shape checker's), each matrix-notation node's shape (with NumPy's own contraction plan for an
einsum), each index-form term's loop (einsum without a plan loops over every index it names).
Too large → a ChainruleError naming the array and the limit, instead of a MemoryError or minutes;
large but allowed → fewer finite-difference perturbations, so one check stays about a second.
"""
from dataclasses import dataclass

import numpy as np

from ..core import matrix as M
from ..core import tensor as T
from ..core.errors import ChainruleError
from ..lang import syntax as S

MAX_ARRAY = 4_000_000            # entries of any one array (32 MB of float64)
MAX_EVALUATION = 200_000_000     # entries and multiply-adds of one evaluation, all arrays together
MAX_CHECK = 500_000_000          # of a whole finite-difference check (every evaluation it makes): about 1 s
MIN_PERTURBED = 8                # a check perturbs at least this many entries, or is refused
BLAS_SPEEDUP = 10                # a matrix product's multiply-add costs about a tenth of an element-wise entry
FUNCTION_ENTRY = 4               # an element-wise function (exp, tanh, …) costs about 4 entries per entry
EINSUM_LOOP = 3                  # einsum without a plan (index form): 3 entries per iteration and operand
NODE_COST = 6_000                # and each node evaluated costs a few microseconds of Python, as 6,000 entries


@dataclass
class Cost:
    """The largest array one evaluation builds (its entries, what it is, where in the source) and the
    work of the whole evaluation (entries written, plus multiply-adds: a tenth each inside a matrix
    product, which BLAS runs ten times faster per operation than NumPy's element-wise loops)."""
    largest: int = 0
    _what: object = ""           # text, or a function making it
    node: object = None
    work: int = 0

    def add(self, entries, what, node=None, work=None):
        if entries > self.largest:
            self.largest, self._what, self.node = entries, what, node
        self.work += entries if work is None else work
        return self

    @property
    def what(self):
        """The largest array in words (formatted only when an error names it)."""
        return self._what() if callable(self._what) else self._what

    def __iadd__(self, other):
        if other.largest > self.largest:
            self.largest, self._what, self.node = other.largest, other._what, other.node
        self.work += other.work
        return self

    def __add__(self, other):
        out = Cost(self.largest, self.what, self.node, self.work)
        out += other
        return out


def size(shape, dims):
    """Entries of an array of this shape (dimension names looked up in dims)."""
    n = 1
    for d in shape:
        n *= d if isinstance(d, int) else dims[d]
    return n


def _fmt(shape, dims):
    return "×".join(str(d if isinstance(d, int) else dims[d]) for d in shape) or "scalar"


def of_tree(tree, shapes, dims):
    """One evaluation of a parsed expression (evaluate_tree, a model line): every node's array, and a
    matrix product's multiply-adds."""
    from ..lang.functions import FUNCTIONS
    from ..lang.shapes import ShapeChecker
    checker = ShapeChecker(shapes, FUNCTIONS)
    checker.check(tree)
    cost = Cost()
    for node, shape in checker.of.items():
        if shape is None:
            continue
        entries = size(shape, dims)
        if isinstance(node, S.Call):       # a function reads all of its arguments (logsumexp(x): all of x)
            read = sum(size(checker.of[a], dims) for a in node.args if checker.of.get(a) is not None)
            work = max(entries, read) * FUNCTION_ENTRY + NODE_COST
        else:
            work = entries + NODE_COST
        if isinstance(node, S.Binary) and node.op == "@":
            left = checker.of.get(node.left) or ()
            work += entries * (size(left[-1:], dims) if left else 1) // BLAS_SPEEDUP
        cost.add(entries, lambda node=node, shape=shape: f"{node.text or 'a value'} ({_fmt(shape, dims)})", node, work)
    return cost


def of_declared(shapes, dims):
    """The arrays drawn for these declared names."""
    c = Cost()
    for name, shape in shapes.items():
        c.add(size(shape, dims), lambda name=name, shape=shape: f"{name} ({_fmt(shape, dims)})")
    return c


def of_steps(model, dims, lowered=None):
    """[(name, Cost)]: the declared arrays (drawn once), then each assignment's evaluation, in order —
    of its index form when `lowered` (name → (expression, indices)) gives it (a model's forward pass
    evaluates those), else of its syntax."""
    shapes = {n: d.shape for n, d in model.declarations.items()}
    drawn = Cost()
    for name, shape in shapes.items():
        line = model.declarations[name].line
        drawn.add(size(shape, dims), lambda name=name, shape=shape: f"{name} ({_fmt(shape, dims)})", (model.text, line))
    steps = [(None, drawn)]
    for a in model.assignments:
        if lowered is not None:
            expr, idx = lowered[a.name]
            step = of_index(expr, tuple(idx), dims)
            if step.node is None:
                step.node = (model.text, a.line)
        else:
            step = of_tree(a.tree, shapes, dims)
        steps.append((a.name, step))
        shapes[a.name] = a.shape
    return steps


def of_matrix(m, dims, what="the formula", stop=MAX_EVALUATION):
    """One evaluation of matrix notation (the printed NumPy code, evaluate_matrix); shared subtrees
    count once, as evaluate_matrix computes them once. Counting stops once the work passes `stop`."""
    cost, seen = Cost(), set()

    def visit(node):
        if id(node) in seen or cost.work > stop:
            return
        seen.add(id(node))
        for f in node.__dataclass_fields__:
            v = getattr(node, f)
            for child in (v if isinstance(v, tuple) else (v,)):
                if isinstance(child, M.M):
                    visit(child)
        entries = size(node.shape, dims)
        work = entries + NODE_COST
        if isinstance(node, M.MMatMul):
            work += entries * size(node.a.shape[-1:], dims) // BLAS_SPEEDUP
        elif isinstance(node, M.MEinsum):
            flops, biggest = _einsum_plan(node, dims)
            work, entries = work + flops, max(entries, biggest)
        cost.add(entries, lambda shape=node.shape: f"an array of {what} ({_fmt(shape, dims)})", None, work)
    visit(m)
    return cost


def _einsum_plan(node, dims):
    """NumPy's own contraction plan for an einsum: (multiply-adds, largest intermediate), from
    zero-strided stand-ins (no memory)."""
    operands = [np.broadcast_to(0.0, tuple(d if isinstance(d, int) else dims[d] for d in o.shape))
                for o in node.operands]
    _, report = np.einsum_path(node.spec, *operands, optimize="greedy")
    flops = largest = 0
    for line in report.splitlines():
        if "Optimized FLOP count" in line:
            flops = int(float(line.split(":")[1]))
        elif "Largest intermediate" in line:
            largest = int(float(line.split(":")[1].split()[0]))
    return flops, largest


def of_index(expr, out, dims):
    """One evaluation of an index-form expression (numeric.evaluate: einsum without a plan, which
    loops over every index a term names)."""
    cost = Cost()
    cost.add(size([i.dim for i in out], dims), f"the result ({_fmt([i.dim for i in out], dims)})")
    for t in expr.terms:
        loop = 1
        for i in set(t.free) | set(t.summed):
            loop *= size([i.dim], dims)
        cost.add(0, "", None, EINSUM_LOOP * loop * max(1, len(t.factors)) + NODE_COST * len(t.factors))
        for a, _ in t.factors:
            if isinstance(a, (T.Func, T.Group, T.MatFn)):
                inner = a.arg if isinstance(a, (T.Func, T.MatFn)) else a.expr
                order = inner.natural_order() if not isinstance(a, T.MatFn) else a.arg_idx
                cost += of_index(inner, order, dims)
                if isinstance(a, T.Func):
                    cost.add(0, "", None, FUNCTION_ENTRY * size([i.dim for i in order], dims))
            elif isinstance(a, T.Delta):
                cost.add(size([a.a.dim, a.b.dim], dims), "an identity matrix")
    return cost


def require(cost, purpose, whole=None):
    """Refuse an evaluation past the limits, naming its largest array: positioned at it when it is a
    node of the source, else at `whole` (the expression, or a model line)."""
    where = cost.node if cost.node is not None else whole
    if cost.largest > MAX_ARRAY:
        _refuse(f"too large for {purpose}: {cost.what} has {cost.largest:,} entries (limit {MAX_ARRAY:,})", where)
    if cost.work > MAX_EVALUATION:
        _refuse(f"too large for {purpose}: one evaluation takes about {cost.work:,} operations "
                f"(limit {MAX_EVALUATION:,}; the largest array is {cost.what})", where)
    return cost


HINT = "hint: declare the dimensions by name (n, m) and chainrule chooses small sizes for its checks"


def _refuse(message, where, hint=HINT):
    """The error, at a syntax node or a (model text, line) when the array is one of the source's."""
    if isinstance(where, S.Node):
        raise ChainruleError(message, where.source, where.start, where.end, where.line, hint, kind="too-large")
    if isinstance(where, tuple):
        text, line = where
        row = text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else ""
        raise ChainruleError(f"line {line}: {message}", text, 0, max(1, len(row)), line, hint, kind="too-large")
    raise ChainruleError(message, hint=hint, kind="too-large")


def shared_perturbations(work, wanted, purpose, where=None):
    """Entries to perturb in each of several arrays whose finite differences cost `work` in all per
    perturbed entry (a model's adjoints: each perturbation re-runs the forward pass after its array):
    `wanted` when it fits within MAX_CHECK, fewer when not, an error below one."""
    allowed = MAX_CHECK // max(1, 2 * work)
    if allowed < 1:
        _refuse(f"too large for {purpose}: perturbing one entry of each array takes about {2 * work:,} operations "
                f"(limit {MAX_CHECK:,})", where, "hint: check one adjoint at a time (result.check(only='dW1')), "
                "or a shorter model")
    return min(wanted, allowed)


def perturbations(cost, wanted, purpose, whole=None):
    """How many entries a finite-difference check may perturb (two evaluations each) within MAX_CHECK:
    `wanted` when it fits, fewer for costly evaluations, and an error below MIN_PERTURBED."""
    per = max(1, cost.work) * 2
    allowed = MAX_CHECK // per
    if allowed < min(wanted, MIN_PERTURBED):
        _refuse(f"too large for {purpose}: {min(wanted, MIN_PERTURBED)} perturbed entries would take about "
                f"{per * min(wanted, MIN_PERTURBED):,} operations (limit {MAX_CHECK:,})",
                cost.node if cost.node is not None else whole)
    return min(wanted, allowed)
