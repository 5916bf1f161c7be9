"""Index (Einstein) form, the IR chainrule differentiates in.

An `Expr` is a sum of `Term`s; a term is `coef × Π atom**exponent`, summed over a set of bound
indices. Atoms are the closed set of node kinds: `Var` (a declared array or dimension indexed),
`Delta` (Kronecker δ), `Func` (an element-wise function of an expression), `Named` (π, e), `Group` (a compound
base raised to a power) and `MatFn` (inv / det / logdet of a matrix expression). Terms are kept
in a normal form: deltas contracted, equal factors merged, like terms combined.
"""
import contextlib
import contextvars
import itertools
import sys
from dataclasses import dataclass
from fractions import Fraction

from .errors import ChainruleError

_counter = itertools.count()
MAX_TERMS = 4000
MAX_WORK = 12_000       # steps of one request (benchmarks' 50-layer backprop spends 4,052: 140 layers fit)
_WORK = contextvars.ContextVar("chainrule_work", default=None)
RECURSION_LIMIT = 2500  # the syntax's nesting limit (200) needs about 2,000 frames in the deepest walks


@contextlib.contextmanager
def work_budget(limit=MAX_WORK):
    """Bound the algebra of one request: past `limit` terms built, a ChainruleError (an input whose
    derivative grows exponentially, such as maximum(f, 1 − f) nested, fails fast instead of hanging).
    Nested uses share the outermost budget."""
    if _WORK.get() is not None:
        yield
        return
    if sys.getrecursionlimit() < RECURSION_LIMIT:     # the walks recurse a few frames per nesting level
        sys.setrecursionlimit(RECURSION_LIMIT)
    token = _WORK.set([0, limit])
    try:
        yield
    except RecursionError:
        raise ChainruleError("expression nested too deeply to derive here: simplify or split it",
                             kind="depth") from None
    finally:
        _WORK.reset(token)


def work_used():
    """Terms built so far under the current budget (None outside one): work counted, for tests that
    bound it and benchmarks that report it."""
    work = _WORK.get()
    return None if work is None else work[0]


@contextlib.contextmanager
def part_budget(limit):
    """A part of a request with a budget of its own, not charged to the request's: an illustration
    (the toy example) that may give up past `limit` steps while the rest of the request goes on."""
    token = _WORK.set([0, limit])
    try:
        yield
    finally:
        _WORK.reset(token)


def spend(units=1):
    """Charge the current request's budget (a term built, converted to matrix notation or printed)."""
    work = _WORK.get()
    if work is not None:
        work[0] += units
        if work[0] > work[1]:
            raise ChainruleError(f"too much algebra: more than {work[1]:,} steps (terms built, converted to "
                                 "matrix notation or printed; deep nesting can grow them exponentially, long products "
                                 "quadratically); simplify or split the expression", kind="budget")


class Facts:
    """What the normal form asks about the operations: the IR itself knows none. The rule table
    (rules.py) installs its own (σ(b) + σ(−b) = 1, log∘exp, exact values, positivity) with `install`."""

    def simplify_func(self, name, arg, params):
        return None

    def rewrite_product(self, factors):
        return None

    def combine_complements(self, terms):
        return None

    def complement_of(self, expr):
        return None

    def logistic_of(self, expr):
        return None

    def is_positive(self, atom):
        return False


FACTS = Facts()


def install(facts):
    """Use these facts in every normal form built from now on."""
    global FACTS
    FACTS = facts


class Index:
    """A tensor index; identity is the object itself. `dim` is an int or a dimension name."""
    __slots__ = ("dim", "hint", "n")

    def __init__(self, dim, hint="i"):
        self.dim, self.hint, self.n = dim, hint, next(_counter)

    def fresh(self):
        return Index(self.dim, self.hint)

    def __repr__(self):
        return f"{self.hint}{self.n}"

    def __hash__(self):              # by creation number, so set order (and output) is reproducible
        return self.n


def _n(ix):
    return ix.n


def _lab(ix, names):
    return names.get(ix) or f"f{ix.n}"


def _next_label(names, prefix):
    """The first unused number for bound labels with this prefix (only visible labels matter)."""
    nums = [int(v[len(prefix):]) for v in names.values() if v.startswith(prefix) and v[len(prefix):].isdigit()]
    return max(nums) + 1 if nums else 0


class Keyed:
    """Canonical keys, cached per node by the labels of its free indices (the only outer names a node
    can see), so shared and nested sub-expressions are keyed once: no exponential recursion."""

    def key(self, names=None):
        visible, r = {}, ()
        if names:                     # the hot path of the normal form: keep it lean
            free = self.free
            visible = {ix: v for ix, v in names.items() if ix in free} if len(names) <= len(free) else \
                {ix: names[ix] for ix in free if ix in names}
            if visible:
                r = tuple(sorted((ix.n, v) for ix, v in visible.items()))
        try:
            cache = self._kc
        except AttributeError:
            cache = self._key_cache()
        k = cache.get(r)
        if k is None:
            k = cache[r] = self._key(visible)
        return k

    def _key_cache(self):
        try:
            return self._kc
        except AttributeError:
            object.__setattr__(self, "_kc", {})
            return self._kc


@dataclass(frozen=True, eq=False)
class Var(Keyed):
    """A declared array (or a dimension used as a scalar) at the given indices."""
    name: str
    idx: tuple
    is_dim: bool = False

    @property
    def free(self):
        return frozenset(self.idx)

    def rename(self, m):
        return Var(self.name, tuple(m.get(i, i) for i in self.idx), self.is_dim)

    def _key(self, names):
        return ("#" if self.is_dim else "") + f"{self.name}[{','.join(_lab(i, names) for i in self.idx)}]"

    def indices(self):
        return self.idx


@dataclass(frozen=True, eq=False)
class Delta(Keyed):
    """Kronecker delta δ[a,b]: 1 where the two indices agree."""
    a: Index
    b: Index

    @property
    def free(self):
        return frozenset((self.a, self.b))

    def rename(self, m):
        return Delta(m.get(self.a, self.a), m.get(self.b, self.b))

    def _key(self, names):
        return "δ[" + ",".join(sorted((_lab(self.a, names), _lab(self.b, names)))) + "]"

    def indices(self):
        return (self.a, self.b)


@dataclass(frozen=True, eq=False)
class Func(Keyed):
    """An element-wise function (an entry of rules.ELEMENTWISE) applied to an expression, with the
    entry's constant parameters (clip's bounds)."""
    name: str
    arg: "Expr"
    params: tuple = ()

    @property
    def free(self):
        return self.arg.free

    def rename(self, m):
        return Func(self.name, self.arg.rename(m), self.params)

    def _key(self, names):
        extra = "".join(f",{p}" for p in self.params)
        return f"{self.name}({self.arg.key(names)}{extra})"

    def indices(self):
        return self.arg.indices()


@dataclass(frozen=True, eq=False)
class Named(Keyed):
    """A named constant (π, e: an entry of rules.CONSTANTS), kept by name so that it prints as one."""
    name: str

    free = frozenset()

    def rename(self, m):
        return self

    def _key(self, names):
        return f"${self.name}"

    def indices(self):
        return ()


@dataclass(frozen=True, eq=False)
class Group(Keyed):
    """A compound expression used as one factor (so that it can carry a power). A `keep` group is
    never distributed over: a rule's compound result (tanh′ = 1 − tanh²) stays one factor, so that
    nested functions do not expand binomially."""
    expr: "Expr"
    keep: bool = False

    @property
    def free(self):
        return self.expr.free

    def rename(self, m):
        return Group(self.expr.rename(m), self.keep)

    def _key(self, names):
        return ("[" if self.keep else "(") + self.expr.key(names) + ("]" if self.keep else ")")

    def indices(self):
        return self.expr.indices()


@dataclass(frozen=True, eq=False)
class MatFn(Keyed):
    """inv / det / logdet of the matrix `arg`, whose row and column are the bound `arg_idx`."""
    name: str
    arg: "Expr"
    arg_idx: tuple
    idx: tuple = ()

    @property
    def free(self):
        return (self.arg.free - set(self.arg_idx)) | set(self.idx)

    def rename(self, m):
        inner = {k: v for k, v in m.items() if k not in self.arg_idx}
        return MatFn(self.name, self.arg.rename(inner), self.arg_idx, tuple(m.get(i, i) for i in self.idx))

    def _key(self, names):
        inner = dict(names)
        start = _next_label(names, "m")
        inner.update({a: f"m{start + k}" for k, a in enumerate(self.arg_idx)})
        return f"{self.name}[{','.join(_lab(i, names) for i in self.idx)}]({self.arg.key(inner)})"

    def indices(self):
        return tuple(i for i in self.arg.indices() if i not in self.arg_idx) + self.idx


def _dim_factor(ix):
    """Σ over an index no factor uses multiplies by its size."""
    if isinstance(ix.dim, int):
        return Fraction(ix.dim), ()
    return Fraction(1), ((Var(ix.dim, (), True), 1),)


class Term(Keyed):
    """coef × Π atom**exp, summed over `summed`. Build with `Term.make`, which normalises."""
    __slots__ = ("coef", "factors", "summed", "_free", "_kc", "_idx")

    def __init__(self, coef, factors, summed):
        self.coef, self.factors, self.summed = coef, factors, summed
        self._free = self._idx = None

    @property
    def free(self):
        if self._free is None:
            s = set()
            for a, _ in self.factors:
                s |= a.free
            self._free = frozenset(s - self.summed)
        return self._free

    @staticmethod
    def make(coef, factors, summed=frozenset()):
        """Normal form: contract deltas, merge equal factors, account for unused summed indices."""
        factors = list(factors)
        spend(1 + len(factors) // 8)               # a long product (a chain rule 100 deep) costs more
        coef = Fraction(coef) if not isinstance(coef, Fraction) else coef
        if coef == 0:
            return None
        summed = set(summed)
        changed = True
        while changed:
            changed = False
            for k, (a, e) in enumerate(factors):
                if not isinstance(a, Delta):
                    continue
                if a.a is a.b:
                    del factors[k]            # δ[i,i] = 1 entry by entry
                    changed = True
                    break
                if a.a in summed or a.b in summed:
                    gone, keep = (a.a, a.b) if a.a in summed else (a.b, a.a)
                    del factors[k]
                    summed.discard(gone)
                    factors = [(f.rename({gone: keep}), x) for f, x in factors]
                    changed = True
                    break
        merged = {}
        order = []
        for a, e in factors:
            if isinstance(a, Group) and not a.expr.terms:
                if e > 0:
                    return None
                raise ChainruleError("division by zero: the expression divides by something that is 0")
            if isinstance(a, Group) and len(a.expr.terms) == 1 and not a.expr.terms[0].summed:
                t = a.expr.terms[0]
                if isinstance(e, int) or (t.coef > 0 and all(powers_merge(b, x, e) for b, x in t.factors)):
                    c, extra = _constant_factor(t.coef, e)
                    coef *= c
                    powered = tuple((b, x * e) for b, x in t.factors) + extra      # √2 kept as (2)^½
                    for b, x in powered:
                        k = b.key({})
                        if k not in merged:
                            order.append(k)
                            merged[k] = [b, 0]
                        merged[k][1] += x
                    continue
            k = a.key({})
            if k not in merged:
                order.append(k)
                merged[k] = [a, 0]
            merged[k][1] += e
        out = []
        for k in order:
            a, e = merged[k]
            if e == 0:
                continue
            c = _pure_constant(a)
            if c is not None:
                v, extra = _constant_factor(c, norm_exp(e))
                if not extra:                          # √2 √2 = 2
                    coef *= v
                    continue
            if isinstance(a, Delta):
                e = 1
            out.append((a, norm_exp(e)))
        used = set()
        for a, _ in out:
            used |= a.free
        for ix in sorted(summed, key=_n):
            if ix not in used:
                summed.discard(ix)
                c, extra = _dim_factor(ix)
                coef *= c
                out.extend(extra)
        if coef == 0:
            return None
        rewritten = FACTS.rewrite_product(out)
        if rewritten is not None:
            return Term.make(coef, rewritten, summed)
        return Term(coef, tuple(out), frozenset(summed))

    def rename(self, m):
        m = {k: v for k, v in m.items() if k not in self.summed and k is not v}
        if not m:
            return self
        return Term.make(self.coef, [(a.rename(m), e) for a, e in self.factors], self.summed)

    def freshen(self):
        if not self.summed:
            return self
        m = {s: s.fresh() for s in sorted(self.summed, key=_n)}   # creation order, not set order
        return Term(self.coef, tuple((a.rename(m), e) for a, e in self.factors), frozenset(m.values()))

    def labels(self, names=None):
        """Canonical labels for the summed indices, and the factors in canonical order."""
        outer = {ix: v for ix, v in (names or {}).items() if ix in self.free}
        masked = dict(outer)
        masked.update({s: "_" for s in self.summed})
        ordered = sorted(self.factors, key=lambda f: (f[0].key(masked), str(f[1])))
        labels = dict(outer)
        n = _next_label(outer, "b")
        for a, _ in ordered:
            for ix in a.indices():
                if ix in self.summed and ix not in labels:
                    labels[ix] = f"b{n}"
                    n += 1
        return labels, ordered

    def _key(self, names):
        """A canonical string, equal for terms equal up to renaming summed indices (coef excluded)."""
        labels, ordered = self.labels(names)
        out = "·".join(f"{a.key(labels)}^{e}" for a, e in ordered)
        spend(len(out) / 20_000)       # a shared argument is spelled out in full: nesting can grow keys ×3 a level
        return out

    def indices(self):
        if self._idx is None:
            out = []
            for a, _ in self.factors:
                out.extend(i for i in a.indices() if i not in self.summed)
            self._idx = tuple(out)
        return self._idx

    def __repr__(self):
        return f"Term({self.coef}, {self.key()}, Σ{sorted(map(repr, self.summed))})"


def norm_exp(e):
    """An exponent as an int when whole, else a Fraction (x², x^(1/2))."""
    e = Fraction(e)
    return int(e) if e.denominator == 1 else e


def _frac_pow(c, e):
    """c ** e for a rational c and a fractional e when the result is rational (4 ** ½ = 2), else None:
    √2 stays a factor (a constant group with its exponent) instead of a decimal approximation."""
    if c < 0:
        raise ChainruleError(f"the constant {c} is raised to the fractional power {e}: the result is not real")
    e = Fraction(e)
    p, q = _iroot(c.numerator, e.denominator), _iroot(c.denominator, e.denominator)
    if p is None or q is None:
        return None
    return Fraction(p, q) ** e.numerator


def _iroot(n, k):
    """The integer r with r ** k == n, or None."""
    if n < 2:
        return n
    if k > n.bit_length():                      # r ≥ 2 would make r ** k > n (and 2 ** 10²⁰ never ends)
        return None
    r = round(n ** (1 / k)) if n < 2 ** 1000 else None
    if r is None:
        return None
    for cand in (r - 1, r, r + 1):
        if cand > 0 and cand ** k == n:
            return cand
    return None


def _constant_factor(c, e):
    """c ** e as (coefficient, factors): exact when rational, else the constant kept as a powered group."""
    if isinstance(e, int):
        return c ** e, ()
    exact = _frac_pow(c, e)
    if exact is not None:
        return exact, ()
    return Fraction(1), ((Group(const(c)), e),)


def _pure_constant(a):
    """c when the atom is a group holding only the number c, else None."""
    if isinstance(a, Group) and len(a.expr.terms) == 1 and not a.expr.terms[0].factors and not a.expr.terms[0].summed:
        return a.expr.terms[0].coef
    return None


class Expr(Keyed):
    """A sum of terms (terms may have different free indices: that is broadcasting)."""
    __slots__ = ("terms", "_free", "_kc", "_idx")

    def __init__(self, terms=()):
        self.terms = tuple(terms)
        self._free = self._idx = None

    @staticmethod
    def make(terms):
        """Expand compound factors with exponent 1 and combine like terms."""
        acc = {}
        order = []
        stack = [t for t in terms if t is not None]
        while stack:
            t = stack.pop(0)
            g = next((k for k, (a, e) in enumerate(t.factors) if isinstance(a, Group) and e == 1 and not a.keep),
                     None)
            if g is not None:
                rest = t.factors[:g] + t.factors[g + 1:]
                for u in t.factors[g][0].expr.terms:
                    u = u.freshen()
                    nt = Term.make(t.coef * u.coef, rest + u.factors, t.summed | u.summed)
                    if nt is not None:
                        stack.append(nt)
                if len(stack) > MAX_TERMS:
                    raise ChainruleError(f"expression too large to expand (more than {MAX_TERMS} terms)")
                continue
            k = t.key()
            if k in acc:
                acc[k] = (acc[k][0], acc[k][1] + t.coef)
            else:
                acc[k] = (t, t.coef)
                order.append(k)
        out = []
        for k in order:
            t, c = acc[k]
            if c != 0:
                out.append(t if c == t.coef else Term(c, t.factors, t.summed))
        combined = FACTS.combine_complements(out)
        return Expr.make(combined) if combined is not None else Expr(out)

    @property
    def free(self):
        if self._free is None:
            s = frozenset()
            for t in self.terms:
                s |= t.free
            self._free = s
        return self._free

    def _key(self, names):
        return " + ".join(sorted(f"{t.coef}*{t.key(names)}" for t in self.terms)) or "0"

    def indices(self):
        if self._idx is None:
            seen, out = set(), []
            for t in self.terms:
                for i in t.indices():
                    if i not in seen:
                        seen.add(i)
                        out.append(i)
            self._idx = tuple(out)
        return self._idx

    def natural_order(self):
        """The free indices in order of first appearance (an order that needs no transpose)."""
        return tuple(i for i in self.indices() if i in self.free)

    def rename(self, m):
        if not m:
            return self
        hit = self.free & m.keys()
        if not hit:
            return self
        key = tuple(sorted(((ix, m[ix]) for ix in hit), key=lambda p: p[0].n))
        try:                         # a nested argument shared by many factors is renamed once
            cache = self._rc
        except AttributeError:
            cache = {}
            object.__setattr__(self, "_rc", cache)
        out = cache.get(key)
        if out is None:
            out = cache[key] = Expr.make([t.rename(m) for t in self.terms])
        return out

    def sum_over(self, indices):
        """Σ over the given free indices."""
        indices = frozenset(indices)
        return Expr.make([Term.make(t.coef, t.factors, t.summed | indices) for t in self.terms])

    def is_zero(self):
        return not self.terms

    def constant_value(self):
        """The number this expression is, or None."""
        if not self.terms:
            return Fraction(0)
        if len(self.terms) == 1 and not self.terms[0].factors:
            return self.terms[0].coef
        return None

    # -- arithmetic (element-wise over shared free indices; no implicit summation) --
    def __add__(self, other):
        other = as_expr(other)
        return Expr.make(self.terms + other.terms)

    __radd__ = __add__

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-as_expr(other))

    def __rsub__(self, other):
        return as_expr(other) + (-self)

    def __mul__(self, other):
        other = as_expr(other)
        terms = []
        for a in self.terms:
            for b in other.terms:
                b = b.freshen()
                terms.append(Term.make(a.coef * b.coef, a.factors + b.factors, a.summed | b.summed))
        if len(terms) > MAX_TERMS:
            raise ChainruleError(f"expression too large to expand (more than {MAX_TERMS} terms)")
        return Expr.make(terms)

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self * power(as_expr(other), -1)

    def __rtruediv__(self, other):
        return as_expr(other) * power(self, -1)

    def __pow__(self, e):
        return power(self, e)

    def __repr__(self):
        return f"Expr({self.key()})"


def as_expr(x):
    if isinstance(x, Expr):
        return x
    if isinstance(x, (int, Fraction)):
        return const(x)
    if isinstance(x, float):
        return const(Fraction(x))
    raise TypeError(f"cannot use {type(x).__name__} in an index expression")


def const(c):
    t = Term.make(Fraction(c), ())
    return Expr([t] if t is not None else [])


ZERO = Expr()


def atom(a):
    """An expression that is just one atom."""
    return Expr([Term(Fraction(1), ((a, 1),), frozenset())])


def var(name, idx, is_dim=False):
    return atom(Var(name, tuple(idx), is_dim))


def delta(a, b):
    return Expr([Term.make(1, ((Delta(a, b), 1),))])


def func(name, arg, params=()):
    arg = atomize(as_expr(arg))
    out = FACTS.simplify_func(name, arg, tuple(params))
    return out if out is not None else atom(Func(name, arg, tuple(params)))


def named(name):
    """A named constant (π, e) as an expression."""
    return atom(Named(name))


def power(base, e):
    """Element-wise power with a constant exponent."""
    e = norm_exp(e)
    base = as_expr(base)
    if e == 1:
        return base
    if e == 0:
        return const(1)
    c = base.constant_value()
    if c is not None:
        if c == 0 and e < 0:
            raise ChainruleError("division by zero: the expression divides by something that is 0")
        v, extra = _constant_factor(c, e)
        return const(v) if not extra else Expr([Term.make(v, extra)])
    base = atomize(base)
    u = FACTS.logistic_of(base) if isinstance(e, int) and e < 0 else None
    if u is not None:                                  # (1 + exp(−u))⁻ᵏ = σ(u)ᵏ, however it was spelled
        return power(func("sigmoid", u), -e)
    if len(base.terms) == 1:
        t = base.terms[0]
        if not t.summed and (isinstance(e, int) or (t.coef > 0 and all(powers_merge(a, x, e) for a, x in t.factors))):
            coef, extra = _constant_factor(t.coef, e)
            return Expr([Term.make(coef, tuple((a, x * e) for a, x in t.factors) + extra)])
    return Expr([Term.make(1, ((Group(base), e),))])


def atomize(e):
    """Rewrites for an expression about to become one factor or argument: 1 − σ(b) = σ(−b)."""
    b = FACTS.complement_of(e)
    return func("sigmoid", -b) if b is not None else e


def powers_merge(a, x, e):
    """Is (a**x)**e = a**(x e)? Yes for an integer e, a known positive a, or an even integer x e
    ((x²)^½ is |x|, not x)."""
    if isinstance(e, int) or (isinstance(e, Fraction) and e.denominator == 1):
        return True
    xe = Fraction(x) * Fraction(e)
    if xe.denominator == 1 and xe.numerator % 2 == 0:
        return True
    return FACTS.is_positive(a)


def factor(e):
    """An expression kept as one factor (not distributed over) when it is a sum."""
    e = as_expr(e)
    return atom(Group(e, keep=True)) if len(e.terms) > 1 else e


def matfn(name, arg, arg_idx, idx=()):
    return atom(MatFn(name, arg, tuple(arg_idx), tuple(idx)))


def single_atom(expr):
    """The atom an expression is (1 × atom¹, nothing summed), or None."""
    if len(expr.terms) == 1 and expr.terms[0].coef == 1 and not expr.terms[0].summed and len(expr.terms[0].factors) == 1:
        atom, e = expr.terms[0].factors[0]
        return atom if e == 1 else None
    return None


def walk_atoms(expr):
    """Every atom in an expression, nested ones included."""
    for t in expr.terms:
        for a, _ in t.factors:
            yield a
            if isinstance(a, (Func, MatFn)):
                yield from walk_atoms(a.arg)
            elif isinstance(a, Group):
                yield from walk_atoms(a.expr)
