"""Element-wise functions of the input language: one entry each (see fn_spec.py for the parts).

Every element-wise primitive of rules.ELEMENTWISE that the language names is registered here from its
own entry, so a new primitive needs nothing in this file. The rest are compositions of primitives:
maximum(a, b) = a [a ≥ b] + b [b > a], where(c, a, b) = c a + (1 − c) b, logaddexp(a, b) =
log(eᵃ + eᵇ), square(x) = x², sqrt(x) = x^½; and the spellings learners write that change nothing
(np.array(x)), and the constants np.pi, np.e.
"""
from fractions import Fraction

import numpy as np

from . import syntax as S
from ..core import tensor as T
from .fn_spec import check_args, constant_arg, err, function, is_zero, latex_call, latex_wrap
from .lower import elementwise
from ..core.rules import CONSTANTS, ELEMENTWISE, code_for, indicator
from .shapes import broadcast


def _one(checker, call):
    return check_args(checker, call, 1)[0]


def _broadcast_shape(checker, call, n):
    shapes = check_args(checker, call, n)
    out = shapes[0]
    for k, s in enumerate(shapes[1:], 1):
        joined = broadcast(out, s)
        if joined is None:
            node = S.Binary(op="*", left=call.args[0], right=call.args[k], start=call.start, end=call.end,
                            line=call.line, source=call.source)
            checker.elementwise_error(node, out, s)
        out = joined
    return out


def _primitive(fn):
    """The language's function for an element-wise primitive, every part read from its entry; its
    constant parameters (clip's bounds) are the arguments after the array."""
    class _F:
        __doc__ = f"{fn.name}(x{''.join(', ' + p for p in fn.params)}): element-wise; {fn.doc}"

        @staticmethod
        def shape(checker, call):
            s = check_args(checker, call, 1 + len(fn.params))[0]
            for k, name in enumerate(fn.params, 1):
                constant_arg(call, k, f"the argument {name}")
            if fn.check_params:
                problem = fn.check_params(*_params(call))
                if problem:
                    raise err(call, f"{call.fn}(): {problem}")
            return s

        @staticmethod
        def lower(lw, call):
            e, idx = lw.visit(call.args[0])
            return T.func(fn.name, e, _params(call)), idx

        @staticmethod
        def value(ev, call):
            return fn.apply(np.asarray(ev(call.args[0]), dtype=float), _params(call))

        @staticmethod
        def code(tc, call):
            tc.need(fn.helpers.get(tc.target, {}))
            x, prec = tc.p(call.args[0])
            return code_for(fn, tc.target, x, f"({x})" if prec < 5 else x, _params(call))

        @staticmethod
        def sympy(toy, call, args):
            x, nd = args[0]
            params = [toy.sp.Rational(p.numerator, p.denominator) for p in _params(call)]
            return x.applyfunc(lambda v: fn.sympy(toy.sp, v, *params)), nd

        @staticmethod
        def latex(call, args):
            if fn.style == "bars":
                return rf"\left|{args[0][0]}\right|", 9
            return latex_call(fn.latex, args)
    function(fn.name, arity=1 + len(fn.params), domain=fn.domain, example=fn.example,
             activation=fn.activation is not None)(_F)


def _params(call):
    return tuple(a.value for a in call.args[1:])


for _fn in ELEMENTWISE.values():
    if _fn.surface:
        _primitive(_fn)


@function("sqrt", domain="positive")
class _Sqrt:
    """sqrt(x) = x^(1/2), element-wise"""
    shape = staticmethod(_one)

    @staticmethod
    def lower(lw, call):
        e, idx = lw.visit(call.args[0])
        return T.power(e, Fraction(1, 2)), idx

    @staticmethod
    def value(ev, call):
        return np.sqrt(ev(call.args[0]))

    @staticmethod
    def code(tc, call):
        return f"{tc.np}.sqrt({tc(call.args[0])})"

    @staticmethod
    def sympy(toy, call, args):
        return args[0][0].applyfunc(toy.sp.sqrt), args[0][1]

    @staticmethod
    def latex(call, args):
        return rf"\sqrt{{{args[0][0]}}}", 9


@function("square", example="square(X)")
class _Square:
    """square(x) = x², element-wise"""
    shape = staticmethod(_one)

    @staticmethod
    def lower(lw, call):
        e, idx = lw.visit(call.args[0])
        return T.power(e, 2), idx

    @staticmethod
    def value(ev, call):
        return np.square(ev(call.args[0]))

    @staticmethod
    def code(tc, call):
        return f"{tc.wrap(call.args[0], 5)} ** 2"

    @staticmethod
    def sympy(toy, call, args):
        return args[0][0].applyfunc(lambda v: v ** 2), args[0][1]

    @staticmethod
    def latex(call, args):
        return latex_wrap(args[0], 9) + "^{2}", 8


@function("power", arity=2, example="power(X, 3)")
class _Power:
    """power(x, c) = x ** c for a constant c"""
    @staticmethod
    def shape(checker, call):
        a, _ = check_args(checker, call, 2)
        c = call.args[1]
        if not isinstance(c, S.Const):
            raise err(c, "the exponent of power() must be a constant number")
        if abs(c.value) > S.MAX_EXPONENT:
            raise err(c, f"exponent too large (limit {S.MAX_EXPONENT})")
        return a

    @staticmethod
    def lower(lw, call):
        e, idx = lw.visit(call.args[0])
        return T.power(e, call.args[1].value), idx

    @staticmethod
    def value(ev, call):
        return np.power(ev(call.args[0]), float(call.args[1].value))

    @staticmethod
    def code(tc, call):
        return f"{tc.wrap(call.args[0], 5)} ** {tc.wrap(call.args[1], 5)}"

    @staticmethod
    def sympy(toy, call, args):
        e = args[1][0][0, 0]
        return args[0][0].applyfunc(lambda v: v ** e), args[0][1]

    @staticmethod
    def latex(call, args):
        return latex_wrap(args[0], 9) + f"^{{{args[1][0]}}}", 8


@function("heaviside", arity=2, domain="nonzero", example="heaviside(X, 0) * X")
class _Heaviside:
    """heaviside(x, h) = [x > 0] for h = 0, [x ≥ 0] for h = 1 (a piecewise-constant step)"""
    @staticmethod
    def shape(checker, call):
        s = check_args(checker, call, 2)[0]
        if constant_arg(call, 1, "the value at 0") not in (0, 1):
            raise err(call.args[1], "heaviside(x, h) is supported for h = 0 (x > 0) or h = 1 (x >= 0)")
        return s

    @staticmethod
    def lower(lw, call):
        e, idx = lw.visit(call.args[0])
        return T.func(indicator(">" if call.args[1].value == 0 else ">=").name, e), idx

    @staticmethod
    def value(ev, call):
        return np.heaviside(ev(call.args[0]), float(call.args[1].value))

    @staticmethod
    def code(tc, call):
        op = ">" if call.args[1].value == 0 else ">="
        return f"(({tc(call.args[0])}) {op} 0) * 1.0"

    @staticmethod
    def sympy(toy, call, args):
        h = int(call.args[1].value)
        return args[0][0].applyfunc(lambda v: toy.sp.Heaviside(v, h)), args[0][1]

    @staticmethod
    def latex(call, args):
        op = ">" if call.args[1].value == 0 else r"\ge"
        return f"[{args[0][0]} {op} 0]", 9


def _lower_pair(lw, call):
    return lw.visit(call.args[0]), lw.visit(call.args[1])


def _select(c, a, b):
    """c a + (1 − c) b for a 0/1 indicator c (index form, broadcasting); the complement of a comparison
    is the opposite comparison: 1 − [x > 0] = [−x ≥ 0]."""
    ce, ci = c
    return elementwise("+", elementwise("*", c, a), elementwise("*", (_complement(ce), ci), b))


def _truth(ce):
    """where's condition as a 0/1 indicator: a comparison is one already; anything else is tested for
    non-zero as NumPy does, [c ≠ 0] = [|c| > 0]."""
    if _is_indicator(ce):
        return ce
    return T.func(indicator(">").name, T.func("abs", ce))


def _is_indicator(ce):
    atom = T.single_atom(ce)
    return isinstance(atom, T.Func) and ELEMENTWISE[atom.name].style == "indicator"


def _complement(ce):
    if _is_indicator(ce):
        atom = T.single_atom(ce)
        other = indicator(">=" if ELEMENTWISE[atom.name].op == ">" else ">")
        return T.func(other.name, -atom.arg)
    return 1 - ce


def _comparison(a, b, op):
    """[a op b] in index form, as the indicator of a − b."""
    d, idx = elementwise("-", a, b)
    return T.func(indicator(op).name, d), idx


def _extremum(name, doc, keeps_first, clamp, sympy_name, latex_head):
    """maximum and minimum of two arrays: a [a ≥ b] + b [b > a] (minimum: the comparison reversed);
    maximum(0, x) is relu(x)."""
    class _F:
        __doc__ = doc
        shape = staticmethod(lambda checker, call: _broadcast_shape(checker, call, 2))

        @staticmethod
        def lower(lw, call):
            if name == "maximum" and (is_zero(call.args[0]) or is_zero(call.args[1])):
                e, idx = lw.visit(call.args[1] if is_zero(call.args[0]) else call.args[0])
                return T.func("relu", e), idx
            a, b = _lower_pair(lw, call)
            return _select(_comparison(a, b, ">=") if keeps_first else _comparison(b, a, ">="), a, b)

        value = staticmethod(lambda ev, call: getattr(np, name)(ev(call.args[0]), ev(call.args[1])))
        code = staticmethod(lambda tc, call: _extremum_code(tc, call, name, clamp))

        @staticmethod
        def sympy(toy, call, args):
            return toy.elementwise(args[0], args[1], lambda x, y: _entrywise(toy, x, y, getattr(toy.sp, sympy_name)))

        latex = staticmethod(lambda call, args: latex_call(latex_head, args))
    function(name, arity=2, domain="nonzero", example=f"{name}(X, Y)", activation=name == "maximum")(_F)


_extremum("maximum", "maximum(a, b) = a [a ≥ b] + b [b > a]; maximum(0, x) = relu(x); ∂ = [a ≥ b] da + [b > a] db",
          True, "min", "Max", r"\max")
_extremum("minimum", "minimum(a, b) = a [b ≥ a] + b [a > b]; ∂ = [b ≥ a] da + [a > b] db", False, "max", "Min", r"\min")


def _extremum_code(tc, call, name, clamp):
    a = [tc(x) for x in call.args]
    if tc.target == "torch":
        const = [k for k, x in enumerate(call.args) if isinstance(x, S.Const)]
        if const:                       # torch.maximum needs two tensors; clamp takes a number
            return f"torch.clamp({a[1 - const[0]]}, {clamp}={a[const[0]]})"
        return f"torch.{name}({a[0]}, {a[1]})"
    return f"{tc.np}.{name}({a[0]}, {a[1]})"


def _entrywise(toy, x, y, f):
    return toy.sp.Matrix(x.rows, x.cols, lambda i, j: f(x[i, j], y[i, j]))


@function("where", arity=3, example="where(X > 0, X, 0.1 * X)")
class _Where:
    """where(c, a, b) = [c ≠ 0] a + [c = 0] b (a comparison is its own indicator)"""
    shape = staticmethod(lambda checker, call: _broadcast_shape(checker, call, 3))

    @staticmethod
    def lower(lw, call):
        c, a, b = (lw.visit(x) for x in call.args)
        return _select((_truth(c[0]), c[1]), a, b)

    @staticmethod
    def value(ev, call):
        c, a, b = (ev(x) for x in call.args)
        return np.where(np.asarray(c) != 0, a, b)

    @staticmethod
    def code(tc, call):
        c, a, b = (tc(x) for x in call.args)
        if tc.target == "torch":
            return f"torch.where(({c}) != 0, {a}, {b})"
        return f"{tc.np}.where({c}, {a}, {b})"

    @staticmethod
    def sympy(toy, call, args):
        (c, nc), a, b = args
        picked_a = toy.elementwise((c, nc), a, lambda x, y: x.multiply_elementwise(y))
        picked_b = toy.elementwise((c.applyfunc(lambda v: 1 - v), nc), b, lambda x, y: x.multiply_elementwise(y))
        return toy.elementwise(picked_a, picked_b, lambda x, y: x + y)

    @staticmethod
    def latex(call, args):
        return latex_call(r"\operatorname{where}", args)


@function("logaddexp", arity=2, example="logaddexp(X, Y)")
class _LogAddExp:
    """logaddexp(a, b) = log(eᵃ + eᵇ) = a + softplus(b − a); ∂/∂a = 1 − σ(b − a), ∂/∂b = σ(b − a)"""
    shape = staticmethod(lambda checker, call: _broadcast_shape(checker, call, 2))

    @staticmethod
    def lower(lw, call):
        a, b = _lower_pair(lw, call)
        d, idx = elementwise("-", b, a)             # a + softplus(b − a): stable where eᵃ overflows
        return elementwise("+", a, (T.func("softplus", d), idx))

    @staticmethod
    def value(ev, call):
        return np.logaddexp(ev(call.args[0]), ev(call.args[1]))

    @staticmethod
    def code(tc, call):
        return f"{tc.np}.logaddexp({tc.tensor(call.args[0])}, {tc.tensor(call.args[1])})"

    @staticmethod
    def sympy(toy, call, args):
        sp = toy.sp
        return toy.elementwise(args[0], args[1], lambda x, y: _entrywise(toy, x, y, lambda u, v: sp.log(sp.exp(u) +
                                                                                                    sp.exp(v))))

    @staticmethod
    def latex(call, args):
        return latex_call(r"\operatorname{logaddexp}", args)


def _binary_function(name, op):
    class _F:
        __doc__ = f"{name}(a, b) = a {op} b"
        shape = staticmethod(lambda checker, call: _broadcast_shape(checker, call, 2))

        @staticmethod
        def lower(lw, call):
            return elementwise(op, lw.visit(call.args[0]), lw.visit(call.args[1]))

        @staticmethod
        def value(ev, call):
            return getattr(np, name)(ev(call.args[0]), ev(call.args[1]))

        @staticmethod
        def code(tc, call):
            return f"({tc.wrap(call.args[0], 2)} {op} {tc.wrap(call.args[1], 3)})"

        @staticmethod
        def sympy(toy, call, args):
            sp = toy.sp
            ops = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x.multiply_elementwise(y),
                   "/": lambda x, y: sp.Matrix(x.rows, x.cols, lambda i, j: x[i, j] / y[i, j])}
            return toy.elementwise(args[0], args[1], ops[op])

        @staticmethod
        def latex(call, args):
            if op == "/":
                return rf"\frac{{{args[0][0]}}}{{{args[1][0]}}}", 3
            sym = {"+": " + ", "-": " - ", "*": r" \odot "}[op]
            return latex_wrap(args[0], 2) + sym + latex_wrap(args[1], 3), 2 if op == "*" else 1
    function(name, arity=2, domain="nonzero" if op == "/" else "real",
             example=f"{name}(Y, X)" if op == "/" else f"{name}(X, Y)")(_F)


for _name, _op in (("multiply", "*"), ("divide", "/"), ("add", "+"), ("subtract", "-")):
    _binary_function(_name, _op)


@function("array", aliases=("asarray",), example="array(X) * X")
class _Array:
    """np.array(x), np.asarray(x) = x: the same values"""
    shape = staticmethod(_one)
    lower = staticmethod(lambda lw, call: lw.visit(call.args[0]))
    value = staticmethod(lambda ev, call: np.array(ev(call.args[0]), dtype=float))
    code = staticmethod(lambda tc, call: tc(call.args[0]))
    sympy = staticmethod(lambda toy, call, args: args[0])
    latex = staticmethod(lambda call, args: args[0])


def _named_constant(c, symbol):
    """np.pi and np.e: parsed as calls of a function with no arguments, named by a symbol no one types."""
    class _F:
        __doc__ = f"np.{c.name} = {c.value!r}"

        @staticmethod
        def shape(checker, call):
            check_args(checker, call, 0)
            return ()
        lower = staticmethod(lambda lw, call: (T.named(c.name), ()))
        value = staticmethod(lambda ev, call: c.value)
        code = staticmethod(lambda tc, call: c.code.format(np=tc.np))
        sympy = staticmethod(lambda toy, call, args: (toy.sp.Matrix([[c.sympy(toy.sp)]]), 0))
        latex = staticmethod(lambda call, args: (c.latex, 9))
    function(symbol, arity=0, example=f"np.{c.name} * X")(_F)


for _name, _symbol in S.CONSTANT_SYMBOLS.items():
    _named_constant(CONSTANTS[_name], _symbol)
