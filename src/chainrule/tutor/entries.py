"""The toy example's scalars, built by the engine (no SymPy): every array at toy sizes as named
entries (w2_12 is row 1, column 2 of W2; b2_1 the first entry of a column), index forms written
out at chosen entries (sums expanded, δ's resolved) into scalar expressions of the same IR, and the
way back — `read_off`, which finds from a matrix of scalar entries alone the one index pattern that
gives every entry (the mentor's "find the matrix form that gives every entry")."""
import itertools
import re

import numpy as np

from ..core import tensor as T
from ..numeric.evaluate import evaluate

TOY_SIZE = 2             # every named dimension of a toy example
MAX_LIFTS = 256          # readings of one term's indices tried by read_off
MAX_ENTRY_TERMS = 64     # terms of one entry written out


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
        raise NotImplementedError("the toy example writes out sums, products and entry-wise functions, not "
                                  "inverses or determinants")

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
    scalar expression given for it ({values: Expr}), found from the entries alone: each term of one
    entry is read back — an entry of an array whose position is a free index's value along that
    index's dimension is that index, the other positions summed indices — the readings that
    reproduce that entry's terms exactly are kept, and the result must give every other entry too
    (checked on random values). None when no such pattern is found."""
    if not entries:
        return None
    free = [i for i in idx if toy.size(i.dim) > 1]
    ref = max(entries, key=lambda v: (len({v[k] for k, i in enumerate(idx) if i in free}), v))
    ctx = {}
    for i, v in zip(idx, ref):
        ctx.setdefault((i.dim, v) if i in free else ("unit", idx.index(i)), []).append(i)
    ctx["units"] = [i for i in idx if i not in free]          # a size-1 axis where the target has none there
    found = _lift_expr(toy, entries[ref], ctx, dict(zip(idx, ref)))
    if found is None:
        return None
    rng = np.random.default_rng(7)
    for _ in range(2):
        arrays = toy.random_arrays(rng)
        for values, given in entries.items():
            want = toy.value(given, arrays)
            got = toy.value(toy.at(found, dict(zip(idx, values))), arrays)
            if not np.isclose(got, want, rtol=1e-9, atol=1e-12):
                return None
    return found


def _lift_expr(toy, expr, ctx, env):
    """An index expression over ctx's indices whose instance at env is expr, or None: every term's
    readings, most summed indices first, kept where their whole expansion is among expr's terms."""
    remaining = {_key1(t): t.coef for t in expr.terms}
    candidates, seen = [], set()
    for t in expr.terms:
        for p in _lift_term(toy, t, ctx, env):
            k = (p.key(), p.coef)
            if k not in seen:
                seen.add(k)
                candidates.append(p)
    candidates.sort(key=lambda p: -len([i for i in p.summed if i.dim != 1]))      # stable: readings in order
    chosen = []
    for p in candidates:
        if not remaining:
            break
        got = toy.at(T.Expr([p]), env).terms
        if got and all(remaining.get(_key1(u)) == u.coef for u in got) and len({_key1(u) for u in got}) == len(got):
            for u in got:
                del remaining[_key1(u)]
            chosen.append(p)
    return T.Expr.make(chosen) if not remaining else None


def _key1(t):
    return T.Term(1, t.factors, t.summed).key()


def _lift_term(toy, t, ctx, env):
    """Readings of one scalar term as an index term. Each position an entry name takes — a
    (dimension, value) pair — is one of ctx's indices for that pair (a free index, or a summed index
    of an enclosing term) or the term's own summed index for it; size-1 positions are one index per
    axis position (W2[u,i] dZ2[u,j] with n_y = 1)."""
    occ = []                                          # in the order the term reads them (index creation order)
    for name in _outer_names(t):
        array, values = toy.of[name]
        for k, (d, v) in enumerate(zip(toy.shapes.get(array, ()), values)):
            occ.append((d, v) if toy.size(d) > 1 else ("unit", k))
    options = [list(ctx.get(s, ())) + (["new"] if s[0] != "unit" or s not in ctx else []) if s in ctx or
               s[0] != "unit" else list(ctx.get("units", ())) + ["new"] for s in occ]
    for choice in itertools.islice(itertools.product(*options), MAX_LIFTS):
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
        for a, x in t.factors:
            lifted = _lift_atom(toy, a, it, inner_ctx, inner_env)
            if lifted is None:
                break
            factors.append((lifted, x))
        else:
            summed = frozenset(own.values())
            term = T.Term.make(t.coef, factors, summed)
            if term is not None and all(i in term.summed for i in summed):
                yield term


def _outer_names(t):
    """The entry names a term reads outside multi-term sub-expressions (theirs are read inside), in
    the order _lift_atom meets them."""
    out = []

    def atom(a):
        if isinstance(a, T.Var) and not a.is_dim:
            out.append(a.name)
        elif isinstance(a, (T.Func, T.Group)):
            inner = a.arg if isinstance(a, T.Func) else a.expr
            if len(inner.terms) == 1:
                for b, _ in inner.terms[0].factors:
                    atom(b)
    for a, _ in t.factors:
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
            for b, x in t.factors:
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
