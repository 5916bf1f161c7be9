"""The toy example, the mentor's way, built by the engine (tutor/entries.py; no SymPy): every
dimension 2, the equations as named scalars, one entry followed along every path of the scalar
chain rule with each local derivative worked out, every entry the same way, the matrix form read
off the entries alone (entries.read_off), then confirmed against the engine's formula with numbers."""
import re

import numpy as np

from ..core import tensor as T
from ..core.differentiate import diff
from ..core.fold import substitute_index
from ..lang.lower import fresh_idx
from ..render import document as D
from ..render.index_notation import IndexLatexPrinter, IndexPrinter
from ..render.printing import CourseTextPrinter, latex_name, to_latex
from ..core.rules import ELEMENTWISE
from .entries import TOY_SIZE, Toy, read_off

TOY_MAX_DIM = 4          # a toy example keeps numeric dimensions up to this size
TOY_MAX_ENTRIES = 160    # and at most this many scalar entries in all (an LSTM cell at size 2: 80)
TOY_MAX_DEPTH = 12       # functions nested in an expression's scalar function (a person follows a few)
TOY_MAX_PATHS = 16       # paths of the scalar chain rule followed for one entry
TOY_WORK = 12_000        # algebra steps of one toy example (its own budget: giving up leaves the rest)
SHOWN_LINES = 12         # scalar equations listed


def size_guard(shapes):
    """The toy example is for small matrices: fixed sizes (declared as numbers) are kept, so say so when
    they are too large to expand by hand."""
    big = [(n, s) for n, s in shapes.items() if any(d > TOY_MAX_DIM for d in s)]
    total = sum(int(np.prod(s)) if s else 1 for s in shapes.values())
    if big or total > TOY_MAX_ENTRIES:
        what = f"{big[0][0]} is {'×'.join(map(str, big[0][1]))}" if big else f"{total} scalar entries"
        raise NotImplementedError(f"the toy example expands dimensions of at most {TOY_MAX_DIM} and at most "
                                  f"{TOY_MAX_ENTRIES} entries; here {what}")


class ScalarPrinter(IndexPrinter):
    """Scalars as the course writes them by hand: y_11/a2_11, exp(z)/(exp(z) + …), (z1_11 > 0), a
    positive term first (a2_11 − y_11)."""
    JOIN = " "                   # between a product's factors ("·" where numbers stand for the names)

    def coef_text(self, c):
        """0.01 as the course writes a slope, not (1/100): a power of ten below it in decimals."""
        d = c.denominator
        if 1 < d <= 10_000 and 10 ** (len(str(d)) - 1) == d:
            return f"{float(c):g}"
        return super().coef_text(c)

    def indicator(self, inner, op):
        if inner.startswith(self.MINUS) and " + " not in inner and f" {self.MINUS} " not in inner:
            return f"({inner[1:]} {'≤' if op == '>=' else '<'} 0)"               # (z1_11 ≤ 0), not (−z1_11 ≥ 0)
        return f"({inner} {op.replace('>=', '≥')} 0)"

    def expr(self, e):
        terms = list(e.terms)
        if not terms:
            return "0"
        k = next((k for k, t in enumerate(terms) if t.coef > 0), 0)
        return super().expr(T.Expr([terms[k]] + terms[:k] + terms[k + 1:]))

    def term(self, t):
        T.spend(0.25 + len(t.factors) / 32)
        front = [(a, e) for a, e in t.factors if isinstance(a, T.Var) and a.is_dim and e == -1]
        rest = [(a, e) for a, e in t.factors if (a, e) not in front]
        num = [self.factor(a, e) for a, e in rest if e > 0]
        den = [self.factor(a, -e) for a, e in rest if e < 0]
        coef = abs(t.coef)
        front_text = [] if coef == 1 else [self.coef_text(coef)]             # 1e-8 as written, (1/2)
        if len(front) == 1 and coef != 1 and coef.denominator == 1:          # (2/m), not (1/m) 2
            front_text, front = [f"({coef.numerator}/{front[0][0].name})"], []
        body = self.JOIN.join(num)
        if den:
            body = (body or "1") + "/" + (den[0] if len(den) == 1 else "(" + self.JOIN.join(den) + ")")
        body = self.JOIN.join([self.over_dim(a.name) for a, _ in front] + front_text + ([body] if body else [])) or "1"
        return (self.MINUS if t.coef < 0 else "") + body


class _DotPrinter(ScalarPrinter):
    JOIN = " · "


def scalar_text(e, printer=ScalarPrinter):
    return printer((), ()).expr(e)


def number(v):
    """A number as the text shows it: 6 significant digits, a real minus sign (and no −0)."""
    return f"{v:.6g}".replace("-", "−") if abs(v) > 1e-15 else "0"


def _factor_text(e):
    s = factored_text(e)
    product = len(e.terms) > 1 and s != scalar_text(e)                        # (2/m)(z1_11 − mu_1)
    return f"({s})" if (len(e.terms) > 1 and not product) or s.startswith("−") else s


def factored_text(e, printer=ScalarPrinter):
    """A scalar sum with the factors common to every term taken out: (w2_11 dz2_11 + w2_21 dz2_21)(1 − a1_11²)."""
    if len(e.terms) < 2:
        return scalar_text(e, printer)
    keys = [{a.key(): (a, x) for a, x in t.factors} for t in e.terms]
    common = [k for k in keys[0] if all(k in ks and ks[k][1] == keys[0][k][1] for ks in keys[1:])]
    c = abs(e.terms[0].coef)
    c = c if c != 1 and all(abs(t.coef) == c for t in e.terms) else 1          # 2(z1_11 − mu_1)
    if not common and c == 1:
        return scalar_text(e, printer)
    rest = T.Expr.make([T.Term.make(t.coef / c, [f for f in t.factors if f[0].key() not in common]) for t in e.terms])
    taken = T.Expr([T.Term.make(c, [keys[0][k] for k in common])])
    if not common:
        return f"{scalar_text(taken, printer)}{printer.JOIN.strip()}({scalar_text(rest, printer)})"
    if all(isinstance(keys[0][k][0], T.Var) and not keys[0][k][0].free and keys[0][k][0].is_dim for k in common):
        return scalar_text(taken, printer) + printer.JOIN.strip() + f"({scalar_text(rest, printer)})"              # (1/m)(…), (2/m)(…): the course's order
    return f"({scalar_text(rest, printer)}){printer.JOIN}" + scalar_text(taken, printer)


def _entry_label(values, idx):
    shown = [str(v + 1) for v, i in zip(values, idx) if not (isinstance(i.dim, int) and i.dim == 1)]
    return "[" + ", ".join(shown) + "]" if shown else ""


def _matrix_text(a):
    a = np.asarray(a, dtype=float)
    num = lambda v: f"{v:.3g}".replace("-", "−") if v != 0 else "0"     # noqa: E731
    if a.ndim == 0:
        return num(a)
    if a.ndim == 1:
        return "[" + ", ".join(num(v) for v in a) + "]"
    return "[" + ", ".join("[" + ", ".join(num(v) for v in row) + "]" for row in a) + "]"


def toy_values(result, dims, seed=3, show=()):
    """Data at toy sizes drawn in each name's domain, the forward values the model computes from them
    and every adjoint (its matrix form evaluated): the numbers of the toy's check. A draw whose labels
    are all 0 (or all 1), or where an adjoint in `show` is 0 everywhere (every ReLU off), is drawn again;
    a hyperparameter (lambd, keep_prob) is drawn in (0, 1)."""
    from ..numeric.checks import model_values, sample_model
    model = result.model
    labels = [n for n, d in model.declarations.items() if {"binary", "onehot"} & d.properties and d.shape]
    for attempt in range(8):
        rng = np.random.default_rng(seed + 101 * attempt)
        data = sample_model(model, dims, rng, 0.5, result.onehot_axis)
        for n, d in model.declarations.items():
            if not d.shape and not (d.properties - {"data"}):
                data[n] = float(rng.uniform(0.1, 0.9))
        values = model_values(result, data, dims)
        if all(np.ptp(data[n]) > 0 for n in labels) and all(np.any(np.abs(values[n]) > 1e-9) for n in show):
            break
    return values


def naming(toy, names):
    """How entries are named, on the first two arrays: w2_21 is row 2, column 1 of W2; b2_2 is entry 2."""
    out = []
    for n in names:
        shape = toy.shape(n) if n in toy.shapes else ()
        long = [k for k, s in enumerate(shape) if s > 1]
        if len(long) == 2:
            out.append(f"{toy.name(n, (1, 0))} is row 2, column 1 of {n}")
        elif len(long) == 1:
            out.append(f"{toy.name(n, tuple(1 if k == long[0] else 0 for k in range(len(shape))))} is entry 2 of {n}")
        if len(out) == 2:
            break
    return "; ".join(out) or "each scalar keeps its name"


class ModelToy:
    """The toy example of one adjoint of a model (x: tutor.mentor's explanation of it)."""

    def __init__(self, x):
        self.x, self.result, self.g = x, x.result, x.g
        shapes = x.result.shapes
        self.toy = Toy({**{x.adj[n]: s for n, s in shapes.items() if x.adj.get(n) and x.adj[n] not in shapes},
                        **shapes})
        size_guard({n: self.toy.shape(n) for n in x._involved() if n in self.toy.shapes})
        self.head_scale = x.result.scale(self.g.of)
        self._locals, self._paths = {}, {}
        self._forms = None       # forward values' entries by their scalar form (folded)
        self.relies = False      # the simplified entries hold for the model's values only (one-hot Y, a mean)

    # -- the scalar chain rule, path by path --------------------------------------------------
    def chains(self):
        """(head, links): links [(u, v), …] from the head's equation down to the target, and the head —
        ('adjoint', R) for a reader whose adjoint is known, ('loss', v) for the loss read directly."""
        x, z = self.x, self.g.of
        loss = self.result.model.loss
        out = []
        if x.up:
            a = x.act.step.name
            out += [(("loss", a), [(a, z)]) if q is loss else (("adjoint", q.name), [(q.name, a), (a, z)])
                    for q in x.through]                                      # (J = … + Σ A1²: the loss reads A)
            rest = [r for r in x.readers if r not in x.through]
        else:
            rest = x.readers
        for r in rest:
            if r is loss:
                folded = x._folded_activation()
                out.append((("loss", folded.name), [(folded.name, z)]) if folded is not None else (("loss", z), []))
            else:
                out.append((("adjoint", r.name), [(r.name, z)]))
        return out

    def folded(self, e):
        """A scalar expression with the model's forward values written by their entry names, as the
        matrix form names them: relu(e_11 w2_1 + …) is energies_1, and (e_11 w2_1 + … > 0) is
        (energies_1 > 0) where that sum has no name of its own."""
        if self._forms is None:
            self._forms, self._relu_args = {}, {}
            for a in self.result.model.assignments[:-1]:
                if a.name == self.g.of or a.name not in self.toy.shapes:
                    continue
                expr, idx = self.result.lowered[a.name]
                for at in self.toy.entries(a.name):
                    rhs = self.toy.at(expr, dict(zip(idx, at)))
                    if len(rhs.terms) == 1 and rhs.terms[0].coef == 1 and len(rhs.terms[0].factors) == 1 \
                            and rhs.terms[0].factors[0][1] == 1 and not isinstance(rhs.terms[0].factors[0][0], T.Var):
                        atom = rhs.terms[0].factors[0][0]
                        self._forms[atom.key()] = self.toy.scalar(a.name, at)
                        if isinstance(atom, T.Func) and atom.name == "relu":
                            self._relu_args[atom.arg.key()] = self.toy.scalar(a.name, at)
        if not self._forms:
            return e
        return _map_atoms(e, self._fold_atom)

    def _fold_atom(self, a):
        named = self._forms.get(a.key())
        if named is not None:
            return named
        bare = len(a.arg.terms) == 1 and len(a.arg.terms[0].factors) == 1 and \
            isinstance(a.arg.terms[0].factors[0][0], T.Var) if isinstance(a, T.Func) else True   # (z1_11 > 0) stays
        if not bare and ELEMENTWISE[a.name].style == "indicator" and a.arg.key() in self._relu_args:
            h = self._relu_args[a.arg.key()]
            return T.Func(a.name, T.Expr([T.Term.make(1, [(h, 1)])]), a.params)
        return None

    def _local(self, u, v, raw=False):
        """∂u/∂v in index form, forward values by name (folded: Σ_j (Z1 − mu) is 0 where mu is Z1's
        mean), or `raw`, as differentiated."""
        if (u, v, raw) not in self._locals:
            expr, idx = self.result.lowered_steps.get(u) or self.result.lowered[u]
            p = fresh_idx(self.result.shapes[v], "pq")
            d = diff(expr, v, p)
            self._locals[(u, v, raw)] = d if raw else self.x._named(d), tuple(idx), p
        return self._locals[(u, v, raw)]

    def _head(self, head, at):
        """The path's first factor at entry `at` of its name, in the target's convention, and its ∂ text."""
        kind, name = head
        loss = self.result.model.loss.name
        partial = f"∂{loss}/∂{self.toy.name(name, at)}"
        if kind == "loss" and name == self.g.of:
            partial = f"(∂{loss}/∂{self.toy.name(name, at)} directly)"          # the term of J that reads it
        if kind == "adjoint":
            scale = self.result.scale(name)
            factor = T.Expr([T.Term.make(1, [(self.toy.scalar(self.x.adj[name], at), 1)])])
            if scale != self.head_scale:
                ratio = [(T.Var(s, (), True), e) for s, e in ((self.head_scale, 1), (scale, -1)) if s]
                factor = T.Expr([T.Term.make(1, ratio)]) * factor                    # m dmu_1: the scale first
            return factor, partial
        folded = self.x._folded_activation()
        if folded is not None and folded.name == name:
            d, p = self.result.folded_adjoint(folded, self.g.of)
        else:
            J, _ = self.result.lowered_steps.get(loss) or self.result.lowered[loss]
            p = fresh_idx(self.result.shapes[name], "pq")
            d = diff(J, name, p) * (T.var(self.head_scale, (), is_dim=True) if self.head_scale else T.const(1))
        return self.folded(self.toy.at(self.x._named(d), dict(zip(p, at)))), partial

    def paths(self, at):
        """Every path of the scalar chain rule from the target's entry `at` to the loss: a list of
        (∂ texts, factors), factors as scalar expressions, the head first."""
        if at not in self._paths:
            self._paths[at] = self._paths_from(at)
        return self._paths[at]

    def _paths_from(self, at):
        out = []
        for head, links in self.chains():
            states = [([], [], at)]                  # (∂ texts, factors, the entry reached), from the target up
            for u, v in reversed(links):
                d, idx, p = self._local(u, v)
                nxt = []
                for texts, factors, e_v in states:
                    for e_u in self.toy.entries(u):
                        f = self.folded(self.toy.at(d, {**dict(zip(idx, e_u)), **dict(zip(p, e_v))}))
                        if not f.terms:       # 0 only for the model's values (a mean's deviations): show it
                            raw, ridx, rp = self._local(u, v, raw=True)
                            f = self.folded(self.toy.at(raw, {**dict(zip(ridx, e_u)), **dict(zip(rp, e_v))}))
                        if f.terms:
                            nxt.append(([f"∂{self.toy.name(u, e_u)}/∂{self.toy.name(v, e_v)}"] + texts,
                                        [f] + factors, e_u))
                states = nxt
                if len(states) > TOY_MAX_PATHS:
                    raise NotImplementedError(f"an entry reaches the loss along more than {TOY_MAX_PATHS} paths, "
                                              "too many to follow by hand")
            for texts, factors, e in states:
                f, partial = self._head(head, e)
                if f.terms:
                    out.append(([partial] + texts, [f] + factors))
        return out

    def entry(self, at):
        """One entry of the target's adjoint: the sum over its paths of their products."""
        total = T.Expr([])
        for _, factors in self.paths(at):
            prod = factors[0]
            for f in factors[1:]:
                prod = prod * f
            total = total + prod
        return total

    # -- the section --------------------------------------------------------------------------
    def blocks(self):
        g, toy = self.g, self.toy
        idx = tuple(g.idx)
        target = g.of
        entries = {e: self.entry(e) for e in toy.entries(target)}
        first = toy.entries(target)[0]
        simpler = self._simplified(entries)
        dims = sorted(toy.dims)
        blocks = [D.Para("Make it small: take " + (", ".join(f"{d} = {TOY_SIZE}" for d in dims) or "the sizes as declared")
                         + f" (no size above {TOY_SIZE}). Name every entry: " + self._naming() + "."),
                  D.Para("Write the equations as scalars:"), self._equations()]
        paths = self.paths(first)
        var, lhs = toy.name(target, first), toy.name(g.name, first)
        loss = self.result.model.loss.name
        blocks.append(D.Para(f"Follow one entry. {self._reach(first)} The scalar chain rule sums over "
                             + (f"those {len(paths)} paths:" if len(paths) > 1 else "that one path:")))
        pad = " " * len(lhs)
        chain_line = f"∂{loss}/∂{var} = " + "  +  ".join(" · ".join(t) for t, _ in paths)
        worked = f"{lhs} = " + "  +  ".join(" · ".join(_factor_text(f) for f in fs) for _, fs in paths)
        lines = [chain_line, worked]
        spread = _term_by_term(paths)
        if spread is not None:
            lines.append(f"{pad} = {spread}")
        collected = factored_text(entries[first])
        if collected != worked.split(" = ", 1)[1] and (simpler is None or "/" not in collected):
            lines.append(f"{pad} = {collected}")
        if simpler is not None and scalar_text(simpler[first]) != scalar_text(entries[first]):
            lines.append(f"{pad} = {factored_text(simpler[first])}")
        blocks += [D.Code("\n".join(lines)), D.Para(self._notes(first))]
        if simpler is not None and self.relies:
            blocks.append(D.Para("The last step holds for the values the model computes, not for any numbers: "
                                 + self._relation() + "."))
        shown = simpler or entries
        if len(shown) > 1:
            blocks += [D.Para("Do both the same way:" if len(shown) == 2 else f"Do all {len(shown)} the same way:"),
                       D.Code("\n".join(f"{toy.name(g.name, e)} = {factored_text(v)}" for e, v in shown.items()))]
        blocks += self._read_off(shown, idx)
        return blocks

    def _naming(self):
        return naming(self.toy, [self.g.of] + [m for m in self.x._involved() if m != self.g.of])

    def _equations(self):
        """The path's equations at every entry, each reading the names of the one before."""
        toy, lines = self.toy, []
        loss = self.result.model.loss.name
        for a in self.x.equations():
            expr, idx = self.result.lowered[a.name]
            for e in toy.entries(a.name):
                value = toy.at(expr, dict(zip(idx, e)))
                if a.name == loss and len(value.terms) > 3:
                    lines.append(self._loss_line(value))
                    continue
                lines.append(f"{toy.name(a.name, e)} = {scalar_text(value)}")
        shown = lines[:SHOWN_LINES] + ([f"… ({len(lines) - SHOWN_LINES} more the same way)"]
                                       if len(lines) > SHOWN_LINES else [])
        return D.Code("\n".join(shown))

    def _loss_line(self, value):
        """The loss's terms that read the entries the followed entry moves (the rest do not change)."""
        first = self.toy.entries(self.g.of)[0]
        moved = set()
        for texts, _ in self.paths(first):
            moved |= {t.split("/∂")[1] for t in texts[1:]} | {texts[0].split("/∂")[1]}
        near = [t for t in value.terms if moved & set(_term_names(t))]
        moved &= {n for t in value.terms for n in _term_names(t)}
        rest = len(value.terms) - len(near)
        loss = self.result.model.loss.name
        if not near:                                  # the loss reads them through a line of its own
            return f"{loss} = " + (scalar_text(value) if len(value.terms) <= 6 else
                                   scalar_text(T.Expr(value.terms[:3])) + f" + … ({len(value.terms)} terms)")
        return f"{loss} = {factored_text(T.Expr(near))}" + (f" + (the terms without {', '.join(sorted(moved))})"
                                                           if rest else "")

    def _reach(self, at):
        """Which entries the target's entry moves, link by link, read off its paths: z1_11 changes only
        a1_11; a1_11 appears in z2_11 and z2_21 (the readers of one entry together)."""
        moves = {}
        loss = self.result.model.loss.name
        for texts, _ in self.paths(at):
            for t in texts[1:]:
                u, v = t[1:].split("/∂")
                moves.setdefault(v, []).append(u)
            if texts[0].endswith("directly)"):
                moves.setdefault(self.toy.name(self.g.of, at), []).append(loss)
        words = []
        for src, reached in sorted(moves.items(), key=lambda kv: kv[0] != self.toy.name(self.g.of, at)):
            reached = list(dict.fromkeys(reached))
            names = D.and_list(reached)
            words.append(f"{src} {'appears in' if len(reached) > 1 else 'changes only'} {names}")
        return "; ".join(words) + "."

    def _notes(self, at):
        """What the symbols are: the course's adjoint entries, the activation's derivative."""
        g, toy = self.g, self.toy
        notes = []
        scale = self.head_scale
        loss = self.result.model.loss.name
        for name in dict.fromkeys(h[1] for h, _ in self.chains() if h[0] == "adjoint"):
            s, entry = self.result.scale(name), self.toy.entries(name)[0]
            d = self.x.adj[name]
            notes.append(f"{toy.name(d, entry)} = " + (f"{s}·" if s else "") + f"∂{loss}/∂{toy.name(name, entry)} is "
                         f"the course's {d} entry" + (", so each path carries 1/" + s if s and s != scale else ""))
        if scale:
            notes.append(f"the left side is multiplied by {scale}: {toy.name(g.name, at)} = {scale}·∂"
                         f"{self.result.model.loss.name}/∂{toy.name(g.of, at)}")
        line, fn = None, None
        if self.x.act is not None:
            line, fn = self.x.act.step, getattr(self.x.act.fn, "text", self.x.act.fn.name)
        elif self.x._folded_activation() is not None:            # σ folded into the loss: its derivative still
            line = self.x._folded_activation()                    # shows in the path
            expr, _ = self.result.lowered[line.name]
            atom = expr.terms[0].factors[0][0] if len(expr.terms) == 1 and len(expr.terms[0].factors) == 1 else None
            fn = ELEMENTWISE[atom.name].text if isinstance(atom, T.Func) and atom.name in ELEMENTWISE else None
        if line is not None and fn is not None and line.name in toy.shapes and \
                toy.shape(line.name) == toy.shape(g.of):                # entry by entry: the same entry of both
            d, idx, p = self._local(line.name, g.of)
            slope = self.folded(toy.at(d, {**dict(zip(idx, at)), **dict(zip(p, at))}))
            a, z = toy.name(line.name, at), toy.name(g.of, at)
            t = slope.terms[0] if len(slope.terms) == 1 else None
            if t is not None and t.coef == 1 and len(t.factors) == 1 and isinstance(t.factors[0][0], T.Group) \
                    and t.factors[0][1] == 1:
                slope = t.factors[0][0].expr                                  # 1 − a1_11², unbracketed
            text = factored_text(slope)
            if slope.terms and a in text:
                notes.append(f"{fn}′({z}) = {text}, written with {a} = {fn}({z})")
            elif slope.terms:
                notes.append(f"{fn}′({z}) = {text}" + (": 1 where that holds, 0 elsewhere" if "> 0" in text and
                                                       " + " not in text else ""))
        return "(" + "; ".join(notes) + ".)" if notes else ""

    def _relation(self):
        """What the model's values satisfy that the simplification uses."""
        onehot = [n for n in self.result.onehot_axis if n in self.x._involved()]
        if onehot:
            axis = ["column", "row"]
            return "; ".join(f"{n} is one-hot, so each {axis[self.result.onehot_axis[n]]} of it sums to 1"
                             for n in onehot)
        return "it uses how the forward values are defined (a mean's deviations sum to 0, for one)"

    def _simplified(self, entries):
        """The engine's one-step index form at each entry, where it is the same number as the paths'
        sum (the algebra collects and cancels: m·(−y/a + (1 − y)/(1 − a))·a(1 − a) = a − y); None when
        the paths' sums are already as short."""
        x, toy = self.x, self.toy
        g, up = x.g, x.up
        expr = substitute_index(g.index_expr, up.name, up.index_expr, up.idx) if up else g.index_expr
        expr = x._named(expr)
        out = {e: self.folded(toy.at(expr, dict(zip(g.idx, e)))) for e in entries}
        if all(scalar_text(out[e]) == scalar_text(entries[e]) for e in entries):
            return None
        if sum(len(scalar_text(v)) for v in out.values()) >= sum(len(scalar_text(v)) for v in entries.values()):
            return None
        same = lambda arrays: all(np.isclose(toy.value(out[e], arrays), toy.value(entries[e], arrays),   # noqa: E731
                                             rtol=1e-9, atol=1e-12) for e in entries)
        if same(toy.random_arrays(np.random.default_rng(11))):
            return out
        model = [{n: v for n, v in toy_values(self.result, dict(toy.dims), seed).items() if n in toy.shapes}
                 for seed in (3, 4)]
        if all(same(a) for a in model):       # equal for the model's own values: Y one-hot, mu the mean
            self.relies = True
            return out
        return None

    def _read_off(self, shown, idx):
        """The matrix form found from the entries alone, then compared with backprop's."""
        x, g, toy = self.x, self.g, self.toy
        found = read_off(toy, shown, idx)
        if found is None:
            return [D.Para(f"No single index pattern gives every entry here, so the matrix form is not read off "
                           f"the entries; backprop's {g.name} = {x.shown} is checked against them with numbers "
                           "below.")] + self._numbers(shown, x.m)
        log = []
        m, ok = self.result.matrix_form(found, idx, g.of, log)
        text = CourseTextPrinter()(m)
        printer, latex = IndexPrinter(idx, ()), IndexLatexPrinter(idx, ())
        long = [i for i in idx if toy.size(i.dim) > 1]                      # db1[i], not db1[i,0]
        lhs = printer.indexed(g.name, [printer.name(i) for i in long])
        blocks = [D.Para("Find the matrix form that gives every entry. All of them follow one pattern:"),
                  D.Math(f"{lhs} = {printer.expr(found)}",
                         f"{latex.indexed(latex_name(g.name), [latex.name(i) for i in long])} = {latex.expr(found)}")]
        unit = _unit_sums(found)
        if unit:
            blocks.append(D.Para(f"({D.and_list(unit)} share an index of size 1 here (printed 0): the sum over it has a "
                                 "single term, and their product is an outer product.)"))
        if not ok:
            return blocks + [D.Para("It has no matrix form (more than two free indices).")]
        blocks += [D.Para("Read back as matrix operations:"),
                   D.Items([f"{rule}: {detail}" for rule, detail in log] or ["(nothing to rearrange)"]),
                   D.Math(f"{g.name} = {text}", f"{latex_name(g.name)} = {to_latex(m)}")]
        same = text == x.shown
        blocks.append(D.Para("— the entries force it. " + (f"It is backprop's formula, {g.name} = {x.shown}." if same
                                                             else f"Backprop writes it {g.name} = {x.shown}.")))
        return blocks + self._numbers(shown, m, x.m if not same else None)

    def _numbers(self, shown, m, engine=None):
        """One entry worked with numbers, the mentor's way ((0.833 · (−1.06) + …) · (1 − …) ≈ …), against
        the matrix formula's entry; then every entry."""
        from ..numeric.matrix_eval import evaluate_matrix
        toy, g = self.toy, self.g
        from ..numeric.matrix_eval import variables
        adjoints = {x.name for x in self.result.gradients}
        values = toy_values(self.result, dict(toy.dims), show=[g.name] + [n for n in variables(m) if n in adjoints])
        arrays = {n: v for n, v in values.items() if n in toy.shapes}
        with np.errstate(all="ignore"):
            matrix = np.asarray(evaluate_matrix(m, values, dict(toy.dims)), dtype=float).reshape(toy.shape(g.of))
            other = None if engine is None else \
                np.asarray(evaluate_matrix(engine, values, dict(toy.dims)), dtype=float).reshape(toy.shape(g.of))
        by_hand = {e: toy.value(v, arrays) for e, v in shown.items()}
        first = next((e for e in shown if abs(by_hand[e]) > 1e-6), next(iter(shown)))     # not a masked 0
        used = []
        for t in shown[first].terms:
            for a, _ in t.factors:
                for s in _names_in(a):
                    if s in toy.of and toy.of[s][0] not in used and toy.of[s][0] in values:
                        used.append(toy.of[s][0])
        diffs = [abs(by_hand[e] - matrix[e]) / max(1.0, abs(matrix[e])) for e in shown]
        agree = max(diffs) < 1e-9
        both = other is None or np.allclose(other, matrix, rtol=1e-9, atol=1e-12)
        label = _entry_label(first, g.idx)
        data = "; ".join(f"{n} = {_matrix_text(values[n])}" for n in used[:8])
        scope = {s: float(np.asarray(arrays[a])[v]) if v else float(np.asarray(arrays[a]).reshape(()))
                 for s, (a, v) in toy.of.items() if a in arrays}
        scope.update({d: float(n) for d, n in toy.dims.items()})
        digits = 3                       # more where 3-digit inputs would not give the result (terms cancel)
        for digits in (3, 6, 12):
            rounded = {s: float(f"{v:.{digits}g}") for s, v in scope.items()}
            env = {a: np.zeros(toy.shape(a)) if toy.shape(a) else 0.0 for a in arrays}
            for s_, (a, v) in toy.of.items():
                if a in env:
                    if v:
                        env[a][v] = rounded[s_]
                    else:
                        env[a] = rounded[s_]
            if np.isclose(toy.value(shown[first], env), by_hand[first], rtol=3e-2, atol=3e-3):
                break
        worked = re.sub(r"\b[A-Za-z][A-Za-z0-9_]*\b",
                        lambda k: _short(scope[k.group()], digits) if k.group() in scope else k.group(),
                        factored_text(shown[first], _DotPrinter), flags=re.ASCII)
        name = toy.name(g.name, first)
        scale = max([abs(v) for v in scope.values()] + [1e-300])
        tiny = max(abs(v) for v in by_hand.values()) < 1e-3 * scale
        note = [D.Para(f"Every entry is nearly 0 here: at size {TOY_SIZE} the terms cancel (with two examples a "
                       "normalised row is ±1, for one); the numeric check below uses larger sizes.")] if tiny else []
        return note + [D.Para(f"Check with numbers. With {data} (data drawn at random, forward values as the model "
                       f"computes them, shown to 3 digits{'' if digits == 3 else f'; in the line below to {digits}, as its terms nearly cancel'}):"),
                D.Code(f"{name} = {worked}\n{' ' * len(name)} = {number(by_hand[first])}"),
                D.Para(f"and the matrix formula's entry {label or ''} is {number(matrix[first])}".replace("  ", " ")
                       + (f". All {len(shown)} entries agree: {'yes' if agree else 'NO'}" if len(shown) > 1 else
                          f": {'the same' if agree else 'DIFFERENT'}")
                       + ("" if other is None else
                          f"; backprop's formula gives the same numbers: {'yes' if both else 'NO'}") + ".")]


def _short(v, digits=3):
    """A value as the worked example shows it: 3 digits, negative ones in brackets."""
    t = f"{v:.{digits}g}".replace("-", "−") if abs(v) > 1e-12 else "0"
    return f"({t})" if t.startswith("−") else t


def _term_by_term(paths):
    """One path whose first factor is a sum (m·∂J/∂a2_11 = 1/(1 − a2_11) − y_11/a2_11 − …) and whose
    other factors are products: each term times them, its factors cancelling as they meet
    (1/(1 − a2_11) · a2_11 (1 − a2_11) = a2_11) — the step between the path and its sum; None otherwise."""
    if len(paths) != 1:
        return None
    head, *rest = paths[0][1]
    if len(head.terms) < 2 or any(len(f.terms) != 1 for f in rest):
        return None
    loose = [(T.Group(a.expr) if isinstance(a, T.Group) else a, x) for f in rest for a, x in f.terms[0].factors]
    coef = 1
    for f in rest:
        coef *= f.terms[0].coef
    terms = [T.Term.make(u.coef * coef, list(u.factors) + loose) for u in head.terms]
    return scalar_text(T.Expr([t for t in terms if t is not None]))


def _complements(e):
    """σ(−u) as 1 − σ(u), the course's form of σ′ = σ(1 − σ)."""
    def swap(a):
        if isinstance(a, T.Func) and a.name == "sigmoid" and a.arg.terms and all(t.coef < 0 for t in a.arg.terms):
            return T.Group(T.const(1) - T.Expr([T.Term.make(1, [(T.Func("sigmoid", -a.arg), 1)])]), True)
        return None
    return _map_atoms(e, swap)


def _unit_sums(e):
    """The arrays a summed index of size 1 joins (W2[0,i] dZ2[0,j] with n_y = 1), in order."""
    out = []
    for t in e.terms:
        for i in t.summed:
            if i.dim != 1:
                continue
            names = [a.name for a, _ in t.factors if isinstance(a, T.Var) and i in a.free]
            if len(names) > 1:
                out += [n for n in names if n not in out]
    return out


def _map_atoms(e, swap):
    """e with every atom for which swap(atom) is not None replaced by it (inside functions and groups too)."""
    def atom(a):
        b = swap(a)
        if b is not None:
            return b
        if isinstance(a, T.Func):
            return T.Func(a.name, walk(a.arg), a.params)
        if isinstance(a, T.Group):
            return T.Group(walk(a.expr), a.keep)
        return a

    def walk(x):
        return T.Expr.make([T.Term.make(t.coef, [(atom(a), k) for a, k in t.factors], t.summed) for t in x.terms])
    return walk(e)


def _names_in(a):
    if isinstance(a, T.Var):
        return [a.name]
    inner = a.arg if isinstance(a, T.Func) else a.expr if isinstance(a, T.Group) else None
    return [] if inner is None else [n for t in inner.terms for b, _ in t.factors for n in _names_in(b)]


def expression_toy(r):
    """The toy example of chainrule.derive's result r (a scalar f): f written out in scalars, each
    entry's derivative by scalar calculus (the registry's rules on scalars), the matrix form read off."""
    from ..notation.to_matrix import NoMatrixForm, to_matrix
    p = r.parsed
    toy = Toy(p.shapes)
    size_guard({n: toy.shape(n) for n in p.shapes})
    if p.idx:
        raise NotImplementedError("the toy expansion is shown for scalar-valued expressions")
    if r.order != 1:
        raise NotImplementedError("the toy expansion is shown for first derivatives")
    f = toy.at(p.expr, {})
    if _depth(f) > TOY_MAX_DEPTH:
        raise NotImplementedError(f"the scalar function is nested more than {TOY_MAX_DEPTH} deep, too deep to "
                                  "follow by hand")
    idx = tuple(r.wrt_idx[0])
    entries = {e: _complements(diff(f, toy.name(r.wrt, e), ())) for e in toy.entries(r.wrt)}
    first = next(iter(entries))
    x = toy.name(r.wrt, first)
    dims = sorted(toy.dims)
    ftext = scalar_text(f)
    if len(f.terms) > 12:
        ftext = scalar_text(T.Expr(f.terms[:6])) + f" + … ({len(f.terms)} terms)"
    blocks = [D.Para("Make it small: take " + (", ".join(f"{d} = {TOY_SIZE}" for d in dims) or "the sizes as declared")
                     + f". Name every entry: {naming(toy, [r.wrt] + [n for n in p.shapes if n != r.wrt])}. Written "
                     "out in scalars, f is"),
              D.Code(f"f = {ftext}"),
              D.Para(f"By scalar calculus, {x} appears in {sum(1 for t in f.terms if x in _term_names(t))} of these "
                     "terms; differentiating each:"),
              D.Code(f"∂f/∂{x} = {factored_text(entries[first])}")]
    if len(entries) > 1:
        blocks += [D.Para("Every entry the same way:"),
                   D.Code("\n".join(f"∂f/∂{toy.name(r.wrt, e)} = {factored_text(v)}" for e, v in entries.items()))]
    found = read_off(toy, entries, idx)
    from ..numeric.matrix_eval import evaluate_matrix
    arrays = toy.random_arrays(np.random.default_rng(5))
    by_hand = np.array([toy.value(entries[e], arrays) for e in entries]).reshape(toy.shape(r.wrt))
    with np.errstate(all="ignore"):
        theirs = np.asarray(evaluate_matrix(r.matrix, arrays, dict(toy.dims)), dtype=float).reshape(by_hand.shape)
    if found is None:
        return blocks + [D.Para(f"No single index pattern gives every entry here (an inverse's entries are "
                                f"quotients of sums), so the matrix form is not read off them. The engine's "
                                f"∂f/∂{r.wrt} = {r.text}, on random values, against the {len(entries)} scalar "
                                f"derivatives: they agree: {'yes' if np.allclose(by_hand, theirs) else 'NO'}.")]
    log = []
    printer = IndexPrinter((), idx)
    lhs = f"∂f/∂{printer.indexed(r.wrt, [printer.name(i) for i in idx])}"
    try:
        m = to_matrix(found, idx, log)
    except NoMatrixForm:
        return blocks + [D.Para("All entries follow one pattern, which has no matrix form:"),
                         D.Code(f"{lhs} = {printer.expr(found)}")]
    text = CourseTextPrinter()(m)
    with np.errstate(all="ignore"):
        mine = np.asarray(evaluate_matrix(m, arrays, dict(toy.dims)), dtype=float).reshape(toy.shape(r.wrt))
    return blocks + [
        D.Para("Find the matrix form that gives every entry. All of them follow one pattern:"),
        D.Code(f"{lhs} = {printer.expr(found)}"),
        D.Para("Read back as matrix operations:"),
        D.Items([f"{rule}: {detail}" for rule, detail in log] or ["(nothing to rearrange)"]),
        D.Math(f"∂f/∂{r.wrt} = {text}", rf"\frac{{\partial f}}{{\partial {latex_name(r.wrt)}}} = {to_latex(m)}"),
        D.Para(("— the same as the engine's." if text == r.text else f"The engine writes it {r.text}.")
               + f" With random values, the {len(entries)} scalar derivatives, this "
               f"matrix form and the engine's agree: "
               f"{'yes' if np.allclose(by_hand, mine) and np.allclose(mine, theirs) else 'NO'}.")]


def _depth(e):
    """How deeply functions and groups nest in a scalar expression."""
    inner = [a.arg if isinstance(a, T.Func) else a.expr for t in e.terms for a, _ in t.factors
             if isinstance(a, (T.Func, T.Group))]
    return 1 + max((_depth(x) for x in inner), default=0)


def _term_names(t):
    return [n for a, _ in t.factors for n in _names_in(a)]
