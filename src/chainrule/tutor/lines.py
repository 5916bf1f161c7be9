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
        self.reason = (f"{len(wrong)} of {len(judged)} lines wrong: " + ", ".join(f"line {v.line} ({v.name})"
                                                                                for v in wrong)) if wrong else \
            f"all {len(judged)} lines right"
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
    """Each assignment of `source` judged by `check` (tutor.verdict's, for one claim)."""
    from ..engine.adjoints import backprop
    from ..lang.model import example
    from ..lang.notebook import learner_lines
    text = model_text if model_text is not None else example("two-layer")
    r = backprop(text, convention)
    adjoints = {g.name for g in r.gradients}
    names = set(r.shapes) | adjoints | {d for s in r.shapes.values() for d in s if isinstance(d, str)}
    out, alias = [], {}                  # a learner's own name (dtanh) -> the adjoint it was found to be
    rows = source.splitlines()
    lines = learner_lines(source, names | {n for n, _, _ in _written_names(source)})
    for name, expr, line in lines:
        for own, adjoint in alias.items():             # later lines read the adjoint under the learner's name
            expr = re.sub(rf"\b{re.escape(own)}\b", adjoint, expr)
        claim = f"{name} = {expr}"
        shown = rows[line - 1].strip() if 0 < line <= len(rows) else claim     # the line as the learner wrote it
        if name not in adjoints:
            same = _same_as(r, expr)
            if same is not None:
                alias[name] = same.name
                out.append(LineVerdict(name, line, shown, True, f"this is {same.name} = {same.text}, named {name}"))
            else:
                out.append(LineVerdict(name, line, shown, None, f"{name} is none of the model's adjoints (adjoints: "
                                       f"{', '.join(sorted(adjoints))}): not judged"))
            continue
        try:
            v = check(text, claim, convention)
        except ChainruleError as e:
            out.append(LineVerdict(name, line, shown, None, e.message))
            continue
        out.append(LineVerdict(name, line, shown, v.correct, v.reason, v.hint, v.expected))
    return LinesVerdict(out)


def _written_names(source):
    """The names the learner's lines assign (so that a later line may read them)."""
    import ast
    try:
        tree = ast.parse(source)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return []                                  # the reader says why
    return [(t.id, None, None) for node in ast.walk(tree) if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)]


def _same_as(result, expr):
    """The adjoint whose values a learner's line has (dtanh = (1 - a_next ** 2) * da_next is dz), or None."""
    from ..lang import syntax as S
    from ..numeric.checks import adjoint_values
    from ..numeric.evaluate import evaluate_tree
    try:
        tree = S.parse_expression(expr)
        values, dims = adjoint_values(result)
        with np.errstate(all="ignore"):
            v = np.asarray(evaluate_tree(tree, values, dims), dtype=float)
    except (ChainruleError, KeyError, ValueError, TypeError):
        return None
    return next((g for g in result.gradients if np.shape(values[g.name]) == v.shape and
                 np.allclose(values[g.name], v, rtol=1e-7, atol=1e-9)), None)
