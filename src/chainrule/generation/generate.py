"""Code generation: a readable Python module computing a model's loss and exact gradients (or an
expression's value, gradient and Hessian) with NumPy, JAX or PyTorch.

The forward pass is the model's own equations; the backward pass is chainrule's adjoints in matrix
form (course convention: dZ = m·∂J/∂Z, so the 1/m sits in dW and db, and every parameter gradient
is exactly ∂J/∂p). Forward values are reused by name, subexpressions that occur more than once are
computed once (t1 = …), keepdims and 1-D shapes are exact, and there is no Python loop over entries.
"""
from fractions import Fraction

from ..lang import syntax as S
from ..core.errors import ChainruleError
from ..core.matrix import M, MFunc, MPow, MVar, canon
from ..core.tensor import work_budget
from ..render.numpy_code import NumpyPrinter
from ..lang.functions import FUNCTIONS
from ..core.rules import ELEMENTWISE, code_for, number_code
from ..numeric.evaluate import evaluate_tree

TARGETS = ("numpy", "jax", "torch")


class NumpyTarget(NumpyPrinter):
    """NumPy; comparisons stay boolean arrays inside products (cheaper than np.heaviside)."""
    np = "np"
    target = "numpy"
    header = "import numpy as np"
    defs = {}                  # temporaries' expressions (set by the module writer)

    def __init__(self, dims=None):
        super().__init__(dims)
        self.helpers = {}      # name -> module-level source the code calls (erf)

    def needs(self, fn):
        self.helpers.update(fn.helpers.get(self.target, {}))

    def p_MFunc(self, m):
        fn = ELEMENTWISE[m.name]
        if fn.style == "indicator":
            return f"({self(m.x)} {fn.op} 0)", 5
        return super().p_MFunc(m)

    def statement(self, m):
        """Code for a whole right-hand side: a bare comparison becomes a float array."""
        code = self(m)
        if isinstance(m, MFunc) and ELEMENTWISE[m.name].style == "indicator":
            return f"{code} * 1.0"
        return code


    def p_MMatMul(self, m):
        """X diag(v) Xᵀ with v ≥ 0 as B Bᵀ, B = X ⊙ √v: NumPy then uses a symmetric rank-k update (half
        the flops of a general product) — the Gauss–Newton / logistic-regression Hessian."""
        from ..core.matrix import MDiag, MMatMul, MT
        a, b = m.a, m.b
        if isinstance(a, MMatMul) and isinstance(a.b, MDiag) and isinstance(b, MT) and a.a.ndim == 2 and \
                canon(a.a) == canon(b.x) and nonnegative(a.b.v, self.defs):
            return (f"(_B := {self.wrap(a.a, 2)} * {self.np}.sqrt({self(a.b.v)})) @ _B.T", 2)
        return super().p_MMatMul(m)


def nonnegative(m, defs=None):
    """Is every entry of m ≥ 0, whatever the data? (squares, exp, σ, 1 − σ, relu, |x|, indicators, …);
    `defs` gives the expressions of generated temporaries."""
    from ..core.matrix import MAdd, MHad, MNum, MPow, MScale
    defs = defs or {}
    if isinstance(m, MNum):
        return m.value >= 0
    if isinstance(m, MVar):
        return m.is_dim or (m.name in defs and nonnegative(defs[m.name], defs))
    if isinstance(m, MPow):
        return (m.e.denominator == 1 and m.e.numerator % 2 == 0) or nonnegative(m.x, defs)
    if isinstance(m, MFunc):
        return ELEMENTWISE[m.name].sign in ("positive", "nonnegative")
    if isinstance(m, MHad):
        return all(nonnegative(f, defs) for f in m.factors)
    if isinstance(m, MScale):
        return m.coef > 0 and nonnegative(m.x, defs)
    if isinstance(m, MAdd) and len(m.terms) == 2:            # c − f(x) with f ≤ c: 1 − σ(x), 1 − tanh²(x)
        c = [t.value for t in m.terms if isinstance(t, MNum)]
        bounded = [t for t in m.terms if isinstance(t, MScale) and t.coef == -1 and _upper(t.x, defs) is not None]
        return bool(c and bounded) and _upper(bounded[0].x, defs) <= c[0]      # noqa: E501
    return False


def _upper(m, defs):
    """A bound m ≤ u known from the registry (σ ≤ 1, tanh² ≤ 1), or None."""
    if isinstance(m, MVar) and m.name in defs:
        return _upper(defs[m.name], defs)
    if isinstance(m, MFunc):
        return ELEMENTWISE[m.name].bound                    # f ≤ |f| ≤ bound
    if isinstance(m, MPow) and m.e.denominator == 1 and m.e > 0 and isinstance(m.x, MFunc):
        b = ELEMENTWISE[m.x.name].bound
        return None if b is None else b ** m.e.numerator    # |f|ᵏ ≤ bᵏ
    return None


class JaxTarget(NumpyTarget):
    p_MMatMul = NumpyPrinter.p_MMatMul
    np = "jnp"
    target = "jax"
    header = "import jax\nimport jax.numpy as jnp"


class TorchTarget(NumpyTarget):
    """PyTorch: dim/keepdim, torch.linalg, factories with the inputs' dtype."""
    p_MMatMul = NumpyPrinter.p_MMatMul
    np = "torch"
    target = "torch"
    header = "import torch"

    def p_MFunc(self, m):
        fn = ELEMENTWISE[m.name]
        if fn.style == "indicator":                    # a bool tensor would make (Z > 0) / 100 float32
            return f"({self(m.x)} {fn.op} 0).to(dtype)", 5
        if not _has_array(m.x):                        # torch's functions take tensors only: log(2)
            return code_for(fn, "torch", self._tensor(m.x), self._tensor(m.x), m.params), 5
        return super().p_MFunc(m)

    def p_MPow(self, m):
        if m.e == Fraction(1, 2) and not _has_array(m.x):
            return f"torch.sqrt({self._tensor(m.x)})", 5
        return super().p_MPow(m)

    def _tensor(self, m):
        return f"torch.tensor({self(m)}, dtype=dtype)"

    def p_MSum(self, m):
        args = [self(m.x)] + ([f"dim={m.axis}"] if m.axis is not None else []) + \
            (["keepdim=True"] if m.keepdims else [])
        return f"torch.sum({', '.join(args)})", 5

    def p_MIdentity(self, m):
        return f"torch.eye({self.dim(m.n)}, dtype=dtype)", 5

    def p_MOnes(self, m):
        return f"torch.ones({self.shape(m.shape)}, dtype=dtype)", 5

    def p_MZeros(self, m):
        return (f"torch.zeros({self.shape(m.shape)}, dtype=dtype)" if m.shape else "0.0"), 5

    def p_MExpand(self, m):
        return f"torch.unsqueeze({self(m.x)}, {m.axis})", 5

    def p_MEinsum(self, m):
        return f"torch.einsum('{m.spec}', " + ", ".join(self(o) for o in m.operands) + ")", 5

    def p_MSoftmax(self, m):
        if m.axis is None:
            return f"torch.softmax(torch.flatten({self(m.x)}), 0).reshape({self(m.x)}.shape)", 5
        return f"torch.softmax({self(m.x)}, {m.axis})", 5


PRINTERS = {"numpy": NumpyTarget, "jax": JaxTarget, "torch": TorchTarget}


# -- the model's own equations as code --------------------------------------------------------------
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2, "**": 4}


class TreeCode:
    """A parsed equation as target code (the forward pass): the model's text, spelled per library."""

    def __init__(self, target):
        self.t = target
        self.np = PRINTERS[target].np
        self.target = target
        self.helpers = {}             # module-level functions the code needs (NumPy softmax, erf)

    def __call__(self, node):
        return self.p(node)[0]

    def wrap(self, node, prec):
        s, q = self.p(node)
        return f"({s})" if q < prec else s

    def p(self, n):
        if isinstance(n, S.Name):
            return n.id, 9
        if isinstance(n, S.Const):
            v = n.value
            return number_code(v), (9 if v >= 0 else 3)
        if isinstance(n, S.Neg):
            return "-" + self.wrap(n.operand, 3), 3
        if isinstance(n, S.Transpose):
            return self.wrap(n.operand, 9) + ".T", 9
        if isinstance(n, S.Compare):
            return f"({self(n.left)} {n.op} {self(n.right)})", 9
        if isinstance(n, S.Binary):
            p = _PREC[n.op]
            if n.op == "**":
                return f"{self.wrap(n.left, 5)} ** {self.wrap(n.right, 5)}", 4
            right = p + (1 if n.op in "-/@*" else 0)
            return f"{self.wrap(n.left, p)} {n.op} {self.wrap(n.right, right)}", p
        if isinstance(n, S.Call):
            return self.call(n), 9
        raise ChainruleError(f"cannot generate code for {type(n).__name__}")

    def call(self, n):
        if self.target == "torch" and n.args and not _names_used(n):
            # torch's functions take tensors only: a function of constants (np.sqrt(2)) is its value
            return f"torch.tensor({float(evaluate_tree(n, {}, {}))!r}, dtype=dtype)"
        return FUNCTIONS[n.fn].code(self, n)

    def tensor(self, node):
        """An argument as PyTorch wants it: a constant becomes a tensor of the inputs' dtype."""
        if self.target == "torch" and isinstance(node, S.Const):
            return f"torch.tensor({float(node.value)!r}, dtype=dtype)"
        return self(node)

    def need(self, helpers):
        """Module-level helpers (name -> source) the code calls: NumPy softmax, erf."""
        self.helpers.update(helpers)


def _with_helpers(lines, helpers, header):
    """Insert the helper functions and imports the generated code calls, after the imports."""
    extra = []
    for name in sorted(helpers):
        extra += ["", ""] + helpers[name].splitlines()
    k = lines.index(header.splitlines()[-1]) + 1
    return lines[:k] + extra + lines[k:]


# -- common subexpressions ---------------------------------------------------------------------------
def _children(m):
    for f in m.__dataclass_fields__:
        v = getattr(m, f)
        if isinstance(v, M):
            yield v
        elif isinstance(v, tuple):
            yield from (x for x in v if isinstance(x, M))


def _worth(m):
    """Only subexpressions that cost something are named: array products, functions, sums, inverses
    (not a transpose, a view, or a scalar made of sizes and numbers such as 1/m)."""
    if isinstance(m, MVar) or type(m).__name__ in ("MNum", "MT", "MIdentity", "MOnes", "MZeros", "MSqueeze",
                                                   "MExpand") or not any(True for _ in _children(m)):
        return False
    return m.ndim > 0 or _has_array(m)


def _has_array(m):
    return (isinstance(m, MVar) and not m.is_dim) or any(_has_array(c) for c in _children(m))


def _substitute(m, names):
    """m with every subexpression named in `names` (canonical key → variable) replaced, outermost first."""
    from ..core.matrix import mat_map

    def named(n):
        key = canon(n)
        return MVar(names[key], n.shape) if key in names else None
    return mat_map(m, lambda n: n, before=named)


def _size(m):
    return 1 + sum(_size(c) for c in _children(m))


def eliminate_common(statements, prefix="t"):
    """statements: [(name, M)] in order. Returns [(name, M)] where every non-trivial subexpression that
    occurs twice or more is computed once, as a temporary placed before its first use: the largest
    shared subexpression is named first, then the counts are taken again."""
    out = list(statements)
    made = 0
    while True:
        counts, first = {}, {}

        def walk(x, k):
            key = canon(x)
            counts[key] = counts.get(key, 0) + 1
            first.setdefault(key, (k, x))
            for c in _children(x):
                walk(c, k)
        for k, (_, m) in enumerate(out):
            walk(m, k)
        shared = [(_size(x), k, key, x) for key, (k, x) in first.items() if counts[key] > 1 and _worth(x)]
        if not shared:
            return _renumber(out, prefix)
        _, k, key, x = max(shared, key=lambda t: (t[0], -t[1]))
        made += 1
        name = f"{prefix}{made}"
        out = [(n, _substitute(m, {key: name})) for n, m in out]
        out.insert(k, (name, x))


def _renumber(statements, prefix):
    """Temporaries numbered in the order they are defined: t1, t2, …"""
    from ..core.matrix import mat_map
    temps = [n for n, _ in statements if n.startswith(prefix) and n[len(prefix):].isdigit()]
    new = {old: f"{prefix}{k}" for k, old in enumerate(temps, 1)}
    rename = lambda m: MVar(new[m.name], m.shape) if isinstance(m, MVar) and m.name in new else m   # noqa: E731
    return [(new.get(n, n), mat_map(m, rename)) for n, m in statements]


# -- model modules -----------------------------------------------------------------------------------
def model_source(model_text, target="numpy"):
    """The module source: loss_and_grads(values) -> (loss, {parameter: exact gradient})."""
    from ..engine.adjoints import backprop
    if target not in TARGETS:
        raise ChainruleError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    result = backprop(model_text, "course")
    model = result.model
    printer = PRINTERS[target]()
    code = TreeCode(target)
    lines = ['"""Generated by chainrule: the loss of the model below and its exact gradients, with '
             f'{target}.', "", "Model:"]
    lines += ["    " + _in_docstring(ln) for ln in model.text.strip().splitlines()]
    lines += ["", "loss_and_grads(values): values maps every declared name to its array (dimensions are read",
              "from the arrays' shapes); returns (loss, grads) with grads[p] = ∂J/∂p for every parameter p.",
              '"""', *printer.header.splitlines(), "", "", "def loss_and_grads(values):"]
    body = [f"{name} = values[{name!r}]" for name in model.declarations]
    if target == "torch":
        first = next(iter(model.declarations))
        body.append(f"dtype = {first}.dtype if torch.is_tensor({first}) else torch.float64")
    seen = set()
    for name, d in model.declarations.items():
        for k, dim in enumerate(d.shape):
            if isinstance(dim, str) and dim not in seen:
                seen.add(dim)
                body.append(f"{dim} = {name}.shape[{k}]")
    forward_code = [(a.name, code(a.tree)) for a in model.assignments]
    statements = eliminate_common([(g.name, g.matrix) for g in result.gradients])
    printer.defs = dict(statements)
    backward_code = [(name, printer.statement(m)) for name, m in statements]
    grad = result.adjoint_names
    kept = {model.loss.name} | {grad[p] for p in model.parameters}
    freed = _last_uses(forward_code + backward_code, kept)
    body.append("# forward pass: the model's equations")
    for k, (name, rhs) in enumerate(forward_code):
        body += [f"{name} = {rhs}"] + freed.get(k, [])
    body.append(f"# backward pass: adjoints (convention: {result.note})")
    for k, (name, rhs) in enumerate(backward_code, len(forward_code)):
        body += [f"{name} = {rhs}"] + freed.get(k, [])
    derived = {g.of for g in result.gradients}
    unread = [p for p in model.parameters if p not in derived]            # the loss does not read them
    lib = "torch" if target == "torch" else printer.np
    body += [f"{grad[p]} = {lib}.zeros_like({p})" for p in unread]
    grads = ", ".join(f"{p!r}: {grad[p]}" for p in model.parameters)
    body.append(f"return {model.loss.name}, {{{grads}}}")
    lines += ["    " + ln for ln in body]
    setup = body[:body.index("# forward pass: the model's equations")]
    values = ", ".join(f"{a.name!r}: {a.name}" for a in model.assignments)
    lines += ["", "", "def forward(values):", '    """Every value of the forward pass, by name (predictions, plots)."""']
    lines += ["    " + ln for ln in setup + [f"{n} = {rhs}" for n, rhs in forward_code] + [f"return {{{values}}}"]]
    return "\n".join(_with_helpers(lines, {**code.helpers, **printer.helpers}, printer.header)) + "\n"


def _last_uses(code, kept):
    """{statement index: ["del a, b"]}: intermediates freed right after their last use, so large
    arrays are released (and their memory reused) as in a hand-written backward pass."""
    import re
    assigned = [name for name, _ in code]
    last = {}
    for k, (_, rhs) in enumerate(code):
        for word in set(re.findall(r"[A-Za-z_]\w*", rhs)):
            if word in assigned:
                last[word] = k
    out = {}
    for name, k in last.items():
        if name not in kept:
            out.setdefault(k, []).append(name)
    return {k: [f"del {', '.join(sorted(v, key=assigned.index))}"] for k, v in out.items()}


def expression_source(expr, wrt, shapes, order=1, target="numpy"):
    """value_and_grad(values) -> (f, ∂f/∂wrt), and hessian(values) for order 2."""
    from ..engine.derivation import derive
    if target not in TARGETS:
        raise ChainruleError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    first = derive(expr, wrt, shapes, 1)
    parsed = first.parsed
    printer = PRINTERS[target](parsed.dim_code())
    code = TreeCode(target)
    lines = [f'"""Generated by chainrule: f = {_in_docstring(" ".join(expr.split()))}, its gradient with respect to {wrt}'
             + (" and its Hessian" if order >= 2 else "") + f", with {target}.", "",
             "values maps every name to its array; dimensions are read from the arrays' shapes.", '"""',
             *printer.header.splitlines(), "", ""]
    load = [f"{n} = values[{n!r}]" for n in parsed.shapes]
    used = _names_used(parsed.tree)
    load += [f"{d} = {code}" for d, code in parsed.dim_code().items() if d in used]     # eye(n), zeros((n, m))
    if target == "torch":
        load.append(f"dtype = {wrt}.dtype")
    def body(name, m):
        statements = eliminate_common([(name, m)])
        printer.defs = dict(statements)
        return ["    " + f"{t} = {printer.statement(x)}" for t, x in statements]
    lines += ["def value_and_grad(values):"] + ["    " + ln for ln in load]
    lines += [f"    f = {code(parsed.tree)}"] + body("grad", first.matrix) + ["    return f, grad"]
    if order >= 2:
        second = derive(expr, wrt, shapes, 2)
        lines += ["", "", "def hessian(values):"] + ["    " + ln for ln in load]
        lines += body("H", second.matrix) + ["    return H"]
    return "\n".join(_with_helpers(lines, {**code.helpers, **printer.helpers}, printer.header)) + "\n"


def _names_used(node):
    """Every name a tree reads, shape arguments' dimensions included."""
    out = {n.id for n in S.names(node)}
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, S.Dims):
            out.update(d for d in n.items if isinstance(d, str))
        stack.extend(c for f in ("operand", "left", "right") if (c := getattr(n, f, None)) is not None)
        stack.extend(getattr(n, "args", ()))
    return out


def codegen(model_text=None, target="numpy", *, expr=None, wrt=None, shapes=None, order=1):
    """The module's source: a model's loss_and_grads, or an expression's value_and_grad (and hessian)."""
    with work_budget():
        if expr is not None:
            return expression_source(expr, wrt, shapes, order, target)
        return model_source(model_text, target)


def _in_docstring(text):
    """User text (a model's lines, comments included; an expression) as docstring content that cannot
    end the docstring: backslashes doubled, every quote escaped — the module is compiled and run."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def compile_callable(model_text=None, target="numpy", *, expr=None, wrt=None, shapes=None, order=1):
    """The generated loss_and_grads(values) -> (loss, grads) callable (value_and_grad for an expression,
    with .hessian attached for order 2; a model's with .forward)."""
    ns = compile_module(codegen(model_text, target, expr=expr, wrt=wrt, shapes=shapes, order=order))
    if expr is None:
        fn = ns["loss_and_grads"]
        fn.forward = ns["forward"]
        return fn
    fn = ns["value_and_grad"]
    if "hessian" in ns:
        fn.hessian = ns["hessian"]
    return fn


def compile_module(source):
    """Run generated source (chainrule's own output, never user text) and return its namespace."""
    namespace = {}
    exec(compile(source, "<chainrule generated>", "exec"), namespace)   # noqa: S102 — our generated code
    return namespace
