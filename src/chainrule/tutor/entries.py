"""The toy example's scalars, built by the engine (no SymPy): every array at toy sizes as named
entries (w2_12 is row 1, column 2 of W2; b2_1 the first entry of a column), index forms written
out at chosen entries (sums expanded, δ's resolved) into scalar expressions of the same IR, and the
way back — `read_off`, which finds from a matrix of scalar entries alone the one index pattern that
gives every entry (the mentor's "find the matrix form that gives every entry")."""
import itertools
import re

import numpy as np

from ..core import tensor as T
from ..core.errors import ChainruleError
from ..numeric.evaluate import evaluate

TOY_SIZE = 2             # every named dimension of a toy example
MAX_LIFTS = 256          # readings of one term's indices tried by read_off
MAX_ENTRY_TERMS = 64     # terms of one entry written out
READ_OFF_WORK = 6_000    # algebra steps of one read-off search (its own budget)


class Toy:
    """Named scalar entries for arrays of the given shapes (dimension names or fixed sizes)."""

    def __init__(self, shapes):
        self.shapes = dict(shapes)
        self.dims = {d: TOY_SIZE for s in self.shapes.values() for d in s if isinstance(d, str)}
        self.of = {}                                   # scalar name -> (array, full index values)
        bases = {}
        for n in self.shapes:
            bases.setdefault(_base(n), []).append(n)
        self._base = {n: (_base(n) if len(bases[_base(n)]) == 1 else re.sub(r"[^0-9a-zA-Z]", "", n) or n)
                      for n in self.shapes}

    def size(self, d):
        return d if isinstance(d, int) else self.dims[d]

    def shape(self, name):
        return tuple(self.size(d) for d in self.shapes[name])

    def entries(self, name):
        """Every index tuple of the array `name` at toy sizes, row by row."""
        return list(itertools.product(*[range(n) for n in self.shape(name)]))

    def name(self, array, values):
        """The scalar name of one entry: lower case, one digit (from 1) per axis longer than 1."""
        shape = self.shape(array) if array in self.shapes else ()
        if not shape:
            name = array
        else:
            digits = "".join(str(v + 1) for v, n in zip(values, shape) if n > 1)
            name = self._base.get(array, _base(array)) + ("_" + digits if digits else "")
        self.of[name] = (array, tuple(values))
        return name

    def scalar(self, array, values):
        return T.Var(self.name(array, values), ())

    # -- index forms at entries ---------------------------------------------------------------
    def at(self, expr, env):
        """expr with its free indices at `env` (Index -> value) and every summed index written out:
        a scalar expression over named entries."""
        terms = []
        for t in expr.terms:
            summed = sorted(t.summed, key=lambda i: i.n)
            ways = int(np.prod([self.size(i.dim) for i in summed])) if summed else 1
            if ways > MAX_ENTRY_TERMS:
                raise NotImplementedError(f"a term sums over {len(summed)} indices ({ways:,} products per entry), "
                                          "too many to expand by hand")
            for values in itertools.product(*[range(self.size(i.dim)) for i in summed]):
                e = {**env, **dict(zip(summed, values))}
                factors, zero = [], False
                for a, x in t.factors:
                    if isinstance(a, T.Delta):
                        zero = zero or e.get(a.a, 0) != e.get(a.b, 0)
                        continue
                    factors.append((self._atom(a, e), x))
                if not zero:
                    terms.append(T.Term.make(t.coef, factors))
                if len(terms) > MAX_ENTRY_TERMS:
                    raise NotImplementedError(f"an entry has more than {MAX_ENTRY_TERMS} terms, too many to follow "
                                              "by hand")
        return T.Expr.make(terms)

    def _atom(self, a, e):
        if isinstance(a, T.Var):
            if a.is_dim or not a.idx:
                if not a.is_dim:
                    self.of.setdefault(a.name, (a.name, ()))
                return a
            return self.scalar(a.name, [e.get(i, 0) for i in a.idx])
        if isinstance(a, T.Func):
            return T.Func(a.name, self.at(a.arg, e), a.params)
        if isinstance(a, T.Group):
            return T.Group(self.at(a.expr, e), a.keep)
        if isinstance(a, T.Named):
            return a
        if isinstance(a, T.MatFn) and a.name in ("inv", "det", "logdet"):
            return self._matrix_function(a, e)
        raise NotImplementedError(f"the toy example writes out sums, products and entry-wise functions, not {a.name}")

    def _matrix_function(self, a, e):
        """inv, det, logdet of a matrix of at most 2×2, entry by entry: det = m11 m22 − m12 m21,
        inv = [[m22, −m12], [−m21, m11]] / det."""
        r, c = a.arg_idx
        n = self.size(r.dim)
        if n > 2:
            raise NotImplementedError(f"the toy example writes out {a.name} of matrices up to 2×2; here {n}×{n}")
        m = [[self.at(a.arg, {**e, r: i, c: j}) for j in range(n)] for i in range(n)]
        det = m[0][0] if n == 1 else m[0][0] * m[1][1] - m[0][1] * m[1][0]
        if a.name == "det":
            return T.Group(det)
        if a.name == "logdet":
            return T.Func("log", det)
        i, j = (e.get(x, 0) for x in a.idx)
        adj = [[T.const(1)]] if n == 1 else [[m[1][1], -m[0][1]], [-m[1][0], m[0][0]]]
        return T.Group(adj[i][j] * T.Expr([T.Term.make(1, [(T.Group(det), -1)])]))

    def value(self, expr, arrays):
        """A scalar expression's number, for arrays at toy sizes ({name: ndarray}) and the toy's dims."""
        env = {s: np.asarray(arrays[a], dtype=float)[v] if v else np.asarray(arrays[a], dtype=float).reshape(())
               for s, (a, v) in self.of.items() if a in arrays}
        with np.errstate(all="ignore"):
            return float(evaluate(expr, (), env, self.dims))

    def random_arrays(self, rng):
        """Arrays of random values (positive, away from 0 and 1) for every name at toy size."""
        return {n: rng.uniform(0.15, 0.85, self.shape(n)) for n in self.shapes}


def _base(name):
    return re.sub(r"[^0-9a-zA-Z]", "", name).lower() or name


# -- the way back: the pattern of a matrix of entries ---------------------------------------------

def read_off(toy, entries, idx):
    """The index expression over `idx` (the target's free indices) whose value at every entry is the
    scalar expression given for it ({values: Expr}), found from the entries alone. Each term of an
    entry is read back as index patterns — an entry of an array whose position is a free index's
    value along that index's dimension may be that index, any position a summed index, and where two
    free indices of one dimension take the same value the term may carry their δ (the identity in ∂
    tr(X)/∂X) — and patterns are kept, most summed indices first, while every term they give at every
    entry is one of that entry's; it succeeds when they give all of them. The entry whose free
    values differ most is read first, the others only while terms are left. The result is checked on
    random values. None when no such pattern is found."""
    if not entries:
        return None
    try:
        with T.part_budget(READ_OFF_WORK):
            return _read_off(toy, entries, idx)
    except ChainruleError:           # past its budget: a search that long finds no pattern a person would read
        return None


def _read_off(toy, entries, idx):
    for mixed in (False, True):                 # readings one per (dimension, value) first, then mixed ones
        chosen = _patterns(toy, entries, idx, mixed)
        if chosen is not None:
            break
    else:
        return None
    found = T.Expr([T.Term(t.coef, tuple(sorted(t.factors, key=lambda f: _reading_order(f[0], idx, _shared(t)))),
                           t.summed) for t in T.Expr.make(chosen).terms])
    rng = np.random.default_rng(7)
    for _ in range(2):
        arrays = toy.random_arrays(rng)
        for values, given in entries.items():
            want = toy.value(given, arrays)
            got = toy.value(toy.at(found, dict(zip(idx, values))), arrays)
            if not np.isclose(got, want, rtol=1e-9, atol=1e-12):
                return None
    return found


def _patterns(toy, entries, idx, mixed):
    free = [i for i in idx if toy.size(i.dim) > 1]
    remaining = {e: {_key1(t): t.coef for t in v.terms} for e, v in entries.items()}
    refs = sorted(entries, key=lambda v: (-len({v[k] for k, i in enumerate(idx) if i in free}), v))
    chosen, seen = [], set()
    for ref in refs:
        if not any(remaining.values()):
            break
        ctx = {}
        for i, v in zip(idx, ref):
            ctx.setdefault((i.dim, v) if i in free else ("unit", idx.index(i)), []).append(i)
        ctx["units"] = [i for i in idx if i not in free]          # a size-1 axis where the target has none there
        env = dict(zip(idx, ref))
        pairs = [(i, j) for a, i in enumerate(free) for j in free[a + 1:] if i.dim == j.dim and env[i] == env[j]]
        candidates = []
        for t in entries[ref].terms:
            if not remaining[ref].get(_key1(t)):
                continue
            for p in _lift_term(toy, t, ctx, env, mixed):
                candidates += [p] + [T.Term.make(p.coef, p.factors + ((T.Delta(i, j), 1),), p.summed) for i, j in pairs]
        candidates.sort(key=lambda p: (-len([i for i in p.summed if i.dim != 1]),
                                       sum(isinstance(a, T.Delta) for a, _ in p.factors)))
        for p in candidates:
            k = (p.key(), p.coef)
            if k in seen:
                continue
            seen.add(k)
            first = _instance(toy, p, env)            # the reference entry first: most readings fail there
            if not first or not _within(remaining[ref], first):
                continue
            got = {e: first if e == ref else _instance(toy, p, dict(zip(idx, e))) for e in entries}
            if any(g is None for g in got.values()):
                continue
            if not all(_within(remaining[e], got[e]) for e in entries):
                continue
            for e, terms in got.items():
                _take(remaining[e], terms)
            chosen.append(p)
    return None if any(remaining.values()) else chosen


def _instance(toy, p, env):
    """The terms of pattern p at one entry, or None where a reading is not a value (it divides by 0)."""
    try:
        return toy.at(T.Expr([p]), env).terms
    except ChainruleError as e:
        if e.kind == "budget":
            raise
        return None


def _within(remaining, terms):
    """Is every term among the remaining ones, with at most their coefficient (two patterns may meet on
    one term: 2 a_11 x_11 in ∂ tr(XᵀAX)/∂X)?"""
    return all(_key1(u) in remaining and remaining[_key1(u)] / u.coef >= 1 for u in terms)


def _take(remaining, terms):
    """Count the terms a pattern gives as found: their coefficients off the remaining ones."""
    for u in terms:
        k = _key1(u)
        remaining[k] -= u.coef
        if remaining[k] == 0:
            del remaining[k]


def _reading_order(a, idx, shared):
    """Factors as a matrix product reads them: arrays before functions and groups (the ⊙ factors), the
    ones a summed index joins first (W2[u,i] dZ2[u,j] before A1[i,j]), the one carrying the result's
    row index first (W2[a,i] dZ2[a,j]: W2ᵀ dZ2)."""
    first = min((k for k, i in enumerate(idx) if i in a.free), default=len(idx))
    return (not isinstance(a, T.Var), not (a.free & shared), first)


def _shared(t):
    """The summed indices of a term that two or more of its factors read (a product, not a sum)."""
    counts = {}
    for a, _ in t.factors:
        for i in a.free & t.summed:
            counts[i] = counts.get(i, 0) + 1
    return {i for i, c in counts.items() if c > 1}


def _lift_expr(toy, expr, ctx, env):
    """An index expression over ctx's indices whose instance at env is expr, or None: every term's
    readings, most summed indices first, kept where their whole expansion is among expr's terms."""
    for mixed in (False, True):
        found = _lift_expr_once(toy, expr, ctx, env, mixed)
        if found is not None:
            return found
    return None


def _lift_expr_once(toy, expr, ctx, env, mixed):
    remaining = {_key1(t): t.coef for t in expr.terms}
    candidates, seen = [], set()
    for t in expr.terms:
        for p in _lift_term(toy, t, ctx, env, mixed):
            k = (p.key(), p.coef)
            if k not in seen:
                seen.add(k)
                candidates.append(p)
    candidates.sort(key=lambda p: -len([i for i in p.summed if i.dim != 1]))      # stable: readings in order
    chosen = []
    for p in candidates:
        if not remaining:
            break
        got = _instance(toy, p, env)
        if got and _within(remaining, got):
            _take(remaining, got)
            chosen.append(p)
    return T.Expr.make(chosen) if not remaining else None


def _key1(t):
    return T.Term(1, t.factors, t.summed).key()


def _lift_term(toy, t, ctx, env, mixed=False):
    """Readings of one scalar term as an index term. Each position an entry name takes — a
    (dimension, value) pair — is one of ctx's indices for that pair (a free index, or a summed index
    of an enclosing term) or the term's own summed index for it; size-1 positions are one index per
    axis position (W2[u,i] dZ2[u,j] with n_y = 1)."""
    factors_in = _split(t.factors)
    occ = []                                          # in the order the term reads them (index creation order)
    for name in _outer_names(factors_in):
        array, values = toy.of[name]
        for k, (d, v) in enumerate(zip(toy.shapes.get(array, ()), values)):
            occ.append((d, v) if toy.size(d) > 1 else ("unit", k))
    options = [list(ctx.get(s, ())) + (["new"] if s[0] != "unit" or s not in ctx else []) if s in ctx or
               s[0] != "unit" else list(ctx.get("units", ())) + ["new"] for s in occ]
    if mixed:           # each position on its own: a_12 b_11 = A[a,p] B[q,a] where a and q take one value
        choices = itertools.islice(itertools.product(*options), MAX_LIFTS)
    else:               # one choice per (dimension, value): the readings a person tries first
        classes = list(dict.fromkeys(occ))
        per = [options[occ.index(c)] for c in classes]
        choices = (tuple(pick[classes.index(s)] for s in occ) for pick in itertools.product(*per))
    for choice in choices:
        own, inner_env, assigned = {}, dict(env), []
        for s, c in zip(occ, choice):
            if c == "new":
                if s not in own:
                    own[s] = T.Index(1 if s[0] == "unit" else s[0], "u" if s[0] == "unit" else "a")
                    inner_env[own[s]] = 0 if s[0] == "unit" else s[1]
                c = own[s]
            assigned.append(c)
        inner_ctx = {k: list(v) for k, v in ctx.items()}
        for s, i in own.items():
            inner_ctx.setdefault(s, []).append(i)
        it = iter(assigned)
        factors = []
        for a, x in factors_in:
            lifted = _lift_atom(toy, a, it, inner_ctx, inner_env)
            if lifted is None:
                break
            factors.append((lifted, x))
        else:
            summed = frozenset(own.values())
            term = T.Term.make(t.coef, factors, summed)
            if term is not None and all(i in term.summed for i in summed):
                yield term


def _split(factors):
    """x_11² as x_11 · x_11: a power may be two entries that met (X[p,b] X[b,a] at p = b = a)."""
    return [(a, 1) for a, x in factors for _ in range(x)] if all(
        isinstance(x, int) or getattr(x, "denominator", 2) == 1 for _, x in factors) and \
        all(0 < x <= 4 for _, x in factors) else list(factors)


def _outer_names(factors):
    """The entry names a term's factors read outside multi-term sub-expressions (theirs are read
    inside), in the order _lift_atom meets them."""
    out = []

    def atom(a):
        if isinstance(a, T.Var) and not a.is_dim:
            out.append(a.name)
        elif isinstance(a, (T.Func, T.Group)):
            inner = a.arg if isinstance(a, T.Func) else a.expr
            if len(inner.terms) == 1:
                for b, _ in _split(inner.terms[0].factors):
                    atom(b)
    for a, _ in factors:
        atom(a)
    return out


def _lift_atom(toy, a, it, ctx, env):
    """One factor read back: entry names take their indices from `it` (the term's reading, in
    _outer_names's order); a multi-term sub-expression is read as a pattern of its own over ctx."""
    if isinstance(a, T.Var):
        if a.is_dim or a.name not in toy.of:
            return a
        array, values = toy.of[a.name]
        return T.Var(array, tuple(next(it) for _ in values)) if values else T.Var(array, ())
    if isinstance(a, (T.Func, T.Group)):
        inner = a.arg if isinstance(a, T.Func) else a.expr
        if len(inner.terms) > 1:
            lifted = _lift_expr(toy, inner, ctx, env)
        elif inner.terms:
            t = inner.terms[0]
            factors = []
            for b, x in _split(t.factors):
                f = _lift_atom(toy, b, it, ctx, env)
                if f is None:
                    return None
                factors.append((f, x))
            lifted = T.Expr([u for u in (T.Term.make(t.coef, factors),) if u is not None])
        else:
            lifted = inner
        if lifted is None:
            return None
        return T.Func(a.name, lifted, a.params) if isinstance(a, T.Func) else T.Group(lifted, a.keep)
    return a
