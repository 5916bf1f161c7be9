"""Collecting a sum the way a person would: like terms, common factors, common wrappers.

  2A + 3A = 5A                      Ax + Aᵀx = (A + Aᵀ)x        MᵀMx − Mᵀt = Mᵀ(Mx − t)
  G − G ⊙ H = G ⊙ (1 − H)           σ − σ² = σ ⊙ (1 − σ)        diag(a) − diag(b) = diag(a − b)
"""
from fractions import Fraction
from math import gcd

from .matrix import (MAdd, MDiag, MExpand, MHad, MMatMul, MNum, MOnes, MPow, MScale, MSqueeze, MSum, MZeros,
                     mat_had, mat_mul, mat_scale, split_coef)


def collect(m, shape):
    """Simplify a sum; anything that is not a sum is returned as it is."""
    if not isinstance(m, MAdd):
        return m
    shape = m.shape
    acc, order = {}, []
    for t in m.terms:
        c, body = split_coef(t)
        if isinstance(body, MNum):
            c, body = c * body.value, MNum(Fraction(1))
        if body in acc:
            acc[body] += c
        else:
            acc[body] = c
            order.append(body)
    terms = [(acc[b], b) for b in order if acc[b] != 0]
    if not terms:
        return MZeros(shape)
    if len(terms) == 1:
        return mat_scale(terms[0][0], terms[0][1])
    for strategy in (_common_wrapper, _common_right, _common_left, _common_hadamard, _partial_hadamard):
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
    return collect(MAdd(tuple(mat_scale(c, b) for c, b in pairs), shape), shape)


def _wrapper_key(b):
    if isinstance(b, MSum):
        return ("sum", b.axis, b.keepdims, b.x.shape)
    if isinstance(b, (MExpand, MSqueeze)):
        return (type(b).__name__, b.axis, b.x.shape)
    if isinstance(b, MDiag):
        return ("diag", b.v.shape)
    return None


def _common_wrapper(terms, shape):
    """Σ, diag, expand and squeeze are linear: f(a) + f(b) = f(a + b)."""
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
        out = MDiag(inner)
    else:
        out = type(first)(inner, first.axis)
    return mat_scale(coef, out)


def _chain(m):
    if isinstance(m, MMatMul):
        return _chain(m.a) + _chain(m.b)
    return [m]


def _build(chain):
    out = chain[0]
    for x in chain[1:]:
        out = mat_mul(out, x)
    return out


def _common_side(terms, shape, right):
    chains = [_chain(b) for _, b in terms]
    if any(len(c) < 2 for c in chains):
        return None
    common = chains[0][-1] if right else chains[0][0]
    if not all((c[-1] if right else c[0]) == common for c in chains):
        return None
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
    """The element-wise factors of a term, a power xᵏ counted as k factors x."""
    out = []
    for f in (b.factors if isinstance(b, MHad) else (b,)):
        if isinstance(f, MPow) and f.e.denominator == 1 and 2 <= f.e <= 6:
            out.extend([f.x] * int(f.e))
        else:
            out.append(f)
    return out


def _common_hadamard(terms, shape):
    lists = [_had_factors(b) for _, b in terms]
    for cand in lists[0]:
        if isinstance(cand, (MOnes, MNum)) or not all(cand in fl for fl in lists):
            continue
        if cand.ndim and cand.shape != shape:
            continue
        rest = []
        for (c, b), fl in zip(terms, lists):
            fl = list(fl)
            fl.remove(cand)
            fshape = b.shape
            rest.append((c, _rebuild(fl, fshape)))
        inner_shape = shape
        coef, inner = split_coef(_sum(rest, inner_shape))
        pair = [inner, cand] if isinstance(cand, MAdd) and not isinstance(inner, MAdd) else [cand, inner]
        return mat_scale(coef, mat_had(pair, shape))
    return None


def _partial_hadamard(terms, shape):
    """Factor the element-wise factor shared by the most terms out of those terms, then collect again."""
    if len(terms) < 3:
        return None
    lists = [_had_factors(b) for _, b in terms]
    best, best_n = None, 1
    for fl in lists:
        for cand in fl:
            if isinstance(cand, (MOnes, MNum)) or (cand.ndim and cand.shape != shape):
                continue
            n = sum(1 for other in lists if cand in other)
            if n > best_n:
                best, best_n = cand, n
    if best is None or best_n == len(terms):
        return None
    inside = [(c, b) for (c, b), fl in zip(terms, lists) if best in fl]
    outside = [(c, b) for (c, b), fl in zip(terms, lists) if best not in fl]
    grouped = _common_hadamard(inside, shape)
    if grouped is None:
        return None
    return collect(MAdd(tuple([grouped] + [mat_scale(c, b) for c, b in outside]), shape), shape)


def _rebuild(factors, shape):
    if not factors:
        return MOnes(shape) if shape else MNum(Fraction(1))
    merged, order = {}, []
    for f in factors:
        if f in merged:
            merged[f] += 1
        else:
            merged[f] = 1
            order.append(f)
    parts = [f if merged[f] == 1 else MPow(f, Fraction(merged[f])) for f in order]
    return mat_had(parts, shape)


def _pull_coef(terms, shape):
    """Take a common number out of a sum: 2a − 2b = 2(a − b)."""
    nums = [c for c, _ in terms]
    g = 0
    den = 1
    for c in nums:
        g = gcd(g, c.numerator)
        den = den * c.denominator // gcd(den, c.denominator)
    common = Fraction(g, den) if g else Fraction(1)
    if _sign(terms) < 0:
        common = -common
    if common == 0 or any((c / common).denominator != 1 for c in nums):
        common = Fraction(1)
    return mat_scale(common, MAdd(tuple(mat_scale(c / common, b) for c, b in terms), shape))
