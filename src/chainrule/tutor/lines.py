"""check() of a learner's whole backward pass — a `def backward_propagation(parameters, cache, X, Y):`
or several lines: each assignment judged on its own against the model (lang/notebook reads the
lines), with the engine's values for the names it reads, so one bug flags one line, not every line
after it."""
import re

import numpy as np

from ..core.errors import ChainruleError


class LineVerdict:
    """One line's verdict: `.name`, `.line` (in the source), `.correct` (None when not judged),
    `.reason`, `.hint`, `.expected`."""

    def __init__(self, name, line, claim, correct, reason, hint=None, expected=None):
        self.name, self.line, self.claim = name, line, claim
        self.correct, self.reason, self.hint, self.expected = correct, reason, hint, expected

    def __str__(self):
        mark = {True: "right", False: "WRONG", None: "not judged"}[self.correct]
        out = [f"line {self.line}: {mark}: {self.claim}"]
        if self.correct is not True or self.reason.startswith("this is "):     # a learner's own name: what it is
            out.append(f"    {self.reason}")
        if self.correct is False and self.hint:
            out.append(f"    hint: {self.hint}")
        return "\n".join(out)


class LinesVerdict:
    """`.lines` (a LineVerdict per assignment), `.correct` (every judged line right), `.reason` and
    `.hint` of the first wrong line; str() is the line-by-line report."""

    def __init__(self, lines):
        self.lines = lines
        judged = [v for v in lines if v.correct is not None]
        wrong = [v for v in judged if not v.correct]
        self.correct = bool(judged) and not wrong
        unjudged = len(lines) - len(judged)
        rest = f" ({unjudged} not judged)" if unjudged and judged else ""
        lines_word = "judged line" if len(judged) == 1 else "judged lines"
        self.reason = (f"{len(wrong)} of {len(judged)} {lines_word} wrong{rest}: " + ", ".join(
            f"line {v.line} ({v.name})" for v in wrong)) if wrong else \
            (f"all {len(judged)} judged lines right{rest}" if len(judged) > 1 else f"the judged line is right{rest}") \
            if judged else \
            (f"no line could be judged: none of the {len(lines)} is an adjoint of the model, or reads one (see each)"
             if lines else "no assignments to check: give a backward function or lines such as dZ2 = A2 - Y")
        self.hint = wrong[0].hint if wrong else None
        self.expected = wrong[0].expected if wrong else None
        self.target = wrong[0].name if wrong else None

    def __str__(self):
        return "\n".join([("correct" if self.correct else "wrong") + f": {self.reason}"] + [str(v) for v in self.lines])

    def _repr_markdown_(self):
        return ("✅ " if self.correct else "❌ ") + str(self).replace("\n", "  \n")


def is_lines(claim):
    """A whole backward function, or more than one assignment."""
    if not isinstance(claim, str):
        return False
    rows = [r for r in claim.splitlines() if r.strip() and not r.strip().startswith("#")]
    return claim.lstrip().startswith("def ") or "\ndef " in claim or sum("=" in r for r in rows) > 1


def check_lines(model_text, source, convention, check):
    """Each assignment of `source` judged by `check(text, claim, convention, backprop result)` (tutor.verdict's,
    for one claim, given the model's backprop derived here once); a learner's own
    name may also be an adjoint backprop skips (r.skipped_adjoints(): dAL, folded into dZ3)."""
    from ..engine.adjoints import backprop
    from ..lang.model import example
    from ..lang.notebook_lines import learner_lines
    text = model_text if model_text is not None else example("two-layer")
    r = backprop(text, convention)
    adjoints = {g.name for g in r.gradients}
    skipped = r.skipped_adjoints()
    names = set(r.shapes) | adjoints | {d for s in r.shapes.values() for d in s if isinstance(d, str)}
    out, alias = [], {}                  # a line's value read by later lines: an adjoint's name, else inlined
    rows = source.splitlines()
    from ..lang.notebook import is_python_source
    forward = text if is_python_source(text) else None        # the forward functions, for what they return
    lines = learner_lines(source, names | {n for n, _, _ in _written_names(source)}, forward,
                          [(a.name, a.text) for a in r.model.assignments])
    skipped_names = {g.name for g in skipped}
    written_count = {}
    for x in lines:
        if not x.hidden:
            written_count[x.written] = written_count.get(x.written, 0) + 1
    for k, x in enumerate(lines):
        expr = x.expr
        for own, value in alias.items():               # later lines read the adjoint under the learner's name
            expr = re.sub(rf"\b{re.escape(own)}\b", value, expr)
        if x.hidden:                                   # a forward helper's line (s = sigmoid(Z)): read as it is
            alias[x.model] = f"({expr})"
            continue
        name = x.name
        named = r.adjoint_names.get(x.bound.get(name[1:], ""), "") if name.startswith("d") else ""
        if name not in adjoints and (named in adjoints or named in skipped_names):
            name = named                               # dAL for L_model_backward(AL, …): AL is A3, so dA3
        claim = f"{name} = {expr}"
        shown = rows[x.line - 1].strip() if 0 < x.line <= len(rows) else claim   # the line as the learner wrote it
        if name != x.written:
            shown = f"{shown}    (as {name})"
        if name in skipped_names:                      # dA3: the adjoint backprop folds into dZ3, judged as it
            try:
                v = check(text, claim, convention, r)
            except ChainruleError as e:
                out.append(LineVerdict(name, x.line, shown, None, e.message))
                continue
            alias[x.model] = name                      # later lines read the engine's dA3
            out.append(LineVerdict(name, x.line, shown, v.correct, v.reason, v.hint, v.expected))
            continue
        of = r.model.aliases.get(name[1:], name[1:]) if name.startswith("d") else None
        if name not in adjoints and of in r.model.declarations and r.model.declarations[of].is_data:
            alias[x.model] = f"({expr})"
            out.append(LineVerdict(name, x.line, shown, None, f"{name} is the adjoint of {of}, which is data: "
                                   "backprop does not compute it (not judged)"))
            continue
        ambiguous = name not in adjoints or written_count[x.written] > 1
        layer = _intended(x, lines[k + 1:], r, adjoints) if ambiguous and name == x.written else None
        if layer is not None:                          # dZ in a helper whose next lines are dW2, db2: dZ2
            name, claim = layer, f"{layer} = {expr}"
            shown += f"    (as {layer})" if layer != x.written else ""
        elif name not in adjoints:
            same = _same_as(r, expr, x.written, skipped)
            if same in skipped:                        # dAL: the adjoint backprop folds into dZ3 = A3 − Y
                alias[x.model] = same.name
                out.append(LineVerdict(name, x.line, shown, True, f"this is {same.name} = {same.text}, named {name} "
                                       "(backprop folds it into the next adjoint, so it has no line there)"))
            elif same is not None:
                alias[x.model] = same.name
                out.append(LineVerdict(name, x.line, shown, True, f"this is {same.name} = {same.text}, named {name}"))
            else:
                alias[x.model] = f"({expr})"
                why = f"{name} is none of the model's adjoints (adjoints: {', '.join(sorted(adjoints))})" \
                    if name.startswith("d") else f"{name} is a value of your own (no adjoint), read by the lines after it"
                out.append(LineVerdict(name, x.line, shown, None, why + ": not judged"))
            continue
        alias[x.model] = name
        try:
            v = check(text, claim, convention, r)
        except ChainruleError as e:
            out.append(LineVerdict(name, x.line, shown, None, e.message))
            continue
        out.append(LineVerdict(name, x.line, shown, v.correct, v.reason, v.hint, v.expected))
    return LinesVerdict(out)


def _intended(x, after, r, adjoints):
    """The adjoint an unnumbered (or reused) name stands for in this call or iteration: the one of that
    name the next judged line's own formula reads — dZ before grads["dW2"] = … is dZ2 when backprop's
    dW2 = (1/m) dZ2 A1ᵀ (dZ_2 where the model numbers versions) — or None. So a wrong dZ is judged as
    the adjoint it means, and flagged there, rather than passed on to the lines that read it."""
    from ..numeric.matrix_eval import variables
    reader = next((y for y in after if y.name in adjoints and not y.hidden and
                   re.search(rf"\b{re.escape(x.model)}\b", y.expr)), None)
    if reader is None:
        return None
    read = [n for n in variables(r[reader.name].matrix) if n in adjoints and n.startswith(x.written)
            and n != reader.name]
    return read[0] if len(read) == 1 else None


def _written_names(source):
    """The names the learner's lines assign (so that a later line may read them)."""
    import ast
    try:
        tree = ast.parse(source)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return []                                  # the reader says why
    return [(t.id, None, None) for node in ast.walk(tree) if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)]


def _same_as(result, expr, written="", extra=()):
    """The adjoint whose values a learner's line has (dtanh = (1 - a_next ** 2) * da_next is dz), or None:
    on two draws of data (a ReLU all on in one draw makes dZ2 and dA2 equal there); of several, the
    one named like the line (dZ for dZ2 rather than dA2)."""
    from ..lang import syntax as S
    from ..numeric.checks import adjoint_values
    from ..numeric.evaluate import evaluate_tree
    from ..numeric.matrix_eval import evaluate_matrix
    try:
        tree = S.parse_expression(expr)
    except ChainruleError:
        return None
    found = None
    for seed in (0, 1):
        try:
            values, dims = adjoint_values(result, seed=seed)
            with np.errstate(all="ignore"):
                v = np.asarray(evaluate_tree(tree, values, dims), dtype=float)
        except (ChainruleError, KeyError, ValueError, TypeError):
            return None
        values = dict(values, **{g.name: evaluate_matrix(g.matrix, values, dims) for g in extra})
        same = [g for g in list(result.gradients) + list(extra) if np.shape(values[g.name]) == v.shape and
                np.allclose(values[g.name], v, rtol=1e-7, atol=1e-9)]
        found = same if found is None else [g for g in found if g in same]
    if not found:
        return None
    return next((g for g in found if written and g.name.startswith(written)), found[0])
