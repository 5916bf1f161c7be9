"""The one exception type chainrule raises for bad input, with a caret under the position."""


WINDOW = 100      # characters of a long source line shown around the caret


class ChainruleError(ValueError):
    """Bad input: the message names the sub-expression, the shapes and what to try.

    `kind` is a short code that callers switch on instead of the wording ("unknown-name",
    "unknown-function", "bad-axis", "shape", "syntax", "unsupported-operator"; None when unclassified).
    `fix` is a suggested change ("did you mean W2.T?"); the message shows it after the problem
    (`problem — fix`), and `problem` is the message without it."""

    def __init__(self, message, source=None, start=None, end=None, line=None, hint=None, *, kind=None, fix=None):
        self.problem, self.fix, self.kind = message, fix, kind
        self.message = f"{message} — {fix}" if fix else message
        self.source = source
        self.start = start
        self.end = end
        self.line = line
        self.hint = hint
        super().__init__(self.render())

    def render(self):
        parts = [self.message]
        if self.source is not None and self.start is not None:
            lines = self.source.splitlines() or [""]
            row = (self.line or 1) - 1
            text = lines[row] if 0 <= row < len(lines) else ""
            end = self.end if self.end is not None and self.end > self.start else self.start + 1
            prefix = f"line {self.line}, column {self.start + 1}: " if self.line and len(lines) > 1 else ""
            start, end = self.start, max(self.start + 1, min(end, len(text) or end))
            if len(text) > WINDOW:                      # a long line: only the part around the caret
                lo = max(0, min(start - WINDOW // 3, len(text) - WINDOW))
                hi = min(len(text), lo + WINDOW)
                text = ("…" if lo else "") + text[lo:hi] + ("…" if hi < len(text) else "")
                shift = lo - (1 if lo else 0)
                start, end = start - shift, min(end - shift, len(text))
                prefix = prefix or f"column {self.start + 1}: "
            parts.append(f"  {prefix}{text}")
            parts.append("  " + " " * (len(prefix) + start) + "^" * max(1, end - start))
        if self.hint:
            parts.append(self.hint)
        return "\n".join(parts)

    @property
    def position(self):
        return (self.line, self.start)


def argument_error(message, argument, value, hint=None, *, kind=None):
    """A ChainruleError about an argument given beside the text (wrt=, order=, target=, shapes=): shown
    as `argument=value` with the caret under the value."""
    import reprlib
    shown = f"{argument}={reprlib.repr(value)}"        # a huge value is shown cut short
    return ChainruleError(message, shown, len(argument) + 1, len(shown), None, hint, kind=kind)


def fail(message, node=None, source=None, hint=None):
    """Raise a ChainruleError positioned at a syntax node (anything with start/end/line)."""
    if node is not None and getattr(node, "start", None) is not None:
        raise ChainruleError(message, source or getattr(node, "source", None), node.start, node.end,
                             getattr(node, "line", None), hint)
    raise ChainruleError(message, source, hint=hint)
