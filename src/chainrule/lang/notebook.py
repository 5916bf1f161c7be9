"""A learner's notebook code — Python functions as the course writes them — interpreted, never run.
The source is parsed with `ast` and read symbolically by a whitelisted evaluator (the Reader):
function definitions are inlined at their calls, dicts/tuples/lists are containers
(`parameters["W1"]`, `cache = {...}`, `return A2, cache`), string keys may be built (`'W' + str(l)`,
f-strings), `if` on values known while reading, `for` over `range` with known bounds (unrolled,
bounded; each line tagged with its iteration, so lang.notebook_loops can write the loop back), keyword
and default arguments, reassignment renamed (A1 = A1 * D1 → A1_2), `return`. Array expressions are kept
as expressions over the model's names and become the model's lines; `np.random.*` results become data
(a dropout mask named after its variable); imports, `assert`, `print` and `np.random.seed` have no
effect.

lang.notebook_model makes a model's text of what the Reader read (shapes by lang.notebook_shapes);
lang.notebook_lines reads a learner's backward pass for check."""
import ast
import dataclasses
import re

from ..core.errors import ChainruleError

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
            producer = next((g for g in self.functions if g != name and g not in busy and a.arg in returned(self.functions[g])),
                            None)
            if producer is not None:
                out = self.call_top(producer, busy | {name})
                args[a.arg] = pick(out, self.functions[producer], a.arg)
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


def returned(f):
    """The names a function returns (return A2, cache → {'A2', 'cache'})."""
    return {v.id for _, vals in _returns(f) for v in vals if isinstance(v, ast.Name)}


def pick(value, f, name):
    """The returned value named `name` of a function's result."""
    for is_tuple, vals in _returns(f):
        for k, v in enumerate(vals):
            if isinstance(v, ast.Name) and v.id == name:
                return value[k] if is_tuple else value
    return value


def _is_cost(v):
    return isinstance(v.node, ast.Name) and re.match(r"(cost|loss|J)", v.node.id)


# -- shapes by unification, and the model text -------------------------------------------------------


def too_deep(source):
    return ChainruleError("the Python source is nested too deeply to read", source, 0, 1, 1, kind="notebook")


def rename_names(node, rename):
    """A copy of an expression with its names renamed ({old: new}); the node itself when there is none."""
    if not rename:
        return node

    class Swap(ast.NodeTransformer):
        def visit_Name(self, n):
            return ast.Name(rename.get(n.id, n.id), n.ctx)
    return Swap().visit(ast.parse(ast.unparse(node), mode="eval").body)
