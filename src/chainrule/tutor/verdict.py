"""check(): a verdict on a learner's NumPy formula for one adjoint of a model.

The claim is parsed like any expression (never executed), shape-checked against the model, then
evaluated next to the engine's own adjoint on three independent random draws (sizes of at least 3,
data large enough that every activation mask takes both values), so a formula is correct only if it
agrees on all of them. A wrong claim gets the reason a mentor would give: a shape error (with the
transpose or order that fixes it), a constant factor (the 1/m convention), a missing or extra
keepdims, a wrong activation derivative, a missing mask, a value from another place (any single edit
that makes the claim right, confirmed on every draw), an extra factor or a missing term — plus the
correct formula and a numeric counterexample.
"""
import ast
import dataclasses
import difflib
import itertools

import numpy as np

from ..lang import syntax as S
from ..core import tensor as T
from ..core.errors import ChainruleError
from ..numeric.evaluate import evaluate_tree
from ..lang.functions import FUNCTIONS
from ..core.matrix import MAdd, MHad, MScale
from ..numeric.matrix_eval import evaluate_matrix, variables
from ..render.numpy_code import to_numpy
from ..render.document import and_list
from ..render.printing import CourseTextPrinter
from ..core.rules import ELEMENTWISE
from ..lang.shapes import ShapeChecker, fmt_shape
from ..notation.to_matrix import to_matrix

SIZES = (5, 3, 4, 6, 7, 8)          # no 1s or 2s: a factor 2 cannot pass for a dimension
DRAWS = (0, 1, 2)
INPUT_ERRORS = ("unknown-name", "unknown-function", "bad-axis")     # a bad claim, not a wrong formula


class Verdict:
    def __init__(self, correct, reason, hint, expected, claim, target):
        self.correct, self.reason, self.hint, self.expected = correct, reason, hint, expected
        self.claim, self.target = claim, target

    def __str__(self):
        head = "correct" if self.correct else "wrong"
        lines = [f"{head}: {self.claim}", f"  {self.reason}"]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        if not self.correct:
            lines.append(f"  expected: {self.target} = {self.expected}")
        return "\n".join(lines)

    def _repr_markdown_(self):
        return ("✅ " if self.correct else "❌ ") + str(self).replace("\n", "  \n")


def check(model_text, claim, convention="course"):
    """A verdict on `claim` ("dZ1 = ...", NumPy as learners write it) for one adjoint of the model; a
    whole backward function (or several lines) gets a verdict per line (tutor/lines.py)."""
    from .lines import check_lines, is_lines
    if is_lines(claim) or _reads_notebook_names(model_text, claim):
        return check_lines(model_text, claim, convention, _check_one)
    return _check_one(model_text, claim, convention)


def _check_one(model_text, claim, convention, result=None):
    """One claim, judged (what check_lines asks for each line: never routed back to it); `result`, the
    model's backprop when the caller has it (a line-by-line check derives the model once)."""
    with T.work_budget():
        return _check(model_text, claim, convention, result)


def _check(model_text, claim, convention, result=None):
    from ..engine.adjoints import backprop
    result = result if result is not None else backprop(model_text, convention)
    target, expr = _split_claim(claim)
    names = {g.name: g for g in result.gradients}
    folded = result.skipped_adjoint(target)
    if folded is not None:
        names[target] = folded
    if target not in names:
        raise ChainruleError(f"{target} is not an adjoint of this model (adjoints: {', '.join(names)})",
                             claim, 0, len(target))
    col = claim.index(expr)
    try:
        tree = S.parse_expression(expr, source=claim, col=col)
    except ChainruleError as e:
        if e.kind == "unsupported-operator" and "//" in expr:
            return Verdict(False, "// is integer (floor) division: 1 // m is 0 for every m > 1",
                           "write 1/m (true division)", names[target].text, claim, target)
        raise
    return _Judge(result, names[target], tree, claim).verdict()


def _reads_notebook_names(model_text, claim):
    """Does a one-line claim on Python source read a name of that code rather than of the model (AL for
    L_model_forward's A3)? Then it is read like a backward pass's line, the code's returns bound."""
    from ..lang.notebook import is_python_source
    if not isinstance(claim, str) or "=" not in claim or not is_python_source(model_text):
        return False
    from ..engine.adjoints import adjoint_names
    from ..lang.model import parse_model
    shapes = parse_model(model_text).shapes()           # read only: check_lines runs backprop itself
    known = set(shapes) | set(adjoint_names(shapes).values()) | \
        {d for sh in shapes.values() for d in sh if isinstance(d, str)}
    try:
        tree = ast.parse(claim.split("=", 1)[1].strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return any(isinstance(n, ast.Name) and n.id not in known and n.id not in ("np", "numpy") for n in ast.walk(tree))


def _split_claim(claim):
    if not isinstance(claim, str) or "=" not in claim:
        raise ChainruleError("write the claim as NAME = expression, e.g. dZ1 = np.dot(W2.T, dZ2) * (1 - A1**2)",
                             claim if isinstance(claim, str) else None, 0, 1)
    name, expr = claim.split("=", 1)
    name = name.strip()
    if not name.isidentifier():
        raise ChainruleError(f"bad name {name!r} on the left of '='", claim, 0, max(1, len(name)))
    return name, expr


MAX_EDIT_NODES = 20_000     # nodes the one-edit search may build: each edit rebuilds its path to the root


class _Judge:
    def __init__(self, result, g, tree, claim):
        from ..numeric.checks import adjoint_values
        self.result, self.g, self.tree, self.claim = result, g, tree, claim
        self.model = result.model
        self.target, self.expected = g.name, g.text
        self.order = [e.name for e in result.gradients]
        self.skipped = [e for e in result.skipped_adjoints() if e.name != g.name]    # dA3, folded into dZ3
        self.shapes = dict(self.model.shapes(), **{e.name: e.shape for e in result.gradients + self.skipped})
        self._known_names()
        # each draw at other sizes (the sizes rotated), so a factor is named a dimension only when it is
        # that dimension at every size tried
        self.draws = [adjoint_values(result, seed, SIZES[seed:] + SIZES[:seed], data_scale=1.5) for seed in DRAWS]
        self.memos = [{} for _ in self.draws]      # subtree values per draw, shared by the claim's edits
        for values, dims in self.draws:
            for e in [g] + self.skipped:             # a folded activation's adjoint (dA3): its own values
                if e.name not in values:
                    values[e.name] = np.asarray(evaluate_matrix(e.matrix, values, dims), dtype=float)
        self.values, self.dims = self.draws[0]
        self.want = self.values[self.target]

    def _known_names(self):
        known = set(self.shapes) | {d for s in self.shapes.values() for d in s if isinstance(d, str)}
        for node in S.names(self.tree):
            if node.id not in known:
                lower = {k.lower(): k for k in sorted(known)}
                close = [lower[node.id.lower()]] if node.id.lower() in lower else \
                    [lower[c] for c in difflib.get_close_matches(node.id.lower(), sorted(lower), n=1)]
                raise ChainruleError(f"unknown name {node.id!r}: not a name of this model",
                                     node.source, node.start, node.end, node.line,
                                     f"did you mean {close[0]}?" if close else
                                     "names: " + ", ".join(sorted(n for n in self.shapes)))

    # -- evaluation on every draw -------------------------------------------------------------
    def value(self, tree, k=0):
        values, dims = self.draws[k]
        if tree is self.tree and self._too_costly(tree, dims):
            return None
        try:
            with np.errstate(all="ignore"):
                return np.asarray(evaluate_tree(tree, values, dims, self.memos[k]), dtype=float)
        except Exception:          # noqa: BLE001 — a part or an edit that does not evaluate
            return None

    def _too_costly(self, tree, dims):
        """Would evaluating this expression (the claim, or an edit of it) pass numeric.cost's limits?"""
        from ..numeric import cost
        known = self.__dict__.setdefault("_costly", {})
        if tree not in known:                        # syntax nodes hash by identity
            known[tree] = None
            try:
                cost.require(cost.of_tree(tree, self.shapes, dims), "evaluating the claim")
            except ChainruleError as e:
                if e.kind == "too-large":
                    known[tree] = e
        if known[tree] is not None and tree is self.tree:
            raise known[tree]
        return known[tree] is not None

    def right(self, tree):
        """Does this expression equal the target on every draw?"""
        for k in range(len(self.draws)):
            v, want = self.value(tree, k), self.draws[k][0][self.target]
            if v is None or v.shape != want.shape or not np.allclose(v, want, rtol=1e-7, atol=1e-9):
                return False
        return True

    def wrong(self, reason, hint=None, example=True):
        if example and self.got is not None:
            ex = entry_example(self.got, self.want)
            hint = "; ".join(x for x in (hint, ex) if x) or None
        return Verdict(False, reason, hint, self.expected, self.claim, self.target)

    # -- the verdict --------------------------------------------------------------------------
    def verdict(self):
        self.got = None
        early = self._too_early()
        if early:
            return self.wrong(*early, example=False)
        try:
            self.shape = ShapeChecker(self.shapes, FUNCTIONS).check(self.tree)
        except ChainruleError as e:
            if e.kind in INPUT_ERRORS or _missing_axis(self.tree, self.shapes):
                raise
            return self._shape_error(e)
        self.got = self.value(self.tree)
        if self.got is None:
            raise ChainruleError("the claim cannot be evaluated", self.claim, 0, len(self.claim))
        if self.got.shape != self.want.shape:
            return self._wrong_shape()
        if self.right(self.tree):
            return Verdict(True, f"equals the engine's {self.target} = {self.expected} on random data", None,
                           self.expected, self.claim, self.target)
        for diagnosis in (self._mask_missing, self._factor, self._other_adjoint, self._folded_output, self._activation,
                          self._jacobian_diagonal, self._unmasked, self._one_side, self._derivative_factor,
                          self._edit, self._term,
                          self._missing_paths, self._extra_claim_term):
            found = diagnosis()
            if found:
                return found
        return self.wrong("the values differ from the engine's " + self.target)

    def _downstream(self):
        """The target and every adjoint computed (directly or not) from it: not known when it is."""
        reads = {g.name: set(variables(g.matrix)) for g in self.result.gradients}
        out = {self.target}
        for name in self.order:
            if reads[name] & out:
                out.add(name)
        return out

    def _too_early(self):
        """The claim reads the adjoint it defines, or one computed from it later in the backward pass."""
        later = self._downstream()
        used = [n.id for n in S.names(self.tree) if n.id in later]
        if not used:
            return None
        n = used[0]
        if n == self.target:
            return (f"the claim uses {n} itself: {n} is what the formula must compute",
                    f"write {n} from values known before it: {self.target} = {self.expected}")
        return (f"the claim uses {n}, which backprop computes from {self.target}, after it",
                f"{self.target} comes from the adjoints of later layers: {self.target} = {self.expected}")

    def _scalar_chain_rule(self):
        """dZ1 = dZ2 * W2 * (1 - A1**2): the scalar chain rule written with matrices. When putting
        W2ᵀ dZ2 (or dZ2 W2ᵀ, row layout) in place of the element-wise dZ2 * W2 makes the claim right,
        say why the matrix chain rule needs that product, its order and its transpose."""
        factors = list(_product_factors(self.tree))
        adjoints = set(self.order)
        ups = [f for f in factors if isinstance(f, S.Name) and f.id in adjoints]
        mats = [f for f in factors if isinstance(f, S.Name) and f.id not in adjoints and len(self.shapes.get(f.id, ())) == 2]
        for u in ups:
            for w in mats:
                rest = [f for f in factors if f is not u and f is not w]
                for left, right, words, code in (
                        (_toggle_transpose(w), u, "W2ᵀ dZ2", "np.dot(W2.T, dZ2)"),
                        (u, _toggle_transpose(w), "dZ2 W2ᵀ", "np.dot(dZ2, W2.T)"),
                        (w, u, "W2 dZ2", "np.dot(W2, dZ2)"), (u, w, "dZ2 W2", "np.dot(dZ2, W2)")):
                    tree = dataclasses.replace(self.tree, op="@", left=left, right=right) \
                        if isinstance(self.tree, S.Binary) else S.Binary(self.tree.start, self.tree.end, self.tree.line,
                                                                          self.tree.source, "@", left, right)
                    for f in rest:
                        tree = S.Binary(self.tree.start, self.tree.end, self.tree.line, self.tree.source, "*", tree, f)
                    if self.right(tree):
                        name = lambda t: t.replace("W2", w.id).replace("dZ2", u.id)      # noqa: E731
                        product = name(words)
                        fixed = " * ".join([name(code)] + [f"({f.text})" if isinstance(f, S.Binary) else f.text
                                                           for f in rest])
                        reader = self._reader(w.id)
                        su, sw = fmt_shape(self.shapes[u.id]), fmt_shape(self.shapes[w.id])
                        return self.wrong(
                            f"the scalar chain rule written with matrices: {u.id} * {w.id} multiplies entry by entry, "
                            f"but {w.id}'s entries reach {self.g.of} through a sum — the matrix product {product}",
                            f"{reader.name} = {reader.text} brings in the entries of {w.id}, and the matrix chain rule "
                            f"sums them against {u.id} over the index they share: that sum is {product} ({u.id} {su}, "
                            f"{w.id} {sw}, {product} {fmt_shape(self.g.shape)}, the shape of {self.target}) — the order "
                            f"and the transpose are what make the indices meet. Write {self.target} = {fixed}",
                            example=False)
        return None

    def _reader(self, name):
        """The line that reads `name` (W2 in Z2 = W2 @ A1 + b2), for the hint."""
        return next(a for a in self.model.assignments if name in {x.id for x in S.names(a.tree)})

    def _shape_error(self, e):
        chain = self._scalar_chain_rule()
        if chain:
            return chain
        edit = self.one_edit()
        size = f"({self.target} has shape {fmt_shape(self.g.shape)})"
        if edit:
            say = e.fix if e.fix and self._suggested(e, edit[2]) else edit[0][0].upper() + edit[0][1:] + "."
            return self.wrong(f"shape error: {e.problem} — {edit[1]}",
                              f"{say} With that change the formula is right. {size}")
        hint = f"the shapes suggest: {e.fix} {size}" if e.fix else size
        return self.wrong(f"shape error: {e.problem}", hint)

    def _suggested(self, e, toggled):
        """Is the edit, a transpose added to or dropped from `toggled`, the shape checker's own fix for
        the operation the error is at? Its fix transposes the left operand when that makes the
        shapes agree, else the right one."""
        at = _node_at(self.tree, e)
        if toggled is None or at is None:
            return False
        left, right = _operands(at)
        if toggled is left:
            return True
        if toggled is not right:
            return False
        try:
            ShapeChecker(self.shapes, FUNCTIONS).check(_with_left(at, _toggle_transpose(left)))
        except ChainruleError:
            return True
        return False

    def _wrong_shape(self):
        got, want, g = self.got, self.want, self.g
        have, need = fmt_shape(self.shape), fmt_shape(g.shape)
        if got.size == want.size and got.ndim != want.ndim and np.allclose(got.reshape(want.shape), want):
            if got.ndim < want.ndim:
                return self.wrong(f"right values, wrong shape: {have} instead of {need} — the sum dropped the "
                                  "summed axis", "use keepdims=True (np.sum(..., axis=1, keepdims=True)); "
                                  + _broadcast_note(g, self.shape), example=False)
            return self.wrong(f"right values, wrong shape: {have} instead of {need} — keepdims=True kept an axis "
                              f"that {g.of} does not have", "drop keepdims (or reshape)", example=False)
        if got.shape == want.shape[::-1] and np.allclose(got.T, want):
            return self.wrong(f"transposed: the claim has shape {have}, {self.target} has {need}",
                              "transpose the result (swap the order of the product and transpose both factors)",
                              example=False)
        edit = self.one_edit()
        if edit:
            return self.wrong(f"shape {have} but {self.target} has shape {need}: {edit[1]}",
                              f"{edit[0]}; with that change it is right", example=False)
        if got.size == want.size and got.ndim != want.ndim:
            ratio = self._constant(got.reshape(want.shape), want)
            reason, hint = self._factor_reason([ratio]) if ratio is not None else (None, None)
            if reason:
                return self.wrong(f"shape {have} instead of {need}, and {reason}", hint, example=False)
        return self.wrong(f"shape {have} but {self.target} has shape {need}", example=False)

    # -- diagnoses for a claim of the right shape ---------------------------------------------
    def _mask_missing(self):
        """Right where the answer is non-zero, but non-zero where it is 0: a mask or indicator is missing."""
        zero = np.abs(self.want) < 1e-12
        if not zero.any() or zero.all():
            return None
        if np.allclose(self.got[~zero], self.want[~zero]) and not np.allclose(self.got[zero], 0):
            act = self.result.activation_of(self.g.of)
            if act is not None and isinstance(act.form, S.Compare):          # an indicator: relu′ = (Z > 0)
                return self.wrong(f"the {act.fn.title} derivative is missing: where {act.text} is 0, {self.target} "
                                  "is 0", f"multiply by {act.text}")
            return self.wrong(f"where {self.target} is 0 the claim is not: a mask or 0/1 indicator is missing "
                              f"({self.target} = {self.expected})")
        return None

    def _constant(self, got, want):
        """c when got = c·want (zeros included), else None."""
        mask = np.abs(want) > 1e-9
        if not mask.any() or not np.allclose(got[~mask], 0, atol=1e-9):
            return None
        ratio = got[mask] / want[mask]
        c = float(ratio.flat[0])
        return c if np.allclose(ratio, c, rtol=1e-6) else None

    def _factor(self):
        cs = []
        for k in range(len(self.draws)):                  # got = c·want on every draw
            v, w = self.value(self.tree, k), self.draws[k][0][self.target]
            c = self._constant(v, w) if v is not None and v.shape == w.shape else None
            if c is None:
                return None
            cs.append(c)
        if np.allclose(cs, 0):
            return self.wrong(f"the claim is 0 everywhere, {self.target} is not")
        reason, hint = self._factor_reason(cs)
        if reason is None:
            return None
        if "constant factor" in reason:
            edit = self.one_edit()
            if edit:
                return self.wrong(f"{reason}: {edit[1]}", f"{edit[0]}; with that change it is right")
        return self.wrong(reason, hint)

    def _factor_reason(self, cs):
        """Why the claim is c × the answer (c per draw: a declared scalar changes between draws)."""
        g, result = self.g, self.result
        cs = np.atleast_1d(cs)
        same = np.allclose(cs, cs[0], rtol=1e-6)
        c = float(cs[0])
        m = result.example_dim
        sizes = [self.draws[k][1] for k in range(len(cs))]
        n = np.array([d[m] for d in sizes], dtype=float) if m and all(m in d for d in sizes) else None
        strict = result.convention == "strict"
        averaged = strict or g.scale == "1"           # the formula carries the 1/m of the average
        where = (f"in the strict convention {g.name} = ∂J/∂{g.of} includes the 1/{m} of the average" if strict else
                 f"in the course convention {g.name} " + (f"has the 1/{m} of the average" if g.scale == "1" else
                                                          f"is per example, {m}·∂J/∂{g.of}: no 1/{m}"))
        if n is not None and np.allclose(cs, n):
            return (f"off by a factor {m}: the claim is {m} × {g.name}",
                    where + (f"; the claim is missing it: multiply by 1/{m}" if averaged else
                             f"; the claim has an extra factor {m}: remove it"))
        if n is not None and np.allclose(cs, 1 / n):
            return (f"off by a factor 1/{m}: the claim is {g.name} / {m}",
                    where + (f"; the claim divides by {m} twice" if averaged else
                             f"; remove the 1/{m} — it appears in dW and db"))
        if same and np.isclose(c, -1):
            return (f"wrong sign: the claim is −{g.name}",
                    "check the order of a subtraction (A − Y, not Y − A) and the sign of the loss")
        for name, d in self.model.declarations.items():
            if d.shape:
                continue
            v = np.array([self.draws[k][0][name] for k in range(len(cs))], dtype=float)
            if np.allclose(cs, v):
                return (f"off by a factor {name}: the claim is {name} × {g.name}",
                        f"divide by {name} (the claim multiplies by {name} where {g.name} divides, or does not)")
            if np.allclose(cs * v, 1):
                return (f"off by a factor 1/{name}: the claim is {g.name} / {name}",
                        f"the claim divides by {name} where {g.name} does not: remove that division")
            if np.allclose(cs, v * v):
                return (f"off by a factor {name}²: the claim multiplies by {name} where {g.name} divides by it",
                        f"divide by {name} instead of multiplying")
            if np.allclose(cs * v * v, 1):
                return (f"off by a factor 1/{name}²: the claim divides by {name} where {g.name} multiplies by it",
                        f"multiply by {name} instead of dividing")
        named = _dimension_factor(cs, sizes)
        if named:
            return (f"off by a factor {named}: the claim is {named} × {g.name} at every size tried",
                    f"divide by {named}: the division by {named} is missing" if not named.startswith("1/") else
                    f"multiply by {named[2:]}: the claim divides by {named[2:]} once too often")
        if not same:
            return None, None
        return f"off by a constant factor {_factor_name(c, {})}", "compare the constants with the loss"

    def _other_adjoint(self):
        for other in self.result.gradients:
            v = self.values[other.name]
            if other.name != self.target and v.shape == self.got.shape and np.allclose(self.got, v):
                return self.wrong(f"this is the value of {other.name}, not of {self.target}",
                                  f"{self.target} = {self.expected}", example=False)
        return None

    def _folded_output(self):
        """dZ3 = -(Y/AL - (1-Y)/(1-AL)): the adjoint of the activation's output A, which backprop folds into
        the loss (σ + cross-entropy) — the activation's derivative is still to be applied."""
        loss = self.model.loss
        act = self.result.folded_activation(self.g.of)
        if act is None:
            return None
        scale = self.result.scale(self.g.of)
        m = self.result.matrix_form(*self.result.folded_adjoint(act, self.g.of), act.name)[0]
        for k in range(len(self.draws)):
            values, dims = self.draws[k]
            got = self.value(self.tree, k)
            want = np.asarray(evaluate_matrix(m, values, dims), dtype=float)
            if got is None or got.shape != want.shape or not np.allclose(got, want, rtol=1e-7, atol=1e-9):
                return None
        d = self.result.adjoint_names[act.name]
        return self.wrong(f"this is {d} = {f'{scale}·' if scale else ''}∂{loss.name}/∂{act.name}, the derivative by "
                          f"the activation's output {act.name} = {act.text}; {self.target} is by its input "
                          f"{self.g.of}, so {act.name}'s derivative still multiplies it",
                          f"with it the factors cancel: {self.target} = {self.expected}", example=False)

    def _activation(self):
        """dZ = dA ⊙ g′(Z): the claim used the derivative of another activation."""
        act = self.result.activation_of(self.g.of)
        if act is None or self.result.adjoint_names[act.step.name] not in self.values:
            return None
        upstream = self.values[self.result.adjoint_names[act.step.name]]
        for other in ELEMENTWISE.values():
            if other.activation is None or other is act.fn:
                continue
            form = S.parse_expression(other.activation)
            with np.errstate(all="ignore"):
                deriv = evaluate_tree(form, {"A": self.values[act.step.name], "Z": self.values[self.g.of]}, {})
            if np.allclose(self.got, upstream * deriv) and not np.allclose(deriv, act.value(self.values)):
                if isinstance(form, S.Name) and form.id == "A":              # exp′ = exp: the output itself
                    return self.wrong(f"wrong activation derivative: the claim multiplies by {act.step.name} itself, "
                                      f"but the derivative of {act.step.name} = {act.fn.name}({self.g.of}) is "
                                      f"{act.text}", f"{act.fn.name}′ is {act.text}")
                return self.wrong(f"wrong activation derivative: this uses the derivative of {other.title} "
                                  f"({_form_text(form, 'A', 'Z')}), but {act.step.name} = {act.fn.name}({self.g.of})",
                                  f"{act.fn.name}′ is {act.text}")
        return None

    def _jacobian_diagonal(self):
        """dS = P * (1 - P) * dP for P = softmax(S) — written as a softmax call, spelled out (exp / Σ exp)
        or folded into its cross-entropy: the sigmoid's entry-by-entry derivative, which is only the
        diagonal of softmax's Jacobian (every entry of S moves its whole group of P). P is recognised
        by its values: positive, summing to 1 along an axis."""
        folded = self.result.folded_activation(self.g.of)
        for a in self.model.assignments[:-1]:
            p = np.asarray(self.values.get(a.name, 0.0), dtype=float)
            if a.name == self.g.of or p.ndim != 2 or not np.all(p > 0) or \
                    not any(np.allclose(p.sum(axis=k), 1) for k in (0, 1)):
                continue
            d = self.result.adjoint_names.get(a.name)
            if d in self.values:
                dp = self.values[d]
            elif folded is not None and folded.name == a.name:
                m = self.result.matrix_form(*self.result.folded_adjoint(folded, self.g.of), a.name)[0]
                dp = np.asarray(evaluate_matrix(m, self.values, self.dims), dtype=float)
            else:
                continue
            if dp.shape == self.got.shape and np.allclose(self.got, dp * p * (1 - p), rtol=1e-7, atol=1e-9):
                return self.wrong(f"only the diagonal of softmax's Jacobian: {a.name} ⊙ (1 − {a.name}) is how each "
                                  f"entry of {a.name} moves with its own entry of {self.g.of}, but each entry of "
                                  f"{self.g.of} also moves the other entries normalised with it, through the sum in "
                                  f"the denominator (∂a_k/∂z_j = −a_k a_j for k ≠ j), and those terms are missing",
                                  f"summed over the group, the vector-Jacobian product is {self.target} = "
                                  f"{self.expected}", example=False)
        return None

    def _one_side(self):
        """dZ1 = dA1 * (Z1 > 0) for A1 = np.maximum(0.01 * Z1, Z1): right where Z1 > 0, wrong where Z1 ≤ 0
        — the piece of a piecewise activation the claim got wrong, with the slope it has there."""
        z = np.asarray(self.values.get(self.g.of, 0.0), dtype=float)
        piecewise = any(f"({self.g.of} {op} 0)" in self.expected for op in (">", "≤", "≥", "<"))
        if z.shape != self.want.shape or not piecewise:           # only where the formula has a mask on it
            return None
        for side, other, mask in ((f"{self.g.of} > 0", f"{self.g.of} ≤ 0", z > 0), (f"{self.g.of} ≤ 0",
                                                                                     f"{self.g.of} > 0", z <= 0)):
            if not mask.any() or mask.all() or not np.allclose(self.got[mask], self.want[mask], rtol=1e-7, atol=1e-9) \
                    or np.allclose(self.got[~mask], self.want[~mask], rtol=1e-7, atol=1e-9):
                continue
            slope = ""
            readers = [self.model.assignment(r) for r in self.result.readers(self.g.of)]
            d = self.result.adjoint_names.get(readers[0].name) if len(readers) == 1 else None
            if d in self.values and np.shape(self.values[d]) == z.shape:      # the reader is entry by entry
                up = np.asarray(self.values[d], dtype=float)[~mask]
                ok = np.abs(up) > 1e-9
                ratio = self.want[~mask][ok] / up[ok]
                if ratio.size and np.allclose(ratio, ratio[0]):
                    slope = (f": there {readers[0].name} = {readers[0].text} changes with slope "
                             f"{ratio[0]:.6g}, so there {self.target} = {ratio[0]:.6g} · {d}")
            return self.wrong(f"right where {side}, wrong where {other}{slope}", f"{self.target} = {self.expected}")
        return None

    def _missing_paths(self):
        """dZ1 = dZn / np.sqrt(var + eps) in batch norm: the claim is the sum of some of the paths from
        the target to the loss (one term per line that reads it), not all: name those it lacks."""
        readers = self.result.readers(self.g.of)
        if len(readers) < 2 or len(readers) > 6:
            return None
        parts = {}
        for r in readers:
            total, p, _ = self.result.vjp(self.g.of, [(r, self.result.lowered_steps[r])])
            m = self.result.matrix_form(total, p, self.g.of)[0]
            with np.errstate(all="ignore"):
                v = np.asarray(evaluate_matrix(m, self.values, self.dims), dtype=float)
            parts[r] = np.broadcast_to(v, self.want.shape) if v.size in (1, self.want.size) else None
        if any(v is None for v in parts.values()):
            return None
        for k in range(1, len(readers)):
            for some in itertools.combinations(readers, k):
                if np.allclose(self.got, sum(parts[r] for r in some), rtol=1e-7, atol=1e-9):
                    missing = [r for r in readers if r not in some]
                    lines = "; ".join(f"{r} = {self.model.assignment(r).text}" for r in missing)
                    return self.wrong(f"{self.g.of} reaches the loss through {and_list(readers)}, and the claim has "
                                      f"only the path{'s' if k > 1 else ''} through {and_list(some)}: the "
                                      f"term{'s' if len(missing) > 1 else ''} through {and_list(missing)} "
                                      f"{'are' if len(missing) > 1 else 'is'} missing ({lines})",
                                      f"the chain rule sums one term per line that reads {self.g.of}: "
                                      f"{self.target} = {self.expected}", example=False)
        return None

    def _unmasked(self):
        """dW1 = X.T @ dhidden / N with hidden = np.maximum(0, …): the claim reads the adjoint after a ReLU
        where the one before it is needed — with the mask put in (dhidden * (hidden > 0)) it is right."""
        for a in self.model.assignments[:-1]:
            expr, _ = self.result.lowered[a.name]
            relu = len(expr.terms) == 1 and len(expr.terms[0].factors) == 1 and \
                isinstance(expr.terms[0].factors[0][0], T.Func) and expr.terms[0].factors[0][0].name == "relu"
            d = self.result.adjoint_names.get(a.name)
            if not relu or d == self.target or not any(n.id == d for n in S.names(self.tree)):
                continue
            mask = S.parse_expression(f"({d} * ({a.name} > 0))")
            if self.right(_rename_to(self.tree, d, mask)):
                return self.wrong(f"the ReLU's mask is missing: {d} is the adjoint after {a.name} = {a.text}; "
                                  f"through the ReLU it is {d} ⊙ ({a.name} > 0), 0 where the unit was off",
                                  f"use {d} * ({a.name} > 0) in place of {d}: {self.target} = {self.expected}",
                                  example=False)
        return None

    def _derivative_factor(self):
        """A product whose one factor is right (the whole answer, or the upstream adjoint): name the rest."""
        factors = list(_product_factors(self.tree))
        if len(factors) < 2:
            return None
        for k, f in enumerate(factors):
            if self.right(f):
                rest = " * ".join(_src(x) for j, x in enumerate(factors) if j != k)
                others = [x for j, x in enumerate(factors) if j != k]
                folded = self.result.folded_activation(self.g.of)
                soft = folded is not None and "softmax" in folded.text or (folded is not None and "exp" in folded.text)
                cancels = ("" if not (self.result.fused and any(_one_minus(x) for x in others)) else
                           " (softmax's derivative is already inside: with cross-entropy it cancels)" if soft else
                           " (σ′ is already inside: with cross-entropy the sigmoid's derivative cancels)")
                return self.wrong(f"an extra factor `{rest}`: {f.text} alone is {self.target}",
                                  f"{self.target} = {self.expected}{cancels}")
        act = self.result.activation_of(self.g.of) or self.result.activation_of(self.g.of, folded=True)
        if act is None or self.result.adjoint_names[act.step.name] not in self.values:
            return None                              # (a folded one's dA3 is among the values: skipped_adjoints)
        up, name = self.result.adjoint_names[act.step.name], act.fn.name
        for k, f in enumerate(factors):
            if all(_close(self.value(f, j), self.draws[j][0][up]) for j in range(len(self.draws))):
                rest = " * ".join(_src(x) for j, x in enumerate(factors) if j != k)
                return self.wrong(f"wrong activation derivative: the factor `{rest}` should be "
                                  f"{name}′({self.g.of}) = {act.text} (the rest, {f.text}, is right: it is {up})",
                                  f"{act.step.name} = {name}({self.g.of}), whose derivative is {act.text}")
        return None

    def _edit(self):
        edit = self.one_edit()
        if edit:
            return self.wrong(edit[1], f"{edit[0]}; with that change it is right")
        return None

    def _term(self):
        """The claim lacks (or adds, or mis-scales) one additive term of the engine's formula (the L2 term)."""
        terms = _terms(self.g.matrix, self.values, self.dims)
        if len(terms) < 2:
            return None
        want, got = self.want, self.got
        for n, (value, term) in enumerate(terms):
            if np.shape(value) not in (want.shape, ()):
                continue
            code = to_numpy(term)                       # the term as the learner would write it
            if np.allclose(want - got, value):
                return self.wrong(f"a term is missing: the part `{code}` of {self.target} = {self.expected}")
            factors = self._term_factors(n)             # claim − answer = (f − 1) · term, per draw
            if factors is None:
                continue
            named = _dimension_factor(factors, [self.draws[k][1] for k in range(len(factors))])
            if named is None and not np.allclose(factors, factors[0], rtol=1e-6):
                continue
            what = named or _factor_name(float(factors[0]), {})
            if what == "2":
                return self.wrong(f"the term `{code}` is counted twice (off by a factor 2; the rest of "
                                  f"{self.target} = {self.expected} is right)")
            return self.wrong(f"the term `{code}` of {self.target} = {self.expected} is off by a factor {what} "
                              f"(the rest is right)")
        return None

    def _extra_claim_term(self):
        """A term of the claim's own sum that does not belong (db1 = … + lambd / m * b1: b is not
        regularised): the claim without it is right."""
        terms, node = [], self.tree
        while isinstance(node, S.Binary) and node.op in "+-":
            terms.append((node.right, node.op))
            node = node.left
        for term, op in terms:
            v = [self.value(term, k) for k in range(len(self.draws))]
            if any(x is None for x in v):
                continue
            ok = True
            for k in range(len(self.draws)):
                got, want = self.value(self.tree, k), self.draws[k][0][self.target]
                rest = got - v[k] if op == "+" else got + v[k]
                if rest.shape != want.shape or not np.allclose(rest, want, rtol=1e-7, atol=1e-9):
                    ok = False
                    break
            if ok:
                return self.wrong(f"an extra term: `{term.text}` does not belong in {self.target}",
                                  f"without it the claim is right: {self.target} = {self.expected}", example=False)
        return None

    def _term_factors(self, n):
        """f per draw when the claim is the engine's formula with its n-th term times f, else None."""
        out = []
        for k in range(len(self.draws)):
            values, dims = self.draws[k]
            terms = _terms(self.g.matrix, values, dims)
            got, want = self.value(self.tree, k), values[self.target]
            if got is None or got.shape != want.shape or len(terms) <= n:
                return None
            full = np.broadcast_to(terms[n][0], want.shape)
            mask = np.abs(full) > 1e-9
            if not mask.any() or not np.allclose((got - want)[~mask], 0):
                return None
            r = (got - want)[mask] / full[mask]
            if not np.allclose(r, r.flat[0], rtol=1e-6):
                return None
            out.append(1 + float(r.flat[0]))
        return np.array(out)

    # -- one edit away --------------------------------------------------------------------------
    def one_edit(self):
        """The single change that makes the claim right on every draw: a name from the wrong place
        (A1 where X belongs), a transpose too many or too few, * for @ (or back), a sum over the
        wrong axis or without keepdims. Returns (what to change, why, the node whose transpose it
        adds or drops, or None) or None."""
        later = self._downstream()
        arrays = [n for n, v in self.values.items() if isinstance(v, np.ndarray) and v.ndim > 0]
        candidates = [n for n in arrays if n not in later]
        checker = ShapeChecker(self.shapes, FUNCTIONS)    # its memo of node shapes is shared by the edits
        most = MAX_EDIT_NODES // S.depth(self.tree)        # each edit rebuilds its path to the root
        for tried, (description, why, edited, toggled) in enumerate(_edits(self.tree, arrays, candidates, self.model)):
            if tried >= most:
                return None
            try:
                if checker.visit(edited) is None:
                    continue
            except ChainruleError:
                continue
            if self.right(edited):
                return description, why, toggled
        return None


def _close(v, w):
    return v is not None and v.shape == w.shape and np.allclose(v, w)


def _broadcast_note(g, shape):
    try:
        joint = np.broadcast_shapes(tuple(2 + k for k, _ in enumerate(g.shape)), tuple(2 + k for k, _ in enumerate(shape)))
    except ValueError:
        joint = None
    if g.shape and len(shape) < len(g.shape) and joint is not None and len(joint) > len(g.shape) - 0 and \
            any(d != 1 for d in g.shape):
        return (f"otherwise the update {g.of} - alpha * {g.name} broadcasts {g.of} {fmt_shape(g.shape)} against "
                f"{fmt_shape(shape)} into a matrix, silently")
    return f"{g.of} has shape {fmt_shape(g.shape)}; its gradient must have the same shape"


def _dimension_factor(cs, sizes):
    """'d', '1/d', '√d' or '1/√d' when the factor per draw is that power of one dimension at every draw
    (each draw at other sizes), else None."""
    for d in sorted(sizes[0]):
        n = np.array([s[d] for s in sizes], dtype=float)
        if len(set(n)) < 2:
            continue                                  # a fixed size cannot be told from a constant
        for name, v in ((d, n), (f"1/{d}", 1 / n), (f"√{d}", np.sqrt(n)), (f"1/√{d}", 1 / np.sqrt(n))):
            if np.allclose(cs, v, rtol=1e-6):
                return name
    return None


def _factor_name(c, dims):
    for name, v in (("2", 2), ("1/2", 0.5), ("−1", -1)):
        if np.isclose(c, v):
            return name
    for d, n in dims.items():
        if np.isclose(c, n):
            return d
        if np.isclose(c, 1 / n):
            return f"1/{d}"
    return f"{c:.4g}"


def entry_example(got, want):
    diff = np.abs(got.reshape(-1) - want.reshape(-1)) if got.size == want.size else None
    if diff is None:
        return None
    k = int(np.argmax(diff))
    pos = [int(i) for i in np.unravel_index(k, want.shape)] if want.shape else []
    return f"counterexample on random data: entry {pos} is {got.reshape(-1)[k]:.4g}, expected {want.reshape(-1)[k]:.4g}"


def _form_text(form, a, z):
    """A derivative form over A and Z, printed with the model's names the course's way (1 − A1²)."""
    from ..lang.lower import Lowering
    tree = _rename(form, {"A": a, "Z": z})
    checker = ShapeChecker({a: ("n", "m"), z: ("n", "m")}, FUNCTIONS)
    checker.check(tree)
    expr, idx = Lowering(checker).visit(tree)
    return CourseTextPrinter()(to_matrix(expr, tuple(idx)))


def _rename_to(node, name, by):
    """The tree with every name `name` replaced by the tree `by`."""
    if isinstance(node, S.Name) and node.id == name:
        return by
    changes = {f: _rename_to(getattr(node, f), name, by) for f in ("operand", "left", "right")
               if getattr(node, f, None) is not None}
    if isinstance(node, S.Call):
        changes["args"] = tuple(_rename_to(x, name, by) for x in node.args)
    return dataclasses.replace(node, **changes) if changes else node


def _rename(node, names):
    if isinstance(node, S.Name):
        return dataclasses.replace(node, id=names.get(node.id, node.id))
    changes = {f: _rename(getattr(node, f), names) for f in ("operand", "left", "right") if getattr(node, f, None)}
    if isinstance(node, S.Call):
        changes["args"] = tuple(_rename(x, names) for x in node.args)
    return dataclasses.replace(node, **changes) if changes else node


def _src(node):
    """A factor's source text, parenthesized where a product needs it: (1 - A2)."""
    t = node.text or "…"
    return f"({t})" if isinstance(node, (S.Binary, S.Neg)) and getattr(node, "op", "-") in "+-" else t


def _product_factors(node):
    if isinstance(node, S.Binary) and node.op == "*":
        yield from _product_factors(node.left)
        yield from _product_factors(node.right)
    elif isinstance(node, S.Call) and node.fn == "multiply" and len(node.args) == 2:
        yield from _product_factors(node.args[0])
        yield from _product_factors(node.args[1])
    else:
        yield node


def _terms(m, values, dims, coef=1.0):
    """Additive terms of a matrix expression as (value, term), scalar factors multiplied in: the
    terms of (dZ2 A1ᵀ + λ W2) / m are dZ2 A1ᵀ / m and λ W2 / m, shown as `dZ2 @ A1.T` and `lambd * W2`."""
    if isinstance(m, MAdd):
        return [t for term in m.terms for t in _terms(term, values, dims, coef)]
    whole = lambda ts: [(v, m) for v, _ in ts] if len(ts) == 1 else ts   # noqa: E731 — one term: all of m
    if isinstance(m, MScale):
        return whole(_terms(m.x, values, dims, coef * float(m.coef)))
    if isinstance(m, MHad):
        arrays = [f for f in m.factors if f.ndim]
        if len(arrays) == 1:                  # scalars times one array: the array's terms, scaled
            scalar = coef
            for f in m.factors:
                if not f.ndim:
                    scalar = scalar * evaluate_matrix(f, values, dims)
            return whole(_terms(arrays[0], values, dims, scalar))
    return [(coef * np.asarray(evaluate_matrix(m, values, dims), dtype=float), m)]


def _role(name, model):
    a = next((a for a in model.assignments if a.name == name), None)
    if a is not None:
        return f"{name} = {a.text}"
    d = model.declarations.get(name)
    if d is not None and d.is_data:
        return f"{name}, the data"
    if name in model.parameters:
        return f"{name}, a parameter"
    from ..engine.adjoints import adjoint_names
    of = {v: k for k, v in adjoint_names(model.shapes()).items()}
    return f"{name}, the adjoint of {of[name]}" if name in of else name


def _edits(node, arrays, candidates, model):
    """Every tree one edit away from `node`, with (what to change, why it was wrong)."""
    if isinstance(node, S.Name) and node.id in arrays:
        for other in candidates:
            if other != node.id:
                yield (f"use {other} instead of {node.id}",
                       f"{node.id} is in the place of {other} ({_role(node.id, model)}; {_role(other, model)})",
                       dataclasses.replace(node, id=other), None)
    if isinstance(node, S.Const) and node.value == 1:           # A3 - 1 for A3 - Y: one-hot labels are not 1s
        for other in candidates:
            if model.declarations.get(other) is not None and model.declarations[other].is_data:
                yield (f"use {other} instead of 1", f"1 is in the place of {other} ({_role(other, model)})",
                       S.Name(node.start, node.end, node.line, node.source, other), None)
    if isinstance(node, S.Transpose):
        yield (f"drop the transpose in {node.text}", f"{node.text} should not be transposed", node.operand, node)
    elif isinstance(node, (S.Name, S.Call)) and node.text:
        yield (f"write {node.text}.T (transposed)", f"{node.text} should be transposed", _toggle_transpose(node), node)
    if isinstance(node, S.Binary) and node.op in ("@", "*"):
        other = "*" if node.op == "@" else "@"
        words = {"*": "* (element-wise)", "@": "@ (matrix product)"}
        yield (f"use {words[other]} instead of {node.op}", f"{words[node.op]} where {words[other]} belongs",
               dataclasses.replace(node, op=other), None)
    if isinstance(node, S.Call) and node.fn in ("dot", "multiply") and len(node.args) == 2:
        other = "multiply" if node.fn == "dot" else "dot"
        yield (f"use np.{other} instead of np.{node.fn}", f"np.{node.fn} where np.{other} belongs",
               dataclasses.replace(node, fn=other), None)
    if isinstance(node, S.Call) and node.fn == "dim":
        k = int(node.args[1].value)
        for other in (0, 1):
            if other != k:
                yield (f"use {node.args[0].text}.shape[{other}]", f"{node.text} is the size of the wrong axis",
                       dataclasses.replace(node, args=(node.args[0], dataclasses.replace(node.args[1], value=other))),
                       None)
        return
    if isinstance(node, S.Call) and node.fn in ("sum", "mean"):
        kw = dict(node.kwargs)
        axis = kw.get("axis")
        for other in ((0, 1) if axis in (0, 1) else ()):
            if other != axis:
                yield (f"sum over axis={other}", f"it sums over axis={axis} instead of axis={other}",
                       dataclasses.replace(node, kwargs=tuple({**kw, "axis": other}.items())), None)
        if axis is None:
            for other in (0, 1):
                yield (f"sum over axis={other} with keepdims=True",
                       f"it sums every entry, but {'the examples' if other == 1 else 'the rows'} only should be summed",
                       dataclasses.replace(node, kwargs=tuple({**kw, "axis": other, "keepdims": True}.items())), None)
        if not kw.get("keepdims"):
            yield ("add keepdims=True", "the sum drops the summed axis (keepdims is missing)",
                   dataclasses.replace(node, kwargs=tuple({**kw, "keepdims": True}.items())), None)
    for field in ("operand", "left", "right"):
        child = getattr(node, field, None)
        if child is not None:
            for d, why, c, toggled in _edits(child, arrays, candidates, model):
                yield d, why, dataclasses.replace(node, **{field: c}), toggled
    if isinstance(node, S.Call):
        for k, child in enumerate(node.args):
            for d, why, c, toggled in _edits(child, arrays, candidates, model):
                yield d, why, dataclasses.replace(node, args=node.args[:k] + (c,) + node.args[k + 1:]), toggled


def _toggle_transpose(node):
    """node.T, or the operand of a transpose."""
    return node.operand if isinstance(node, S.Transpose) else S.Transpose(node.start, node.end, node.line,
                                                                          node.source, node)


def _walk(node):
    """Every node of a syntax tree, parents first."""
    yield node
    for f in ("operand", "left", "right"):
        child = getattr(node, f, None)
        if child is not None:
            yield from _walk(child)
    for a in getattr(node, "args", ()):
        yield from _walk(a)


def _node_at(tree, e):
    """The operation an error is placed at (a product, an element-wise operation, np.dot), or None."""
    return next((n for n in _walk(tree) if isinstance(n, (S.Binary, S.Compare, S.Call)) and len(_operands(n)) == 2
                 and (n.start, n.end, n.line) == (e.start, e.end, e.line)), None)


def _operands(node):
    return (node.left, node.right) if isinstance(node, (S.Binary, S.Compare)) else node.args[:2]


def _with_left(node, left):
    if isinstance(node, S.Call):
        return dataclasses.replace(node, args=(left,) + node.args[1:])
    return dataclasses.replace(node, left=left)


def _missing_axis(tree, shapes):
    """Does the claim read X.shape[k] for an axis X does not have (an input error, not a wrong formula)?"""
    for n in _walk(tree):
        if isinstance(n, S.Call) and n.fn == "dim" and len(n.args) == 2 and isinstance(n.args[0], S.Name) and \
                isinstance(n.args[1], S.Const) and n.args[0].id in shapes:
            k, axes = n.args[1].value, len(shapes[n.args[0].id])
            if k.denominator != 1 or not -axes <= k < axes:
                return True
    return False


def _one_minus(node):
    """Does the factor contain 1 − something (the learner's σ′ = A(1 − A), say)?"""
    return any(isinstance(n, S.Binary) and n.op == "-" and isinstance(n.left, S.Const) and n.left.value == 1
               for n in _walk(node))
