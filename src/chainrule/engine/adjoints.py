"""Backpropagation in course notation: every adjoint of a model, derived by the engine.

For an assignment Y = f(…, N, …) the contribution to dN is the vector-Jacobian product
Σ_out dY[out] ∂f[out]/∂N[in], computed in index form with dY as a symbol and turned into matrix
notation; forward values are then written by name (tanh(Z1) → A1). An activation used only by the
loss is folded into it (J∘σ), which is how sigmoid + cross-entropy gives dZ2 = A2 − Y.
Convention "course": when the loss is (1/m)·Σ over examples, adjoints of per-example values carry a
factor m (dZ = m ∂J/∂Z) and the 1/m appears in dW and db; "strict": every adjoint is ∂J/∂(name).
"""
import dataclasses
import json
from fractions import Fraction

import numpy as np

from ..lang import syntax as S
from ..core import tensor as T
from ..core.differentiate import Trace, diff
from ..core.fold import Definitions, fold_values
from ..core.errors import ChainruleError, argument_error
from ..numeric.evaluate import evaluate, evaluate_tree
from ..lang.functions import FUNCTIONS
from ..lang.lower import Lowering, fresh_idx
from ..core.matrix import MFunc, MVar, canon, mat_map
from ..lang.model import parse_model
from ..render.numpy_code import to_numpy
from .rolled import backward_loops
from ..render.printing import CourseTextPrinter, latex_name, to_latex
from ..core.rules import ELEMENTWISE
from ..lang.shapes import ShapeChecker, fmt_shape
from ..notation.collect import factor_transposes
from ..notation.to_matrix import NoMatrixForm, to_einsum, to_matrix

CONVENTIONS = ("course", "strict")


@dataclasses.dataclass
class Gradient:
    """One adjoint: its value equals scale × ∂J/∂of."""
    name: str
    of: str
    text: str
    latex: str
    numpy: str
    shape: tuple
    scale: str
    matrix_form: bool = True
    index_expr: object = dataclasses.field(default=None, repr=False)  # its index form, free indices `idx`
    trace: object = dataclasses.field(default=None, repr=False)       # the derivation's record (differentiate.Trace)
    matrix: object = dataclasses.field(default=None, repr=False)      # the matrix-notation IR it is printed from
    idx: tuple = dataclasses.field(default=(), repr=False)
    log: list = dataclasses.field(default_factory=list, repr=False)   # to_matrix's reductions: (rule, detail)

    def __str__(self):
        return f"{self.name} = {self.text}"


@dataclasses.dataclass
class Activation:
    """A = f(Z) for an element-wise primitive f that states its derivative the course's way (f′ in A and Z)."""
    step: object              # the assignment A = f(Z)
    z: str                    # Z's name
    fn: object                # f's rules.ELEMENTWISE entry
    form: S.Node              # f′ as the entry writes it, over A and Z
    text: str                 # the same with the model's names: 1 − A1²

    def value(self, values):
        with np.errstate(all="ignore"):
            return evaluate_tree(self.form, {"A": values[self.step.name], "Z": values[self.z]}, {})


class Backprop:
    """The backward pass of a model: `.gradients` in evaluation order, how the 1/m is placed, and what
    the pass knows that others build on (lowered forms, forward values, readers, scales)."""

    def __init__(self, pass_, gradients, convention, note):
        self.model, self.gradients, self.convention = pass_.model, gradients, convention
        self.note, self.example_dim = note, pass_.example_dim
        self.shapes = pass_.shapes                # every declared and assigned name -> its shape
        self.lowered = pass_.lowered              # every assignment as written -> (index Expr, indices)
        self.trees = pass_.trees                  # every assignment -> the tree the backward pass differentiates
        self.lowered_steps = pass_.lowered_steps  # every step -> its tree in `trees`, lowered
        self.steps = pass_.steps                  # the assignments the backward pass visits, in order
        self.fused = pass_.fused                  # activations folded into the loss (no adjoint of their own)
        self.summed_away = pass_.summed_away      # lines written into their one reader, which sums them whole
        self.adjoint_names = pass_.adjoint_names  # every name -> its adjoint's (d<name>, or grad_<name>)
        self.onehot_axis = pass_.onehot_axis      # onehot name -> its class axis (0: columns one-hot, 1: rows)
        self._pass = pass_
        self._activations = {}

    def __getitem__(self, name):
        return next(g for g in self.gradients if g.name == name or g.of == name)

    def uses(self, name):
        """Names of declared or assigned values the assignment `name` reads (in its tree in `trees`;
        none for a declaration)."""
        return list(self._pass.uses.get(name, ()))

    def readers(self, name):
        """The steps whose backward-pass tree reads `name`: its adjoint sums their contributions."""
        return [s.name for s in self.steps if name in self._pass.uses[s.name]]

    def scale(self, name):
        """The dimension an adjoint carries as a factor (m, in the course convention), or None."""
        return self._pass.scale(name)

    def lower(self, tree):
        """A tree over the model's names, shape-checked and lowered: (index Expr, indices). For trees the
        model does not hold (a reader with an activation inlined); the model's own are in `lowered`."""
        return self._pass._lower(tree)

    def vjp(self, name, readers, hint="pq"):
        """Σ over `readers`, (name R, lowered form) pairs, of dR : ∂R/∂name, scaled by the convention;
        returns (total, its indices, the rules' trace)."""
        return self._pass.vjp(name, readers, hint)

    def matrix_form(self, total, p, name, log=None):
        """An adjoint's index form in the course's matrix notation: (matrix IR, whether one exists)."""
        return self._pass.matrix(total, p, name, log)

    def fold(self, expr):
        """An index expression with the model's named forward values folded back in (as adjoints are)."""
        return fold_values(expr, self._pass.definitions())

    def folded_activation(self, name):
        """The line A = f(name), an activation folded into the loss (σ + cross-entropy: no dA line), or None."""
        return next((a for a in self.model.assignments if a.name in self.fused and self.is_activation(a.name)
                     and name in self.uses(a.name)), None)

    def folded_adjoint(self, a, of):
        """The adjoint backprop skips for the folded activation a, read off the loss as written and scaled
        as `of`'s adjoint (dA2 = m·∂J/∂A2): (index Expr, its indices)."""
        inlined = {n: self._pass.trees[n] for n in self.fused if n != a.name}      # logprobs in −Σ logprobs / m
        inlined.update({c: self.model.assignment(c).tree for c in self._pass.constants})
        J, _ = self.lower(_inline_all(self.model.loss.tree, inlined))
        p = fresh_idx(self.shapes[a.name], "pq")
        scale = self.scale(of)
        return diff(J, a.name, p) * (T.var(scale, (), is_dim=True) if scale else T.const(1)), p

    def skipped_adjoint(self, name):
        """The adjoint backprop skips for an activation folded into the loss — dA3 where σ + cross-entropy
        gives dZ3 = A3 − Y directly — as a Gradient (so that C1W4's `dAL = -(np.divide(Y, AL) - …)` can be
        judged), or None when `name` is no such adjoint. Computed once per name."""
        cache = self.__dict__.setdefault("_skipped", {})
        if name not in cache:
            cache[name] = self._skipped_adjoint(name)
        return cache[name]

    def skipped_adjoints(self):
        """Every adjoint backprop skips (skipped_adjoint), in the order of the lines."""
        return [g for g in (self.skipped_adjoint(self.adjoint_names[f]) for f in self.fused) if g is not None]

    def _skipped_adjoint(self, name):
        a = next((self.model.assignment(f) for f in self.fused if self.adjoint_names.get(f) == name
                  and self.is_activation(f)), None)
        if a is None:
            return None
        z = next((n for n in self.uses(a.name) if n not in self.model.declarations or
                  not self.model.declarations[n].is_data), None)
        if z is None:
            return None
        total, p = self.folded_adjoint(a, z)
        m, ok = self.matrix_form(total, p, a.name)
        return Gradient(name, a.name, CourseTextPrinter()(m), to_latex(m), to_numpy(m), self.shapes[a.name],
                        self.scale(z) or "", ok, total, None, m, tuple(p))

    def is_activation(self, name):
        """Is the line `name` an activation f(…) (softmax as written, or σ read off its index form)?"""
        return self._pass.is_activation_line(self.model.assignment(name))

    def activation_of(self, name, folded=False):
        """The step A = f(name) applying an activation to `name` (an Activation), or None. Read off the
        step's index form, so maximum(0, Z) is relu(Z) whatever the spelling; f′ is the registry's form.
        With `folded`, the activation folded into the loss instead (A3 = σ(Z3), no step of its own)."""
        if (name, folded) not in self._activations:
            self._activations[(name, folded)] = self._activation_of(name, folded)
        return self._activations[(name, folded)]

    def _activation_of(self, name, folded):
        lines = [self.model.assignment(f) for f in self.fused] if folded else self.steps
        for a in lines:
            atom = T.single_atom(self.lowered[a.name][0])
            if not (isinstance(atom, T.Func) and ELEMENTWISE[atom.name].activation and not atom.params):
                continue
            var = T.single_atom(atom.arg)
            if isinstance(var, T.Var) and var.name == name:
                fn = ELEMENTWISE[atom.name]
                form = S.parse_expression(fn.activation)
                at = lambda n: S.Name(0, len(n), 1, n, id=n)                  # noqa: E731
                expr, idx = self.lower(inline(form, {"A": at(a.name), "Z": at(name)}))
                return Activation(a, name, fn, form, CourseTextPrinter()(to_matrix(expr, tuple(idx))))
        return None

    def sizes(self, values):
        """Every dimension's size, read off the shapes of the declared names' values."""
        return self._pass.sizes(values)

    def forward(self, values, dims=None, after=None):
        """Every forward value by name (and `values`), from values of the declared names; `dims` default
        to `sizes(values)`; with `after`, only the assignments after that one are evaluated."""
        return self._pass.forward(values, dims, after)

    def check(self, seed=0, only=None):
        """{adjoint: max relative error} of each printed adjoint against central differences of the loss
        (divided by its scale); `only` limits the differences to one adjoint."""
        from ..numeric.checks import check_backprop
        return check_backprop(self, seed=seed, only=only)

    def renamed(self):
        """The adjoints not called d<name> because the model uses that name itself, in words."""
        out = [f"d{g.of} is the model's own name, so {g.of}'s adjoint is written {g.name}"
               for g in self.gradients if g.name != "d" + g.of]
        return "; ".join(out)

    @property
    def loops(self):
        """The backward pass of each of the model's loops whose iterations read the same, as one body in
        the loop's indexed names (engine.rolled.BackwardLoop): for l = 2, 1: dZ[l] = dA[l] ⊙ (Z[l] > 0), …"""
        if "_loops" not in self.__dict__:
            self.__dict__["_loops"] = backward_loops(self)
        return self._loops

    def text(self):
        width = max((len(g.name) for g in self.gradients), default=0)
        lines = [f"convention: {self.convention} — {self.note}"]
        lines += self.model.reading[1:]          # the loss's binding, for Python source
        if self.renamed():
            lines.append(f"names: {self.renamed()}")
        for g in self.gradients:
            lines.append(f"{g.name:<{width}} = {g.text}    {fmt_shape(g.shape)}")
        lines += ["\n" + loop.text() for loop in self.loops]          # after the adjoints per layer
        return "\n".join(lines)

    def to_json(self):
        return json.dumps(dict(convention=self.convention, note=self.note, names=self.renamed(), gradients=[
            dict(name=g.name, of=g.of, text=g.text, latex=g.latex, numpy=g.numpy, shape=list(g.shape),
                 scale=g.scale) for g in self.gradients], loops=[loop.to_dict() for loop in self.loops]),
            ensure_ascii=False)

    def _repr_latex_(self):
        rows = [rf"{g.name.replace('d', r'd', 1)} &= {g.latex}" for g in self.gradients]
        for loop in self.loops:                    # the loop read back: a heading row, then its body
            order = ", ".join(str(v) for v in loop.values)
            rows.append(rf"&\text{{backwards through }} \texttt{{{loop.loop.header}}}\ ({loop.loop.var} = {order}):")
            rows += [rf"{latex_name(x.name)} &= {x.latex}" for x in loop.lines + loop.sums]
        body = r" \\ ".join(rows)
        return rf"$$\begin{{aligned}} {body} \end{{aligned}}$$"


def backprop(text, convention="course", examples=None):
    """Every adjoint of the model in `text` (see the module docstring); `examples` names the examples
    dimension when the data do not make it plain."""
    with T.work_budget():
        return _backprop(text, convention, examples)


def _backprop(text, convention="course", examples=None):
    if convention not in CONVENTIONS:
        raise argument_error(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}", "convention",
                             convention)
    model = parse_model(text)
    dims = {d for decl in model.declarations.values() for d in decl.shape if isinstance(d, str)}
    if examples is not None and examples not in dims:
        raise argument_error(f"examples must name one of the model's dimensions ({', '.join(sorted(dims))}), "
                             f"got {examples!r}", "examples", examples, kind="unknown-name")
    if not model.parameters:
        names = ", ".join(model.declarations) or "none"
        raise ChainruleError(f"the model has no parameters: every declared name ({names}) is data, so there is "
                             "nothing to differentiate — declare the weights without 'data'", text, 0, 1, 1)
    reads = {a.name: set(a.uses) for a in model.assignments}
    reached, todo = set(), [model.loss.name]
    while todo:                                     # everything the loss depends on, through the lines
        for n in reads.get(todo.pop(), ()):
            if n not in reached:
                reached.add(n)
                todo.append(n)
    result = _Pass(model, convention, examples).run() if reached & set(model.parameters) else None
    if result is None or not any(g.of in model.parameters for g in result.gradients):
        loss = model.loss
        row = text.splitlines()[loss.line - 1]
        raise ChainruleError(f"line {loss.line}: the loss {loss.name} does not depend on any parameter "
                             f"({', '.join(model.parameters)}): nothing to differentiate", text, 0,
                             max(1, len(row)), loss.line)
    return result


def adjoint_names(names):
    """{name: its adjoint's name}: d<name> when that is not one of the model's own names, else
    grad_<name> (then grad_<name>_, …) — course code passes upstream gradients in as data called dout
    or da_next, and those stay the user's, never an adjoint's."""
    taken, out = set(names), {}
    for n in names:
        a = "d" + n
        if a in taken:
            a = "grad_" + n
            while a in taken:
                a += "_"
        out[n] = a
        taken.add(a)
    return out


class _Pass:
    def __init__(self, model, convention, examples=None):
        self.model = model
        self.shapes = model.shapes()
        self.lowered = {a.name: self._lower(a.tree) for a in model.assignments}     # each one once
        # a line that reads no array (num_train = X.shape[0]) is a constant: written into its readers
        self.constants = [a.name for a in model.assignments[:-1] if not _reads_arrays(self.lowered[a.name][0])]
        self.trees = {a.name: _inline_all(a.tree, {c: model.assignment(c).tree for c in self.constants})
                      for a in model.assignments}
        self.fused, fused_loss = self._fused()
        self.summed_away = self._summed_away()
        self.steps = [a for a in model.assignments if a.name not in self.fused and a.name not in self.constants
                      and a.name not in self.summed_away]
        self.lowered_steps = {a.name: self.lowered[a.name] if self.trees[a.name] is a.tree else
                              self._lower(self.trees[a.name]) for a in self.steps}
        loss = model.loss
        if self.fused:
            self.trees[loss.name] = fused_loss
            self.lowered_steps[loss.name] = self._lower(self.trees[loss.name])
        self.uses = {n: [x for x in dict.fromkeys(x.id for x in S.names(tree)) if x in self.shapes]
                     for n, tree in self.trees.items()}
        self.position = {a.name: k for k, a in enumerate(model.assignments)}
        self.examples_given = examples
        self.example_dim, self.example_reason = _example_dim(model, self.lowered_steps[loss.name][0], examples)
        self.convention = convention
        self.adjoint_names = adjoint_names(self.shapes)
        self.course = convention == "course" and self.example_dim is not None
        # a onehot array has one 1 per example: its columns sum to 1 (n_y, m), or its rows (N, C)
        per_example = self.example_dim or _data_axis(model)     # a sum, not an average, still has examples
        self.onehot_axis = {n: 1 if len(d.shape) == 2 and d.shape[0] == per_example else 0
                            for n, d in model.declarations.items() if "onehot" in d.properties}
        self.forms = self._forward_forms()

    def _fused(self):
        """The lines folded into the loss (no adjoint of their own), and the loss with them inlined: a
        line the loss reads only linearly with a constant factor (logprobs in −Σ logprobs / m, each part
        of cost = cross_entropy_cost + L2_regularization_cost: its adjoint would be a placeholder 𝟏𝟏ᵀ),
        and an activation read only by the loss (J∘σ: sigmoid + cross-entropy gives dZ2 = A2 − Y) —
        repeated, so that folding the parts of a split cost exposes the activation inside."""
        loss = self.model.loss
        steps = [a for a in self.model.assignments[:-1] if a.name not in self.constants]
        tree, out, activations = self.trees[loss.name], [], set()
        reads = self._reads(steps)
        changed = True
        while changed:
            changed = False
            in_loss = {x.id for x in S.names(tree)}
            for a in steps:
                if a.name in out or a.name not in in_loss or \
                        any(a.name in reads[b.name] for b in steps if b.name not in out):
                    continue
                if any(a.name in reads[b] for b in activations):         # one activation deep, no more
                    continue
                if self.is_activation_line(a) or self._linear_in(tree, a.name):
                    if self.is_activation_line(a):
                        activations.add(a.name)
                    out.append(a.name)
                    tree = inline(tree, {a.name: self.trees[a.name]})
                    changed = True
                    break
        return out, tree

    def _summed_away(self):
        """Lines whose one reader sums every entry of them (s = a_slice * W; Z = np.sum(s) + b): their
        adjoint is the reader's broadcast to every entry, a placeholder dZ 𝟏𝟏ᵀ, so the line is written
        into its reader and gets no adjoint of its own (dW = dZ a_slice, as the course writes it).
        Returns {folded name: its reader}."""
        steps = [a for a in self.model.assignments[:-1] if a.name not in self.constants and a.name not in self.fused]
        lines = [b for b in self.model.assignments if b.name not in self.fused]
        reads = self._reads(lines)
        out = {}
        for a in steps:
            if not self.shapes[a.name]:
                continue                                   # a scalar's adjoint is no placeholder
            readers = [b for b in lines if b.name not in out and b is not a and a.name in reads[b.name]]
            if len(readers) != 1 or readers[0] is self.model.loss and self.fused:
                continue
            b = readers[0]
            tree = self.trees[b.name]
            if _summed_whole((self.lowered[b.name] if tree is b.tree else self._lower(tree))[0], a.name):
                out[a.name] = b.name
                self.trees[b.name] = inline(self.trees[b.name], {a.name: self.trees[a.name]})
                reads[b.name] = (reads[b.name] - {a.name}) | reads[a.name]
        return out

    def _reads(self, lines):
        """{line: the names its tree in `trees` reads}."""
        return {a.name: {x.id for x in S.names(self.trees[a.name])} for a in lines}

    def is_activation_line(self, a):
        """Is the line an activation f(…) — softmax as written, or read off its index form, so that
        1 / (1 + np.exp(-Z)) is σ(Z)?"""
        if isinstance(a.tree, S.Call) and FUNCTIONS[a.tree.fn].activation:
            return True
        atom = T.single_atom(self.lowered[a.name][0])
        return isinstance(atom, T.Func) and bool(ELEMENTWISE[atom.name].activation) and not atom.params

    def _linear_in(self, tree, name):
        """Does the loss `tree` read `name` only as c·name or c·Σ name, c a constant (or dimensions)?"""
        expr, _ = self._lower(tree)
        if not any(isinstance(a, T.Var) and a.name == name for t in expr.terms for a, _ in t.factors):
            return False                       # not read at all once simplified (log(Z * 0)): kept
        for t in expr.terms:
            direct = [a for a, e in t.factors if isinstance(a, T.Var) and a.name == name and e == 1]
            if len(direct) > 1 or any(_mentions(a, name) for a, _ in t.factors if a not in direct):
                return False
            if direct and any(not (isinstance(a, T.Var) and a.is_dim) for a, _ in t.factors if a not in direct):
                return False
        return True

    def _lower(self, tree):
        if "_dims" not in self.__dict__:
            self._dims = {d for shape in self.shapes.values() for d in shape if isinstance(d, str)}
        checker = ShapeChecker(self.shapes, FUNCTIONS, self._dims)
        checker.check(tree)
        return Lowering(checker).visit(tree)

    def _forward_forms(self):
        """Matrix form of every forward value, so that results can name it (tanh(Z1) → A1)."""
        forms = {}
        for a in self.model.assignments[:-1]:
            expr, idx = self.lowered[a.name]
            try:
                forms[canon(to_matrix(expr, tuple(idx)))] = a
            except NoMatrixForm:
                pass
        return forms

    def sizes(self, values):
        dims = {}
        for name, d in self.model.declarations.items():
            if name not in values:
                raise ChainruleError(f"no value for {name}: give every declared name a value")
            got = np.shape(values[name])
            if len(got) != len(d.shape):
                raise ChainruleError(f"{name} is declared {fmt_shape(d.shape)} but its value has shape {got}")
            for dim, n in zip(d.shape, got):
                want = dims.setdefault(dim, n) if isinstance(dim, str) else dim
                if want != n:
                    raise ChainruleError(f"{name} has shape {got}, but {dim} is {want} elsewhere")
        return dims

    def forward(self, values, dims=None, after=None):
        """The assignments evaluated in order from their lowered forms (never lowered again); with
        `after`, only those after that assignment (`values` holds it and everything before it)."""
        dims = self.sizes(values) if dims is None else dims
        env = dict(values)
        start = 0 if after is None else self.position[after] + 1
        for a in self.model.assignments[start:]:
            expr, idx = self.lowered[a.name]
            value = evaluate(expr, tuple(idx), env, dims)
            env[a.name] = value if value.shape else float(value)
        return env

    def scale(self, name):
        shape = self.shapes[name]
        return self.example_dim if self.course and self.example_dim in shape and \
            name not in self.model.parameters else None

    def run(self):
        gradients, done = [], set()
        consumers = {n: [s.name for s in self.steps if n in self.uses[s.name]] for n in self.shapes}
        order = list(reversed(self.steps))
        for k, step in enumerate(order):
            if step is not self.model.loss:
                gradients.append(self.adjoint(step.name, consumers[step.name]))
                done.add(step.name)
            for p in self.uses[step.name]:
                if p in self.model.parameters and p not in done and \
                        all(c in {s.name for s in order[:k + 1]} for c in consumers[p]):
                    gradients.append(self.adjoint(p, consumers[p]))
                    done.add(p)
        convention = self.convention if self.course or self.convention == "strict" else "strict"
        return Backprop(self, gradients, convention, self._note())

    def _note(self):
        m, J = self.example_dim, self.model.loss.name
        if self.course:
            return (f"the loss averages over the {m} examples — {self.example_reason} — so per-example adjoints "
                    f"such as dZ are {m}·∂{J}/∂Z, without the 1/{m}, which appears where examples are summed, in "
                    "dW and db")
        if self.convention == "course" and self.examples_given:
            return (f"the loss does not average over {self.examples_given} (it does not divide every term by it), "
                    f"so every adjoint is exactly ∂{J}/∂(name)")
        if self.convention == "course":
            return f"the loss is not an average over examples, so every adjoint is exactly ∂{J}/∂(name)"
        return f"every adjoint is exactly ∂{J}/∂(name)"

    def vjp(self, name, readers, hint="pq"):
        """Σ over readers of dR : ∂R/∂name (the loss contributes ∂J/∂name), scaled by the convention.
        `readers` are (reader name, (lowered expression, its indices)). Returns (total, indices, trace)."""
        p = fresh_idx(self.shapes[name], hint)
        trace = Trace()
        total = T.ZERO
        s = self.scale(name)
        for r, (expr, idx) in readers:
            d = diff(expr, name, p, trace)
            total = total + self._contribution(trace, name, p, r, idx, d, s)
        from .derivation import drop_unit_deltas, use_onehot
        return use_onehot(drop_unit_deltas(total), self.onehot_axis), p, trace

    def _contribution(self, trace, name, p, r, idx, d, s):
        """The term reader R adds to d{name}, from d = ∂R/∂name: dR contracted with d (the loss: d
        itself), scaled by the convention (× s, the name's scale; ÷ R's). Recorded in the trace."""
        unit = lambda n: T.var(n, (), is_dim=True)                   # noqa: E731
        if r == self.model.loss.name:
            if s is None:
                return d
            after = d * unit(s)
            trace.record("course convention", f"{self.adjoint_names[name]} = {s}·∂{r}/∂{name}", d, after, name,
                         p, derivative=False)
            return after
        dr = self.adjoint_names[r]
        after = (d * T.var(dr, idx)).sum_over(idx)
        sr = self.scale(r)
        if sr is not None:
            after = after * T.power(unit(sr), -1)
        if s is not None:
            after = after * unit(s)
        scales = tuple((T.Var(n, (), True), e) for n, e in ((sr, -1), (s, 1)) if n is not None and sr != s)
        before = T.Expr([T.Term(Fraction(1), ((T.Var(dr, tuple(idx)), 1), (T.Group(d, True), 1)) + scales,
                                frozenset(idx))])
        trace.record("vector-Jacobian product", "dN[p] = Σ over N's readers R of Σᵢ dR[i] ∂R[i]/∂N[p]", before,
                     after, name, p, derivative=False)
        return after

    def adjoint(self, name, readers):
        try:
            return self._adjoint(name, readers)
        except ChainruleError as e:                 # the algebra's own errors (the work budget): at name's line
            if e.start is not None:
                raise
            decl = self.model.declarations.get(name)
            line = decl.line if decl else next(a.line for a in self.model.assignments if a.name == name)
            row = self.model.text.splitlines()[line - 1]
            raise ChainruleError(f"line {line}: deriving {self.adjoint_names[name]}: {e.message}", self.model.text, 0, max(1, len(row)),
                                 line, e.hint, kind=e.kind) from None

    def _adjoint(self, name, readers):
        shape, s = self.shapes[name], self.scale(name)
        total, p, trace = self.vjp(name, [(r, self.lowered_steps[r]) for r in readers])
        total = fold_values(total, self.definitions())
        log = []
        m, matrix_form = self.matrix(total, p, name, log)
        return Gradient(self.adjoint_names[name], name, CourseTextPrinter()(m), to_latex(m), to_numpy(m), shape,
                        s or "1", matrix_form, total, trace, m, tuple(p), log)

    def definitions(self):
        """The forward values an adjoint may be written with, as fold_values takes them: every line
        before the loss but plain renamings and activations (dmu may read mu: Σ Z1 / m is mu there too)."""
        if "_defs" not in self.__dict__:
            self._defs = Definitions([(a.name, *self.lowered[a.name]) for a in self.model.assignments[:-1]
                                      if a.name not in self.constants and not _alias(self.lowered[a.name][0])])
        return self._defs

    def matrix(self, total, p, name, log=None):
        """An adjoint's index form in matrix notation as the course writes it: forward values by name,
        the adjoint first in an element-wise product. Returns (matrix, whether a matrix form exists)."""
        try:
            m, matrix_form = to_matrix(total, p, log), True
        except NoMatrixForm:
            m, matrix_form = to_einsum(total, p), False
        adjoints = set(self.adjoint_names.values())
        m = mat_map(mat_map(m, self._name_forward_values(name)), factor_transposes)
        return mat_map(m, lambda n: _adjoints_first(n, adjoints)), matrix_form

    def _name_forward_values(self, current):
        def rewrite(node):
            a = self.forms.get(canon(node)) if node.ndim else None
            if a is not None and a.shape == node.shape and a.name != current:
                return MVar(a.name, a.shape)
            if isinstance(node, MFunc) and node.ndim and ELEMENTWISE[node.name].style == "indicator" and \
                    ELEMENTWISE[node.name].op == ">" and not isinstance(node.x, MVar):
                # [z > 0] is [h > 0] for a named h = relu(z) when z has no name of its own (Z2 > 0 stays)
                h = self.forms.get(canon(MFunc("relu", node.x, ())))
                if h is not None and h.shape == node.shape and h.name != current:
                    return MFunc(node.name, MVar(h.name, h.shape), node.params)
            return node
        return rewrite


def _adjoints_first(node, adjoints):
    """dA1 ⊙ (1 − A1²), W2ᵀ dZ2 ⊙ g′(Z1): in an element-wise product the factors carrying an adjoint
    come first, as the course writes them."""
    from ..core.matrix import MHad
    if isinstance(node, MHad):
        has = [_has_adjoint(f, adjoints) for f in node.factors]
        if any(has) and not has[0]:
            order = [f for f, a in zip(node.factors, has) if a] + [f for f, a in zip(node.factors, has) if not a]
            return MHad(tuple(order), node.shape)
    return node


def _has_adjoint(node, adjoints):
    found = []
    mat_map(node, lambda n: found.append(n) or n if isinstance(n, MVar) and n.name in adjoints
            and n.ndim > 0 else n)
    return bool(found)


def _mentions(atom, name):
    """Does an index-form atom read the array `name` anywhere inside?"""
    if isinstance(atom, T.Var):
        return atom.name == name
    inner = getattr(atom, "arg", None) or getattr(atom, "expr", None)
    return inner is not None and any(_mentions(a, name) for t in inner.terms for a, _ in t.factors)


def _alias(expr):
    """A line that only renames one array (dout = upstream), or applies an activation to one (named
    back after conversion, where σ(z) ⊙ σ(−z) first reads as σ(z) ⊙ (1 − σ(z))): nothing to fold back."""
    atom = T.single_atom(expr)
    return isinstance(atom, T.Var) or (isinstance(atom, T.Func) and bool(ELEMENTWISE[atom.name].activation))


def _summed_whole(expr, name):
    """Is `name` read in `expr` only whole-summed: in each term that reads it, once, every index
    summed and carried by no other factor (so ∂expr/∂name is the same for every entry)?"""
    seen = False
    for t in expr.terms:
        direct = [a for a, e in t.factors if isinstance(a, T.Var) and a.name == name]
        if any(_mentions(a, name) for a, _ in t.factors if a not in direct):
            return False
        if not direct:
            continue
        if len(direct) > 1 or dict(t.factors)[direct[0]] != 1:
            return False
        idx = set(direct[0].idx)
        if not idx <= set(t.summed) or any(idx & set(a.free) for a, _ in t.factors if a is not direct[0]):
            return False
        seen = True
    return seen


def _reads_arrays(expr):
    """Does an index-form expression read any array (not only numbers and dimensions)?"""
    def atom_reads(a):
        if isinstance(a, T.Var):
            return not a.is_dim
        inner = getattr(a, "arg", None) or getattr(a, "expr", None)
        return inner is None or _reads_arrays(inner)
    return any(atom_reads(a) for t in expr.terms for a, _ in t.factors)


def _inline_all(node, mapping):
    """`inline` until none of mapping's names is left (a constant may read another)."""
    while mapping and any(x.id in mapping for x in S.names(node)):
        node = inline(node, mapping)
    return node


def inline(node, mapping):
    """The tree with names replaced by other trees (an activation folded into the loss)."""
    if isinstance(node, S.Name) and node.id in mapping:
        return mapping[node.id]
    changes = {}
    for f in ("operand", "left", "right"):
        child = getattr(node, f, None)
        if child is not None:
            changes[f] = inline(child, mapping)
    if isinstance(node, S.Call):
        changes["args"] = tuple(inline(a, mapping) for a in node.args)
    return dataclasses.replace(node, **changes) if changes else node


def _data_axis(model):
    """The examples axis read off the data alone (for a loss that sums rather than averages)."""
    return _pick_axis(model, {x for d in model.declarations.values() for x in d.shape if isinstance(x, str)})[0]


def _example_dim(model, loss_expr, given=None):
    """(the examples axis, why): a dimension the loss divides by in every term that reads data — the one
    the user names, else the data's: an axis of the data that no parameter has (weights are per feature, never
    per example), preferring one every data array shares; a tie goes to the first data matrix's first
    axis in the row layout (N, d: d is a weight's), else to its last (the course's n_x, m)."""
    candidates = None
    per_example = [n for n, d in model.declarations.items() if d.is_data and d.shape] + \
        [a.name for a in model.assignments]
    for t in loss_expr.terms:          # the terms that read data or values (a penalty reg·Σ W² need not average)
        if not any(_mentions(a, n) for a, _ in t.factors for n in per_example):
            continue
        divides = {a.name for a, e in t.factors if isinstance(a, T.Var) and a.is_dim and e < 0}
        candidates = divides if candidates is None else candidates & divides
    candidates = candidates or set()
    if given is not None:
        return (given, "as you named it") if given in candidates else (None, "")
    if not candidates:
        return None, ""
    return _pick_axis(model, candidates)


def _pick_axis(model, candidates):
    """(the examples axis among `candidates`, why), from the data and parameters (see _example_dim)."""
    data = [d.shape for d in model.declarations.values() if d.is_data and d.shape]
    weights = {x for d in model.declarations.values() if not d.is_data for x in d.shape}
    shared = set.intersection(*(set(s) for s in data)) if data else set()
    every = set().union(*(set(s) for s in data)) if data else set()
    pools = ((shared - weights, "an axis all the data share and no parameter has"),
             (every - weights, "an axis of the data that no parameter has"),
             (shared, "an axis all the data share"), (every, "an axis of the data"),
             (candidates, "the dimension the loss divides by"))
    first = next((s for s in data if len(s) == 2), ())
    for pool, why in pools:
        found = candidates & pool
        if len(found) == 1:
            return found.pop(), why
        if found:
            row_layout = bool(first) and first[0] in found and first[1] in weights
            pick = first[0] if row_layout else next((d for d in reversed(first) if d in found), sorted(found)[0])
            return pick, why
    return None, ""
