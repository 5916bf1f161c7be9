"""explain(): the derivation a mentor would write for one adjoint, in seven sections, rendered from
the engine's own derivation of it (its index form, the matrix-notation reductions that fired, the
shapes, a SymPy toy expansion and a numeric check). Nothing here is written separately by hand."""
import dataclasses

import numpy as np

from . import document as D
from . import syntax as S
from . import tensor as T
from .errors import ChainruleError
from .index_notation import IndexLatexPrinter, IndexPrinter
from .matrix import mat_map
from .numpy_code import to_numpy
from .printing import CourseTextPrinter, latex_name, to_latex
from .shapes import ShapeChecker, fmt_shape
from .functions import FUNCTIONS

TITLES = ("Setup", "Chain of derivatives", "Index form", "Matrix form", "Shapes", "Toy example", "Numeric check")


@dataclasses.dataclass
class Step:
    """One section: its blocks (prose, display math, verbatim, tables, lists) rendered on demand."""
    title: str
    blocks: list

    @property
    def markdown(self):
        return D.markdown(self.blocks)

    @property
    def latex(self):
        return D.latex(self.blocks)

    @property
    def text(self):
        return D.text(self.blocks)

    @property
    def html(self):
        return D.html_blocks(self.blocks)


class Explanation:
    """`.steps` (the seven sections), `.markdown` (all of them, math in LaTeX), `.text()` for a terminal,
    `.latex()` a LaTeX fragment, `.html()` a self-contained page."""

    def __init__(self, target, formula, steps, heading):
        self.target, self.formula, self.steps, self.heading = target, formula, steps, heading

    @property
    def markdown(self):
        return f"# {self.heading}\n\n" + "\n\n".join(f"## {k}. {s.title}\n\n{s.markdown}"
                                                         for k, s in enumerate(self.steps, 1))

    def text(self):
        return "\n\n".join(f"{k}. {s.title}\n" + "\n".join(("   " + ln).rstrip() for ln in s.text.splitlines())
                           for k, s in enumerate(self.steps, 1))

    def latex(self):
        return "\n\n".join(f"\\section*{{{k}. {s.title}}}\n\n{s.latex}" for k, s in enumerate(self.steps, 1))

    def html(self):
        return D.html_page(self.heading, [(s.title, s.html) for s in self.steps])

    def render(self, fmt):
        return {"text": self.text, "markdown": lambda: self.markdown, "latex": self.latex, "html": self.html}[fmt]()

    def _repr_markdown_(self):
        return self.markdown

    def _repr_html_(self):
        """In a notebook: the sections with MathML (rendered without MathJax)."""
        sections = "".join(f"<section><h3>{k}. {s.title}</h3>{s.html}</section>" for k, s in enumerate(self.steps, 1))
        return f"<div class='chainrule-explanation'><h2>{D.html.escape(self.heading)}</h2>{sections}</div>"


def explain(model=None, target="dZ1", *, expr=None, wrt=None, shapes=None, convention="course"):
    """Why `target` (an adjoint of the model, default dZ1 of the two-layer example) is what it is;
    with `expr`, `wrt` and `shapes`, why the derivative of an expression is what it is."""
    from .adjoints import backprop
    from . import example
    if expr is not None:
        return _explain_derivative(expr, wrt, shapes)
    text = model if model is not None else example("two-layer")
    result = backprop(text, convention)
    names = {g.name: g for g in result.gradients}
    if target not in names:
        raise ChainruleError(f"{target} is not an adjoint of this model (adjoints: {', '.join(names)})")
    return _ModelExplanation(result, names[target]).build()


class _ModelExplanation:
    def __init__(self, result, g):
        self.result, self.g = result, g
        self.pass_ = result.pass_
        self.model = result.model
        self.path, self.cot = self._path()

    def _path(self):
        """The equations between the target and the adjoint it is computed from (one linear step and the
        activation in between, as the mentor does: Z1 → A1 → Z2, from dZ2)."""
        name = self.g.of
        steps = [s for s in self.pass_.steps if name in self.pass_.uses[s.name]]
        if len(steps) == 1:
            s = steps[0]
            up = [r for r in self.pass_.steps if s.name in self.pass_.uses[r.name]]
            if isinstance(s.tree, S.Call) and s.tree.fn in ("tanh", "sigmoid", "relu", "maximum") and len(up) == 1 \
                    and up[0] is not self.model.loss:
                return [s, up[0]], up[0].name
            return [s], s.name
        return steps, None

    def _vjp(self):
        """The combined vector-Jacobian product through the path, with the cotangent as a symbol."""
        from .adjoints import _inline
        name = self.g.of
        lowered = []
        for r in ([self.path[-1]] if self.cot else self.path):
            tree = self.pass_.trees[r.name]              # the loss with its folded activation
            if self.cot and len(self.path) > 1 and r is self.path[-1]:
                tree = _inline(tree, {self.path[0].name: self.path[0].tree})
            lowered.append((r.name, self.pass_._lower(tree)))
        total, p, trace = self.pass_.vjp(name, lowered, "ij")
        log = []
        m, _ = self.pass_.matrix(total, p, name, log)
        return total, p, m, log, trace

    def build(self):
        self.total, self.p, self.m, self.log, self.trace = self._vjp()
        self.formula = CourseTextPrinter()(self.m)
        steps = [self.setup(), self.chain(), self.index(), self.matrix(), self.shapes(), self.toy(), self.numeric()]
        return Explanation(self.g.name, self.formula, steps, f"Why {self.g.name} = {self.formula}")

    # -- sections ---------------------------------------------------------------------------
    def _involved(self):
        names = {self.g.of}
        for s in self.path:
            names |= set(self.pass_.uses[s.name]) | {s.name}
        if self.cot:
            names.add("d" + self.cot)
        else:
            names |= {"d" + s.name for s in self.path if s is not self.model.loss}
        return sorted(names, key=lambda n: (n.startswith("d"), n))

    def _shape(self, n):
        if n.startswith("d") and n[1:] in self.pass_.shapes:
            return self.pass_.shapes[n[1:]]
        return self.pass_.shapes[n]

    def _equations(self):
        eqs = list(self.path)
        folded = [a for a in self.model.assignments if a.name in self.pass_.fused]
        if folded and self.model.loss in self.path:
            eqs = folded + eqs
        return D.Math("\n".join(f"{a.name} = {a.text}" for a in eqs), r"\begin{array}{rcl} " + r" \\ ".join(
            f"{latex_name(a.name)} &=& {D.tree_latex(a.tree)}" for a in eqs) + r" \end{array}")

    def setup(self):
        loss = self.model.loss
        scale = self.pass_.scale(self.g.of)
        want = (f"{scale}·∂{loss.name}/∂{self.g.of} ({self.result.convention} convention: {self.result.note})"
                if scale else f"∂{loss.name}/∂{self.g.of}")
        shapes = ", ".join(f"{n} {fmt_shape(self._shape(n))}" for n in self._involved())
        return Step("Setup", [D.Para(f"{self.g.of} reaches the loss {loss.name} only through:"), self._equations(),
                              D.Para(f"Shapes: {shapes}."), D.Para(f"We want {self.g.name} = {want}.")])

    def chain(self):
        J = self.model.loss.name
        if self.cot:
            pairs = [(J, self.cot)] + [(s.name, self.path[k - 1].name if k else self.g.of)
                                       for k, s in reversed(list(enumerate(self.path)))]
            words = (f"{self.g.of} changes {J} only through " + " and then ".join(s.name for s in self.path)
                     + ", so the chain rule combines these local derivatives:")
        else:
            pairs = [(s.name, self.g.of) for s in self.path]
            words = (f"{self.g.of} is read by {', '.join(s.name for s in self.path)}; each reader contributes its "
                     "own term (summed):")
        lx = latex_name
        math = D.Math((" · " if self.cot else " + ").join(f"∂{a}/∂{b}" for a, b in pairs),
                      (r" \cdot " if self.cot else " + ").join(rf"\frac{{\partial {lx(a)}}}{{\partial {lx(b)}}}"
                                                            for a, b in pairs))
        return Step("Chain of derivatives", [
            D.Para(words), math,
            D.Para("Each local derivative of a matrix by a matrix has four indices (every entry of the output may "
                   "depend on every entry of the input), so the matrix chain rule is not a plain product of "
                   "matrices: it sums over the indices in between, entry by entry (next section). Rules that fired:"),
            D.Items([f"{rule}: {formula}" for rule, formula in self.trace.steps])])

    def _named(self, expr):
        """The index expression with forward values written by name: tanh(Z1[i,j]) → A1[i,j]."""
        forms = []
        for a in self.model.assignments[:-1]:
            rhs, idx = self.pass_._lower(a.tree)
            if len(rhs.terms) == 1 and len(rhs.terms[0].factors) == 1 and rhs.terms[0].coef == 1 \
                    and rhs.terms[0].factors[0][1] == 1 and not rhs.terms[0].summed:
                forms.append((a.name, rhs.terms[0].factors[0][0], tuple(idx)))

        def swap(atom):
            for name, form, idx in forms:
                if not isinstance(atom, type(form)) or len(atom.free) != len(idx):
                    continue
                order = atom.arg.natural_order() if isinstance(atom, T.Func) else tuple(atom.free)
                if len(order) == len(idx) and form.rename(dict(zip(idx, order))).key() == atom.key():
                    return T.Var(name, order)
            if isinstance(atom, T.Group):
                return T.Group(walk(atom.expr), atom.keep)
            if isinstance(atom, T.Func):
                return T.Func(atom.name, walk(atom.arg))
            return atom

        def walk(e):
            return T.Expr.make([T.Term.make(t.coef, [(swap(a), x) for a, x in t.factors], t.summed) for t in e.terms])
        return walk(expr)

    def index(self):
        named = self._named(self.total)
        printer, latex = IndexPrinter(self.p, ()), IndexLatexPrinter(self.p, ())
        lhs = f"{self.g.name}[{','.join(printer.name(i) for i in self.p)}]"
        lhs_tex = latex.indexed(self.g.name, [latex.name(i) for i in self.p])
        return Step("Index form", [
            D.Para("Entry by entry, with the scalar chain rule:"),
            D.Math(f"{lhs} = {printer.expr(named)}", f"{lhs_tex} = {latex.expr(named)}"),
            D.Para("Repeated indices under Σ are summed; every other index is the same on both sides.")])

    def matrix(self):
        blocks = [D.Para("Reading the index pattern back as matrix operations:"),
                  D.Items([f"{rule}: {detail}" for rule, detail in self.log] or ["(nothing to rearrange)"]),
                  D.Para("so"),
                  D.Math(f"{self.g.name} = {self.formula}", f"{latex_name(self.g.name)} = {to_latex(self.m)}")]
        link = self._catalog()
        return Step("Matrix form", blocks + ([D.Para(link)] if link else []))

    def _catalog(self):
        """The catalog entries stating the rule of each equation on the path."""
        from .catalog import pointer, related_to_reader
        found = []
        for k, s in enumerate(self.path):
            by = self.path[k - 1].name if self.cot and k else self.g.of
            if s is self.model.loss:
                continue
            found += related_to_reader(self.pass_.trees[s.name], by, self.pass_.shapes, self.pass_.shapes[s.name])
        return pointer(found)

    def shapes(self):
        wrong = [f"{label}: {candidate}" for label, candidate in self._wrong_forms()]
        return Step("Shapes", [
            D.Table(("factor", "shape"), [(n, fmt_shape(self._shape(n))) for n in self._involved()]),
            D.Para(f"The result must have the shape of {self.g.of}, {fmt_shape(self.g.shape)}."),
            D.Para("Tempting wrong forms:"), D.Items(wrong or ["(none to try: no transpose, product or ⊙ here)"])])

    def _wrong_forms(self):
        from .matrix import MHad, MMatMul, MT
        out = []
        shapes = dict(self.pass_.shapes)
        shapes.update({f"d{n}": s for n, s in self.pass_.shapes.items()})

        def verdict(node):
            code = to_numpy(node)
            try:
                tree = S.parse_expression(code)
                shape = ShapeChecker(shapes, FUNCTIONS).check(tree)
            except ChainruleError as e:
                return f"`{code}` fails: {e.message.split(' — ')[0]}"
            if shape != self.g.shape:
                return f"`{code}` has shape {fmt_shape(shape)}, not {fmt_shape(self.g.shape)}"
            return f"`{code}` has the right shape, but " + self._counterexample(tree)
        untransposed = mat_map(self.m, lambda n: n.x if isinstance(n, MT) and n.x.ndim == 2 else n)
        if untransposed != self.m:
            out.append(("without the transpose", verdict(untransposed)))
        swapped = mat_map(self.m, lambda n: MMatMul(n.b, n.a) if isinstance(n, MMatMul) and n.a.ndim == 2
                          and n.b.ndim == 2 else n)
        if swapped != self.m:
            out.append(("factors in the other order", verdict(swapped)))
        as_product = mat_map(self.m, lambda n: _chain_of(n.factors) if isinstance(n, MHad) and
                             len([f for f in n.factors if f.ndim == 2]) == 2 else n)
        if as_product != self.m:
            out.append(("⊙ replaced by a matrix product", verdict(as_product)))
        return out

    def _counterexample(self, tree):
        """The wrong form against the right one on random data: the entry where they differ most."""
        import numpy as np
        from .evaluate import evaluate_tree
        from .numeric import adjoint_values
        from .verdict import entry_example
        values, dims = adjoint_values(self.result)
        with np.errstate(all="ignore"):
            want = np.asarray(evaluate_tree(S.parse_expression(to_numpy(self.m)), values, dims), dtype=float)
            got = np.asarray(evaluate_tree(tree, values, dims), dtype=float)
        if got.shape == want.shape and np.allclose(got, want):
            return "on random data it happens to agree"
        return entry_example(got, want) or "its values differ on random data"

    def toy(self):
        try:
            return Step("Toy example", _toy_section(self))
        except TOY_LIMITS as e:
            return Step("Toy example", [D.Para(f"No scalar expansion for this formula here ({e}); "
                                               "see the numeric check.")])

    def numeric(self):
        from .numeric import check_backprop
        err = check_backprop(self.result, only=self.g.name, code={self.g.name: to_numpy(self.m)})[self.g.name]
        return Step("Numeric check", [D.Para(
            f"On random data (every dimension a different small size), {self.g.name} = {self.formula} against "
            f"central finite differences of the loss: max relative error {err:.1e} "
            f"({'agrees' if err < 1e-5 else 'DISAGREES'}).")])


def _chain_of(factors):
    from .matrix import mat_mul
    arrays = [f for f in factors if f.ndim == 2]
    return mat_mul(arrays[0], arrays[1])


class _ForwardValues(dict):
    """Symbols for the toy example, computing a forward value (A2 = σ(Z2)) from its equation on demand."""

    def __init__(self, x, values, dims):
        super().__init__(values)
        self.x, self.dims = x, dims

    def __contains__(self, name):
        return dict.__contains__(self, name) or name in {a.name for a in self.x.model.assignments}

    def __getitem__(self, name):
        if not dict.__contains__(self, name):
            from .toy import tree_to_sympy
            self[name] = tree_to_sympy(self.x.model.assignment(name).tree, self, self.dims, self.x.pass_.shapes)
        return dict.__getitem__(self, name)


def _toy_lhs(x, first, readers):
    """∂(what the target changes)/∂(its first entry): the loss, or Σ dR·R over the readers R whose
    adjoints are known (each divided by its convention's scale), plus the loss if it reads directly."""
    scale = x.pass_.scale(x.g.of)
    parts = [x.model.loss.name if r is x.model.loss else
             f"Σ d{r.name}·{r.name}" + (f"/{x.pass_.scale(r.name)}" if x.pass_.scale(r.name) else "")
             for r in readers]
    inner = parts[0] if len(parts) == 1 else "(" + " + ".join(parts) + ")"
    head = f"{scale}·" if scale else ""
    if parts == [x.model.loss.name]:
        return f"{head}∂{inner}/∂{first}"
    return f"{head}∂/∂{first} {inner}"


# what ends a toy expansion early (it is an illustration; the numeric check still runs): a form the
# toy cannot expand, SymPy missing, or SymPy failing on an unusual expression
TOY_LIMITS = (NotImplementedError, ImportError, ChainruleError, KeyError, ValueError, TypeError, ZeroDivisionError,
              RecursionError)
TOY_MAX_DIM = 4          # a toy example keeps numeric dimensions up to this size
TOY_MAX_ENTRIES = 64     # and at most this many scalar entries in all


def _toy_size_guard(shapes):
    """The toy example is for small matrices: fixed sizes (declared as numbers) are kept, so say so when
    they are too large to expand by hand."""
    big = [(n, s) for n, s in shapes.items() if any(d > TOY_MAX_DIM for d in s)]
    total = sum(int(np.prod(s)) if s else 1 for s in shapes.values())
    if big or total > TOY_MAX_ENTRIES:
        what = f"{big[0][0]} is {'×'.join(map(str, big[0][1]))}" if big else f"{total} scalar entries"
        raise NotImplementedError(f"the toy example expands dimensions of at most {TOY_MAX_DIM} and at most "
                                  f"{TOY_MAX_ENTRIES} entries; here {what}")


TOY_MAX_OPS = 400        # operations in the expanded scalar function


def _toy_ops_guard(e):
    """A toy example is for expressions a person can read: refuse the ones that expand into a page."""
    import sympy as sp
    ops = sp.count_ops(e)
    if ops > TOY_MAX_OPS:
        raise NotImplementedError(f"with every dimension 2 the scalar function has {ops} operations, too many to "
                                  f"follow by hand (limit {TOY_MAX_OPS})")


def _toy_section(x):
    """Every dimension 2 (or 1), every equation expanded to scalars, one entry by scalar calculus."""
    import sympy as sp
    from .toy import entry_symbols, latex as toy_latex, matrix_to_sympy, same, show, tree_to_sympy
    dims = {d: 2 for s in x.pass_.shapes.values() for d in s if isinstance(d, str)}
    toy_shape = lambda s: tuple(d if isinstance(d, int) else dims[d] for d in s)   # noqa: E731
    _toy_size_guard({n: toy_shape(x._shape(n)) for n in x._involved()})
    env = {}
    for n in x._involved():
        env[n] = entry_symbols(n, toy_shape(x._shape(n)))
        decl = x.model.declarations.get(n)
        if decl is not None and "onehot" in decl.properties:   # columns sum to 1: the last row follows
            y = env[n]
            for j in range(y.cols):
                y[y.rows - 1, j] = 1 - sum(y[i, j] for i in range(y.rows - 1))
    shapes = dict(x.pass_.shapes)
    shapes.update({f"d{n}": sh for n, sh in x.pass_.shapes.items()})
    lines = []
    values = dict(env)
    chained = x.cot is not None        # one path (activation, then its reader); else sibling readers
    for s in x.path:
        rhs = tree_to_sympy(x.pass_.trees[s.name], values if chained else env, dims, shapes)
        for i in range(rhs.rows):
            for j in range(rhs.cols):
                lines.append((str(env[s.name][i, j]), sp.sstr(rhs[i, j])))
        values[s.name] = rhs
    scale_of = lambda n: dims[x.pass_.scale(n)] if x.pass_.scale(n) else 1   # noqa: E731

    def contribution(name):
        if name == x.model.loss.name:
            return values[name][0, 0]                                  # the loss itself
        cot, out = env["d" + name], values[name]
        return sum(cot[i, j] * out[i, j] for i in range(out.rows) for j in range(out.cols)) / scale_of(name)
    readers = [x.path[-1]] if chained else x.path
    link = sum(contribution(r.name) for r in readers)
    _toy_ops_guard(link)
    target = env[x.g.of]
    scale = scale_of(x.g.of)
    first = target[0, 0]
    by_hand = sp.diff(link, first) * scale
    matrix_value = matrix_to_sympy(x.m, _ForwardValues(x, dict(values if chained else env), dims), dims)
    all_equal = all(same(sp.diff(link, target[i, j]) * scale, matrix_value[i, j])
                    for i in range(target.rows) for j in range(target.cols))
    eqs = D.Table(("entry", "scalar equation"), [(f"`{a}`", f"`= {b}`") for a, b in lines[:12]]
                  + ([("…", f"({len(lines) - 12} more)")] if len(lines) > 12 else []))
    lhs = _toy_lhs(x, first, readers)
    return [D.Para(f"Take every dimension 2: {', '.join(f'{d} = 2' for d in sorted(dims))}. The equations become "
                   "scalar equations:"), eqs,
            D.Para("By scalar calculus, the first entry:"),
            D.Math(f"{lhs} = {show(by_hand)}", f"{_toy_lhs_latex(x, first, readers)} = {toy_latex(by_hand)}"),
            D.Para(f"and the matrix formula's entry [1,1] is {show(matrix_value[0, 0])} — "
                   + ("the same." if same(by_hand, matrix_value[0, 0]) else "DIFFERENT.")
                   + f" All {target.rows * target.cols} entries agree: {'yes' if all_equal else 'NO'}.")]


def _toy_lhs_latex(x, first, readers):
    from .toy import latex as toy_latex
    loss = latex_name(x.model.loss.name)
    scale = x.pass_.scale(x.g.of)
    parts = [loss if r is x.model.loss else
             rf"\sum {latex_name('d' + r.name)} \odot {latex_name(r.name)}"
             + (f" / {x.pass_.scale(r.name)}" if x.pass_.scale(r.name) else "") for r in readers]
    inner = parts[0] if len(parts) == 1 else r"\left(" + " + ".join(parts) + r"\right)"
    head = f"{scale} " if scale else ""
    return head + rf"\frac{{\partial}}{{\partial {toy_latex(first)}}} {inner}"


def _explain_derivative(expr, wrt, shapes):
    """The seven sections for chainrule.derive(expr, wrt, shapes), from that derivation's own record."""
    from .derivation import derive
    from .index_notation import index_latex
    r = derive(expr, wrt, shapes)
    p = r.parsed
    sizes = ", ".join(f"{n} {fmt_shape(sh)}" for n, sh in p.shapes.items())
    label = r"\frac{\partial f}{\partial " + latex_name(wrt) + "}"
    setup = [D.Math(f"f = {expr}", f"f = {D.tree_latex(p.tree)}"),
             D.Para(f"differentiated with respect to {wrt}. Shapes: {sizes}; f has shape "
                    f"{fmt_shape(tuple(i.dim for i in p.idx))}, the result {fmt_shape(r.shape)} "
                    "(f's axes, then the variable's).")]
    chain = [D.Para("The derivative is taken entry by entry in index form; the rules that fired:"),
             D.Items([f"{rule}: {formula}" for rule, formula in r.trace.steps])]
    index = [D.Math(r.index, index_latex(r.index_expr, r.out, [i for w in r.wrt_idx for i in w], label)),
             D.Para("Repeated indices under Σ are summed; δ[i,p] is 1 when i = p.")]
    result = D.Math(f"{'∂f/∂' + wrt} = {r.text}", f"{label} = {r.latex}")
    matrix = ([D.Para("Reading the index pattern back as matrix operations:"),
               D.Items([f"{rule}: {detail}" for rule, detail in r.log] or ["(nothing to rearrange)"]),
               D.Para("so"), result] if r.matrix_form else
              [D.Para("No matrix form exists (more than two free indices); in index form:"), D.Code(r.text)])
    from .catalog import pointer, related
    link = pointer(related(p.tree, wrt, p.shapes))
    if link:
        matrix.append(D.Para(link))
    table = [D.Table(("name", "shape"), [(n, fmt_shape(sh)) for n, sh in p.shapes.items()])]
    try:
        toy = _toy_derivative(r)
    except TOY_LIMITS as e:
        toy = [D.Para(f"No scalar expansion for this formula here ({e}); see the numeric check.")]
    try:
        err = r.check()
        numeric = [D.Para(f"On random data, the formula against central finite differences of f: max relative "
                          f"error {err:.1e} ({'agrees' if err < 1e-5 else 'DISAGREES'}).")]
    except ChainruleError as e:
        numeric = [D.Para(f"No numeric check here: {e.message}.")]
    sections = [setup, chain, index, matrix, table, toy, numeric]
    return Explanation(wrt, r.text, [Step(t, blocks) for t, blocks in zip(TITLES, sections)],
                       f"Why ∂/∂{wrt} {expr} = {r.text}")


def _toy_derivative(r):
    """Every dimension 2, the expression expanded to scalars, the first entry by scalar calculus."""
    import sympy as sp
    from .toy import entry_symbols, latex as toy_latex, matrix_to_sympy, same, show, tree_to_sympy
    p = r.parsed
    dims = {d: 2 for sh in p.shapes.values() for d in sh if isinstance(d, str)}
    _toy_size_guard({n: tuple(d if isinstance(d, int) else 2 for d in sh) for n, sh in p.shapes.items()})
    env = {n: entry_symbols(n, tuple(d if isinstance(d, int) else 2 for d in sh)) for n, sh in p.shapes.items()}
    f = tree_to_sympy(p.tree, env, dims, p.shapes)
    if f.shape != (1, 1):
        raise NotImplementedError("the toy expansion is shown for scalar-valued expressions")
    _toy_ops_guard(f[0, 0])
    x = env[r.wrt]
    got = matrix_to_sympy(r.matrix, env, dims)
    by_hand = [sp.diff(f[0, 0], x[i, j]) for i in range(x.rows) for j in range(x.cols)]
    formula = list(got) if got.shape != (1, 1) or len(by_hand) == 1 else None
    if formula is None or len(formula) != len(by_hand):
        raise NotImplementedError("the formula's layout does not match the variable's")
    agree = all(same(a, b) for a, b in zip(by_hand, formula))
    scalar = sp.expand(f[0, 0]) if sp.count_ops(f[0, 0]) <= 40 else f[0, 0]
    return [D.Para(f"Take every dimension 2 ({', '.join(f'{d} = 2' for d in sorted(dims)) or 'no named dimensions'})."
                   " f becomes the scalar"),
            D.Math(f"f = {sp.sstr(scalar)}", f"f = {toy_latex(scalar)}"),
            D.Para("By scalar calculus, the first entry:"),
            D.Math(f"∂f/∂{x[0, 0]} = {show(by_hand[0])}",
                   rf"\frac{{\partial f}}{{\partial {toy_latex(x[0, 0])}}} = {toy_latex(by_hand[0])}"),
            D.Para(f"and the formula's first entry is {show(formula[0])} — "
                   + ("the same." if same(by_hand[0], formula[0]) else "DIFFERENT.")
                   + f" All {len(by_hand)} entries agree: {'yes' if agree else 'NO'}.")]
