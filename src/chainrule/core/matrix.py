"""Matrix notation: the IR results are printed from (text, LaTeX, NumPy).

Nodes carry their exact NumPy shape, so the NumPy printer can emit code that is right for 1-D
vectors, columns and matrices alike; the math printers show 1-D vectors as columns. Constructors
(`mat_*` functions) apply the simplifications a person would: (Aᵀ)ᵀ = A, (AB)ᵀ = BᵀAᵀ, I A = A.
A derived shape is computed once per node (cached_property): recomputed, a chain of n products
would ask its operands' shapes 2ⁿ times.
"""
from dataclasses import dataclass
from functools import cached_property
from fractions import Fraction
from .tensor import spend


@dataclass(frozen=True)
class M:
    @cached_property
    def ndim(self):
        return len(self.shape)


@dataclass(frozen=True)
class MVar(M):
    name: str
    shape: tuple
    is_dim: bool = False


@dataclass(frozen=True)
class MNum(M):
    value: Fraction
    shape: tuple = ()


@dataclass(frozen=True)
class MNamed(M):
    """A named constant (π, e: an entry of rules.CONSTANTS)."""
    name: str
    shape: tuple = ()


@dataclass(frozen=True)
class MIdentity(M):
    n: object

    @cached_property
    def shape(self):
        return (self.n, self.n)


@dataclass(frozen=True)
class MOnes(M):
    shape: tuple


@dataclass(frozen=True)
class MZeros(M):
    shape: tuple


@dataclass(frozen=True)
class MAdd(M):
    terms: tuple
    shape: tuple


@dataclass(frozen=True)
class MScale(M):
    coef: Fraction
    x: M

    @cached_property
    def shape(self):
        return self.x.shape


@dataclass(frozen=True)
class MMatMul(M):
    a: M
    b: M

    @cached_property
    def shape(self):
        return self.a.shape[:-1] + (self.b.shape[1:] if self.b.ndim == 2 else ())


@dataclass(frozen=True)
class MHad(M):
    factors: tuple          # scalars first; arrays all of one shape
    shape: tuple


@dataclass(frozen=True)
class MPow(M):
    x: M
    e: Fraction

    @cached_property
    def shape(self):
        return self.x.shape


@dataclass(frozen=True)
class MT(M):
    x: M

    @cached_property
    def shape(self):
        return tuple(reversed(self.x.shape))


@dataclass(frozen=True)
class MFunc(M):
    """An element-wise function (an entry of rules.ELEMENTWISE) with its constant parameters."""
    name: str
    x: M
    params: tuple = ()

    @cached_property
    def shape(self):
        return self.x.shape


@dataclass(frozen=True)
class MSum(M):
    x: M
    axis: object = None
    keepdims: bool = False

    @cached_property
    def shape(self):
        if self.axis is None:
            return tuple(1 for _ in self.x.shape) if self.keepdims else ()
        return tuple(1 if k == self.axis else d for k, d in enumerate(self.x.shape)
                     if self.keepdims or k != self.axis)


@dataclass(frozen=True)
class MLoopSum(M):
    """Σ over a loop's iterations of one term written in the loop's indexed names: Σ_l dZ[l] A[l − 1]ᵀ
    (how an adjoint that sums a term per iteration is read back; engine.rolled builds it, for display)."""
    var: str                  # as printed: l, or l=1..4 when the sum is over part of the loop
    x: M
    values: tuple = ()        # the loop variable's values it sums over

    @cached_property
    def shape(self):
        return self.x.shape


@dataclass(frozen=True)
class MTrace(M):
    x: M
    shape: tuple = ()


@dataclass(frozen=True)
class MMatFn(M):
    name: str          # inv | det | logdet
    x: M

    @cached_property
    def shape(self):
        return self.x.shape if self.name == "inv" else ()


@dataclass(frozen=True)
class MDiag(M):
    v: M

    @cached_property
    def shape(self):
        return (self.v.shape[0], self.v.shape[0])


@dataclass(frozen=True)
class MDiagPart(M):
    x: M

    @cached_property
    def shape(self):
        return (self.x.shape[0],)


@dataclass(frozen=True)
class MOuter(M):
    u: M
    v: M

    @cached_property
    def shape(self):
        return (self.u.shape[0], self.v.shape[0])


@dataclass(frozen=True)
class MExpand(M):
    x: M
    axis: int

    @cached_property
    def shape(self):
        s = list(self.x.shape)
        s.insert(self.axis, 1)
        return tuple(s)


@dataclass(frozen=True)
class MSqueeze(M):
    x: M
    axis: int

    @cached_property
    def shape(self):
        return tuple(d for k, d in enumerate(self.x.shape) if k != self.axis)


@dataclass(frozen=True)
class MSoftmax(M):
    """exp(x) / Σ exp(x), over all entries (axis None) or along an axis (as scipy.special.softmax)."""
    x: M
    axis: object = None

    @cached_property
    def shape(self):
        return self.x.shape


@dataclass(frozen=True)
class MReshape(M):
    """The same entries with size-1 axes added (for derivatives of arrays with a size-1 axis)."""
    x: M
    shape: tuple


@dataclass(frozen=True)
class MEinsum(M):
    spec: str
    operands: tuple
    shape: tuple


# -- smart constructors ----------------------------------------------------------------------

def canon(m):
    """A key equal for expressions equal up to the order of sums and element-wise products."""
    if not isinstance(m, M):
        return repr(m)
    cached = m.__dict__.get("_canon")
    if cached is not None:
        return cached
    if isinstance(m, (MAdd, MHad)):
        parts = sorted(canon(t) for t in (m.terms if isinstance(m, MAdd) else m.factors))
        key = f"{type(m).__name__}({','.join(parts)})"
    else:
        key = f"{type(m).__name__}({','.join(canon(getattr(m, f)) for f in m.__dataclass_fields__)})"
    object.__setattr__(m, "_canon", key)          # a cache, not a field: equality is unaffected
    spend(len(key) / 20_000)                      # shared subtrees are spelled out: nesting grows keys
    return key


def is_symmetric(m):
    """Is this square matrix expression symmetric whatever its variables (XᵀX, A + Aᵀ, diag(v), …)?
    Cached per node: transposing a chain of n products asks it of every sub-chain."""
    cached = m.__dict__.get("_symmetric")
    if cached is None:
        cached = _symmetric(m)
        object.__setattr__(m, "_symmetric", cached)          # a cache, not a field: equality is unaffected
    return cached


def _symmetric(m):
    if m.ndim != 2:
        return False
    if isinstance(m, (MIdentity, MDiag)):
        return True
    if isinstance(m, MOnes):
        return m.shape[0] == m.shape[1]
    if isinstance(m, MMatMul):
        chain = matmul_chain(m)
        n = len(chain)
        return all(chain[k] == _flip(chain[n - 1 - k]) for k in range(n // 2)) and \
            (n % 2 == 0 or is_symmetric(chain[n // 2]))
    if isinstance(m, MAdd):
        return all(is_symmetric(t) for t in m.terms) or \
            sorted(map(canon, m.terms)) == sorted(canon(_flip(t)) for t in m.terms)
    if isinstance(m, (MScale, MFunc, MPow)) or (isinstance(m, MMatFn) and m.name == "inv"):
        return is_symmetric(m.x)
    if isinstance(m, MHad):
        return all(f.ndim == 0 or is_symmetric(f) for f in m.factors)
    if isinstance(m, MOuter):
        return m.u == m.v
    return False


def matmul_chain(m):
    """The factors of a product A B C, flattened."""
    return matmul_chain(m.a) + matmul_chain(m.b) if isinstance(m, MMatMul) else [m]


def _flip(m):
    """mᵀ without simplification (for comparisons)."""
    if isinstance(m, MT):
        return m.x
    if isinstance(m, (MIdentity, MDiag)):
        return m
    return MT(m)


def mat_t(x):
    """xᵀ, pushed towards the leaves the way a person writes it (1-D: a row, for the math printers)."""
    if x.ndim == 0:
        return x
    if isinstance(x, MT):
        return x.x
    if isinstance(x, MScale):
        return mat_scale(x.coef, mat_t(x.x))
    if isinstance(x, (MIdentity, MDiag)) or is_symmetric(x):
        return x
    if x.ndim == 2:
        if isinstance(x, (MOnes, MZeros)):
            return type(x)(tuple(reversed(x.shape)))
        if isinstance(x, MMatMul):
            return mat_mul(mat_t(x.b), mat_t(x.a))
        if isinstance(x, MAdd):
            return MAdd(tuple(mat_t(t) if t.ndim == 2 else t for t in x.terms), tuple(reversed(x.shape)))
        if isinstance(x, MOuter):
            return MOuter(x.v, x.u)
        if isinstance(x, MMatFn) and x.name == "inv" and isinstance(x.x, MT):
            return MMatFn("inv", x.x.x)
    return MT(x)


def _cancels(a, b):
    """a b = I: X⁻¹X, XX⁻¹ and their transposes."""
    inv = lambda m: isinstance(m, MMatFn) and m.name == "inv"          # noqa: E731
    if inv(a) and a.x == b or inv(b) and b.x == a:
        return True
    if isinstance(a, MT) and isinstance(b, MT):
        return _cancels(b.x, a.x)
    return False


def mat_mul(a, b):
    if isinstance(a, MIdentity) and a.ndim == 2:
        return b
    if isinstance(b, MIdentity):
        return a
    if a.ndim == 2 and b.ndim == 2 and _cancels(a, b):
        return MIdentity(a.shape[0])
    if isinstance(b, MMatMul) and a.ndim == 2 and b.a.ndim == 2 and _cancels(a, b.a):
        return b.b
    if isinstance(a, MMatMul) and b.ndim == 2 and a.b.ndim == 2 and _cancels(a.b, b):
        return a.a
    if isinstance(a, MScale):
        return mat_scale(a.coef, mat_mul(a.x, b))
    if isinstance(b, MScale):
        return mat_scale(b.coef, mat_mul(a, b.x))
    return MMatMul(a, b)


def mat_scale(c, x):
    c = Fraction(c)
    if c == 1:
        return x
    if isinstance(x, MScale):
        return mat_scale(c * x.coef, x.x)
    if isinstance(x, MNum):
        return MNum(c * x.value)
    return MScale(c, x)


def mat_had(factors, shape):
    """Element-wise product; scalar factors are kept in front, numbers folded into a coefficient."""
    coef = Fraction(1)
    flat = []
    for f in _unsqueezed(factors):
        if isinstance(f, MScale):
            coef *= f.coef
            f = f.x
        if isinstance(f, MHad):
            flat.extend(f.factors)
        elif isinstance(f, MNum):
            coef *= f.value
        else:
            flat.append(f)
    if any(f.shape == shape and not isinstance(f, MOnes) for f in flat):
        flat = [f for f in flat if not isinstance(f, MOnes) or f.shape != shape]   # 𝟏 ⊙ A = A
    elif shape and not any(isinstance(f, MOnes) and f.shape == shape for f in flat):
        flat.append(MOnes(shape))                   # nothing else has the full shape
    counts, order = {}, []
    for f in flat:
        base, e = (f.x, f.e) if isinstance(f, MPow) else (f, Fraction(1))
        k = canon(base)
        if k not in counts:
            counts[k] = [base, Fraction(0)]
            order.append(k)
        counts[k][1] += e
    flat = [b if e == 1 else MPow(b, e) for b, e in (counts[k] for k in order) if e != 0]
    scalars = [f for f in flat if f.ndim == 0]
    arrays = [f for f in flat if f.ndim > 0 and not isinstance(f, MAdd)] + \
        [f for f in flat if f.ndim > 0 and isinstance(f, MAdd)]
    flat = scalars + arrays
    if not flat:
        return mat_scale(coef, MOnes(shape)) if shape else MNum(coef)
    body = flat[0] if len(flat) == 1 and flat[0].shape == shape else MHad(tuple(flat), shape)
    return mat_scale(coef, body)


def _unsqueezed(factors):
    """A size-1 axis put back on a product that took it off one factor gives that factor back whole:
    expand(a ⊙ squeeze(y)) = expand(a) ⊙ y (so y meets its equals among the other factors)."""
    out = []
    for f in factors:
        if isinstance(f, MExpand) and isinstance(f.x, MHad) and \
                any(isinstance(g, MSqueeze) and g.axis == f.axis for g in f.x.factors):
            whole = [g.x for g in f.x.factors if isinstance(g, MSqueeze) and g.axis == f.axis]
            rest = [g for g in f.x.factors if not (isinstance(g, MSqueeze) and g.axis == f.axis)]
            out.extend(whole + ([MExpand(mat_had(rest, f.x.shape), f.axis)] if rest else []))
        else:
            out.append(f)
    return out


def mat_add(terms, shape):
    flat = []
    for t in terms:
        if isinstance(t, MAdd):
            flat.extend(t.terms)
        elif not isinstance(t, MZeros):
            flat.append(t)
    if not flat:
        return MZeros(shape)
    return flat[0] if len(flat) == 1 else MAdd(tuple(flat), shape)


def mat_pow(x, e):
    e = Fraction(e)
    if e == 1:
        return x
    if isinstance(x, MPow) and (e.denominator == 1 or ((x.e * e).denominator == 1 and (x.e * e).numerator % 2 == 0)):
        return mat_pow(x.x, x.e * e)                 # (x^a)^e = x^(ae) unless that drops an |x|
    if isinstance(x, (MSqueeze, MExpand)) and isinstance(x.x, MPow):
        return type(x)(mat_pow(x.x, e), x.axis)      # entry-wise powers pass through a size-1 axis
    return MPow(x, e)


def split_coef(m):
    return (m.coef, m.x) if isinstance(m, MScale) else (Fraction(1), m)


def mat_map(m, fn, before=None, _memo=None):
    """Rebuild m bottom-up, applying fn to every node after its children. `before(node)`, when given,
    is asked first: a node it returns (not None) replaces the subtree as it is, children unvisited.
    A subtree shared by several parents (the same object) is rebuilt once: `fn` must be pure."""
    import dataclasses
    memo = {} if _memo is None else _memo
    hit = memo.get(id(m))
    if hit is not None:
        return hit[1]
    if before is not None:
        replaced = before(m)
        if replaced is not None:
            memo[id(m)] = (m, replaced)
            return replaced
    changes = {}
    for f in m.__dataclass_fields__:
        v = getattr(m, f)
        if isinstance(v, M):
            nv = mat_map(v, fn, before, memo)
            if nv is not v:
                changes[f] = nv
        elif isinstance(v, tuple) and v and all(isinstance(x, M) for x in v):
            nv = tuple(mat_map(x, fn, before, memo) for x in v)
            if any(a is not b for a, b in zip(nv, v)):
                changes[f] = nv
    out = fn(dataclasses.replace(m, **changes) if changes else m)
    memo[id(m)] = (m, out)                 # m kept alive with its result: ids stay unique
    return out


def column(x):
    """A 1-D vector with its orientation marks (MT) removed: NumPy has no row or column 1-D arrays."""
    if x.ndim == 1 and isinstance(x, MT):
        return column(x.x)
    if x.ndim == 1 and isinstance(x, MScale):
        return mat_scale(x.coef, column(x.x))
    return x
