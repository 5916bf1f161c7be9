"""explain(): the derivation a mentor would write for one adjoint, in seven sections, rendered from
the engine's own derivation of it (its index form, the matrix-notation reductions that fired, the
shapes, the toy example built from the same rules and a numeric check). Nothing here is written separately by hand."""
import dataclasses

import numpy as np

from ..render import document as D
from ..core import tensor as T
from ..core.fold import substitute_index
from ..core.errors import ChainruleError, argument_error
from ..render.index_notation import IndexLatexPrinter, IndexPrinter
from ..core.matrix import MAdd, MHad, MMatMul, MT, MVar, mat_had, mat_map, mat_mul
from ..numeric.matrix_eval import variables
from ..render.numpy_code import to_numpy
from ..render.printing import CourseTextPrinter, latex_name, to_latex
from ..lang.shapes import broadcast, fmt_shape, matmul_shape

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
    `.latex()` a LaTeX fragment, `.html()` a self-contained page. `.formula` is the engine's formula
    (backprop's line); `.one_step`, where the adjoint follows an activation, the form derived from the
    next layer's adjoint (W2ᵀ dZ2 ⊙ (1 − A1²)), else None."""

    def __init__(self, target, formula, steps, heading, one_step=None):
        self.target, self.formula, self.steps, self.heading = target, formula, steps, heading
        self.one_step = one_step

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
        style = ("<style>.chainrule-explanation mi[mathvariant=italic]{font-style:italic}"      # Chromium ignores it
                 ".chainrule-explanation pre{overflow-x:auto}.chainrule-explanation .shape{white-space:nowrap}</style>")
        return (f"<div class='chainrule-explanation'>{style}<h2>{D.html.escape(self.heading)}</h2>{sections}</div>")


def explain(model=None, target="dZ1", *, expr=None, wrt=None, shapes=None, convention="course"):
    """Why `target` (an adjoint of the model, default dZ1 of the two-layer example) is what it is;
    with `expr`, `wrt` and `shapes`, why the derivative of an expression is what it is."""
    with T.work_budget():
        return _explain(model, target, expr=expr, wrt=wrt, shapes=shapes, convention=convention)


def _explain(model, target, *, expr, wrt, shapes, convention):
    from ..engine.adjoints import backprop
    from ..lang.model import example
    if expr is not None:
        try:
            return _explain_derivative(expr, wrt, shapes)
        except ChainruleError as e:           # the algebra's own errors (the work budget): at the expression
            if e.start is not None or not isinstance(expr, str) or not expr.strip():
                raise
            raise ChainruleError(f"explaining the derivative: {e.message}", expr, 0, len(expr), 1, e.hint,
                                 kind=e.kind) from None
    text = model if model is not None else example("two-layer")
    result = backprop(text, convention)
    names = {g.name: g for g in result.gradients}
    rolled = _rolled_target(result, target) if isinstance(target, str) and target not in names else None
    if rolled is not None:                    # dZ[l]: the loop's body, explained at one iteration
        loop, line, concrete = rolled
        e = _explain(model, concrete, expr=None, wrt=None, shapes=None, convention=convention)
        e.steps[0].blocks.insert(0, D.Para(
            f"{line.name} = {line.text} is the body of the backward pass through `{loop.loop.header}`: every "
            f"iteration's {line.name} is that formula in its own layer's names, so it is explained here at "
            f"{loop.loop.var} = {loop.steady[0]}, as {concrete} (the iterations: "
            f"{', '.join(f'{loop.loop.var} = {v}: {a}' for v, a in zip(loop.steady, line.adjoints))})."))
        return e
    if target not in names:
        rolled_names = [x.name for loop in result.loops for x in loop.lines]
        raise argument_error(f"{target!r} is not an adjoint of this model (adjoints: {', '.join(names)}"
                             + (f"; the loop's: {', '.join(rolled_names)}" if rolled_names else "") + ")", "target",
                             target, kind="unknown-name")
    try:
        return _ModelExplanation(result, names[target]).build()
    except ChainruleError as e:               # the algebra's own errors (the work budget): at the name's line
        if e.start is not None:
            raise
        of = names[target].of                 # the longest line that reads it: where the algebra grows
        readers = [a for a in result.model.assignments if of in a.uses]
        line = max(readers, key=lambda a: len(a.text)).line if readers else result.model.declarations[of].line
        row = text.splitlines()[line - 1]
        raise ChainruleError(f"line {line}: explaining {target}: {e.message}", text, 0, max(1, len(row)), line,
                             e.hint, kind=e.kind) from None


def _rolled_target(result, target):
    """(backward loop, its rolled line, the adjoint of its first steady iteration) for a target such as
    dZ[l] (spaces and the minus sign as typed), or None."""
    key = target.replace(" ", "").replace("−", "-")
    for loop in result.loops:
        for line in loop.lines:
            if line.name.replace(" ", "").replace("−", "-") == key:
                return loop, line, line.adjoints[0]
    return None


class _ModelExplanation:
    """One adjoint, rendered from backprop's own record of it: its trace, index form, reductions and
    matrix (so the formula is backprop's line). Where the adjoint follows an activation A = f(Z) and
    its line reads dA, the mentor's one-step form is backprop's line with backprop's own dA line
    substituted (dZ1 = dA1 ⊙ (1 − A1²) = W2ᵀ dZ2 ⊙ (1 − A1²)); the sections derive that form."""

    def __init__(self, result, g):
        self.result, self.g, self.model = result, g, result.model
        self.act = result.activation_of(g.of)
        self.adj = result.adjoint_names                      # name -> its adjoint's name
        up = self.adj[self.act.step.name] if self.act is not None else None
        self.up = next((x for x in result.gradients if x.name == up), None) \
            if up is not None and up in variables(g.matrix) else None
        direct = [self.model.assignment(n) for n in result.readers(g.of)]
        self.through = []        # A's readers, in the one-step form
        if self.up is None:
            self.readers, self.path = direct, direct
        else:                    # A's readers take its place; Z's other readers stay
            a = self.act.step
            self.through = [self.model.assignment(n) for n in result.readers(a.name)]
            self.readers = _ordered(self.model, [r for r in direct if r is not a] + self.through)
            self.path = _ordered(self.model, [a] + self.readers)
        self.m = _substitute_matrix(g.matrix, self.up) if self.up else g.matrix
        self.shown = CourseTextPrinter()(self.m)

    def build(self):
        steps = [self.setup(), self.chain(), self.index(), self.matrix(), self.shapes(), self.toy(), self.numeric()]
        g = self.g
        heading = f"Why {g.name} = {g.text}" + (f" — in one step, {g.name} = {self.shown}" if self.up else "")
        return Explanation(g.name, g.text, steps, heading, self.shown if self.up else None)

    # -- sections ---------------------------------------------------------------------------
    def _involved(self):
        names = {self.g.of}
        for s in self.path:
            names |= set(self.result.uses(s.name)) | {s.name}
        names |= {self.adj[s.name] for s in self.readers if s is not self.model.loss}
        return sorted(names, key=lambda n: (n not in self.result.shapes, n))

    def _shape(self, n):
        shapes = self.result.shapes
        if n in shapes:                                       # a model's own dJ is its own, not J's adjoint
            return shapes[n]
        return shapes[next(k for k, v in self.adj.items() if v == n)]

    def equations(self):
        """The equations the target reaches the loss through, in the model's order (with an activation
        folded into the loss, and a line summed whole into its reader)."""
        eqs = list(self.path)
        folded = [a for a in self.model.assignments if a.name in self.result.fused]
        if folded and self.model.loss in self.path:
            eqs = folded + eqs
        names = {a.name for a in eqs}
        summed = [a for a in self.model.assignments if self.result.summed_away.get(a.name) in names]
        return sorted(eqs + summed, key=self.model.assignments.index)

    def _equations(self):
        eqs = self.equations()
        return D.Math("\n".join(f"{a.name} = {a.text}" for a in eqs), r"\begin{array}{rcl} " + r" \\ ".join(
            f"{latex_name(a.name)} &=& {D.tree_latex(a.tree)}" for a in eqs) + r" \end{array}")

    def setup(self):
        loss = self.model.loss
        scale = self.result.scale(self.g.of)
        want = (f"{scale}·∂{loss.name}/∂{self.g.of} ({self.result.convention} convention: {self.result.note})"
                if scale else f"∂{loss.name}/∂{self.g.of}")
        shapes = ", ".join(f"{n} {fmt_shape(self._shape(n))}" for n in self._involved())
        return Step("Setup", [D.Para(f"{self.g.of} reaches the loss {loss.name} only through:"), self._equations(),
                              D.Para(f"Shapes: {shapes}."), D.Para(f"We want {self.g.name} = {want}.")])

    def _by(self, s):
        """The name a path equation is differentiated by: A's readers by A, the others by the target."""
        return self.act.step.name if s in self.through and s is not self.act.step else self.g.of

    def chain(self):
        J, z, g = self.model.loss.name, self.g.of, self.g
        if self.up:
            a = self.act.step.name
            chains = [[(J, q.name), (q.name, a), (a, z)] for q in self.through] + \
                     [[(J, r.name), (r.name, z)] for r in self.readers if r not in self.through]
            chains = [[(u, v) for u, v in c if u != v] for c in chains]
            words = (f"{z} changes {J} through {a} = {self.act.fn.name}({z}) and then "
                     + ", ".join(q.name for q in self.through)
                     + "".join(f", and directly through {r.name}" for r in self.readers if r not in self.through)
                     + ", so the chain rule combines these local derivatives:")
        else:
            chains = [[(r.name, z)] for r in self.path]
            words = (f"{z} is read by {', '.join(r.name for r in self.path)}; each reader contributes its "
                     "own term (summed):")
        frac = lambda u, v: rf"\frac{{\partial {latex_name(u)}}}{{\partial {latex_name(v)}}}"   # noqa: E731
        blocks = [D.Para(words), D.Math(" + ".join(" · ".join(f"∂{u}/∂{v}" for u, v in c) for c in chains),
                                        " + ".join(r" \cdot ".join(frac(u, v) for u, v in c) for c in chains))]
        lines = [self.up, g] if self.up else [g]
        if self.up:
            blocks.append(D.Para(f"Backprop takes this in two of its lines, {self.up.name} = {self.up.text} (the "
                                 f"adjoint of {self.act.step.name}) and then {g.name} = {g.text}; substituting the "
                                 f"first into the second gives the one-step form {g.name} = {self.shown}, derived "
                                 "below."))
        links = list(dict.fromkeys(link for c in chains for link in c))
        blocks += [D.Para("The local derivatives, entry by entry (i, j, … index the entry of the equation, p, q the "
                          "entry it is differentiated by; δ[i,p] is 1 when i = p, else 0):"),
                   D.Items([self._local(u, v) for u, v in links])]
        cancel = self._cancellation()
        if cancel:
            return Step("Chain of derivatives", cancel)
        combine = [item for x in lines for item in (self._combined(x),) if item]
        blocks += [] if not combine else [D.Para("They combine as the chain rule for matrices does: each adjoint sums the one after it times "
                          "the local derivative over every entry in between (a derivative of a matrix by a matrix has "
                          "four indices, so this is not a plain matrix product):"), D.Items(combine)]
        return Step("Chain of derivatives", blocks)

    def _local(self, u, v):
        """One local derivative ∂u/∂v stated in index terms and in words (what it brings in)."""
        from ..core.differentiate import diff
        from ..lang.lower import fresh_idx
        expr, idx = self.result.lowered_steps.get(u) or self.result.lowered[u]    # (a folded line: as written)
        p = fresh_idx(self.result.shapes[v], "pq")
        if u == self.model.loss.name and v not in self.result.uses(u) and v in self.adj:
            known = self.result[v]                     # J reads v only through later lines: its adjoint, known
            scale = self.result.scale(v)
            return (f"{scale + '·' if scale else ''}∂{u}/∂{v} = {known.name}, backprop's adjoint of {v} "
                    f"({known.name} = {known.text}): {u} reaches {v} only through the lines after it, so the "
                    "chain starts from that adjoint")
        if u == self.model.loss.name:                   # a scalar by a matrix: the matrix of its partials
            scale = self.result.scale(v)
            direct = diff(expr, v, p) * (T.var(scale, (), is_dim=True) if scale else T.const(1))
            text = CourseTextPrinter()(self.result.matrix_form(direct, p, v)[0])
            return (f"{scale + '·' if scale else ''}∂{u}/∂{v} = {text}"
                    + (f" (the course's adjoints carry the {scale}: {self.adj[v]} is {scale}·∂{u}/∂{v})"
                       if scale else "") + f" — {u} read as written, {v} held apart from the rest")
        d = self._named(_without_unit_deltas(diff(expr, v, p)))
        printer = IndexPrinter(idx, p)
        lhs = f"∂{printer.indexed(u, [printer.name(i) for i in idx])}/∂{printer.indexed(v, [printer.name(i) for i in p])}"
        return f"`{lhs} = {printer.expr(d)}` — {_local_words(d, idx, p, v, printer)}"

    def _folded_activation(self):
        """The activation A = f(target) folded into the loss (its cross-entropy: no dA line), or None."""
        if [r.name for r in self.readers] != [self.model.loss.name]:
            return None
        return self.result.folded_activation(self.g.of)

    def _cancellation(self):
        """Where the activation was folded into its loss (σ + cross-entropy), the steps backprop skips:
        dA2 = m·∂J/∂A2 from the loss as written, the activation's local derivative, and their product
        term by term — each term's factors cancel — down to backprop's line (dZ2 = A2 − Y)."""
        a = self._folded_activation()
        if a is None:
            return None
        from ..core.differentiate import diff
        from ..core.matrix import mat_add
        from ..lang.lower import fresh_idx
        z, loss, P = self.g.of, self.model.loss, CourseTextPrinter()
        scale = self.result.scale(z)
        dA, p = self.result.folded_adjoint(a, z)                  # the loss as written, reading A by name
        d = self.adj[a.name]
        dA_text = P(self.result.matrix_form(dA, p, a.name)[0])
        a_expr, a_idx = self.result.lowered[a.name]
        q = fresh_idx(self.result.shapes[z], "pq")
        local = diff(a_expr, z, q)
        words = [D.Para(f"{a.name} = {a.text} is read only by the loss, so backprop folds it into {loss.name} and "
                        f"goes straight to {self.g.name}. The steps it skips:"),
                 D.Items([f"{d} = {f'{scale}·' if scale else ''}∂{loss.name}/∂{a.name} = {dA_text}"
                          " (the loss as written, differentiated by " + a.name + ")",
                          self._local(a.name, z)])]
        t = local.terms[0] if len(local.terms) == 1 else None
        pairs = {frozenset((x.a, x.b)) for x, _ in t.factors if isinstance(x, T.Delta)} if t else set()
        if t is None or not all(frozenset((i, j)) in pairs for i, j in zip(a_idx, q)):
            return words + self._cancellation_through_jacobian(a, d, dA, p, local, a_idx, q)
        slope = self.result.matrix_form(local.sum_over(q), a_idx, z)[0]       # f′ entry by entry, by name
        terms = [mat_had([self.result.matrix_form(T.Expr([u]), p, a.name)[0], slope], slope.shape) for u in dA.terms]
        middle = mat_add(terms, slope.shape)
        self.worked = [("in", mat_had([MVar(d, slope.shape), slope], slope.shape),
                        {d: self.result.matrix_form(dA, p, a.name)[0]}), ("put", middle, {})]
        pad = " " * len(self.g.name)
        tex = (rf"\begin{{aligned}} {latex_name(self.g.name)} &= {latex_name(d)} \odot {to_latex(slope)} \\ "
               rf"&= {to_latex(middle)} \\ &= {self.g.latex} \end{{aligned}}")
        return words + [D.Para(f"Entry by entry the two multiply ({d} ⊙ {P(slope)}); taking each term of {d} "
                               f"times {P(slope)}, its factors cancel:"),
                        D.Math(f"{self.g.name} = {d} ⊙ {P(slope)}\n{pad} = {P(middle)}\n{pad} = {self.g.text}", tex),
                        D.Para(f"— the last step collects the terms; that is backprop's line, {self.g.name} = "
                               f"{self.g.text}.")]

    def _cancellation_through_jacobian(self, a, d, dA, p, local, a_idx, q):
        """A folded activation whose Jacobian is not diagonal (softmax): its vector-Jacobian product with
        dA kept by name, then dA put in (its factors cancel inside each product), then backprop's line."""
        P, z = CourseTextPrinter(), self.g.of
        vjp = self.result.fold((T.var(d, a_idx) * local).sum_over(a_idx))       # exp(Z2) / Σ exp(Z2) read as A2
        general = self.result.matrix_form(vjp, q, z)[0]
        put = self.result.matrix_form(substitute_index(vjp, d, dA, p), q, z)[0]    # A2 ⊙ (Y ⊘ A2) cancels
        self.worked = [("in", general, {d: self.result.matrix_form(dA, p, a.name)[0]}), ("put", put, {})]
        onehot = [n for n in self.result.uses(self.model.loss.name) if n in self.result.onehot_axis]
        pad = " " * len(self.g.name)
        why = f" ({', '.join(onehot)} one-hot: each example's entries sum to 1)" if onehot else ""
        tex = (rf"\begin{{aligned}} {latex_name(self.g.name)} &= {to_latex(general)} \\ &= {to_latex(put)} \\ "
               rf"&= {self.g.latex} \end{{aligned}}")
        return [D.Para(f"{a.name}'s Jacobian is not diagonal (every entry of {z} moves every entry of its column of "
                       f"{a.name}), so the two combine by {a.name}'s vector-Jacobian product; with {d} put in, its "
                       f"factors cancel{why}:"),
                D.Math(f"{self.g.name} = {P(general)}\n{pad} = {P(put)}\n{pad} = {self.g.text}", tex),
                D.Para(f"— that is backprop's line, {self.g.name} = {self.g.text}.")]

    def _combined(self, x):
        """The vector-Jacobian product of backprop's line x, with forward values by name."""
        step = next((s for s in reversed(x.trace.steps) if s.rule == "vector-Jacobian product"), None)
        if step is None:
            return None
        printer = IndexPrinter([i for i in step.before.natural_order() if i not in step.widx], step.widx)
        lhs = printer.indexed(x.name, [printer.name(i) for i in step.widx])
        before, after = (self._named(_without_unit_deltas(e)) for e in (step.before, step.after))
        return f"`{lhs} = {printer.expr(before)} = {printer.expr(after)}`"

    def _named(self, expr):
        """The index expression with forward values written by name: tanh(Z1[i,j]) → A1[i,j]."""
        forms = []
        for a in self.model.assignments[:-1]:
            rhs, idx = self.result.lowered[a.name]
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
                if isinstance(atom, T.Func) and atom.name == "sigmoid" == form.name and len(order) == len(idx) and \
                        form.rename(dict(zip(idx, order))).arg.key() == (-atom.arg).key():
                    return T.Group(T.const(1) - T.var(name, order), True)      # σ(−z) = 1 − A for A = σ(z)
            if isinstance(atom, T.Group):
                return T.Group(walk(atom.expr), atom.keep)
            if isinstance(atom, T.Func):
                return T.Func(atom.name, walk(atom.arg))
            return atom

        def walk(e):
            return T.Expr.make([T.Term.make(t.coef, [(swap(a), x) for a, x in t.factors], t.summed) for t in e.terms])
        return walk(self.result.fold(expr))

    def _index_math(self, name, expr, idx):
        named = self._named(expr)
        printer, latex = IndexPrinter(idx, ()), IndexLatexPrinter(idx, ())
        lhs = f"{name}[{','.join(printer.name(i) for i in idx)}]"
        lhs_tex = latex.indexed(name, [latex.name(i) for i in idx])
        return D.Math(f"{lhs} = {printer.expr(named)}", f"{lhs_tex} = {latex.expr(named)}")

    def index(self):
        g, up = self.g, self.up
        if not up:
            return Step("Index form", [
                D.Para("Entry by entry, with the scalar chain rule:"), self._index_math(g.name, g.index_expr, g.idx),
                D.Para("Repeated indices under Σ are summed; every other index is the same on both sides.")])
        one_step = substitute_index(g.index_expr, up.name, up.index_expr, up.idx)
        return Step("Index form", [
            D.Para(f"Entry by entry, with the scalar chain rule: backprop's {up.name} and {g.name} lines are"),
            self._index_math(up.name, up.index_expr, up.idx), self._index_math(g.name, g.index_expr, g.idx),
            D.Para(f"and with the first substituted into the second, {g.name} in one step:"),
            self._index_math(g.name, one_step, g.idx),
            D.Para("Repeated indices under Σ are summed; every other index is the same on both sides.")])

    def matrix(self):
        g, up = self.g, self.up
        reductions = lambda x: D.Items([f"{r}: {d}" for r, d in x.log] or ["(nothing to rearrange)"])   # noqa: E731
        name = latex_name(g.name)
        if up:
            blocks = [D.Para(f"Reading the index pattern back as matrix operations — backprop's {up.name} line:"),
                      reductions(up), D.Para(f"its {g.name} line:"), reductions(g),
                      D.Para(f"so, with {up.name} = {up.text} substituted,"),
                      D.Math(f"{g.name} = {g.text} = {self.shown}", f"{name} = {g.latex} = {to_latex(self.m)}")]
        else:
            blocks = [D.Para("Reading the index pattern back as matrix operations:"), reductions(g),
                      D.Para("so"), D.Math(f"{g.name} = {g.text}", f"{name} = {g.latex}")]
        link = self._catalog()
        return Step("Matrix form", blocks + ([D.Para(link)] if link else []))

    def _catalog(self):
        """The catalog entries stating the rule of each equation on the path."""
        from .catalog import pointer, related_to_reader
        shapes, found = self.result.shapes, []
        for s in self.path:
            if s is not self.model.loss:
                found += related_to_reader(self.result.trees[s.name], self._by(s), shapes, shapes[s.name])
        return pointer(found)

    def shapes(self):
        wrong = [f"{label}: {candidate}" for label, candidate in self._wrong_forms()]
        return Step("Shapes", [
            D.Table(("factor", "shape"), [(n, fmt_shape(self._shape(n))) for n in self._involved()]),
            D.Para(f"The result must have the shape of {self.g.of}, {fmt_shape(self.g.shape)}."),
            D.Para("Tempting wrong forms:"), D.Items(wrong or ["(none to try: no transpose, product or ⊙ here)"])])

    def _wrong_forms(self):
        """The formula with its transposes dropped, its products swapped, its ⊙ made a product; each
        refuted by the shape rule it breaks (read off the IR's shapes) or a numeric counterexample."""
        out = []

        def verdict(node):
            code = to_numpy(node)
            shape, problem = ir_shape(node)
            if problem:
                return f"`{code}` fails: {problem}"
            if shape != self.g.shape:
                return f"`{code}` has shape {fmt_shape(shape)}, not {fmt_shape(self.g.shape)}"
            return f"`{code}` has the right shape, but " + self._counterexample(node)
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

    def _counterexample(self, wrong):
        """The wrong form against the right one on random data: the entry where they differ most."""
        from ..numeric.matrix_eval import evaluate_matrix
        from ..numeric.checks import adjoint_values
        from .verdict import entry_example
        values, dims = adjoint_values(self.result)
        with np.errstate(all="ignore"):
            want = np.asarray(evaluate_matrix(self.m, values, dims), dtype=float)
            got = np.asarray(evaluate_matrix(wrong, values, dims), dtype=float)
        if got.shape == want.shape and np.allclose(got, want):
            return "on random data it happens to agree"
        return entry_example(got, want) or "its values differ on random data"

    def toy(self):
        try:
            from .toy_example import ModelToy, TOY_WORK
            with T.part_budget(TOY_WORK):
                return Step("Toy example", ModelToy(self).blocks())
        except TOY_LIMITS as e:
            return Step("Toy example", [D.Para(f"No scalar expansion for this formula here ({_toy_limit(e)}); "
                                               "see the numeric check.")])

    def numeric(self):
        from ..numeric.checks import check_backprop
        g = self.g
        try:
            err = check_backprop(self.result, only=g.name, code={g.name: to_numpy(self.m)})[g.name]
        except ChainruleError as e:
            if e.kind not in ("numeric", "too-large"):
                raise
            return Step("Numeric check", [D.Para(f"No numeric check here: {e.message.removeprefix('no numeric check: ')}.")])
        return Step("Numeric check", [D.Para(
            f"On random data (every dimension a different small size), {g.name} = {self.shown} against "
            f"central finite differences of the loss: max relative error {err:.1e} "
            f"({'agrees' if err < 1e-5 else 'DISAGREES'}).")])


def _ordered(model, steps):
    """Assignments once each, in the model's order."""
    names = {s.name for s in steps}
    return [a for a in model.assignments if a.name in names]


def _substitute_matrix(m, up):
    """m with the adjoint `up` (read as a variable) replaced by its own matrix form; an element-wise
    product takes in the factors of one put inside it (dA1d ⊙ D1 / keep_prob ⊙ (Z1 > 0))."""
    def put(node):
        if isinstance(node, MVar) and node.name == up.name and not node.is_dim:
            return up.matrix
        if isinstance(node, MHad) and any(isinstance(f, MHad) for f in node.factors):
            flat = [x for f in node.factors for x in (f.factors if isinstance(f, MHad) else (f,))]
            return MHad(tuple([f for f in flat if f.ndim == 0] + [f for f in flat if f.ndim]), node.shape)
        return node
    return mat_map(m, put)


TRACE_SHOWN = 12         # steps of a derivation's record listed (the first ones, then the last two)


def _without_unit_deltas(expr):
    """For reading: δ between two size-1 indices is always 1 (both are 0), summed or not; other
    terms stay as they are (a δ between real indices is what the reader is shown)."""
    unit = lambda a: isinstance(a, T.Delta) and a.a.dim == 1          # noqa: E731
    inner = lambda a: T.Group(_without_unit_deltas(a.expr), a.keep) if isinstance(a, T.Group) else a   # noqa: E731
    return T.Expr([T.Term(t.coef, tuple((inner(a), e) for a, e in t.factors if not unit(a)), t.summed)
                   for t in expr.terms])


def _local_words(d, idx, p, v, printer):
    """What a local derivative does, read off its index form: entry by entry (every entry of the
    equation pairs with one entry of v by δ's, and the rest multiplies it: a ⊙), or a linear map that
    brings in other arrays' entries (a matrix product), or neither."""
    if not d.terms:
        return "0: the equation does not read it"
    if len(d.terms) == 1:
        t = d.terms[0]
        deltas = [a for a, _ in t.factors if isinstance(a, T.Delta)]
        rest = [(a, e) for a, e in t.factors if not isinstance(a, T.Delta)]
        pairs = {frozenset((a.a, a.b)) for a in deltas}
        if len(deltas) == len(p) and all(frozenset((i, q)) in pairs for i, q in zip(idx, p)):
            if not rest:
                return f"each entry of {v} passes through unchanged (an identity: the adjoint passes as it is)"
            factor = printer.expr(T.Expr([T.Term(t.coef, tuple(rest), t.summed)]))
            return (f"entry by entry: each entry of {v} moves only the same entry, by `{factor}` there — in matrix "
                    "terms an entry-wise product ⊙")
        paired = {i for i in idx if any(frozenset((i, q)) in pairs for q in p if q.dim != 1)}
        spread = [i for i in idx if i not in paired and i.dim != 1]
        if not rest and spread and all(any(frozenset((i, q)) in pairs for i in idx) for q in p if q.dim != 1):
            along = ", ".join(printer.name(i) for i in spread)
            return (f"broadcast: each entry of {v} reaches every entry along {along}, so its adjoint sums over "
                    f"{along}")
        arrays = sorted({a.name for a, _ in rest if isinstance(a, T.Var) and not a.is_dim})
        if arrays:
            return (f"it brings in the entries of {', '.join(arrays)}: a linear map, so the adjoints combine by a "
                    "matrix product (the summed index decides the transpose)")
    return "a sum of such terms, one per way the equation reads " + v


def trace_items(trace):
    """A derivation's record as list items: each rule with what it differentiated and produced."""
    steps = trace.steps
    if len(steps) <= TRACE_SHOWN:
        return [_step_item(s) for s in steps]
    return [_step_item(s) for s in steps[:TRACE_SHOWN - 2]] + [f"… ({len(steps) - TRACE_SHOWN} more steps)"] + \
        [_step_item(s) for s in steps[-2:]]


def _step_item(s):
    printer = IndexPrinter([i for i in s.before.natural_order() if i not in s.widx], s.widx)
    before = printer.expr(s.before)
    if s.derivative:
        wrt = printer.indexed(s.wrt, [printer.name(i) for i in s.widx])
        before = f"∂/∂{wrt} " + (f"({before})" if len(s.before.terms) > 1 else before)
    return f"{s.rule}: `{before} = {printer.expr(s.after)}`"


def ir_shape(m):
    """The shape of a matrix-notation tree under NumPy's rules, and the first rule it breaks (None when
    none): an inner dimension that differs, or element-wise operands that do not broadcast."""
    problems = []

    def check(node):
        if isinstance(node, MMatMul):
            a, b = node.a.shape, node.b.shape
            if a and b and matmul_shape(a, b) is None:
                problems.append(f"inner dimensions differ: {a[-1]} vs {b[0] if len(b) == 1 else b[-2]}")
        elif isinstance(node, (MHad, MAdd)):
            shape = ()
            for f in node.factors if isinstance(node, MHad) else node.terms:
                joint = broadcast(shape, f.shape)
                if joint is None:
                    problems.append(f"shapes {fmt_shape(shape)} and {fmt_shape(f.shape)} do not broadcast")
                    return node
                shape = joint
            return dataclasses.replace(node, shape=shape)
        return node
    shape = mat_map(m, check).shape
    return shape, (problems[0] if problems else None)


def _chain_of(factors):
    """The two matrices of an element-wise product, multiplied instead (the ⊙-for-@ mistake)."""
    arrays = [f for f in factors if f.ndim == 2]
    return mat_mul(arrays[0], arrays[1])


# what ends a toy expansion early (it is an illustration; the numeric check still runs): a form the
# toy cannot expand, or one too large to follow by hand
TOY_LIMITS = (NotImplementedError, ChainruleError, KeyError, ValueError, ZeroDivisionError, RecursionError,
              OverflowError)


def _toy_limit(e):
    """Why a toy example stopped, in its own terms."""
    if isinstance(e, ChainruleError) and e.kind == "budget":
        from .toy_example import TOY_WORK
        return f"writing it out in scalars takes more than {TOY_WORK:,} algebra steps, too many to follow by hand"
    return str(e)


def _explain_derivative(expr, wrt, shapes):
    """The seven sections for chainrule.derive(expr, wrt, shapes), from that derivation's own record."""
    from ..engine.derivation import derive
    from ..render.index_notation import index_latex
    r = derive(expr, wrt, shapes)
    p = r.parsed
    sizes = ", ".join(f"{n} {fmt_shape(sh)}" for n, sh in p.shapes.items())
    label = r"\frac{\partial f}{\partial " + latex_name(wrt) + "}"
    setup = [D.Math(f"f = {expr}", f"f = {D.tree_latex(p.tree)}"),
             D.Para(f"differentiated with respect to {wrt}. Shapes: {sizes}; f has shape "
                    f"{fmt_shape(tuple(i.dim for i in p.idx))}, the result {fmt_shape(r.shape)} "
                    "(f's axes, then the variable's).")]
    chain = [D.Para("The derivative is taken entry by entry in index form; the rules that fired:"),
             D.Items([f"{rule}: {formula}" for rule, formula in r.trace.rules]),
             D.Para("The derivation's record, step by step (i, j, … index the expression differentiated, p, q the "
                    "entry differentiated by):"), D.Items(trace_items(r.trace))]
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
        from .toy_example import TOY_WORK, expression_toy
        with T.part_budget(TOY_WORK):
            toy = expression_toy(r)
    except TOY_LIMITS as e:
        toy = [D.Para(f"No scalar expansion for this formula here ({_toy_limit(e)}); see the numeric check.")]
    try:
        err = r.check()
        numeric = [D.Para(f"On random data, the formula against central finite differences of f: max relative "
                          f"error {err:.1e} ({'agrees' if err < 1e-5 else 'DISAGREES'}).")]
    except ChainruleError as e:
        numeric = [D.Para(f"No numeric check here: {e.message.removeprefix('no numeric check: ')}.")]
    sections = [setup, chain, index, matrix, table, toy, numeric]
    return Explanation(wrt, r.text, [Step(t, blocks) for t, blocks in zip(TITLES, sections)],
                       f"Why ∂/∂{wrt} {expr} = {r.text}")
