"""Models as text: declarations (`W1: n_h, n_x`) and assignments (`Z1 = W1 @ X + b1`), the last
assignment being the scalar loss. Parsed line by line; errors name the line and column."""
import ast
import re
from dataclasses import dataclass, field

from . import syntax as S
from ..core.errors import ChainruleError
from .functions import FUNCTIONS
from .loops import INDEXED_RE, Loop, is_header, loop_error, parse_header, resolve_indexed, write_members
from .shapes import NAME_RE, ShapeChecker, fmt_shape, reserved_problem

PROPERTIES = ("data", "binary", "onehot", "positive", "symmetric", "spd")
MAX_LINES = 2000
MAX_UNROLLED = 20_000         # lines read once loops are unrolled (aliases and loop headers included)


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
    loops: list = field(default_factory=list)         # the model's loops (lang.loops.Loop), outermost
    aliases: dict = field(default_factory=dict)       # A0 -> X, from A[0] = X: a family member that is a name
    reading: list = field(default_factory=list)       # for Python source: how it was read (the loss's binding)
    rows_read: int = 0                                # lines read, loops unrolled (bounded: MAX_UNROLLED)

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
    from .notebook import is_python_source
    from .notebook_model import notebook_model
    reading = []
    if is_python_source(text):              # a learner's notebook functions: read into a model, never run
        text = notebook_model(text)
        lines = text.splitlines()
        reading = [row[2:] for row in lines if row.startswith("# ")]        # what the reader says it read
    model = Model(text, reading=reading)
    rows = [(number, raw.split("#", 1)[0].rstrip()) for number, raw in enumerate(lines, start=1)]
    _block(model, [(n, code) for n, code in rows if code.strip()], {}, {}, None)
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


def _indent(code):
    return len(code) - len(code.lstrip())


def _block(model, rows, env, seen, loop):
    """Read rows (line number, code) in order; a `for` header takes the rows indented under it."""
    k = 0
    while k < len(rows):
        number, code = rows[k]
        k += 1
        if is_header(code):
            body = []
            while k < len(rows) and _indent(rows[k][1]) > _indent(code):
                body.append(rows[k])
                k += 1
            _loop(model, number, code, body, env, seen, loop)
        elif "=" in code and (":" not in code or code.index("=") < code.index(":")):
            _assignment(model, code, number, seen, env, loop)
        elif ":" in code:
            _declaration(model, code, number, seen, env, loop)
        elif code.lstrip().startswith("for "):
            raise _err("a loop's header ends with a colon: for l in range(1, 3):", model.text, number, _indent(code))
        else:
            raise _err("expected a declaration 'NAME: dim, dim' or an assignment 'NAME = expression'", model.text,
                       number, _indent(code))
        model.rows_read += 1
        if model.rows_read > MAX_UNROLLED:
            raise _err(f"more than {MAX_UNROLLED:,} lines read once the loops are unrolled", model.text, number,
                       _indent(code))


def _loop(model, number, code, body, env, seen, outer):
    """`for l in range(…):` over its body: the body read once per value, and the loop recorded."""
    def err_at(message, start, end):
        return loop_error(message, model.text, number, start, end, env)
    var, values = parse_header(code, err_at)
    if not body:
        raise err_at("a loop needs its lines indented under it", _indent(code), len(code))
    if var in env or var in seen:
        raise err_at(f"{var} is already {'a loop variable' if var in env else 'a name of the model'}: "
                     "choose another loop variable", _indent(code), len(code))
    record = Loop(var, values, number, code.strip()[:-1].rstrip(), tuple(body)) if outer is None else outer
    for v in values:
        before = len(model.assignments)
        _block(model, body, {**env, var: v}, seen, record)
        if outer is None:
            record.iterations.append(tuple(a.name for a in model.assignments[before:]))
    if outer is None:
        record.nested = any(is_header(c) for _, c in body)
        model.loops.append(record)


def _member(model, written, env, loop, err_at, col):
    """The name an indexed `Z[l - 1]` stands for here (None when `written` is not indexed), recorded
    as the loop's family member; an alias (A[0] = X) is the name it is."""
    found = resolve_indexed(written, env, err_at, col)
    if found is None:
        return None
    family, k, name = found
    if loop is not None:
        loop.members.setdefault(name, (family, k))
        if name in model.aliases:
            loop.members.setdefault(model.aliases[name], (family, k))
            loop.aliases[name] = model.aliases[name]
    return name


def _indexer(model, env, loop, number, seen):
    """parse_expression's `index`: Z[l - 1] is the member Z1 (or what A[0] = X says A0 is)."""
    def index(base, node, err):
        if base in seen and env:
            err(f"{base} is a name of the model, so {base}[…] would index it: a loop's family needs a name of its "
                f"own ({base}[l] for {base}1, {base}2, … with no {base})", node)
        if base in seen:
            return None                                  # an array of the model indexed: not supported
        text = f"{base}[{ast.unparse(node)}]"
        name = _member(model, text, env, loop, lambda message, s, e: err(message, node), 0)
        return model.aliases.get(name, name)
    return index


def _concrete(model, text, env):
    """The right-hand side as this iteration reads it: Z[l - 1] written Z1 (for display; the parser has
    already judged every index in it)."""
    try:
        out = write_members(text, env, lambda *a: ChainruleError("index"), model.aliases)
    except ChainruleError:
        out = text
    for alias, name in model.aliases.items():          # A0, written plainly, is X too
        out = re.sub(rf"\b{alias}\b", name, out)
    return out


def _declaration(model, code, number, seen, env=None, loop=None):
    name, rest = code.split(":", 1)
    col = len(name) - len(name.lstrip())
    name = name.strip()
    if INDEXED_RE.match(name):                          # W[l]: n[l], n[l - 1] inside a loop
        name = _member(model, name, env or {}, loop,
                       lambda message, s, e: loop_error(message, model.text, number, s, e, env or {}), col)
        rest = _concrete_dims(model, rest, env or {}, number)
    if not NAME_RE.match(name):
        raise _err(f"bad name {name!r} in a declaration", model.text, number, col, col + len(name) or col + 1)
    if name in model.aliases:
        raise _err(f"{name} is already {model.aliases[name]} (an alias line above says so): declare another name",
                   model.text, number, col, col + len(name))
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


def _concrete_dims(model, rest, env, number):
    return write_members(rest, env, lambda message, s, e: loop_error(message, model.text, number, s, e, env))


def _assignment(model, code, number, seen, env=None, loop=None):
    env = env or {}
    name, rhs = code.split("=", 1)
    col = len(name) - len(name.lstrip())
    name = name.strip()
    written = name
    if INDEXED_RE.match(name):                          # Z[l] = … in a loop, or A[0] = X (an alias)
        name = _member(model, name, env, loop, lambda message, s, e: loop_error(message, model.text, number, s, e,
                                                                                  env), col)
        if name not in seen and name not in model.aliases and NAME_RE.match(rhs.strip()) and rhs.strip() in seen:
            if env:
                raise _err(f"{written} = {rhs.strip()} inside a loop: say what a family's first member is before "
                           f"the loop ({written.split('[')[0]}[0] = {rhs.strip()})", model.text, number, col,
                           col + len(written))
            model.aliases[name] = rhs.strip()          # A[0] = X: A0 is X, no line of its own
            return
    if name in model.aliases:
        raise _err(f"{name} is already {model.aliases[name]} ({written} = {model.aliases[name]})", model.text,
                   number, col, col + len(written))
    if env and written == name and NAME_RE.match(name):
        var = next(iter(reversed(env)))
        raise _err(f"{name} is assigned in a loop without an index, so every iteration would write the same "
                   f"name: write {name}[{var}] (and read it as {name}[{var}], {name}[{var} - 1])", model.text, number,
                   col, col + len(name))
    if not NAME_RE.match(name):
        raise _err(f"bad name {name!r} on the left of '='", model.text, number, col, col + max(1, len(name)))
    if name in seen:
        raise _err(f"{name} is already defined on line {seen[name]} (each name is assigned once)", model.text,
                   number, col, col + len(written))
    if name in FUNCTIONS:
        raise _err(f"{name} is a function name; choose another name", model.text, number, col, col + len(name))
    if reserved_problem(name):
        raise _err(reserved_problem(name), model.text, number, col, col + len(name))
    start = code.index("=") + 1
    tree = S.parse_expression(rhs, source=model.text, line=number, col=start,
                              index=_indexer(model, env, loop, number, seen), aliases=model.aliases)
    seen[name] = number
    model.assignments.append(Assignment(name, tree, number, _concrete(model, rhs.strip(), env)))


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
                member = next((loop.members[node.id] for loop in model.loops if node.id in loop.members), None)
                if member and not later:           # A[l - 1] at l = 1 in a loop: A0, which nothing defines
                    msg += f", or say what {member[0]}[{member[1]}] is before the loop ({member[0]}[{member[1]}] = X)"
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
