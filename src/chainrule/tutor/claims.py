"""A verdict on a claimed derivative of an expression — a rule found in a table, as the learner of the
forum thread tried D.25: `check(claim="A.T @ B.T", expr="trace(A @ X @ B)", wrt="X", shapes=...)`.

The claim is evaluated as NumPy on random data at several sizes and compared with the engine's
derivative of the expression (its index form, evaluated: any shape). A wrong claim gets the reason
that makes it right where one exists — its transpose, a constant or dimension factor, the sign — and
the vector case: a claim that agrees when the variable is a column (or row) vector but not for a
matrix is a vector identity applied to matrices, and is answered so."""
import re

import numpy as np

from ..core import tensor as T
from ..core.errors import ChainruleError, argument_error
from ..lang import syntax as S
from ..lang.functions import FUNCTIONS
from ..lang.shapes import ShapeChecker, fmt_shape
from ..numeric.checks import domains, sample
from ..numeric.evaluate import evaluate, evaluate_tree
from .verdict import Verdict

SIZES = ((3, 4, 5, 6, 7, 8), (4, 6, 7, 3, 5, 9))     # per named dimension, two draws: no 1s or 2s
VECTOR_NOTE = ("a rule for vectors: with a matrix the order of the factors and the transposes are no longer "
               "interchangeable (for vectors xᵀa = aᵀx, for matrices AB ≠ BA), so the vector rule cannot be "
               "reused with matrices substituted — derive it for matrices, entry by entry")


def check_expression(claim, expr, wrt, shapes):
    """The Verdict on `claim` (an expression, or 'NAME = expression') for ∂expr/∂wrt."""
    from ..engine.derivation import derive
    with T.work_budget():
        r = derive(expr, wrt, shapes)
        text = _claim_text(claim)
        col = claim.index(text)
        tree = S.parse_expression(text, source=claim, col=col)
        _known(tree, r.parsed.shapes, claim)
        return _Judge(r, tree, claim, wrt).verdict()


def _claim_text(claim):
    if not isinstance(claim, str) or not claim.strip():
        raise argument_error("claim must be the derivative you want checked, e.g. \"A.T @ B.T\"", "claim", claim)
    m = re.match(r"^\s*[A-Za-z_∂][\w/∂]*\s*=(?!=)", claim)
    return claim[m.end():] if m else claim


def _known(tree, shapes, claim):
    dims = {d for s in shapes.values() for d in s if isinstance(d, str)}
    for node in S.names(tree):
        if node.id not in shapes and node.id not in dims:
            raise ChainruleError(f"unknown name {node.id!r}: the claim may use the expression's names "
                                 f"({', '.join(sorted(shapes))}) and dimensions", node.source, node.start,
                                 node.end, node.line)


class _Judge:
    def __init__(self, r, tree, claim, wrt):
        self.r, self.tree, self.claim, self.wrt = r, tree, claim, wrt
        self.shapes = r.parsed.shapes
        self.names = sorted({d for s in self.shapes.values() for d in s if isinstance(d, str)})
        self.target = f"∂f/∂{wrt}"
        self.shape_error = None
        try:                                          # the claim's shape in the expression's own dimensions
            self.named = fmt_shape(ShapeChecker(self.shapes, FUNCTIONS).check(tree))
        except ChainruleError as e:
            self.named, self.shape_error = None, e

    def draw(self, sizes, seed, unit=()):
        dims = {d: (1 if d in unit else sizes[k % len(sizes)]) for k, d in enumerate(self.names)}
        return sample(self.shapes, dims, domains(self.r.parsed.tree), np.random.default_rng(seed)), dims

    def pair(self, values, dims):
        """(the claim's value or None, the derivative's value) on one draw."""
        want = evaluate(self.r.index_expr, self.r.out, values, dims)
        try:
            with np.errstate(all="ignore"):
                got = np.asarray(evaluate_tree(self.tree, values, dims, {}), dtype=float)
        except ChainruleError as e:
            if e.kind in ("shape", "broadcast"):
                return e, want
            raise
        except (ValueError, TypeError) as e:         # NumPy's own shape errors on a wrong claim
            return e, want
        return got, want

    def verdict(self):
        draws = [self.draw(sizes, seed) for seed, sizes in enumerate(SIZES)]
        pairs = [self.pair(v, d) for v, d in draws]
        expected = self.r.text
        if all(_same(g, w) for g, w in pairs):
            return Verdict(True, f"agrees with the derivative on random data at two sizes ({self.target} = "
                           f"{expected})", None, expected, self.claim, self.target)
        reason, hint, specific = self.reason(pairs, draws)
        symmetric = None if specific else self.symmetric_case(draws)
        if symmetric:
            return Verdict(False, f"holds only for a symmetric {symmetric}: with {symmetric} = {symmetric}ᵀ the two "
                           f"agree, for a general {symmetric} they do not ({reason})",
                           f"the rule for a general {symmetric} keeps {symmetric} and {symmetric}ᵀ apart: "
                           f"{self.target} = {self.r.text}", self.r.text, self.claim, self.target)
        vector = None if specific else self.vector_case()     # a transpose or a factor is the reason itself
        if vector:
            reason, hint = f"holds for vectors, not for matrices: {vector}; {reason}", \
                (hint + "; " if hint else "") + VECTOR_NOTE
        return Verdict(False, reason, hint, expected, self.claim, self.target)

    def reason(self, pairs, draws):
        got, want = pairs[0]
        shape = fmt_shape(self.r.shape) if want.ndim else "a scalar"
        has = self.named or (f"({', '.join(map(str, got.shape))})" if not isinstance(got, Exception) else "")
        if isinstance(got, Exception) or self.shape_error is not None:
            e = self.shape_error
            what = f"shape error: {e.problem}" + (f" ({e.fix})" if e.fix else "") if e is not None else \
                f"it does not evaluate at these shapes ({_first_line(got)})"
            flat = self.transposed_vectors()
            if flat:                                  # b.T of a 1-D b: NumPy's no-op, the learner's outer product
                v = flat[0]
                return (f"{what}; {v}.T of the 1-D array {v} is {v} itself (NumPy has no rows and columns for "
                        f"1-D arrays), so the product is not the outer product; {self.target} has the shape of "
                        f"{self.wrt}, {shape}", f"{self.target} = {self.r.text}, in NumPy {self.r.numpy}", True)
            return f"{what}; {self.target} has the shape of {self.wrt}, {shape}", f"{self.target} = {self.r.text}", False
        if got.shape != want.shape and got.size == want.size and got.ndim == 2 and \
                all(_same(g.T, w) for g, w in pairs if not isinstance(g, Exception)):
            return (f"it is the transpose of {self.target}: the claim has shape {has}, the derivative has "
                    f"{self.wrt}'s shape {shape}",
                    f"transpose it: {self.target} = {self.r.text}", True)
        if got.shape != want.shape and got.size != want.size:
            flat = self.transposed_vectors()
            note = f" ({flat[0]}.T of the 1-D array {flat[0]} is {flat[0]} itself in NumPy)" if flat else ""
            return (f"the shape is wrong: the claim has shape {has}, {self.target} has the shape of {self.wrt}, "
                    f"{shape}{note}", f"{self.target} = {self.r.text}" + (f", in NumPy {self.r.numpy}" if flat else ""),
                    bool(flat))
        if got.shape == want.shape and want.ndim == 2 and want.shape[0] == want.shape[1] and \
                all(_same(g.T, w) for g, w in pairs):
            return (f"it is the transpose of {self.target} (the shapes agree only because {self.wrt} is square)",
                    f"transpose it: {self.target} = {self.r.text}", True)
        factor = self.factor(pairs, draws)
        if factor is not None:
            return factor, f"{self.target} = {self.r.text}", True
        k = np.unravel_index(np.argmax(np.abs(np.broadcast_to(got, want.shape) - want)), want.shape) \
            if want.ndim else ()
        where = f" at entry [{', '.join(str(i + 1) for i in k)}]" if k else ""
        g, w = np.broadcast_to(got, want.shape)[k], want[k]
        return (f"the values differ{where}: the claim gives {g:.4g}, the derivative is {w:.4g}",
                f"{self.target} = {self.r.text}", False)

    def factor(self, pairs, draws):
        """'off by a factor c' when claim = derivative / c for one constant c on every draw (named
        as a dimension only when it is that dimension at both sizes)."""
        ratios = []
        for (g, w), (_, dims) in zip(pairs, draws):
            if isinstance(g, Exception) or g.shape != w.shape:
                return None
            mask = np.abs(w) > 1e-9
            if not mask.any() or np.abs(g[~mask]).max(initial=0) > 1e-9:
                return None
            q = g[mask] / w[mask]
            if not np.allclose(q, q.flat[0], rtol=1e-6):
                return None
            ratios.append((float(q.flat[0]), dims))
        c = ratios[0][0]
        if all(abs(c - x) < 1e-9 * max(1, abs(c)) for x, _ in ratios):
            if abs(c + 1) < 1e-9:
                return "the sign is wrong: the claim is −(the derivative)"
            return f"off by a constant factor: the claim is {c:.6g} times the derivative"
        for d in self.names:
            for power, word in ((1, ""), (-1, "1/")):
                if all(abs(x - dims[d] ** power) < 1e-9 * max(1, abs(x)) for x, dims in ratios):
                    return (f"off by a factor {word}{d}: the claim is {word}{d} times the derivative at every size "
                            f"tried")
                if all(abs(x + dims[d] ** power) < 1e-9 * max(1, abs(x)) for x, dims in ratios):
                    return f"off by a factor −{word}{d}: the claim is −{word}{d} times the derivative"
        return None

    def symmetric_case(self, draws):
        """The square matrix name for which the claim holds once its data are symmetric, or None."""
        for name, shape in sorted(self.shapes.items()):
            if len(shape) != 2 or shape[0] != shape[1] or name == self.wrt:
                continue
            ok = True
            for values, dims in draws:
                v = dict(values, **{name: (values[name] + values[name].T) / 2})
                if not _same(*self.pair(v, dims)):
                    ok = False
                    break
            if ok:
                return name
        return None

    def transposed_vectors(self):
        """The 1-D names the claim transposes (b.T: the same 1-D array in NumPy)."""
        out, todo = [], [self.tree]
        while todo:
            n = todo.pop()
            if isinstance(n, S.Transpose) and isinstance(n.operand, S.Name) and \
                    len(self.shapes.get(n.operand.id, ())) == 1:
                out.append(n.operand.id)
            todo.extend(S.children(n))
        return out

    def vector_case(self):
        """'it agrees when X is a column vector' (its column dimension 1), or a row, or None."""
        shape = self.shapes[self.wrt]
        if len(shape) != 2:
            return None
        for axis, what in ((1, "a column vector"), (0, "a row vector")):
            d = shape[axis]
            if not isinstance(d, str) or shape[1 - axis] == d:
                continue
            pairs = [self.pair(*self.draw(sizes, seed, unit=(d,))) for seed, sizes in enumerate(SIZES)]
            if all(_same(g, w) for g, w in pairs):
                return f"it agrees when {self.wrt} is {what} ({d} = 1)"
        return None


def _same(got, want):
    if isinstance(got, Exception):
        return False
    if got.shape != want.shape:                      # (n, 1) for (n,): the same numbers, not a transpose
        if got.size != want.size or [s for s in got.shape if s != 1] != [s for s in want.shape if s != 1]:
            return False
        got = got.reshape(want.shape)
    return np.allclose(got, want, rtol=1e-6, atol=1e-8)


def _first_line(e):
    return str(e).splitlines()[0]
