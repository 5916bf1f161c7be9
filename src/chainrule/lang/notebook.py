"""A learner's notebook code — Python functions as the course writes them — read into a model, never
run. The source is parsed with `ast` and interpreted symbolically by a whitelisted evaluator: function
definitions are inlined at their calls, dicts/tuples/lists are containers (`parameters["W1"]`,
`cache = {...}`, `return A2, cache`), string keys may be built (`'W' + str(l)`), `if` on values known
while reading, `for` over `range` with known bounds (unrolled, bounded), keyword and default
arguments, reassignment renamed (A1 = A1 * D1 → A1_2), `return`. Array expressions are kept as
expressions over the model's names and become the model's lines; `np.random.*` results become data
(a dropout mask named after its variable); imports, `assert`, `print` and `np.random.seed` have no
effect. Shapes are inferred by unification over the lines (np.dot(W1, X) ties W1's columns to X's
rows), dimensions named the course's way (n_x and m from X, n_y from Y, n_h for a hidden layer).

`notebook_model(source, loss=None, data=None)` returns the model text; engine/adjoints reads it like
any model. (Loops are unrolled here; the sequence-model issue keeps them as loops: `_For` is the one
place that decides.)"""
import ast
import dataclasses
import re

from ..core.errors import ChainruleError, argument_error
from .notebook_loops import rolled_text

MAX_STEPS = 20_000        # statements and expressions interpreted (unrolled loops included)
MAX_CALLS = 64            # nested function calls (recursion)
LAYERS = 3                # an L-layer net's L where the code reads len(parameters) // 2 and layers= is not given
DATA_NAMES = ("X", "Y", "x", "y", "X_train", "Y_train", "labels")
SCALAR_NAMES = ("lambd", "keep_prob", "learning_rate", "alpha", "beta", "epsilon", "eps", "reg", "lam", "lambda_")
NP_ELEMENTWISE = {"tanh", "exp", "log", "sqrt", "abs", "maximum", "minimum", "power", "multiply", "add", "subtract",
                  "divide", "square", "log1p", "expm1", "sin", "cos", "where", "clip", "sign", "greater", "less"}
NP_KEEP = NP_ELEMENTWISE | {"dot", "sum", "mean", "squeeze", "matmul", "transpose", "float64", "int64", "array"}


def is_python_source(text):
    """Is this Python code (a function definition or an import), not the model language?"""
    if not isinstance(text, str) or not re.search(r"^(def |import |from \S+ import )", text, re.M):
        return False
    try:
        tree = ast.parse(text)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return True                               # Python that does not parse: said so by the reader
    return any(isinstance(n, (ast.FunctionDef, ast.Import, ast.ImportFrom)) for n in tree.body)


# -- values of the interpreter ------------------------------------------------------------------
@dataclasses.dataclass
class Arr:
    """An array (or scalar) expression over the model's names."""
    node: ast.expr


@dataclasses.dataclass
class Rand:
    """A value drawn at random (np.random.rand), or computed from such values only: data to the model."""
    name: str = None
    like: ast.expr = None            # an array whose shape it has (np.random.rand(A1.shape[0], A1.shape[1]))


@dataclasses.dataclass
class Shape:
    of: ast.expr


@dataclasses.dataclass
class Func:
    node: ast.FunctionDef


class Params(dict):
    """The `parameters` argument: each key read declares a parameter of that name; its length is
    2 × layers (W and b per layer: L = len(parameters) // 2)."""

    def __init__(self, reader):
        super().__init__()
        self.reader = reader

    def __len__(self):
        return 2 * self.reader.layers


class Lookup(dict):
    """A cache read by a learner's backward pass: each string key is the model's value of that name."""

    def __init__(self, reader):
        super().__init__()
        self.reader = reader


class Module:
    def __init__(self, path):
        self.path = path


class _Return(Exception):
    def __init__(self, value):
        self.value = value


class Reader:
    def __init__(self, source, data=None, layers=LAYERS):
        self.source, self.layers = source, layers
        try:
            self.tree = ast.parse(source)
        except SyntaxError as e:
            line = e.lineno or 1
            raise ChainruleError(f"line {line}: not valid Python: {e.msg}", source, max(0, (e.offset or 1) - 1),
                                 e.offset or 1, line, kind="notebook") from None
        except (RecursionError, MemoryError, ValueError):
            raise ChainruleError("the Python source is nested too deeply to read", source, 0, 1, 1,
                                 kind="notebook") from None
        self.data = set(data or ()) | set(DATA_NAMES)
        self.lines = []               # (model name, ast expr, source line)
        self.decls = {}               # name -> "data" | "param" | "scalar" | "mask"
        self.used = {}                # model names taken -> count
        self.steps = 0
        self.calls = 0
        self.local_lines = {}          # model name -> the call depth its line was written at
        self.written = []              # (the name as the code writes it, the model name, source line)
        self.family = {}               # model name -> the name the code assigns it to (Z for Z3 = …, A2 for s)
        self.loop_tag = None           # (loop, value) while reading an outermost `for` loop's body
        self.tags = {}                 # model name -> the (loop, value) whose iteration wrote it
        self.loops = []                # per outermost loop: (its variable, [(value, …)])
        self.bindings = []             # (function, argument, the function whose return it is, the value)
        self.keyed = {}                # model name -> the dict key its value was stored under (grads["dW3"])
        self.outside = {}              # names read from a model when judging lines (check): name -> kind
        self.functions = {}
        self.globals = {"np": Module("np"), "numpy": Module("np")}
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef):
                self.functions[node.name] = node
                self.globals[node.name] = Func(node)
            elif isinstance(node, ast.Import):            # import numpy as np: a module name, nothing loaded
                for a in node.names:
                    self.globals[a.asname or a.name] = Module("np" if a.name == "numpy" else a.name)

    # -- errors ---------------------------------------------------------------------------------
    def err(self, message, node, hint=None):
        line = getattr(node, "lineno", 1)
        row = self.source.splitlines()[line - 1] if self.source.splitlines() else ""
        start = getattr(node, "col_offset", 0)
        end = getattr(node, "end_col_offset", None) or len(row)
        if getattr(node, "end_lineno", line) != line:
            end = len(row)
        return ChainruleError(f"line {line}: {message}", self.source, start, max(end, start + 1), line, hint,
                              kind="notebook")

    def tick(self, node):
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise self.err(f"more than {MAX_STEPS:,} steps of reading (a loop too long to unroll)", node)

    # -- names ----------------------------------------------------------------------------------
    def fresh(self, name):
        """The model name for an assignment to `name`: the name itself, then name_2, name_3, …"""
        k = self.used.get(name, 0) + 1
        self.used[name] = k
        out = name if k == 1 and name not in self.decls else f"{name}_{k}"
        while out in self.decls or (out != name and out in self.used):
            k += 1
            out = f"{name}_{k}"
        self.used[out] = 1
        return out

    def declare(self, name, kind):
        self.decls.setdefault(name, kind)
        self.used.setdefault(name, 1)
        return Arr(ast.Name(name, ast.Load()))

    # -- entry ----------------------------------------------------------------------------------
    def run(self, loss=None):
        """Call the loss function (binding its arguments to other functions' returns by name) and
        return the model name of the scalar loss."""
        name = self.chosen = loss or self._loss_function()
        if name not in self.functions:
            raise self.err(f"no function named {name!r} to use as the loss", self.tree.body[0] if self.tree.body
                           else self.tree)
        value = self.call_top(name, set())
        loss_value = self._scalar_of(value)
        if loss_value is None:
            raise self.err(f"{name} returns no scalar: the loss must be a number (or a tuple holding one)",
                           self.functions[name])
        if isinstance(loss_value.node, ast.Name) and any(n == loss_value.node.id for n, _, _ in self.lines):
            return loss_value.node.id
        return self.bind_line("cost", loss_value, self.functions[name]).node.id

    def _loss_function(self):
        """The last top-level function whose returns hold a cost (named cost/loss/J), else the last; then
        a function that returns its call (model(X, Y, parameters) returning compute_cost(AL, Y) after
        AL = forward(X, parameters)), which says what its arguments are."""
        names = list(self.functions)
        if not names:
            raise ChainruleError("no function definitions in the source", self.source, 0, 1, 1, kind="notebook")
        found = names[-1]
        for n in reversed(names):
            if any(isinstance(r, ast.Return) and r.value is not None and any(
                    isinstance(x, ast.Name) and re.match(r"(cost|loss|J)\b", x.id) for x in ast.walk(r.value))
                    for r in ast.walk(self.functions[n])):
                found = n
                break
        seen = {found}
        while True:
            caller = next((g for g in names if g not in seen and _returns_call_of(self.functions[g], found)), None)
            if caller is None:
                return found
            found = caller
            seen.add(caller)

    def _scalar_of(self, value):
        if isinstance(value, tuple):
            for v in value:
                if isinstance(v, Arr) and _is_cost(v):
                    return v
            return next((v for v in value if isinstance(v, Arr)), None)
        return value if isinstance(value, Arr) else None

    def call_top(self, name, busy):
        """Call a top-level function with its arguments bound: to another function's returned names
        (compute_cost(A2, Y) after forward_propagation returns A2), or declared as inputs."""
        f = self.functions[name]
        args = {}
        for a in f.args.args:
            producer = next((g for g in self.functions if g != name and g not in busy and a.arg in _returned(self.functions[g])),
                            None)
            if producer is not None:
                out = self.call_top(producer, busy | {name})
                args[a.arg] = _pick(out, self.functions[producer], a.arg)
                self.bindings.append((name, a.arg, producer, args[a.arg]))
            else:
                args[a.arg] = self.input(a.arg)
        return self.invoke(f, [], args, f)

    def input(self, name):
        if name in ("parameters", "params", "weights"):
            return Params(self)
        if name in self.data:
            return self.declare(name, "data")
        if name in SCALAR_NAMES or name.startswith(("lambd", "keep_prob", "learning_rate")):
            return self.declare(name, "scalar")
        if name in ("cache", "caches", "grads"):
            return Lookup(self) if self.outside else {}
        return self.declare(name, "param")

    # -- calls ----------------------------------------------------------------------------------
    def invoke(self, f, args, kwargs, at):
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise self.err(f"more than {MAX_CALLS} nested calls (recursion is not followed)", at)
        try:
            env = dict(self.globals)
            params = f.args.args
            defaults = f.args.defaults
            for k, a in enumerate(params):
                if k < len(args):
                    env[a.arg] = args[k]
                elif a.arg in kwargs:
                    env[a.arg] = kwargs[a.arg]
                elif k >= len(params) - len(defaults):
                    env[a.arg] = self.expr(defaults[k - (len(params) - len(defaults))], env)
                else:
                    raise self.err(f"{f.name}() is called without its argument {a.arg!r}", at)
            try:
                self.block(f.body, env)
            except _Return as r:
                return r.value
            return None
        finally:
            self.calls -= 1

    # -- statements -----------------------------------------------------------------------------
    def block(self, body, env):
        for s in body:
            self.stmt(s, env)

    def stmt(self, s, env):
        self.tick(s)
        if isinstance(s, ast.FunctionDef):
            env[s.name] = Func(s)
        elif isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass, ast.Assert, ast.Global, ast.Nonlocal)):
            if isinstance(s, ast.Import):
                for a in s.names:
                    env[a.asname or a.name] = Module(a.name if a.name != "numpy" else "np")
        elif isinstance(s, ast.Expr):
            if isinstance(s.value, ast.Constant):
                return                                               # a docstring
            if isinstance(s.value, ast.Call) and isinstance(s.value.func, ast.Name) and s.value.func.id == "print":
                return
            self.expr(s.value, env)
        elif isinstance(s, ast.Return):
            raise _Return(None if s.value is None else self.expr(s.value, env))
        elif isinstance(s, ast.Assign):
            value = self.expr(s.value, env)
            for t in s.targets:
                self.assign(t, value, env, s)
        elif isinstance(s, ast.AnnAssign) and s.value is not None:
            self.assign(s.target, self.expr(s.value, env), env, s)
        elif isinstance(s, ast.AugAssign):
            load = _as_load(s.target)
            self.assign(s.target, self.expr(ast.BinOp(load, s.op, s.value, lineno=s.lineno, col_offset=s.col_offset),
                                            env), env, s)
        elif isinstance(s, ast.If):
            test = self.expr(s.test, env)
            if isinstance(test, (Arr, Rand)):
                raise self.err("an `if` on an array's values (data-dependent control flow) cannot be followed", s.test)
            self.block(s.body if test else s.orelse, env)
        elif isinstance(s, ast.For):
            it = self.expr(s.iter, env)
            if not isinstance(it, (range, list, tuple)):
                raise self.err("a `for` loop over something other than a range or a list of known length", s.iter)
            outer = self.loop_tag is None and isinstance(s.target, ast.Name)
            if outer:
                self.loops.append((s.target.id, []))
            try:
                for v in it:
                    if outer:
                        self.loop_tag = (len(self.loops) - 1, v)
                        self.loops[-1][1].append(v)
                    self.assign(s.target, v, env, s)
                    self.block(s.body, env)
            finally:
                if outer:
                    self.loop_tag = None
        elif isinstance(s, ast.While):
            raise self.err("a `while` loop: its number of steps is not known while reading the code", s)
        else:
            raise self.err(f"{type(s).__name__} statements are not read", s)

    def assign(self, target, value, env, at):
        if isinstance(target, ast.Name):
            if isinstance(value, Arr) and not _bare(value.node):
                value = self.bind_line(target.id, value, at)
            elif isinstance(value, Arr) and isinstance(value.node, ast.Name) and value.node.id in self.local_lines \
                    and self.local_lines[value.node.id] > self.calls:
                value = self.rename_line(value.node.id, target.id)    # A = sigmoid(…): the line is A, not s
            elif isinstance(value, Rand):
                value = Rand(target.id, value.like)
            env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            if not isinstance(value, (tuple, list)) or len(value) != len(target.elts):
                raise self.err("unpacking needs a tuple of the same length", target)
            for t, v in zip(target.elts, value):
                self.assign(t, v, env, at)
        elif isinstance(target, ast.Subscript):
            box = self.expr(target.value, env)
            key = self.expr(target.slice, env)
            if isinstance(box, Arr) and isinstance(key, Arr) and isinstance(target.value, ast.Name) \
                    and isinstance(target.slice, ast.Compare) and (_known(value) or isinstance(value, Arr)):
                # dZ[Z <= 0] = 0: the entries where the comparison holds replaced, np.where(Z <= 0, 0, dZ)
                where = ast.Call(ast.Attribute(ast.Name("np", ast.Load()), "where", ast.Load()),
                                 [key.node, self.node(value, at), box.node], [])
                env[target.value.id] = self.bind_line(target.value.id, Arr(where), at)
                return
            if not isinstance(box, dict):
                raise self.err("assignment into an array's entries is not read (only into a dict, or a "
                               "comparison's entries: dZ[Z <= 0] = 0)", target)
            if isinstance(value, Arr) and not _bare(value.node) and isinstance(key, str):
                value = self.bind_line(key, value, at)
            elif isinstance(value, Arr) and isinstance(value.node, ast.Name) and isinstance(key, str) \
                    and value.node.id in self.local_lines:
                self.keyed.setdefault(value.node.id, key)   # grads["dW" + str(l)] = dW_temp: that line is dW3
            box[key] = value
        else:
            raise self.err("this kind of assignment target is not read", target)

    def bind_line(self, name, value, at):
        """A model line `name = expression` (renamed when the name is taken); the value is then its name.
        A helper's name without a layer number takes the number of what it reads (Z = np.dot(W3, A2) + b3
        is Z3, A = relu(Z3) is A3), as the course names them."""
        name = name_as_written = re.sub(r"\W", "_", name)
        if not re.search(r"\d$", name) and self.calls > 1:
            read = [n.id for n in ast.walk(value.node) if isinstance(n, ast.Name)]      # in reading order
            read = [n for n in read if self.decls.get(n) == "param"] + read             # a layer's W3 first
            numbers = [m.group(1) for n in read for m in [re.search(r"[A-Za-z](\d+)$", n)] if m]
            if numbers and f"{name}{numbers[0]}" not in self.used:
                name = f"{name}{numbers[0]}"
        model_name = self.fresh(name)
        self.family[model_name] = name_as_written
        if self.loop_tag is not None:
            self.tags[model_name] = self.loop_tag
        self.lines.append((model_name, value.node, getattr(at, "lineno", 1)))
        self.written.append((name_as_written, model_name, getattr(at, "lineno", 1)))
        self.local_lines[model_name] = self.calls
        return Arr(ast.Name(model_name, ast.Load()))

    def rename_line(self, old, name):
        """A helper's local line taken by the caller's name (the last line, read by nothing yet)."""
        k = next((k for k, (n, _, _) in enumerate(self.lines) if n == old), None)
        if k is None or re.search(r"\d$", old) or any(old in {x.id for x in ast.walk(node) if isinstance(x, ast.Name)}
                            for _, node, _ in self.lines[k + 1:]):
            return Arr(ast.Name(old, ast.Load()))
        new = self.fresh(re.sub(r"\W", "_", name))
        self.family[new] = re.sub(r"\W", "_", name)
        self.written = [(w, new if m == old else m, ln) for w, m, ln in self.written]
        if old in self.tags:
            self.tags[new] = self.tags.pop(old)
        self.lines[k] = (new, self.lines[k][1], self.lines[k][2])
        del self.local_lines[old]
        self.local_lines[new] = self.calls
        return Arr(ast.Name(new, ast.Load()))

    # -- expressions ----------------------------------------------------------------------------
    def expr(self, e, env):
        self.tick(e)
        if isinstance(e, ast.Constant):
            return e.value
        if isinstance(e, ast.Name):
            if e.id in env:
                return env[e.id]
            if e.id in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[e.id]
            if e.id in ("range", "len", "str", "int", "float", "print", "sigmoid", "relu", "reversed"):
                return e.id
            if e.id in self.outside:                      # a model's name, read by a learner's lines
                return Arr(ast.Name(e.id, ast.Load()))
            raise self.err(f"{e.id!r} is not defined here", e)
        if isinstance(e, ast.Tuple):
            return tuple(self.expr(x, env) for x in e.elts)
        if isinstance(e, ast.JoinedStr):                  # f"dW{l + 1}": a key known while reading
            parts = []
            for v in e.values:
                x = self.expr(v.value, env) if isinstance(v, ast.FormattedValue) else v.value
                if not _known(x) or isinstance(v, ast.FormattedValue) and (v.format_spec or v.conversion != -1):
                    raise self.err("an f-string of a value not known while reading (or with a format)", v)
                parts.append(str(x))
            return "".join(parts)
        if isinstance(e, ast.List):
            return [self.expr(x, env) for x in e.elts]
        if isinstance(e, ast.Dict):
            return {self.expr(k, env): self.expr(v, env) for k, v in zip(e.keys, e.values)}
        if isinstance(e, ast.Subscript):
            return self.subscript(e, env)
        if isinstance(e, ast.Attribute):
            return self.attribute(e, env)
        if isinstance(e, ast.BinOp):
            a, b = self.expr(e.left, env), self.expr(e.right, env)
            if _known(a) and _known(b):
                return _python_op(e.op, a, b, self, e)
            return self.combine(a, b, lambda x, y: ast.BinOp(x, e.op, y), e)
        if isinstance(e, ast.UnaryOp):
            v = self.expr(e.operand, env)
            if _known(v):
                return {ast.USub: lambda x: -x, ast.UAdd: lambda x: x, ast.Not: lambda x: not x}[type(e.op)](v)
            return self.combine(v, None, lambda x, _: ast.UnaryOp(e.op, x), e)
        if isinstance(e, ast.Compare) and len(e.ops) == 1:
            a, b = self.expr(e.left, env), self.expr(e.comparators[0], env)
            if _known(a) and _known(b):
                return _python_compare(e.ops[0], a, b)
            return self.combine(a, b, lambda x, y: ast.Compare(x, [e.ops[0]], [y]), e)
        if isinstance(e, ast.Call):
            return self.call(e, env)
        if isinstance(e, ast.IfExp):
            test = self.expr(e.test, env)
            if isinstance(test, (Arr, Rand)):
                raise self.err("a conditional on an array's values cannot be followed", e.test)
            return self.expr(e.body if test else e.orelse, env)
        raise self.err(f"{type(e).__name__} expressions are not read", e)

    def combine(self, a, b, build, at):
        """An operation on arrays: random values stay data (the mask's own lines are not the model's)."""
        coefficient = lambda v: _known(v) or isinstance(v, Arr) and isinstance(v.node, ast.Name) and \
            self.decls.get(v.node.id) == "scalar"                     # noqa: E731 — (D1 < keep_prob)
        if isinstance(a, Rand) and (b is None or isinstance(b, Rand) or coefficient(b)):
            return a
        if isinstance(b, Rand) and coefficient(a):
            return b
        x, y = self.node(a, at), None if b is None else self.node(b, at)
        return Arr(build(x, y))

    def node(self, v, at):
        if isinstance(v, Arr):
            return v.node
        if isinstance(v, Rand):
            if v.name is None:
                raise self.err("a random value must be named (D1 = np.random.rand(…)) before it is used", at)
            return self.declare(v.name, "mask").node
        if isinstance(v, bool):
            return ast.Constant(float(v))
        if isinstance(v, (int, float)):
            return ast.Constant(v)
        raise self.err(f"a {type(v).__name__} where an array is expected", at)

    def subscript(self, e, env):
        box = self.expr(e.value, env)
        key = self.expr(e.slice, env)
        if isinstance(box, Params):
            if not isinstance(key, str):
                raise self.err("a parameter key must be a string known while reading", e.slice)
            if key not in box:                                  # data= may name a dict entry too
                box[key] = box.reader.declare(key, "data" if key in box.reader.data else "param")
            return box[key]
        if isinstance(box, Lookup) and isinstance(key, str) and key not in box:
            box[key] = Arr(ast.Name(key, ast.Load()))         # cache["A1"]: the model's A1
            return box[key]
        if isinstance(box, dict):
            if key not in box:
                raise self.err(f"no key {key!r} here (keys: {', '.join(map(str, box)) or 'none'})", e.slice)
            return box[key]
        if isinstance(box, (tuple, list)) and isinstance(key, int):
            return box[key]
        if isinstance(box, Shape) and isinstance(key, int):
            return Arr(ast.Subscript(ast.Attribute(box.of, "shape", ast.Load()), ast.Constant(key), ast.Load()))
        raise self.err("indexing an array is not read yet (only X.shape[k], dicts and tuples)", e)

    def attribute(self, e, env):
        if isinstance(e.value, ast.Name) and isinstance(env.get(e.value.id), Module):
            return Module(env[e.value.id].path + "." + e.attr)
        v = self.expr(e.value, env)
        if isinstance(v, Module):
            return Module(v.path + "." + e.attr)
        if isinstance(v, list) and e.attr == "append":
            return ("append", v)
        if e.attr == "shape" and isinstance(v, (Arr, Rand)):
            return Shape(self.node(v, e) if isinstance(v, Arr) else v.like)
        if e.attr == "T" and isinstance(v, (Arr, Rand)):
            return self.combine(v, None, lambda x, _: ast.Attribute(x, "T", ast.Load()), e)
        if isinstance(v, (Arr, Rand)) and e.attr in ("sum", "mean", "dot", "astype", "squeeze", "transpose", "reshape"):
            return ("method", v, e.attr)
        raise self.err(f"the attribute .{e.attr} is not read here", e)

    def call(self, e, env):
        f = self.expr(e.func, env)
        if f == "print":
            return None
        args = [self.expr(a, env) for a in e.args]
        kwargs = {k.arg: self.expr(k.value, env) for k in e.keywords if k.arg}
        if isinstance(f, Func):
            return self.invoke(f.node, args, kwargs, e)
        if f == "range":
            if not 1 <= len(args) <= 3 or kwargs or not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
                raise self.err("range() needs one to three whole-number bounds known while reading", e)
            if len(args) == 3 and args[2] == 0:
                raise self.err("range() with a step of 0", e)
            return range(*args)
        if f == "reversed":
            if len(args) != 1 or kwargs or not isinstance(args[0], (range, list, tuple)):
                raise self.err("reversed() of something other than a range or a list", e)
            return list(reversed(args[0]))
        if f == "len":
            if isinstance(args[0], (dict, tuple, list)):
                return len(args[0])                              # parameters: 2 × layers
            raise self.err("len() of a value not known while reading (pass layers=… for an L-layer net)", e)
        if f in ("str", "int", "float"):
            if isinstance(args[0], Arr) and f != "str":
                return args[0]                                   # float(np.squeeze(cost)): the same number
            if not _known(args[0]):
                raise self.err(f"{f}() of an array", e)
            return {"str": str, "int": int, "float": float}[f](args[0])
        if f in ("sigmoid", "relu"):
            return self.combine(args[0], None, lambda x, _: ast.Call(ast.Name(f, ast.Load()), [x], []), e)
        if isinstance(f, tuple) and f[0] == "append":
            f[1].append(args[0])
            return None
        if isinstance(f, tuple) and f[0] == "method":
            _, v, name = f
            if name == "astype" or name == "reshape" and len(args) == 1 and isinstance(args[0], Shape):
                return v                                       # Y.reshape(AL.shape): Y itself, shapes unified
            node = self.node(v, e)
            return Arr(ast.Call(ast.Attribute(node, name, ast.Load()), [self.node(a, e) for a in args],
                                [ast.keyword(k, _const(val)) for k, val in kwargs.items()]))
        if isinstance(f, Module) and (f.path == "np" or f.path.startswith("np.")):
            return self.numpy(f.path, args, kwargs, e)
        raise self.err(f"a call of {ast.unparse(e.func)}() is not read (not a function of this source, nor NumPy's)",
                       e.func)

    def numpy(self, path, args, kwargs, e):
        name = path.split(".", 1)[1] if "." in path else path
        if name.startswith("random."):
            what = name.split(".", 1)[1]
            if what == "seed":
                return None
            first = args[0].node if args and isinstance(args[0], Arr) else None
            like = first.value.value if isinstance(first, ast.Subscript) and isinstance(first.value, ast.Attribute) \
                else None                                         # np.random.rand(A1.shape[0], A1.shape[1]): A1's
            return Rand(None, like)
        name = {"nansum": "sum", "nanmean": "mean"}.get(name, name)       # no NaN in a derivation
        if name not in NP_KEEP:
            raise self.err(f"np.{name} is not read yet", e.func)
        if name in ("float64", "int64", "array", "squeeze") and args:
            return args[0]                   # np.squeeze(cost): the course's cost is already a number
        nodes = [self.node(a, e) for a in args]
        return Arr(ast.Call(ast.Attribute(ast.Name("np", ast.Load()), name, ast.Load()), nodes,
                            [ast.keyword(k, _const(v)) for k, v in kwargs.items()]))


# -- helpers ---------------------------------------------------------------------------------------
def _known(v):
    return isinstance(v, (int, float, str, bool)) or v is None


def _const(v):
    return ast.Constant(v) if _known(v) else (v.node if isinstance(v, Arr) else ast.Constant(None))


def _bare(node):
    """A name, or a size (X.shape[1]): bound as it is, without a line of its own."""
    return isinstance(node, ast.Name) or isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
        and node.value.attr == "shape"


def _as_load(t):
    """The target of x += … read as a value."""
    return ast.parse(ast.unparse(t), mode="eval").body


def _python_op(op, a, b, reader, at):
    big = isinstance(op, ast.Pow) and isinstance(b, (int, float)) and (abs(b) > 64 or isinstance(a, (int, float))
                                                                      and abs(a) > 1e6 and b > 1) or \
        isinstance(op, ast.Mult) and (isinstance(a, str) or isinstance(b, str)) and \
        len(str(a if isinstance(a, str) else b)) * abs(b if isinstance(a, str) else a) > 10 ** 5
    if big:
        raise reader.err("a number or text too large to compute while reading", at)
    ops = {ast.Add: lambda x, y: x + y, ast.Sub: lambda x, y: x - y, ast.Mult: lambda x, y: x * y,
           ast.Div: lambda x, y: x / y, ast.FloorDiv: lambda x, y: x // y, ast.Mod: lambda x, y: x % y,
           ast.Pow: lambda x, y: x ** y}
    try:
        return ops[type(op)](a, b)
    except (KeyError, TypeError, ZeroDivisionError, OverflowError) as err:
        raise reader.err(f"cannot compute this while reading ({err or type(op).__name__})", at) from None


def _python_compare(op, a, b):
    return {ast.Lt: a < b, ast.Gt: a > b, ast.LtE: a <= b, ast.GtE: a >= b, ast.Eq: a == b,
            ast.NotEq: a != b}.get(type(op), False) if not (isinstance(a, str) ^ isinstance(b, str)) else False


def _returns(f):
    """(is a tuple, the returned expressions) of each `return` of a function."""
    for r in ast.walk(f):
        if isinstance(r, ast.Return) and r.value is not None:
            yield isinstance(r.value, ast.Tuple), r.value.elts if isinstance(r.value, ast.Tuple) else [r.value]


def _returns_call_of(f, name):
    """Does f return name(…) — directly, or as a name assigned from it — with no loop (not a training loop)?"""
    if any(isinstance(n, (ast.For, ast.While)) for n in ast.walk(f)):
        return False
    calls = lambda v: isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == name  # noqa: E731
    assigned = {t.id for n in ast.walk(f) if isinstance(n, ast.Assign) and calls(n.value) for t in n.targets
                if isinstance(t, ast.Name)}
    return any(isinstance(r, ast.Return) and r.value is not None and
               (calls(r.value) or isinstance(r.value, ast.Name) and r.value.id in assigned) for r in ast.walk(f))


def _returned(f):
    """The names a function returns (return A2, cache → {'A2', 'cache'})."""
    return {v.id for _, vals in _returns(f) for v in vals if isinstance(v, ast.Name)}


def _pick(value, f, name):
    """The returned value named `name` of a function's result."""
    for is_tuple, vals in _returns(f):
        for k, v in enumerate(vals):
            if isinstance(v, ast.Name) and v.id == name:
                return value[k] if is_tuple else value
    return value


def _is_cost(v):
    return isinstance(v.node, ast.Name) and re.match(r"(cost|loss|J)", v.node.id)


# -- shapes by unification, and the model text -------------------------------------------------------
class _Dims:
    """Union-find over dimension variables; a class may be the literal size 1."""

    def __init__(self):
        self.parent, self.one = {}, set()

    def new(self):
        k = len(self.parent)
        self.parent[k] = k
        return k

    def find(self, k):
        if k == 1 and k not in self.parent:
            return "1"
        if isinstance(k, str):
            return k
        while self.parent[k] != k:
            self.parent[k] = self.parent[self.parent[k]]
            k = self.parent[k]
        return "1" if k in self.one else k

    def union(self, a, b):
        a, b = self.find(a), self.find(b)
        if a == b:
            return
        if a == "1" or b == "1":
            self.one.add(b if a == "1" else a)
            return
        self.parent[b] = a
        if b in self.one:
            self.one.add(a)


def notebook_model(source, loss=None, data=None, layers=LAYERS, shapes=None, dims=None):
    """The model text of a learner's Python source (see the module docstring). `shapes` fixes the
    dimensions of named arrays ({"W1": ("n_h", "n_x")} or sizes), `dims` renames or sizes the inferred
    dimensions ({"n_1": "n_h", "n_2": 7})."""
    try:
        return _notebook_model(source, loss, data, layers, shapes or {}, dims or {})
    except RecursionError:
        raise _too_deep(source) from None


def _too_deep(source):
    return ChainruleError("the Python source is nested too deeply to read", source, 0, 1, 1, kind="notebook")


def _notebook_model(source, loss, data, layers, fixed_shapes, fixed_dims):
    reader = Reader(source, data, layers)
    loss_name = reader.run(loss)
    loss_function = loss or reader.chosen
    lines = _needed(reader.lines, loss_name)
    lines, loss_name = _last_takes_the_name(reader, lines, loss_name)
    dims = _Dims()
    shapes = {}
    for name, kind in reader.decls.items():
        if kind == "scalar":
            shapes[name] = ()
        elif kind == "param" and re.match(r"b(\d|$|_|\[)", name):
            shapes[name] = (dims.new(), "1")           # a bias: a column, broadcast along the examples
        else:
            shapes[name] = (dims.new(), dims.new())
    for name, node, line in lines:
        try:
            shapes[name] = _shape(node, shapes, dims)
        except _ShapeError as e:
            raise ChainruleError(f"line {line}: the shapes do not fit ({e}) in {name} = {ast.unparse(node)}", source,
                                 0, 1, line, kind="notebook") from None
    names = _fixed(_dim_names(reader, shapes, dims), shapes, dims, fixed_shapes, fixed_dims)
    uses_log = any("log" in ast.unparse(node) for _, node, _ in lines)
    out = ["# read from Python source (never run)", _loss_note(reader, loss_function)]
    read = {n for _, node, _ in lines for n in _names(node)}          # once: declarations × lines was quadratic
    for name, kind in reader.decls.items():
        if name not in read:
            continue
        dim_text = ", ".join(names.get(dims.find(d), "1") if d != "1" else "1" for d in shapes[name])
        tag = {"data": "data binary" if uses_log and name in ("Y", "y") else "data", "mask": "data binary",
               "scalar": "scalar data positive" if "keep" in name else "scalar data", "param": ""}[kind]
        out.append(f"{name}: {dim_text or 'scalar'} {tag}".rstrip() if dim_text else f"{name}: {tag}")
    loops = [(var, [(v, [n for n, _, _ in lines if reader.tags.get(n) == (k, v)]) for v in values])
             for k, (var, values) in enumerate(reader.loops)]
    taken = {n for n, _, _ in lines} | set(reader.decls)
    body, _ = rolled_text(lines, loops, reader.family, taken)
    return "\n".join(out + body) + "\n"


def _last_takes_the_name(reader, lines, loss_name):
    """A name assigned again (A1 = relu(Z1); A1 = A1 * D1; A1 = A1 / keep_prob) names its last value, as
    the code's later lines and the course's cache mean it: A1_1, A1_2, A1 (so dA1 = W2ᵀ dZ2 comes first)."""
    kept = {name for name, _, _ in lines}
    versions = {}
    for written, model, _ in reader.written:
        if model in kept:
            versions.setdefault(written, []).append(model)
    taken = kept | set(reader.decls)
    rename = {}
    for written, models in versions.items():
        if len(models) < 2 or models[0] != written:
            continue
        new = [f"{written}_{k}" for k in range(1, len(models))] + [written]
        if any(n in taken and n not in models for n in new):
            continue
        rename.update({m: n for m, n in zip(models, new) if m != n})
    if not rename:
        return lines, loss_name
    for table in (reader.tags, reader.family):
        table.update({rename[n]: table.pop(n) for n in [n for n in table if n in rename]})

    class Swap(ast.NodeTransformer):
        def visit_Name(self, node):
            return ast.Name(rename.get(node.id, node.id), node.ctx)
    out = [(rename.get(n, n), Swap().visit(ast.parse(ast.unparse(node), mode="eval").body), line)
           for n, node, line in lines]
    return out, rename.get(loss_name, loss_name)


def _loss_note(reader, function):
    """`# the loss: compute_cost(AL, Y), AL being L_model_forward's AL (A3); Y data`: how it was bound."""
    f = reader.functions[function]
    parts = []
    for fn, arg, producer, value in reader.bindings:
        if fn == function:
            shown = ast.unparse(value.node) if isinstance(value, Arr) else "its value"
            parts.append(f"{arg} is what {producer} returns as {arg}" + (f" ({shown})" if shown != arg else ""))
    bound = {arg for fn, arg, _, _ in reader.bindings if fn == function}
    taken = [a.arg for a in f.args.args if reader.decls.get(a.arg) == "param" and a.arg not in bound
             and re.match(r"(A|AL|Yhat|y_hat|a)\d*$", a.arg)]
    if taken:
        parts.append(f"{', '.join(taken)} read as a parameter: no function returns a value of that name")
    data = [a.arg for a in f.args.args if reader.decls.get(a.arg) == "data"]
    if data:
        parts.append(f"{', '.join(data)} {'is' if len(data) == 1 else 'are'} data")
    call = f"{function}({', '.join(a.arg for a in f.args.args)})"
    return f"# the loss: {call}" + (f" — {'; '.join(parts)}" if parts else "")


def _fixed(names, shapes, dims, fixed_shapes, fixed_dims):
    """The inferred dimension names with shapes= and dims= applied (a name or a size for each)."""
    from .shapes import normalize_shapes
    out = dict(names)
    for name, given in normalize_shapes(fixed_shapes).items():
        if name not in shapes:
            raise argument_error(f"shapes names {name!r}, which the code does not use (its arrays: "
                                 f"{', '.join(n for n in shapes if shapes[n])})", "shapes", fixed_shapes,
                                 kind="unknown-name")
        inferred = shapes[name]
        if len(given) != len(inferred):
            raise argument_error(f"shapes gives {name} {len(given)} axes, but the code makes it "
                                 f"{len(inferred)}-D", "shapes", fixed_shapes)
        for d, g in zip(inferred, given):
            c = dims.find(d)
            if c == "1":
                if g != 1:
                    raise argument_error(f"shapes gives {name} the size {g} where the code needs 1 (a bias "
                                         "column, or a broadcast axis)", "shapes", fixed_shapes)
                continue
            if c in fixed_classes(out, names) and out[c] != str(g):
                raise argument_error(f"shapes gives one dimension two sizes: {out[c]} and {g}", "shapes",
                                     fixed_shapes)
            out[c] = str(g)
    for old, new in fixed_dims.items():
        classes = [c for c, n in names.items() if n == old]
        if not classes:
            raise argument_error(f"dims names {old!r}, which is not a dimension of the code (its dimensions: "
                                 f"{', '.join(dict.fromkeys(names.values()))})", "dims", fixed_dims,
                                 kind="unknown-name")
        if not (isinstance(new, str) and re.match(r"^[A-Za-z][A-Za-z0-9_]*$", new)) and not (
                isinstance(new, int) and not isinstance(new, bool) and 1 <= new <= 10 ** 6):
            raise argument_error(f"dims gives {old} {new!r}: a dimension is a name or a whole number from 1 "
                                 "to 1,000,000", "dims", fixed_dims)
        others = {n for c, n in out.items() if c not in classes}
        if str(new) in others and not isinstance(new, int):
            raise argument_error(f"dims gives {old} the name {new}, which another dimension of the code has: two "
                                 "sizes would be one", "dims", fixed_dims)
        if str(new) in shapes:
            raise argument_error(f"dims gives {old} the name {new}, which is an array of the code", "dims", fixed_dims)
        for c in classes:
            out[c] = str(new)
    return out


def fixed_classes(out, names):
    """The dimension classes whose name shapes= has already set (differs from the inferred one)."""
    return {c for c in out if out[c] != names.get(c)}


class _ShapeError(Exception):
    pass


def _names(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _needed(lines, loss):
    """The lines the loss reads, directly or not (a function that also computes dw, db: those go)."""
    need, out = {loss}, []
    for name, node, line in reversed(lines):
        if name in need:
            out.append((name, node, line))
            need |= _names(node)
    return out[::-1]


def _shape(node, shapes, dims):
    s = lambda n: _shape(n, shapes, dims)            # noqa: E731
    if isinstance(node, ast.Name):
        if node.id not in shapes:
            raise _ShapeError(f"{node.id} has no shape")
        return shapes[node.id]
    if isinstance(node, ast.Constant):
        return ()
    if isinstance(node, ast.Subscript):                # X.shape[1]: a size
        return ()
    if isinstance(node, ast.Attribute) and node.attr == "T":
        return tuple(reversed(s(node.value)))
    if isinstance(node, ast.UnaryOp):
        return s(node.operand)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.MatMult):
            return _matmul(s(node.left), s(node.right), dims)
        return _broadcast(s(node.left), s(node.right), dims)
    if isinstance(node, ast.Compare):
        return _broadcast(s(node.left), s(node.comparators[0]), dims)
    if isinstance(node, ast.Call):
        f = node.func
        fname = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        method = isinstance(f, ast.Attribute) and not (isinstance(f.value, ast.Name) and f.value.id == "np")
        args = ([f.value] if method else []) + list(node.args)
        kw = {k.arg: k.value for k in node.keywords}
        if fname in ("dot", "matmul"):
            return _matmul(s(args[0]), s(args[1]), dims)
        if fname in ("sum", "mean"):
            x = s(args[0])
            axis = kw.get("axis", args[1] if len(args) > 1 else None)
            keep = isinstance(kw.get("keepdims"), ast.Constant) and kw["keepdims"].value
            if axis is None or not x:
                return ()
            k = axis.value if isinstance(axis, ast.Constant) else -1
            k = k % len(x)
            return tuple("1" if j == k else d for j, d in enumerate(x)) if keep else \
                tuple(d for j, d in enumerate(x) if j != k)
        if fname == "squeeze":
            x = s(args[0])
            return tuple(d for d in x if dims.find(d) != "1")
        if fname == "transpose":
            return tuple(reversed(s(args[0])))
        shape = ()
        for a in args:
            shape = _broadcast(shape, s(a), dims)
        return shape
    raise _ShapeError(f"cannot read the shape of {ast.unparse(node)}")


def _matmul(a, b, dims):
    if len(a) != 2 or len(b) != 2:
        raise _ShapeError("a matrix product of arrays that are not matrices")
    dims.union(a[1], b[0])
    return (a[0], b[1])


def _broadcast(a, b, dims):
    if not a:
        return b
    if not b:
        return a
    if len(a) != len(b):
        raise _ShapeError("arrays of different ranks")
    out = []
    for x, y in zip(a, b):
        fx, fy = dims.find(x), dims.find(y)
        if fx == "1":
            out.append(y)
        elif fy == "1":
            out.append(x)
        else:
            dims.union(x, y)
            out.append(x)
    return tuple(out)


def _dim_names(reader, shapes, dims):
    """The course's names: n_x and m from X, n_y from Y, n_h for one hidden size (else n_1, n_2, …)."""
    names = {}
    x = next((n for n in ("X", "x", "X_train") if n in shapes and len(shapes[n]) == 2), None)
    y = next((n for n in ("Y", "y", "Y_train") if n in shapes and len(shapes[n]) == 2), None)
    if x:
        names.setdefault(dims.find(shapes[x][0]), "n_x")
        names.setdefault(dims.find(shapes[x][1]), "m")
    if y:
        names.setdefault(dims.find(shapes[y][0]), "n_y")
        names.setdefault(dims.find(shapes[y][1]), "m")
    rest = []
    for name in reader.decls:
        for d in shapes.get(name, ()):
            c = dims.find(d)
            if c != "1" and c not in names and c not in rest:
                rest.append(c)
    for k, c in enumerate(rest):
        names[c] = "n_h" if len(rest) == 1 else f"n_{k + 1}"
    names.pop("1", None)
    return names


def learner_lines(source, names, forward=None, model_lines=()):
    """See _learner_lines; a source nested past the interpreter's depth is an error, not a crash."""
    try:
        return _learner_lines(source, names, forward, model_lines)
    except RecursionError:
        raise _too_deep(source) from None


def _learner_lines(source, names, forward, model_lines):
    """The assignments of a learner's backward pass — a `def backward_propagation(parameters, cache,
    X, Y):` or bare lines — as (name as written, expression text over the model's names, source line),
    the function read like a forward one: cache["A1"] and parameters["W2"] are the model's A1 and
    W2, helpers inlined. `names`: the model's names (each may be read directly). With `forward`, the
    Python source the model was read from, an argument the forward functions return (AL, caches of
    C1W4's L_model_backward(AL, Y, caches)) is what they return, each value named as the model names
    it (`model_lines`: the model's (name, expression text))."""
    text = source if re.search(r"^def ", source, re.M) else \
        "def _lines():\n" + "\n".join("    " + ln for ln in source.splitlines())
    own = [n.name for n in _parsed(text).body if isinstance(n, ast.FunctionDef)]
    if forward:
        theirs = {n.name: n for n in _parsed(forward).body if isinstance(n, ast.FunctionDef)}
        clash = [n for n in own if n in theirs and ast.dump(theirs[n]) != ast.dump(
            next(x for x in _parsed(text).body if isinstance(x, ast.FunctionDef) and x.name == n))]
        if clash:
            raise ChainruleError(f"your backward pass defines {clash[0]}(), which the forward code defines "
                                 "differently: rename one of them", source, 0, 1, 1, kind="notebook")
    reader = Reader(text + "\n\n\n" + forward if forward else text)
    reader.outside = {n: "model" for n in names}
    reader.used.update({n: 1 for n in names})        # the learner's lines never take a model's (or adjoint's) name
    fname = next((n for n in reversed(own) if n.startswith(("backward", "_lines"))), own[-1] if own else None)
    if fname is None:
        raise ChainruleError("no lines to check", source, 0, 1, 1, kind="notebook")
    f = reader.functions[fname]
    args = {}
    for a in f.args.args:
        producer = next((g for g in reader.functions if g not in own and a.arg in _returned(reader.functions[g])),
                        None) if forward and a.arg not in names else None
        if producer is not None:                       # L_model_backward(AL, Y, caches): L_model_forward's
            args[a.arg] = _pick(reader.call_top(producer, set(own)), reader.functions[producer], a.arg)
        else:
            args[a.arg] = Arr(ast.Name(a.arg, ast.Load())) if a.arg in names else reader.input(a.arg)
    forward_lines = list(reader.lines)
    start = len(reader.written)
    reader.invoke(f, [], args, f)
    rename = _as_the_model_names(forward_lines, model_lines)
    exprs = {model: _renamed_names(node, rename) for model, node, _ in reader.lines}
    shift = 0 if text is source else 1
    last = len(text.splitlines())
    bound = {a: ast.unparse(_renamed_names(v.node, rename)) for a, v in args.items()
             if isinstance(v, Arr) and isinstance(v.node, ast.Name)}
    return [LearnerLine(reader.keyed.get(model, written), written, model, ast.unparse(exprs[model]), line - shift,
                        hidden=line > last, bound=bound)
            for written, model, line in reader.written[start:] if model not in rename]


@dataclasses.dataclass
class LearnerLine:
    """One assignment of a learner's backward pass, as read: `name` is what it computes by the code's
    own account (a dict key it is stored under, grads["dW3"], else the name it is assigned to), `model`
    the reader's name for this value (a helper called per layer writes one per call), `expr` over the
    model's names and earlier lines' `model` names."""
    name: str
    written: str
    model: str
    expr: str
    line: int
    hidden: bool = False        # a line of a helper the forward source defines (sigmoid): read, not judged
    bound: dict = dataclasses.field(default_factory=dict, repr=False)   # the function's arguments: AL -> A3


def _parsed(text):
    try:
        return ast.parse(text)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return ast.Module([], [])                       # the Reader says why


def _as_the_model_names(lines, model_lines):
    """{a forward line's name as read here: the model's name for the same expression}: the model's
    names come from the whole reading (versions renamed, loops rolled), found here by expression."""
    by_text = {}
    for name, text in model_lines:
        try:
            by_text.setdefault(ast.unparse(ast.parse(text, mode="eval").body), name)
        except SyntaxError:
            continue
    rename = {}
    for name, node, _ in lines:
        found = by_text.get(ast.unparse(_renamed_names(node, rename)))
        if found is not None:
            rename[name] = found
    return rename


def _renamed_names(node, rename):
    if not rename:
        return node

    class Swap(ast.NodeTransformer):
        def visit_Name(self, n):
            return ast.Name(rename.get(n.id, n.id), n.ctx)
    return Swap().visit(ast.parse(ast.unparse(node), mode="eval").body)
