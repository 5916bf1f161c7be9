"""Collecting a sum the way a person would: like terms, common factors, common wrappers.

  2A + 3A = 5A                      Ax + Aᵀx = (A + Aᵀ)x        MᵀMx − Mᵀt = Mᵀ(Mx − t)
  G − G ⊙ H = G ⊙ (1 − H)           σ − σ² = σ ⊙ (1 − σ)        diag(a) − diag(b) = diag(a − b)
  u wᵀ − v wᵀ = (u − v)wᵀ           A − diag(h)A = diag(1 − h)A
Terms are compared up to the order of sums and element-wise products (matrix.canon).
"""
from fractions import Fraction
from math import gcd

from ..core.matrix import (MAdd, MDiag, MExpand, MHad, MIdentity, MNum, MOnes, MOuter, MPow, MSqueeze, MSum, MT, mat_t,
                     MZeros, canon, mat_had, matmul_chain, mat_mul, mat_scale, split_coef)


def collect(m, shape=None):
    """Simplify a sum; anything that is not a sum is returned as it is."""
    if not isinstance(m, MAdd):
        return m
    shape = m.shape
    acc, order = {}, []
    for t in m.terms:
        c, body = split_coef(t)
        if isinstance(body, MNum):
            c, body = c * body.value, MNum(Fraction(1))
        k = canon(body)
        if k in acc:
            acc[k][0] += c
        else:
            acc[k] = [c, body]
            order.append(k)
    terms = [(acc[k][0], acc[k][1]) for k in order if acc[k][0] != 0]
    if not terms:
        return MZeros(shape)
    if len(terms) == 1:
        return mat_scale(terms[0][0], terms[0][1])
    for strategy in (_common_wrapper, _common_outer, _common_right, _common_left, _common_hadamard, _partial):
        out = strategy(terms, shape)
        if out is not None:
            return out
    return _pull_coef(terms, shape)


def _sign(terms):
    """−1 when a sum reads better negated: its constant term is negative, or most terms are."""
    const = [c for c, b in terms if isinstance(b, (MNum, MOnes))]
    if const:
        return -1 if const[0] < 0 else 1
    return -1 if sum(c < 0 for c, _ in terms) * 2 > len(terms) else 1


def _sum(pairs, shape):
    return collect(MAdd(tuple(mat_scale(c, b) for c, b in pairs), shape))


def _as_diag(b):
    return MDiag(MOnes((b.n,))) if isinstance(b, MIdentity) else b


def _wrapper_key(b):
    if isinstance(b, MSum):
        return ("sum", b.axis, b.keepdims, b.x.shape)
    if isinstance(b, (MExpand, MSqueeze)):
        return (type(b).__name__, b.axis, b.x.shape)
    if isinstance(b, MDiag):
        return ("diag", b.v.shape)
    return None


def _common_wrapper(terms, shape):
    """Σ, diag, expand and squeeze are linear: f(a) + f(b) = f(a + b)  (I = diag(𝟏))."""
    terms = [(c, _as_diag(b)) for c, b in terms]
    keys = {_wrapper_key(b) for _, b in terms}
    if len(keys) != 1 or None in keys:
        return None
    first = terms[0][1]
    inner_of = (lambda b: b.v) if isinstance(first, MDiag) else (lambda b: b.x)
    inner = _sum([(c, inner_of(b)) for c, b in terms], inner_of(first).shape)
    coef, inner = split_coef(inner)
    if isinstance(first, MSum):
        out = MSum(inner, first.axis, first.keepdims)
    elif isinstance(first, MDiag):
        out = MIdentity(first.shape[0]) if isinstance(inner, MOnes) else MDiag(inner)
    else:
        out = type(first)(inner, first.axis)
    return mat_scale(coef, out)


def _common_outer(terms, shape):
    """u wᵀ + v wᵀ = (u + v)wᵀ and u vᵀ + u wᵀ = u(v + w)ᵀ."""
    if not all(isinstance(b, MOuter) for _, b in terms):
        return None
    for side in ("v", "u"):
        first = getattr(terms[0][1], side)
        if all(canon(getattr(b, side)) == canon(first) for _, b in terms):
            other = "u" if side == "v" else "v"
            coef, inner = split_coef(_sum([(c, getattr(b, other)) for c, b in terms], getattr(terms[0][1], other).shape))
            return mat_scale(coef, MOuter(inner, first) if side == "v" else MOuter(first, inner))
    return None


def _build(chain):
    out = chain[0]
    for x in chain[1:]:
        out = mat_mul(out, x)
    return out


def _end(b, right):
    ch = matmul_chain(b)
    return canon(ch[-1] if right else ch[0]) if len(ch) >= 2 else None


def _common_side(terms, shape, right):
    chains = [matmul_chain(b) for _, b in terms]
    common = next((c[-1] if right else c[0] for c in chains if len(c) >= 2), None)
    if common is None or not all(canon(c[-1] if right else c[0]) == canon(common) for c in chains):
        return None
    if any(len(c) < 2 for c in chains):
        if common.ndim != 2:
            return None
        eye = MIdentity(common.shape[0] if right else common.shape[1])       # a lone A is I A
        chains = [c if len(c) >= 2 else ([eye] + c if right else c + [eye]) for c in chains]
    rest = [(c, _build(ch[:-1] if right else ch[1:])) for (c, _), ch in zip(terms, chains)]
    inner_shape = rest[0][1].shape
    if any(r.shape != inner_shape for _, r in rest):
        return None
    coef, inner = split_coef(_sum(rest, inner_shape))
    return mat_scale(coef, mat_mul(inner, common) if right else mat_mul(common, inner))


def _common_right(terms, shape):
    return _common_side(terms, shape, True)


def _common_left(terms, shape):
    return _common_side(terms, shape, False)


def _had_factors(b):
    """The element-wise factors of a term, a power xᵏ counted as k factors x, a product put on a size-1
    axis as its factors each put there (expand(a ⊙ b) = expand(a) ⊙ expand(b): a common 1 ⊘ σ of
    two column terms comes out)."""
    out = []
    for f in (b.factors if isinstance(b, MHad) else (b,)):
        if isinstance(f, MExpand) and isinstance(f.x, MHad):
            out.extend(MExpand(g, f.axis) if g.ndim else g for g in f.x.factors)
        elif isinstance(f, MPow) and f.e.denominator == 1 and 2 <= f.e <= 6:
            out.extend([f.x] * int(f.e))
        else:
            out.append(f)
    return out


def _in(f, factors):
    k = canon(f)
    return any(canon(g) == k for g in factors)


def _without(f, factors):
    k = canon(f)
    out = list(factors)
    for n, g in enumerate(out):
        if canon(g) == k:
            del out[n]
            break
    return out


def _spans(f, shape):
    """Can f come out of an element-wise sum of this shape: a scalar, the full shape, or a broadcast
    along size-1 axes (a column scaling every column)?"""
    return not f.ndim or (len(f.shape) == len(shape) and all(a in (1, b) for a, b in zip(f.shape, shape)))


def _common_hadamard(terms, shape):
    lists = [_had_factors(b) for _, b in terms]
    for cand in lists[0]:
        if isinstance(cand, (MOnes, MNum)) or not all(_in(cand, fl) for fl in lists):
            continue
        if not _spans(cand, shape):
            continue
        parts = [_without(cand, fl) for fl in lists]
        scalar = all(not f.ndim for p in parts for f in p)      # y − eps y = (1 − eps) y, not y ⊙ (𝟏𝟏ᵀ − eps 𝟏𝟏ᵀ)
        rest = [(c, _rebuild(p, () if scalar else b.shape)) for (c, b), p in zip(terms, parts)]
        coef, inner = split_coef(_sum(rest, () if scalar else shape))
        return mat_scale(coef, mat_had([cand, inner], shape))
    return None


def _partial(terms, shape):
    """Group the terms that share a factor (the one shared by the most terms), then collect again."""
    if len(terms) < 3:
        return None
    keys = []
    for _, b in terms:
        ks = {("had", canon(f)) for f in _had_factors(b) if not isinstance(f, (MOnes, MNum)) and _spans(f, shape)}
        for right in (True, False):
            if _end(b, right) is not None:
                ks.add(("right" if right else "left", _end(b, right)))
        if isinstance(b, MOuter):
            ks.add(("outer-v", canon(b.v)))
            ks.add(("outer-u", canon(b.u)))
        keys.append(ks)
    counts = {}
    for ks in keys:
        for k in ks:
            counts[k] = counts.get(k, 0) + 1
    # at equal counts a shared denominator first: 1 ⊘ (1 − A) − Y ⊘ (1 − A) − Y ⊘ A is (1 − Y) ⊘ (1 − A) − Y ⊘ A,
    # as a person adds fractions, rather than 1 ⊘ (1 − A) − Y ⊙ (1 ⊘ A + 1 ⊘ (1 − A))
    ranked = sorted((n, _is_denominator(k), repr(k), k) for k, n in counts.items() if 2 <= n < len(terms))
    for n, _, _, k in reversed(ranked):
        group = [t for t, ks in zip(terms, keys) if k in ks]
        others = [t for t, ks in zip(terms, keys) if k not in ks]
        how = {"had": _common_hadamard, "right": _common_right, "left": _common_left,
               "outer-v": _common_outer, "outer-u": _common_outer}[k[0]]
        grouped = how(group, shape)
        if grouped is not None:
            return collect(MAdd(tuple([grouped] + [mat_scale(c, b) for c, b in others]), shape))
    return None


def _is_denominator(key):
    """Is a shared factor (a _partial key) a reciprocal, 1 ⊘ x?"""
    return key[0] == "had" and isinstance(key[1], str) and key[1].startswith("MPow(") and \
        key[1].endswith(",Fraction(-1, 1))")


def _rebuild(factors, shape):
    if not factors:
        return MOnes(shape) if shape else MNum(Fraction(1))
    return mat_had(factors, shape)


def _pull_coef(terms, shape):
    """Take a common number out of a sum when it reads better: 2a − 2b = 2(a − b), −a − b = −(a + b),
    a/2 + b/2 = (a + b)/2; never 10⁸a + 1 for a + 10⁻⁸."""
    nums = [c for c, _ in terms]
    if all(c.denominator == 1 for c in nums):
        g = 0
        for c in nums:
            g = gcd(g, c.numerator)
        common = Fraction(g)
    elif len({abs(c) for c in nums}) == 1:
        common = abs(nums[0])
    else:
        common = Fraction(1)
    if _sign(terms) < 0:
        common = -common
    return mat_scale(common, MAdd(tuple(mat_scale(c / common, b) for c, b in terms), shape))


def factor_transposes(m):
    """Aᵀ − Yᵀ = (A − Y)ᵀ for a sum whose every term is a transposed matrix (forward values named back
    after collecting can leave one): as the course writes np.dot(X, (A - Y).T)."""
    if not isinstance(m, MAdd):
        return m
    parts = [split_coef(t) for t in m.terms]
    if len(parts) < 2 or not all(isinstance(b, MT) and b.x.ndim == 2 for _, b in parts):
        return m
    inner = _sum([(c, b.x) for c, b in parts], parts[0][1].x.shape)
    return MT(inner) if isinstance(inner, MAdd) else mat_t(inner)    # mat_t would distribute it again
