"""Recognising softmax in matrix notation: exp(x) / 𝟏ᵀexp(x) = softmax(x), and its column form."""
from ..core.matrix import (MDiag, MExpand, MFunc, MHad, MMatMul, MOuter, MPow, MSoftmax, MSum, MT, canon, mat_had, mat_map,
                           mat_mul, mat_t)


def recognize_softmax(m):
    return mat_map(m, _rewrite)


def _normaliser(f):
    """(x, axis, k) when f is (Σ exp(x))^(−k) summed over everything or along an axis."""
    if isinstance(f, MPow) and f.e < 0 and f.e.denominator == 1 and isinstance(f.x, MSum) \
            and isinstance(f.x.x, MFunc) and f.x.x.name == "exp" and not f.x.keepdims:
        return f.x.x.x, f.x.axis, int(-f.e)
    return None


def _rewrite(m):
    if isinstance(m, MHad):
        return _in_product(m)
    if isinstance(m, MMatMul):
        return _column_form(m)
    if isinstance(m, MT):
        return mat_t(m.x)                  # a rewritten product inside: transposed again (Wᵀ P, not (Pᵀ W)ᵀ)
    return m


def _in_product(m):
    factors = list(m.factors)
    broadcast = _broadcast_form(m, factors)
    if broadcast is not None:
        return broadcast
    for n, f in enumerate(factors):
        found = _normaliser(f)
        if found is None or found[1] is not None:
            continue
        x, _, k = found
        e = canon(MFunc("exp", x))
        s = MSoftmax(x)
        for j, g in enumerate(factors):
            if k == 1 and canon(g) == e:
                new = s
            elif k == 1 and isinstance(g, MDiag) and canon(g.v) == e:
                new = MDiag(s)
            elif k == 2 and isinstance(g, MOuter) and canon(g.u) == e and canon(g.v) == e:
                new = MOuter(s, s)
            elif k == 1 and isinstance(g, MOuter) and canon(g.u) == e:
                new = MOuter(s, g.v)
            elif k == 1 and isinstance(g, MOuter) and canon(g.v) == e:
                new = MOuter(g.u, s)
            else:
                continue
            rest = [h for i, h in enumerate(factors) if i not in (n, j)]
            return mat_had(rest + [new], m.shape)
    return m


def _column_form(m):
    """exp(X) diag(c ⊘ (exp(X)ᵀ𝟏)) = softmax(X, axis=0) diag(c); the row form likewise; and a vector
    exp(X) (c ⊘ Σ_rows exp(X)) = softmax(X, axis=0) c (without c: Σ_columns softmax(X, axis=0))."""
    vector = _vector_form(m)
    if vector is not None:
        return vector
    for exp_side, diag_side, axis in ((m.a, m.b, 0), (m.b, m.a, 1)):
        if not (isinstance(diag_side, MDiag) and isinstance(exp_side, MFunc) and exp_side.name == "exp"):
            continue
        parts = list(diag_side.v.factors) if isinstance(diag_side.v, MHad) else [diag_side.v]
        for n, f in enumerate(parts):
            found = _normaliser(f)
            if found and found[1] == axis and found[2] == 1 and canon(MFunc("exp", found[0])) == canon(exp_side):
                s = MSoftmax(found[0], axis)
                rest = parts[:n] + parts[n + 1:]
                if not rest:
                    return s
                d = MDiag(mat_had(rest, diag_side.v.shape))
                return mat_mul(s, d) if axis == 0 else mat_mul(d, s)
    return m


def _broadcast_form(m, factors):
    """The normaliser (Σ_axis exp(X))^(−k) broadcast along the summed axis, times k exp(X) — one beside
    it, the others inside sums along the same axis (a normaliser is constant along them):
    exp(X) ⊙ c ⊘ Σ exp(X) = softmax(X) ⊙ c, and the softmax's own VJP,
    (Σ_axis (dP ⊙ exp(X)) ⊘ (Σ_axis exp(X))²) ⊙ exp(X) = Σ_axis (dP ⊙ P) ⊙ P."""
    for n, f in enumerate(factors):
        if not isinstance(f, MExpand):
            continue
        parts = list(f.x.factors) if isinstance(f.x, MHad) else [f.x]
        for p, part in enumerate(parts):
            found = _normaliser(part)
            if not found or found[1] not in (0, 1):
                continue
            x, axis, k = found
            flipped = f.axis != axis              # exp(X)ᵀ ⊙ the normaliser along the other axis: softmax(X)ᵀ
            e = canon(mat_t(MFunc("exp", x))) if flipped else canon(MFunc("exp", x))
            s = mat_t(MSoftmax(x, axis)) if flipped else MSoftmax(x, axis)
            outer = next((j for j, g in enumerate(factors) if j != n and canon(g) == e), None)
            if outer is None and k == 1 and len(parts) == 1:  # (exp(X)ᵀ ⊙ v) B: the rows of a product scaled
                product = _scaled_product(factors, n, f.axis, e, s)
                if product is not None:
                    return product
            if flipped and (outer is None or k != 1):
                continue
            inner = [q for q, g in enumerate(parts) if q != p and _sum_with(g, axis, e) is not None]
            if (outer is not None) + len(inner) < k:
                continue
            use = inner[:k - (outer is not None)]
            rest = [_sum_with(g, axis, e, s) if q in use else g for q, g in enumerate(parts) if q != p]
            new = ([s] if outer is not None else []) + ([MExpand(mat_had(rest, f.x.shape), f.axis)] if rest else [])
            keep = [h for i, h in enumerate(factors) if i not in (n, outer)]
            return mat_had(keep + new, m.shape)
    return None


def _sum_with(g, axis, e, replace=None):
    """g when it is Σ_axis (… ⊙ exp(X) ⊙ …) (with `replace`, that sum with exp(X) replaced), else None."""
    if not (isinstance(g, MSum) and g.axis == axis and not g.keepdims):
        return None
    inner = list(g.x.factors) if isinstance(g.x, MHad) else [g.x]
    at = next((i for i, h in enumerate(inner) if canon(h) == e), None)
    if at is None:
        return None
    if replace is None:
        return g
    inner[at] = replace
    return MSum(mat_had(inner, g.x.shape), axis, False)


def _vector_form(m):
    if not (isinstance(m.a, MFunc) and m.a.name == "exp" and m.b.ndim == 1):
        return None
    parts = list(m.b.factors) if isinstance(m.b, MHad) else [m.b]
    for n, f in enumerate(parts):
        found = _normaliser(f)
        if found and found[1] == 0 and found[2] == 1 and canon(MFunc("exp", found[0])) == canon(m.a):
            s = MSoftmax(found[0], 0)
            rest = parts[:n] + parts[n + 1:]
            return mat_mul(s, mat_had(rest, m.b.shape)) if rest else MSum(s, 1, False)
    return None


def _scaled_product(factors, n, axis, e, s):
    """v ⊙ (exp(X) B) with v scaling rows (axis 1) is (v ⊙ exp(X)) B: softmax(X) B when v is the
    normaliser; v scaling columns (axis 0) of A exp(X) likewise."""
    for j, g in enumerate(factors):
        if j == n or not isinstance(g, MMatMul):
            continue
        if axis == 1 and canon(g.a) == e:
            new = mat_mul(s, g.b)
        elif axis == 0 and canon(g.b) == e:
            new = mat_mul(g.a, s)
        else:
            continue
        rest = [h for i, h in enumerate(factors) if i not in (n, j)]
        return mat_had(rest + [new], new.shape) if rest else new
    return None
