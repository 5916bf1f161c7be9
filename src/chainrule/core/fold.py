"""Named values folded back into an index-form expression: where the terms of a named forward value's
definition occur (times a common rest), they are replaced by the name —
    Σ_q Z1[p,q] / m            → mu[p]                    (mu = mean(Z1, axis=1))
    X[p,q] s⁻³ − mu[p] s⁻³     → Zn[p,q] s⁻²              (Zn = (X − mu) s⁻¹)
    (var + ε)^(−3/2)           → std⁻³                    (std = √(var + ε))
so that a result reads the values the user named, and what they cancel against cancels
(2 dvar ⊙ mu − (2/m) dvar Σ Z1 = 0). A multi-factor definition is matched with its factors' powers
at most used up (X s⁻³ holds X s⁻¹, never X s⁰), a one-factor definition by any whole power of it.
The rewritten expression is equal, term for term: only names change."""
import itertools
from fractions import Fraction

from . import tensor as T


class Definitions:
    """Named values to fold back — (name, index Expr, its output indices) — indexed by an array each
    reads, so that an expression meets only the definitions whose arrays it has (a 500-line model's
    adjoint is not tried against 500 definitions)."""

    def __init__(self, defs):
        self.by_name = {}
        for order, (name, d, idx) in enumerate(defs):
            needs = _names(d)
            self.by_name.setdefault(min(needs) if needs else "", []).append((order, name, d, idx, needs))

    def candidates(self, present):
        """The definitions every array of which is in `present`, in their given order."""
        found = [x for n in present | {""} for x in self.by_name.get(n, ()) if x[4] <= present]
        return [x[1:4] for x in sorted(found, key=lambda x: x[0])]


def fold_values(expr, defs, rounds=6):
    """`expr` with the definitions `defs` (a Definitions, or a list of (name, index Expr, its output
    indices)) folded back in, inside compound factors too."""
    return _fold(expr, defs if isinstance(defs, Definitions) else Definitions(defs), rounds)


def _fold(expr, defs, rounds):
    for _ in range(rounds):
        new = _fold_pass(expr, defs)
        if new is expr:
            return expr
        expr = new
    return expr


def _fold_pass(expr, defs):
    expr = _fold_inside(expr, defs)
    for name, d, idx in defs.candidates(_names(expr)):
        new = _fold_one(expr, name, d, idx)
        if new is not None:
            return new
    return expr


def _names(expr):
    """The arrays an expression's terms read at their top level."""
    return frozenset(a.name for t in expr.terms for a, _ in t.factors if isinstance(a, T.Var))


def _fold_inside(expr, defs):
    """Fold the arguments of functions and groups (1 − tanh²(…), √(…)) in place."""
    terms, changed = [], False
    for t in expr.terms:
        factors = []
        for a, e in t.factors:
            inner = getattr(a, "arg", None) if isinstance(a, (T.Func, T.MatFn)) else \
                a.expr if isinstance(a, T.Group) else None
            if inner is not None and inner.terms:
                new = _fold(inner, defs, 2)
                if new is not inner:
                    a = T.Func(a.name, new, a.params) if isinstance(a, T.Func) else \
                        T.Group(new, a.keep) if isinstance(a, T.Group) else T.MatFn(a.name, new, a.arg_idx, a.idx)
                    changed = True
            factors.append((a, e))
        terms.append(T.Term.make(t.coef, factors, t.summed) if changed else t)
    return T.Expr.make(terms) if changed else expr


def _fold_one(expr, name, d, idx):
    """The expression with one occurrence of the definition d (of name[idx]) replaced, or None."""
    need = {i for i in idx if i.dim != 1}
    lead = max(d.terms, key=lambda u: (need <= u.free, len(u.factors), sum(len(a.free) for a, _ in u.factors)))
    single = len(d.terms) == 1 and len(lead.factors) == 1 and not lead.summed
    keys = {t.key(): t for t in expr.terms}
    for t in expr.terms:
        T.spend()
        for phi, rest, ratio, consumed in _matches(lead, t, idx, single):
            units = [i for i in idx if i not in phi]         # a keepdims axis no factor carries: Σ over one value
            if any(i.dim != 1 for i in units):
                continue
            phi = dict(phi)
            phi.update({i: i.fresh() for i in units})
            used = [t]
            for u in d.terms:
                if u is lead:
                    continue
                want = _expected(u, phi, rest, t.summed - consumed, ratio)
                got = keys.get(want.key()) if want is not None else None
                if got is None or got.coef != want.coef or any(got is x for x in used):
                    break
                used.append(got)
            else:
                new = T.Term.make(ratio[0], rest + [(T.Var(name, tuple(phi[i] for i in idx)), ratio[1])],
                                  (t.summed - consumed) | {phi[i] for i in units})
                kept = [x for x in expr.terms if not any(x is y for y in used)]
                return T.Expr.make(kept + ([new] if new is not None else []))
    return None


def _n(ix):
    return ix.n


def _expected(u, phi, rest, summed, ratio):
    """The term the definition's term u makes beside `rest` (u's own sums on fresh indices)."""
    fresh = {s: s.fresh() for s in sorted(u.summed, key=_n)}
    m = dict(phi)
    m.update(fresh)
    factors = [(a.rename(m), e) for a, e in u.factors] + list(rest)
    return T.Term.make(ratio[0] * u.coef, factors, set(summed) | set(fresh.values()))


def _matches(lead, t, idx, single):
    """Ways the definition's lead term occurs in t: (index map, the rest of t's factors, (coef, power)
    of the name, t's summed indices the definition's sums used up)."""
    d_factors = sorted(lead.factors, key=lambda f: (not isinstance(f[0], T.Var), -len(f[0].free)))
    if any(isinstance(a, T.Delta) for a, _ in d_factors):
        return
    for phi, pairs in _assign(d_factors, list(t.factors), {}, []):
        if any(phi.get(s) not in t.summed for s in lead.summed):
            continue
        consumed = {phi[s] for s in lead.summed}
        rest, power = [], Fraction(1)
        taken = {k for _, k in pairs}
        ok = True
        for (a_d, e_d), k in pairs:
            a_t, e_t = t.factors[k]
            if single:
                power = Fraction(e_t) / Fraction(e_d)
                if power.denominator != 1:
                    ok = False
            elif (e_t > 0) != (e_d > 0) or abs(e_t) < abs(e_d):
                ok = False
            elif e_t != e_d:
                rest.append((a_t, T.norm_exp(Fraction(e_t) - Fraction(e_d))))
        if not ok:
            continue
        rest += [f for k, f in enumerate(t.factors) if k not in taken]
        if any(consumed & a.free for a, _ in rest):
            continue                                 # a summed index of the definition is still read elsewhere
        if single:
            yield phi, rest, (t.coef / lead.coef ** int(power), int(power)), consumed
        else:
            yield phi, rest, (t.coef / lead.coef, 1), consumed


def _assign(d_factors, t_factors, phi, pairs, used=frozenset()):
    """Backtracking: each definition factor onto a distinct factor of t with the same atom under an
    index map extending phi (injective)."""
    if len(pairs) == len(d_factors):
        yield dict(phi), list(pairs)
        return
    a_d, e_d = d_factors[len(pairs)]
    for k, (a_t, e_t) in enumerate(t_factors):
        if k in used:
            continue
        m = _unify(a_d, a_t, phi)
        if m is None:
            continue
        yield from _assign(d_factors, t_factors, m, pairs + [((a_d, e_d), k)], used | {k})


def _unify(a_d, a_t, phi):
    """phi extended so that a_d renamed is a_t, or None."""
    if isinstance(a_d, T.Var):
        if not isinstance(a_t, T.Var) or a_t.name != a_d.name or len(a_t.idx) != len(a_d.idx) or \
                a_t.is_dim != a_d.is_dim:
            return None
        m = dict(phi)
        for i, j in zip(a_d.idx, a_t.idx):
            if m.get(i, j) is not j or (i not in m and any(v is j for v in m.values())):
                return None
            m[i] = j
        return m
    if type(a_t) is not type(a_d) or len(a_t.free) != len(a_d.free):
        return None
    open_d = sorted((i for i in a_d.free if i not in phi), key=_n)
    open_t = [j for j in sorted(a_t.free, key=_n) if not any(v is j for v in phi.values())]
    if len(open_d) != len(open_t) or len(open_d) > 3:
        return None
    for perm in itertools.permutations(open_t):
        m = dict(phi)
        m.update(zip(open_d, perm))
        if a_d.rename(m).key() == a_t.key():
            return m
    return None


def substitute_index(expr, name, by, by_idx):
    """The index expression with every name[...] replaced by `by` (an index form whose free indices
    are `by_idx`), indices matched by position; `by`'s summed indices are renamed apart."""
    terms = []
    for t in expr.terms:
        k = next((k for k, (a, e) in enumerate(t.factors) if isinstance(a, T.Var) and a.name == name and e == 1), None)
        if k is None:
            terms.append(t)
            continue
        head = T.Expr([T.Term.make(t.coef, t.factors[:k] + t.factors[k + 1:], frozenset())])
        prod = by.rename(dict(zip(by_idx, t.factors[k][0].idx))) * head       # dA1's form first, as in ⊙
        terms += [T.Term.make(u.coef, u.factors, u.summed | t.summed) for u in prod.terms]
    return T.Expr.make(terms)
