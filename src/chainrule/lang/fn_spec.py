"""The surface functions' registry: one entry per function of the input language, holding every part
of it that the program uses — shape rule, lowering to index form, NumPy value (the reference the
checks compare with), forward code per codegen target, SymPy form (the toy expansion), LaTeX and the
input domain. The entries themselves live in fn_elementwise.py and fn_array.py.

Each part is a function of the consumer and the call node, so an entry reads like the operation's
definition: `value(ev, call)` with `ev(node)` evaluating an argument; `code(tc, call)` with `tc(node)`,
`tc.wrap(node, prec)`, `tc.np` (np / jnp / torch), `tc.target`, `tc.need(helpers)`;
`sympy(toy, call, args)` with the arguments as (SymPy matrix, ndim) pairs; `latex(call, args)` with
the arguments as (LaTeX, precedence) pairs. Precedences: 9 atom, 8 postfix, 4 power, 3 unary or
fraction, 2 product, 1 sum.
"""
from dataclasses import dataclass
from typing import Callable

from . import syntax as S
from ..core.errors import ChainruleError
from .shapes import fmt_shape

PARTS = ("shape", "lower", "value", "code", "sympy", "latex")


@dataclass(frozen=True)
class Function:
    name: str
    shape: Callable        # (checker, call) -> shape
    lower: Callable        # (lowering, call) -> (expr, idx)
    value: Callable        # (ev, call) -> array
    code: Callable         # (tc, call) -> code
    sympy: Callable        # (toy, call, args) -> (Matrix, ndim)
    latex: Callable        # (call, args) -> (latex, precedence)
    domain: str            # input domain for tests and --check data
    arity: int
    doc: str
    example: str           # a use over the standard test names (X, Y: n×n; M: n×m; x, y: n; s: scalar)
    aliases: tuple = ()
    activation: bool = False   # a layer's activation: folded into a loss that alone reads it (σ + CE → A − Y)


FUNCTIONS = {}             # the input language: name or alias -> Function
STATED = {}                # functions only stated results use (the catalog's kron, vec): value and LaTeX


def function(name, *, arity=1, domain="real", aliases=(), example=None, stated=False, activation=False,
             namespaced=False):
    """Register the decorated class's static methods as the parts of one function. Every part must be
    there (a stated-only function has value and latex): a missing one is an error at import. A
    `namespaced` function is written np.name only (registered so), leaving its bare name to variables."""
    if namespaced:
        S.NAMESPACED.add(name)
        name = "np." + name
    def register(cls):
        parts = {p: getattr(cls, p, None) for p in PARTS}
        missing = [p for p in (("value", "latex") if stated else PARTS) if parts[p] is None]
        if missing:
            raise TypeError(f"function {name}: missing {', '.join(missing)}")
        f = Function(name, domain=domain, arity=arity, doc=(cls.__doc__ or "").strip(),
                     example=example or f"{name}(X)", aliases=tuple(aliases), activation=activation, **parts)
        for n in (name,) + tuple(aliases):
            (STATED if stated else FUNCTIONS)[n] = f
        return cls
    return register


def unique_functions():
    """Each function of the language once (aliases share an entry)."""
    return sorted({id(f): f for f in FUNCTIONS.values()}.values(), key=lambda f: f.name)


# -- helpers the entries share ------------------------------------------------------------------
def err(call, message, hint=None):
    return ChainruleError(message, call.source, call.start, call.end, call.line, hint)


def check_args(checker, call, n, kwargs=()):
    """The arguments' shapes, after checking their number and the keywords allowed."""
    allowed = set(kwargs)
    for k, _ in call.kwargs:
        if k not in allowed:
            raise err(call, f"{call.fn}() does not take '{k}'")
    lo, hi = (n, n) if isinstance(n, int) else n
    if not lo <= len(call.args) <= hi:
        want = lo if lo == hi else f"{lo} to {hi}"
        raise err(call, f"{call.fn}() takes {want} argument{'s' if hi > 1 else ''}, got {len(call.args)}")
    return [checker.visit(a) for a in call.args]


def axis_of(call, shape, positional=1):
    axis = call.kw("axis")
    if len(call.args) > positional and any(k == "axis" for k, _ in call.kwargs):
        raise err(call, f"{call.fn}() got axis both as an argument and as a keyword")
    if axis is None and len(call.args) > positional:
        a = call.args[positional]
        if not isinstance(a, S.Const) or a.value.denominator != 1:
            raise err(a, "axis must be an integer constant")
        axis = int(a.value)
    if axis is None:
        return None
    if isinstance(axis, tuple) or not isinstance(axis, int) or isinstance(axis, bool):
        raise err(call, "axis must be None, 0 or 1")
    if not -len(shape) <= axis < len(shape):
        raise err(call, f"axis {axis} is out of range for shape {fmt_shape(shape)}")
    return axis % len(shape)


def keepdims_of(call):
    k = call.kw("keepdims", False)
    if k not in (True, False):              # NumPy also takes 1 and 0
        raise err(call, "keepdims must be True or False")
    return bool(k)


def constant_arg(call, k, what, hint=None):
    """A constant-number argument (clip's bounds, heaviside's value at 0)."""
    a = call.args[k]
    if not isinstance(a, S.Const):
        raise err(a, f"{what} of {call.fn}() must be a constant number", hint)
    return a.value


def is_zero(node):
    return isinstance(node, S.Const) and node.value == 0


def latex_call(head, args, extra=""):
    return head + r"\left(" + ", ".join(a[0] for a in args) + extra + r"\right)", 9


def latex_wrap(pair, prec):
    s, p = pair
    return rf"\left({s}\right)" if p < prec else s
