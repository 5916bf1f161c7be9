"""Models as text: declarations (`W1: n_h, n_x`) and assignments (`Z1 = W1 @ X + b1`), the last
assignment being the scalar loss. Parsed line by line; errors name the line and column."""
import re
from dataclasses import dataclass, field

from . import syntax as S
from ..core.errors import ChainruleError
from .functions import FUNCTIONS
from .shapes import NAME_RE, ShapeChecker, fmt_shape, reserved_problem

PROPERTIES = ("data", "binary", "onehot", "positive", "symmetric", "spd")
MAX_LINES = 2000


@dataclass
class Declaration:
    name: str
    shape: tuple
    properties: frozenset
    line: int

    @property
    def is_data(self):
        return "data" in self.properties


@dataclass
class Assignment:
    name: str
    tree: S.Node
    line: int
    text: str
    shape: tuple = ()
    uses: tuple = ()                 # names of declared or assigned values it reads


@dataclass
class Model:
    text: str
    declarations: dict = field(default_factory=dict)
    assignments: list = field(default_factory=list)

    @property
    def loss(self):
        return self.assignments[-1]

    @property
    def parameters(self):
        """The declared names that are not data (computed once per number of declarations)."""
        cached = self.__dict__.get("_parameters")
        if cached is None or cached[0] != len(self.declarations):
            cached = (len(self.declarations), [d.name for d in self.declarations.values() if not d.is_data])
            self.__dict__["_parameters"] = cached
        return list(cached[1])

    def shapes(self):
        out = {n: d.shape for n, d in self.declarations.items()}
        out.update({a.name: a.shape for a in self.assignments})
        return out

    def assignment(self, name):
        return next(a for a in self.assignments if a.name == name)


def _err(message, text, line, start=0, end=None):
    row = text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else ""
    return ChainruleError(f"line {line}: {message}", text, start, end if end is not None else max(start + 1, len(row)),
                          line)


def parse_model(text):
    """Parse and shape-check a model; the last assignment must be a scalar loss."""
    if not isinstance(text, str):
        raise ChainruleError(f"a model must be text, got {type(text).__name__}")
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise ChainruleError(f"model too long ({len(lines)} lines, limit {MAX_LINES}): line {MAX_LINES + 1} is "
                             "past the limit", text, 0, 1, MAX_LINES + 1)
    from .notebook import is_python_source, notebook_model
    if is_python_source(text):              # a learner's notebook functions: read into a model, never run
        text = notebook_model(text)
        lines = text.splitlines()
    model = Model(text)
    seen = {}
    for number, raw in enumerate(lines, start=1):
        code = raw.split("#", 1)[0].rstrip()
        if not code.strip():
            continue
        if "=" in code and (":" not in code or code.index("=") < code.index(":")):
            _assignment(model, code, number, seen)
        elif ":" in code:
            _declaration(model, code, number, seen)
        else:
            raise _err("expected a declaration 'NAME: dim, dim' or an assignment 'NAME = expression'", text, number,
                       len(code) - len(code.lstrip()))
    if not model.assignments:
        last = max(1, len(lines))
        raise ChainruleError(f"line {last}: the model has no assignments: its last assignment is the loss, "
                             "e.g. J = ...", text, 0, 1, last)
    _check_shapes(model)
    loss = model.loss
    if any(d != 1 for d in loss.shape):
        raise _err(f"the loss {loss.name} must be a scalar, but its shape is {fmt_shape(loss.shape)} — "
                   f"did you mean sum(...) or mean(...)?", text, loss.line)
    return model


def _declaration(model, code, number, seen):
    name, rest = code.split(":", 1)
    col = len(name) - len(name.lstrip())
    name = name.strip()
    if not NAME_RE.match(name):
        raise _err(f"bad name {name!r} in a declaration", model.text, number, col, col + len(name) or col + 1)
    if name in seen:
        raise _err(f"{name} is already defined on line {seen[name]}", model.text, number, col, col + len(name))
    if reserved_problem(name):
        raise _err(reserved_problem(name), model.text, number, col, col + len(name))
    tokens = [t for t in re.split(r"[,\s]+", rest.strip()) if t]
    dims, props = [], []
    for tok in tokens:
        if tok in PROPERTIES:
            props.append(tok)
        elif props:
            raise _err(f"unknown property {tok!r} (properties: {', '.join(PROPERTIES)}; dimensions come first)",
                       model.text, number, code.index(tok), code.index(tok) + len(tok))
        elif tok == "scalar":
            continue
        elif tok.isascii() and tok.isdigit() and 1 <= int(tok) <= 10 ** 6:
            dims.append(int(tok))
        elif NAME_RE.match(tok) and reserved_problem(tok):
            raise _err(reserved_problem(tok).replace("a reserved name", "a reserved dimension name"),
                       model.text, number, code.index(tok), code.index(tok) + len(tok))
        elif NAME_RE.match(tok):
            dims.append(tok)
        else:
            raise _err(f"bad dimension or property {tok!r} (properties: {', '.join(PROPERTIES)})", model.text,
                       number, code.index(tok), code.index(tok) + len(tok))
    if len(dims) > 2:
        raise _err(f"{name} has {len(dims)} axes: models use scalars, vectors and matrices", model.text, number, col)
    seen[name] = number
    model.declarations[name] = Declaration(name, tuple(dims), frozenset(props), number)


def _assignment(model, code, number, seen):
    name, rhs = code.split("=", 1)
    col = len(name) - len(name.lstrip())
    name = name.strip()
    if not NAME_RE.match(name):
        raise _err(f"bad name {name!r} on the left of '='", model.text, number, col, col + max(1, len(name)))
    if name in seen:
        raise _err(f"{name} is already defined on line {seen[name]} (each name is assigned once)", model.text, number,
                   col, col + len(name))
    if name in FUNCTIONS:
        raise _err(f"{name} is a function name; choose another name", model.text, number, col, col + len(name))
    if reserved_problem(name):
        raise _err(reserved_problem(name), model.text, number, col, col + len(name))
    start = code.index("=") + 1
    tree = S.parse_expression(rhs, source=model.text, line=number, col=start)
    seen[name] = number
    model.assignments.append(Assignment(name, tree, number, rhs.strip()))


def _check_shapes(model):
    shapes = {n: d.shape for n, d in model.declarations.items()}
    dims = {d for s in shapes.values() for d in s if isinstance(d, str)}
    clash = dims & set(shapes)
    if clash:
        n = sorted(clash)[0]
        raise _err(f"{n} is both a dimension and a declared name", model.text, model.declarations[n].line)
    assigned = set()
    for a in model.assignments:
        for node in S.names(a.tree):
            if node.id not in shapes and node.id not in dims:
                later = node.id in {b.name for b in model.assignments}
                msg = (f"{node.id} is used before it is assigned" if later else
                       f"{node.id} is not declared: add a line such as '{node.id}: n, m'")
                raise ChainruleError(f"line {node.line}: {msg}", node.source, node.start, node.end, node.line)
        if a.name in dims:
            raise _err(f"{a.name} is a dimension name; choose another name", model.text, a.line)
        checker = ShapeChecker(shapes, FUNCTIONS, dims)
        a.shape = checker.check(a.tree)
        a.uses = tuple(dict.fromkeys(n.id for n in S.names(a.tree) if n.id in shapes))
        shapes[a.name] = a.shape
        assigned.add(a.name)


def examples():
    """Names of the built-in models."""
    from importlib.resources import files
    return sorted(p.name[:-len(".model")] for p in files("chainrule").joinpath("examples").iterdir()
                  if p.name.endswith(".model"))


def example(name):
    """The text of a built-in model."""
    from importlib.resources import files
    if name not in examples():
        raise ChainruleError(f"no built-in model {name!r}; choose one of {', '.join(examples())}")
    return files("chainrule").joinpath("examples", f"{name}.model").read_text()
