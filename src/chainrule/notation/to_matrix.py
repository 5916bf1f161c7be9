"""Back from index form to matrix notation.

A term is a product of factors, each a matrix expression over ≤ 2 indices. It is reduced one
rule at a time until a single factor over the output indices remains:
  trace/diag   A[i,i]            → tr(A) or diag(A)
  sum out      Σ_j A[i,j]        → A𝟏 (a size-1 index is just dropped)
  Hadamard     A[i,j] B[i,j]     → A ⊙ B (B transposed if its indices are swapped)
  contract     Σ_k A[i,k] B[k,j] → A B (the position of k decides the transposes)
  diag insert  Σ_k A[i,k] v[k] B[k,j] → A diag(v) B (k summed)
  broadcast    v[i] A[i,j] → v ⊙ A (v a column, each row of A scaled), v[j] A[i,j] → A ⊙ vᵀ
  outer        u[i] v[j]         → u vᵀ
Each reduction is recorded (rule, before, after) so an explanation can show why a transpose or a
⊙ appears. A term that does not reduce (more than two indices on one factor, three-way sharing)
has no matrix form: the whole expression then falls back to an einsum.
"""
import contextlib
import contextvars

from ..core import tensor as T
from .collect import collect
from ..numeric.evaluate import einsum_letters
from .softmax import recognize_softmax
from ..core.matrix import (MHad, MPow, MReshape, MDiag, MDiagPart, MEinsum, MExpand, MFunc, MIdentity, MMatFn, MNamed, MNum,
                     MOnes, MOuter, MScale, MSqueeze, MSum, MTrace, MVar, MZeros, mat_add, mat_had, mat_mul,
                     mat_pow, mat_scale, mat_t, canon)


class NoMatrixForm(Exception):
    pass


class Factor:
    __slots__ = ("m", "idx")

    def __init__(self, m, idx):
        self.m, self.idx = m, tuple(idx)

    def __repr__(self):
        return f"{self.m}{list(self.idx)}"


def to_matrix(expr, out, log=None):
    """Matrix notation for `expr` with axes `out` (a tuple of indices); raises NoMatrixForm."""
    if _CONVERTED.get() is None:                   # the outermost call: its memo of converted arguments
        with _converting():
            return to_matrix(expr, out, log)
    shape = tuple(i.dim for i in out)
    core = tuple(i for i in out if i.dim != 1 or i in expr.free)
    if len(core) > 2:
        # size-1 output axes carry no information: sum over them (a sum over one value) and reshape
        core = tuple(i for i in out if i.dim != 1)
        units = frozenset(i for i in out if i.dim == 1)
        expr = T.Expr.make([T.Term.make(t.coef, t.factors, t.summed | (t.free & units)) for t in expr.terms])
    if len(core) > 2:
        raise NoMatrixForm(f"{len(core)} free indices")
    if not expr.terms:
        return MZeros(shape)
    if core != tuple(out) and len(out) > 2:
        return MReshape(to_matrix(expr, core, log), shape)
    terms = [recognize_softmax(_term(t, tuple(out), log)) for t in expr.terms]
    return _full(collect(mat_add(terms, _bshape([t.shape for t in terms], shape)), shape), shape)


def _bshape(shapes, full):
    """The broadcast shape of the terms of a sum (an axis is 1 when every term has it as 1)."""
    shapes = [s for s in shapes if s]
    if not shapes:
        return ()                                   # all scalars: broadcast once, at the end
    return tuple(1 if all(s[k] == 1 for s in shapes) else d for k, d in enumerate(full))


def _atom(a, e, log):
    """A factor (matrix expression, indices) for atom**e."""
    if isinstance(a, T.Var):
        m, idx = MVar(a.name, tuple(i.dim for i in a.idx), a.is_dim), a.idx
    elif isinstance(a, T.Delta) and a.a.dim == 1:
        m, idx = MNum(1), ()                       # two size-1 axes always agree
    elif isinstance(a, T.Delta):
        m, idx = MIdentity(a.a.dim), (a.a, a.b)
    elif isinstance(a, T.Func):
        order = a.arg.natural_order()
        m, idx = MFunc(a.name, _shared(a.arg, order, log), a.params), order
    elif isinstance(a, T.Named):
        m, idx = MNamed(a.name), ()
    elif isinstance(a, T.Group):
        order = a.expr.natural_order()
        m, idx = _shared(a.expr, order, log), order
    elif isinstance(a, T.MatFn):
        m = MMatFn(a.name, to_matrix(a.arg, a.arg_idx, log))
        idx = a.idx
        extra = a.arg.free - set(a.arg_idx)
        if extra:
            raise NoMatrixForm("matrix function of an indexed family")
    else:
        raise TypeError(a)
    return Factor(mat_pow(m, e), idx)


_CONVERTED = contextvars.ContextVar("converted", default=None)


@contextlib.contextmanager
def _converting():
    """The memo of converted function arguments, for one outermost conversion."""
    token = _CONVERTED.set({})
    try:
        yield
    finally:
        _CONVERTED.reset(token)


def _shared(expr, order, log):
    """to_matrix of a function's argument, once per argument (up to the names of its indices) within
    the outermost conversion: a chain rule through n nested functions repeats each inner argument in n
    factors, which would make the conversion quadratic."""
    memo = _CONVERTED.get()
    if memo is None:                               # an atom converted on its own (to_einsum's factors)
        return to_matrix(expr, order, log)
    key = expr.key({ix: f"⟨{k}⟩" for k, ix in enumerate(order)})    # the same up to renaming indices
    if key not in memo:
        memo[key] = to_matrix(expr, order, log)
    return memo[key]


def _term(t, out, log):
    T.spend()                                       # a conversion costs about what building a term does
    factors = [_atom(a, e, log) for a, e in _complements(t.factors)]
    summed = set(t.summed)
    scalars = []
    f = _reduce(factors, scalars, summed, set(out), log)
    body = f.m if f is not None else None
    idx = f.idx if f is not None else ()
    if set(idx) - set(out):
        raise NoMatrixForm("index left over")
    # order and broadcast to the output axes
    present = [i for i in out if i in idx]
    if len(idx) == 2 and idx != tuple(present):
        before, body = body, mat_t(body)
        idx = tuple(reversed(idx))
        if _recording(log):
            _note(log, "transpose", f"{_show(before)} has the result's indices swapped (its rows run over the "
                  f"result's columns), so the result is its transpose, ({_show(before)})ᵀ = {_show(body)}")
    if body is None:
        body = MNum(1) if not scalars else None
    if body is not None and body.ndim == 0 and scalars:
        scalars.append(body)
        body = None
    if body is None:
        body, scalars = (scalars[0] if len(scalars) == 1 else mat_had(scalars, ())), []
    if body.ndim:
        body = _broadcast(body, idx, out)           # a scalar term broadcasts as it is
    if scalars:
        body = mat_had(scalars + [body], body.shape)
    return mat_scale(t.coef, body)


def _complements(factors):
    """σ(−b) beside σ(b) reads better as 1 − σ(b): σ(b) ⊙ (1 − σ(b))."""
    keys = {a.arg.key() for a, _ in factors if isinstance(a, T.Func) and a.name == "sigmoid"}
    out, kept = [], set()
    for a, e in factors:
        if isinstance(a, T.Func) and a.name == "sigmoid" and e > 0:
            neg = (-a.arg).key()
            if neg in keys and a.arg.key() not in kept and (neg in kept or _looks_negated(a.arg)):
                a = T.Group(T.const(1) - T.atom(T.Func("sigmoid", -a.arg)))
                kept.add(neg)
            elif neg in keys:
                kept.add(a.arg.key())
        out.append((a, e))
    return out


def _looks_negated(e):
    return sum(t.coef < 0 for t in e.terms) > len(e.terms) / 2


def _broadcast(body, idx, out):
    """Insert the output axes the body lacks as size-1 axes (NumPy broadcasting does the rest)."""
    for pos, i in enumerate(out):
        if i not in idx:
            body = _expand(body, pos)
            idx = idx[:pos] + (i,) + idx[pos:]
    return body


def _full(body, shape):
    """Make a broadcast result (size-1 axes) into the full shape: c 𝟏ᵀ, 𝟏 cᵀ or c 𝟏𝟏ᵀ."""
    if body.shape == shape:
        return body
    if isinstance(body, MZeros) or (isinstance(body, MScale) and isinstance(body.x, MZeros)):
        return MZeros(shape)
    if len(shape) == 2 and body.ndim == 2 and body.shape[0] == shape[0] and body.shape[1] == 1:
        return MOuter(_squeeze(body, 1), MOnes((shape[1],)))
    if len(shape) == 2 and body.ndim == 2 and body.shape[1] == shape[1] and body.shape[0] == 1:
        return MOuter(MOnes((shape[0],)), _squeeze(body, 0))
    if all(d == 1 for d in body.shape) or body.ndim == 0:
        while body.ndim:
            body = _squeeze(body, 0)
        return mat_had([body, MOnes(shape)], shape)
    raise NoMatrixForm("broadcast")


def _squeeze(body, axis):
    if isinstance(body, MScale):
        return mat_scale(body.coef, _squeeze(body.x, axis))
    if isinstance(body, MExpand) and body.axis == axis:
        return body.x
    if isinstance(body, MSum) and body.keepdims and body.axis == axis:
        return MSum(body.x, body.axis, False)
    return MSqueeze(body, axis)


def _expand(body, axis):
    if isinstance(body, MSqueeze) and body.axis == axis:
        return body.x
    if isinstance(body, MHad) and any(isinstance(g, MSqueeze) and g.axis == axis for g in body.factors):
        e = MExpand(body, axis)
        return mat_had([e], e.shape)                # expand(squeeze(dvar) ⊙ squeeze(mu)) = dvar ⊙ mu
    if isinstance(body, MSum) and body.axis is not None and not body.keepdims and body.axis == axis:
        return MSum(body.x, body.axis, True)
    if body.ndim == 0:
        return MExpand(body, 0)
    return MExpand(body, axis)


def _count(factors, i):
    return [f for f in factors if i in f.idx]


MAX_NOTES = 40          # an explanation reads a few reductions; a huge expression's thousands cost seconds


def _recording(log):
    return log is not None and len(log) < MAX_NOTES


def _note(log, rule, detail):
    if _recording(log):
        log.append((rule, detail))
        if len(log) == MAX_NOTES:
            log.append(("…", f"more reductions, not listed (the first {MAX_NOTES} are)"))


def _reduce(factors, scalars, summed, out, log):
    """Apply the reduction rules until one factor (or none) remains."""
    factors = list(factors)
    for _ in range(1000):
        T.spend(len(factors) // 8)                 # a step's cost grows with the factors left (long products)
        for f in [f for f in factors if not f.idx]:
            factors.remove(f)
            scalars.append(f.m)
        if _trace_or_diag(factors, scalars, summed, log) or _sum_out(factors, scalars, summed, log) \
                or _hadamard(factors, log, summed) or _scale_entrywise(factors, summed, out, log) \
                or _contract(factors, summed, log) \
                or _diag_insert(factors, summed, log) or _broadcast_vector(factors, out, log) or _outer(factors, summed, log):
            continue
        break
    for f in [f for f in factors if not f.idx]:
        factors.remove(f)
        scalars.append(f.m)
    if summed or len(factors) > 1:
        raise NoMatrixForm("irreducible product")
    return factors[0] if factors else None


def _trace_or_diag(factors, scalars, summed, log):
    for f in factors:
        if len(f.idx) == 2 and f.idx[0] is f.idx[1]:
            i = f.idx[0]
            factors.remove(f)
            if i in summed and not _count(factors, i):
                summed.discard(i)
                scalars.append(MTrace(f.m))
                _note(log, "trace", "a summed index repeated on one factor: Σᵢ A[i,i] = tr(A)")
            else:
                factors.append(Factor(MDiagPart(f.m), (i,)))
                _note(log, "diagonal", "an index repeated on one factor: A[i,i] = diag(A)[i]")
            return True
    return False


def _sum_out(factors, scalars, summed, log):
    holders = {}                                   # index → the factors carrying it (one pass, not one per index)
    for f in factors:
        for i in set(f.idx):
            holders.setdefault(i, []).append(f)
    for i in sorted(summed, key=lambda i: i.n):
        fs = holders.get(i, [])
        if len(fs) != 1:
            continue
        f = fs[0]
        ax = f.idx.index(i)
        rest = f.idx[:ax] + f.idx[ax + 1:]
        summed.discard(i)
        factors.remove(f)
        if i.dim == 1:
            m = MSqueeze(f.m, ax) if f.m.ndim else f.m
        elif f.m.ndim == 1 and isinstance(f.m, MPow) and f.m.e == 2:
            m = mat_mul(mat_t(f.m.x), f.m.x)            # Σᵢ x[i]² = xᵀx
        elif f.m.ndim == 1:
            m = MSum(f.m.x) if isinstance(f.m, MSum) and not f.m.keepdims else MSum(f.m)
            _note(log, "sum", "a summed index on one vector: Σᵢ v[i] = 𝟏ᵀv")
        else:
            m = MSum(f.m, ax)
            _note(log, "sum", "a summed index on one factor only: Σⱼ A[i,j] = (A𝟏)[i]")
        factors.append(Factor(m, rest))
        return True
    return False


def _aligned(g, idx):
    """g's matrix arranged with indices in the order `idx` (same set)."""
    if g.idx == idx:
        return g.m
    return mat_t(g.m)


def _hadamard(factors, log, summed):
    by_indices = {}                                # factors grouped by their set of indices: linear, not quadratic
    for k, f in enumerate(factors):
        if f.idx and len(set(f.idx)) == len(f.idx):
            by_indices.setdefault(frozenset(f.idx), []).append(k)
    for a, f in enumerate(factors):
        for b in by_indices.get(frozenset(f.idx), ()) if f.idx else ():
            if b <= a:
                continue
            g = factors[b]
            if len(f.idx) == 1 and f.idx[0] in summed and len(_count(factors, f.idx[0])) == 2:
                continue                           # Σᵢ a[i] x[i] reads better as the inner product aᵀx
            m = mat_had([f.m, _aligned(g, f.idx)], f.m.shape)
            factors[a] = Factor(m, f.idx)
            del factors[b]
            if _recording(log):
                _note(log, "Hadamard", f"{_show(f.m)} and {_show(g.m)} carry the same indices, entry for "
                      f"entry (nothing is summed between them): an entry-wise product, {_show(m)}"
                      + (" (the second transposed: its indices are swapped)" if g.idx != f.idx else ""))
            return True
    return False


def contract_pair(f, g, k):
    """Σ_k f g as a matrix product, choosing operand order and transposes."""
    fa = f.m if f.idx[-1] is k else mat_t(f.m)           # k last on the left
    fi = tuple(i for i in f.idx if i is not k)
    gb = g.m if g.idx[0] is k else mat_t(g.m)            # k first on the right
    gi = tuple(i for i in g.idx if i is not k)
    if f.m.ndim == 2 and g.m.ndim == 2 and f.idx[0] is k and g.idx[1] is k:
        return Factor(mat_mul(g.m, f.m), gi + fi)        # (s,x),(y,s): g f without transposes
    if f.m.ndim == 1 and g.m.ndim == 2:
        return Factor(mat_mul(mat_t(g.m) if g.idx[0] is k else g.m, f.m), gi)   # column form Aᵀv
    if f.m.ndim == 1 and g.m.ndim == 1:
        return Factor(mat_mul(mat_t(f.m), g.m), ())
    return Factor(mat_mul(fa, gb), fi + gi)


def _contract(factors, summed, log):
    for k in sorted(summed, key=lambda i: i.n):
        fs = _count(factors, k)
        if len(fs) != 2:
            continue
        f, g = fs
        if f.idx.count(k) != 1 or g.idx.count(k) != 1:
            continue
        new = contract_pair(f, g, k)
        factors.remove(f)
        factors.remove(g)
        factors.append(new)
        summed.discard(k)
        if _recording(log):
            _note(log, "contract", _contract_detail(f, g, k, new))
        return True
    return False


def _show(m):
    from ..render.printing import to_text
    return to_text(m)


def _contract_detail(f, g, k, new):
    """Why Σ_k f g became this product: which index is summed, and so which factor is transposed."""
    def where(x):
        return "its entries" if len(x.idx) == 1 else ("its row index" if x.idx[0] is k else "its column index")
    out = (f"the summed index is shared by {_show(f.m)} ({where(f)}) and {_show(g.m)} ({where(g)}): "
           f"a matrix product, {_show(new.m)}")
    flipped = [_show(x.m) for x in (f, g) if len(x.idx) == 2 and
               ((x is f and x.idx[0] is k) or (x is g and x.idx[1] is k))]
    if len(flipped) == 2 or (not flipped and len(f.idx) == 2 and len(g.idx) == 2 and f.idx[0] is k):
        return out
    if flipped:
        out += (f" — in A B the sum runs over A's column index and B's row index, so {flipped[0]} enters "
                "transposed")
    return out


def _diag_insert(factors, summed, log):
    for k in sorted(summed, key=lambda i: i.n):
        fs = _count(factors, k)
        if len(fs) < 3:
            continue
        vecs = [f for f in fs if len(f.idx) == 1]
        mats = [f for f in fs if len(f.idx) == 2]
        if not vecs or not mats:
            continue
        v, a = vecs[0], mats[0]
        d = MDiag(v.m)
        m = mat_mul(d, a.m) if a.idx[0] is k else mat_mul(a.m, d)
        factors.remove(v)
        factors[factors.index(a)] = Factor(m, a.idx)
        _note(log, "diag", "a vector shares an index with a matrix and a third factor: diag(v) scales rows or columns")
        return True
    return False


def _scale_entrywise(factors, summed, out, log):
    """Σ_k A[k,a] v[k] M[k,l] … : v scales M as NumPy broadcasts it, Aᵀ (M ⊙ v) …, before any product
    hides M (likewise v[k] M[k,l] B[l,j] with k free: (M ⊙ v) B, not (M B) ⊙ v) — an entry-wise M
    (a ⊙ product, a function of a matrix), or a named M that v is a statistic of (Σ_columns (dP ⊙ P)
    scaling P). Beside other plain matrices the diagonal is what the Cookbook writes: X diag(s) Xᵀ."""
    for k in sorted(summed, key=lambda i: i.n) + list(out):
        fs = _count(factors, k)
        if len(fs) < (3 if k in summed else 2):
            continue
        v = next((f for f in fs if len(f.idx) == 1), None)
        if v is None:
            continue
        square = [f for f in fs if len(f.idx) == 2 and f.idx[0] is not f.idx[1] and not isinstance(f.m, MIdentity)]
        kin = [f for f in square if isinstance(f.m, MVar) and _statistic_of(v.m, f.m)]   # Σ_columns (dP ⊙ P) scales P
        a = next((f for f in square if _entrywise(f.m)), kin[0] if kin else None)
        if a is None:
            continue
        m = _scale_into(factors, v, a, k)
        _note(log, "broadcast", f"{_show(v.m)} scales {_show(a.m)} entry by entry before the product: {_show(m)}")
        return True
    return False


def _scale_into(factors, v, a, k):
    """Replace the vector factor v and the matrix factor a (both carrying k) by v broadcast onto a —
    a column scales rows, a row scales columns (with the identity: diag(v) itself). Returns it."""
    m = MDiag(v.m) if isinstance(a.m, MIdentity) else mat_had([_expand(v.m, 1 if a.idx[0] is k else 0), a.m],
                                                               a.m.shape)
    factors.remove(v)
    factors[factors.index(a)] = Factor(m, a.idx)
    return m


def _statistic_of(v, m):
    """Is the vector v a sum along an axis of an entry-wise product with m in it (Σ_columns (dP ⊙ P) of P)?
    Such a v scales m itself (P ⊙ (dP − Σ …)); a function of m (σ(Xᵀw) beside X) does not."""
    if not isinstance(v, MSum) or v.axis is None:
        return False
    key = canon(m)
    factors = v.x.factors if isinstance(v.x, MHad) else (v.x,)
    return any(canon(f) == key for f in factors)


def _entrywise(m):
    """An entry-wise expression (a product ⊙, a function or power of a matrix): a vector scaling it
    reads as ⊙, where beside plain matrices (Xᵀ diag(s) X) it reads as diag."""
    return m.ndim == 2 and isinstance(m, (MHad, MPow, MFunc))


def _broadcast_vector(factors, out, log):
    """v[i] A[i,j] with i free: NumPy's broadcasting, v ⊙ A with v a column (A ⊙ vᵀ along columns) —
    what a person writes for gamma * Zn; diag(v) A is the same matrix, read as a product. With the
    identity, v[i] δ[i,j] is diag(v) itself (a Jacobian)."""
    for k in out:
        fs = _count(factors, k)
        vecs = [f for f in fs if len(f.idx) == 1]
        mats = [f for f in fs if len(f.idx) == 2]
        if not vecs or not mats:
            continue
        v, a = vecs[0], mats[0]
        m = _scale_into(factors, v, a, k)
        _note(log, "broadcast", f"{_show(v.m)} shares an index with {_show(a.m)} and nothing is summed: "
              f"broadcast entry by entry, {_show(m)}")
        return True
    return False


def _outer(factors, summed, log):
    if summed or len(factors) < 2:
        return False
    vecs = [f for f in factors if len(f.idx) == 1]
    if len(vecs) >= 2 and len(factors) == 2:
        u, v = vecs[0], vecs[1]
        factors.remove(u)
        factors.remove(v)
        factors.append(Factor(MOuter(u.m, v.m), (u.idx[0], v.idx[0])))
        _note(log, "outer", "two vectors with different free indices: outer product u vᵀ")
        return True
    return False


# -- the fallback: an einsum over the factors ------------------------------------------------

def to_einsum(expr, out):
    """np.einsum form of any expression (used where no matrix form exists)."""
    if _CONVERTED.get() is None:
        with _converting():
            return to_einsum(expr, out)
    shape = tuple(i.dim for i in out)
    terms = []
    for t in expr.terms:
        letter = einsum_letters(out)
        specs, operands, scalars = [], [], []
        for a, e in t.factors:
            f = _atom_any(a, e)
            if not f.idx:
                scalars.append(f.m)
                continue
            specs.append("".join(letter(i) for i in f.idx))
            operands.append(f.m)
        present = set("".join(specs))
        outspec = "".join(letter(i) for i in out)
        for i in out:
            if letter(i) not in present:
                specs.append(letter(i))
                operands.append(MOnes((i.dim,)))
        if operands:
            body = MEinsum(",".join(specs) + "->" + outspec, tuple(operands), shape)
        else:
            body = MOnes(shape) if shape else MNum(1)
        if scalars:
            body = mat_had(scalars + [body], shape)
        terms.append(mat_scale(t.coef, body))
    return collect(mat_add(terms, shape), shape)


def _atom_any(a, e):
    """Like _atom, but arguments without a matrix form become einsums too."""
    try:
        return _atom(a, e, None)
    except NoMatrixForm:
        pass
    if isinstance(a, (T.Func, T.Group)):
        inner = a.arg if isinstance(a, T.Func) else a.expr
        order = inner.natural_order()
        m = to_einsum(inner, order)
        return Factor(mat_pow(MFunc(a.name, m, a.params) if isinstance(a, T.Func) else m, e), order)
    raise NoMatrixForm("matrix function of an indexed family")
