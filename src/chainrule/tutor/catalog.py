"""The identity catalog: textbook matrix-calculus identities as data (identity_data/*.toml, one
file per section), each re-derived by the engine and checked numerically by the test suite.

An entry states an expression f in chainrule's language, the variable, shapes, the data domain of
each name, the order, and the result as the catalog states it — an expression in the same
language whose NumPy value is the derivative in derive's layout (f's axes, then the variable's),
or, with form = "vec", the Jacobian ∂vec F/∂vec X (column-major vec) of a matrix-valued F.
"""
import dataclasses
import functools
import json
import tomllib
from importlib import resources

import numpy as np

from ..lang import syntax as S
from ..core.errors import ChainruleError

DATA = "identity_data"


@functools.lru_cache(maxsize=1024)
def _tree(text):
    """An entry's expression or result, parsed once (explain matches against every entry)."""
    return S.parse_expression(text)


@dataclasses.dataclass(frozen=True)
class Identity:
    section: str
    name: str
    expr: str
    wrt: str
    shapes: dict
    result: str
    domain: dict = dataclasses.field(default_factory=dict)
    order: int = 1
    form: str = "matrix"           # "matrix": derive's layout; "vec": ∂vec F/∂vec X
    layout: str = ""
    numerator: str = ""            # the numerator-layout form, where it differs
    cite: str = ""
    note: str = ""
    keywords: tuple = ()

    @property
    def numerator_layout(self):
        """The numerator-layout statement: the entry's own, else what follows from the layout of derive
        (a scalar's gradient transposed; Jacobians and vec forms already are numerator layout)."""
        if self.numerator:
            return self.numerator
        x = self.shapes.get(self.wrt, ())
        if self.form == "vec" or self.order > 1:
            return "the same"
        scalar_f = self._f_ndim() == 0
        if not scalar_f:
            return "the same (f's axes first)"
        if len(x) == 1:
            return f"({self.result}).T, a row vector"
        if len(x) == 2:
            return f"({self.result}).T"
        return "the same"

    def _f_ndim(self):
        from ..engine.derivation import Parsed
        return len(Parsed(self.expr, self.shapes).shape)

    @property
    def latex(self):
        from ..render.document import tree_latex
        return tree_latex(_tree(self.result))

    @property
    def expr_latex(self):
        from ..render.document import tree_latex
        return tree_latex(_tree(self.expr))

    @property
    def statement(self):
        d = "∂" if self.order == 1 else f"∂{'²³⁴'[self.order - 2]}"
        x = self.wrt if self.order == 1 else f"{self.wrt}{'²³⁴'[self.order - 2]}"
        head = f"∂vec/∂vec {self.wrt}" if self.form == "vec" else f"{d}/∂{x}"
        return f"{head} {self.expr} = {self.result}"

    def derivative(self):
        """The engine's own derivation of this entry (a chainrule.Derivative)."""
        from ..engine.derivation import derive
        return derive(self.expr, self.wrt, self.shapes, self.order)

    def evaluate(self, values):
        """The stated result for concrete arrays `values` (with the dimension sizes), in derive's
        layout: a vec form is unfolded to f.shape + x.shape."""
        from ..numeric.evaluate import evaluate_tree
        from ..numeric.checks import concrete_dims
        dims = {k: v for k, v in values.items() if isinstance(v, int)} or concrete_dims(self.shapes)
        with np.errstate(all="ignore"):
            r = np.asarray(evaluate_tree(_tree(self.result), values, dims), dtype=float)
        if self.form != "vec":
            return r
        f = np.asarray(evaluate_tree(_tree(self.expr), values, dims))
        x = np.asarray(values[self.wrt])
        # F is the (order−1)th derivative, of shape f.shape + x.shape × (order−1);
        # r[vec index of F, vec index of X] with column-major vec → F.shape + x.shape
        fshape = f.shape + x.shape * (self.order - 1)
        full = r.reshape(fshape[::-1] + x.shape[::-1])
        nf, nx = len(fshape), x.ndim
        axes = tuple(reversed(range(nf))) + tuple(nf + k for k in reversed(range(nx)))
        return np.transpose(full, axes)

    def _repr_markdown_(self):
        return (f"**{self.name}** ({self.section}{', ' + self.cite if self.cite else ''})\n\n"
                f"$$\\frac{{\\partial}}{{\\partial {self.wrt}}}\\, {self.expr_latex} = {self.latex}$$\n\n"
                + (f"{self.note}" if self.note else ""))

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["shapes"] = {k: list(v) for k, v in self.shapes.items()}
        d["latex"] = self.latex
        d["numerator_layout"] = self.numerator_layout
        d["keywords"] = list(self.keywords)
        return d

    def matches(self, words):
        hay = " ".join([self.section, self.name, self.expr, self.result, self.cite, self.note, self.layout,
                        " ".join(self.keywords), _kinds(self)]).lower()
        return all(w.lower() in hay for w in words)


def _kinds(e):
    """Words for the variable's kind, so 'matrix' or 'vector' finds entries."""
    nd = len(e.shapes.get(e.wrt, ()))
    kind = {0: "scalar", 1: "vector", 2: "matrix"}.get(nd, "tensor")
    out = f"{kind} by-{kind} wrt-{kind}"
    if e.order > 1:
        out += " hessian second-order"
    if e.form == "vec":
        out += " kronecker vec jacobian matrix-by-matrix"
    return out


def _shape(v):
    if isinstance(v, str):
        return () if v in ("", "scalar") else tuple(int(x) if x.strip().isdigit() else x.strip()
                                                     for x in v.split(","))
    return tuple(v)


def load():
    """Every entry, in file order (files sorted by name)."""
    entries = []
    files = sorted((f for f in resources.files("chainrule").joinpath(DATA).iterdir() if f.name.endswith(".toml")),
                   key=lambda f: f.name)
    for f in files:
        data = tomllib.loads(f.read_text(encoding="utf-8"))
        section = data["section"]
        for raw in data.get("identity", []):
            raw = dict(raw)
            raw["shapes"] = {k: _shape(v) for k, v in raw["shapes"].items()}
            raw["keywords"] = tuple(raw.get("keywords", ()))
            entries.append(Identity(section=section, **raw))
    return entries


class Catalog(list):
    """A list of entries that a notebook shows as a table."""

    def _repr_markdown_(self):
        return markdown(self).split("\n", 6)[-1] if self else "*no identities match*"


_CACHE = []


def identities(search=None, section=None):
    """The catalog's entries, optionally filtered: `search` words (all must appear in the name,
    expression, result, citation such as "(100)", note or variable kind), `section` a section name."""
    if not _CACHE:
        _CACHE.extend(load())
    out = list(_CACHE)
    if section:
        out = [e for e in out if section.lower() in e.section.lower()]
        if not out:
            names = sorted({e.section for e in _CACHE})
            raise ChainruleError(f"no section {section!r} (sections: {', '.join(names)})")
    if search:
        words = search.split() if isinstance(search, str) else list(search)
        out = [e for e in out if e.matches(words)]
    return Catalog(out)


def sections():
    return list(dict.fromkeys(e.section for e in identities()))


# -- rendering ----------------------------------------------------------------------------------
def _shapes_text(e):
    return ", ".join(f"{k} {('(' + ', '.join(map(str, v)) + (',)' if len(v) == 1 else ')')) if v else 'scalar'}"
                     for k, v in e.shapes.items())


def text(entries):
    lines = []
    for e in entries:
        lines.append(f"{e.name}  [{e.section}]  {e.cite}".rstrip())
        lines.append(f"    {e.statement}")
        try:
            lines.append(f"    chainrule derives: {e.derivative().text}")
        except ChainruleError as err:                 # an entry the engine cannot take: say so
            lines.append(f"    chainrule derives: (error: {err.message})")
        extra = [f"shapes: {_shapes_text(e)}"] + ([f"domain: {', '.join(f'{k} {v}' for k, v in e.domain.items())}"]
                                                   if e.domain else [])
        lines.append("    " + "; ".join(extra))
        if e.layout:
            lines.append(f"    layout: {e.layout}; numerator layout: {e.numerator_layout}")
        if e.note:
            lines.append(f"    note: {e.note}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n" if lines else "no identities match\n"


def _cell(tex):
    """LaTeX inside a Markdown table cell: no bare pipes."""
    return tex.replace(r"\|", r"\Vert ").replace("|", r"\vert ")


def _lhs(e):
    if e.form == "vec":
        return f"∂vec F/∂vec {e.wrt}, F = ${_cell(e.expr_latex)}$"
    power = "" if e.order == 1 else "²³⁴"[e.order - 2]
    return f"∂{power}/∂{e.wrt}{power} ${_cell(e.expr_latex)}$"


def _source(e):
    """The table's source cell: the citation, or where no reference numbers the identity, that
    chainrule's own derivation (checked like every entry) is its source."""
    return ("Matrix " + e.cite if e.cite.startswith("Cookbook") else e.cite) or "*derived here*"


def markdown(entries):
    out = ["# The chainrule identity catalog", "",
           "Generated by `chainrule identities --markdown docs/identities.md --force`; do not edit by hand. Every entry below is "
           "re-derived by chainrule's engine and checked in the test suite: against central finite "
           "differences on random data of the stated domain, and the stated result against the "
           "engine's result, numerically.", "",
           "Layout: a derivative has the shape of f's axes followed by the variable's (for a scalar f, "
           "the gradient has the variable's shape — the Matrix Cookbook's convention; numerator-layout "
           "forms are given where they differ). A *vec* entry states ∂vec F/∂vec X with column-major vec.", "",
           "Source: the equation number in the Matrix Cookbook (Petersen & Pedersen, November 2012 edition) "
           "or the paper that states the identity; *derived here* where neither numbers it.", "",
           f"{len(entries)} identities in {len(dict.fromkeys(e.section for e in entries))} sections.", ""]
    for sec in dict.fromkeys(e.section for e in entries):
        out += [f"## {sec}", "", "| identity | result | shapes / domain | source | notes |", "|---|---|---|---|---|"]
        for e in (x for x in entries if x.section == sec):
            shapes = _shapes_text(e) + ("; " + ", ".join(f"{k} {v}" for k, v in e.domain.items()) if e.domain else "")
            notes = "; ".join(x for x in (e.layout, f"numerator layout: `{e.numerator_layout}`", e.note) if x)
            row = (f"| **{e.name}**<br>{_lhs(e)} | ${_cell(e.latex)}$<br>`{e.result}` | {shapes} | {_source(e)} | "
                   f"{notes.replace('|', '&#124;')} |")
            out.append(row.replace("\n", " "))
        out.append("")
    return "\n".join(out)


def to_json(entries):
    return json.dumps([e.to_dict() for e in entries], ensure_ascii=False, indent=1)


# -- matching a derivation to its catalog entries -------------------------------------------------
def related(tree, wrt, shapes):
    """Entries whose expression is this one up to the names (consistently renamed, each with the
    same number of axes, the variable onto the variable): what explain points to."""
    out = []
    for e in identities():
        mapping = {wrt: e.wrt}
        if _same(tree, _tree(e.expr), mapping) and \
                all(len(shapes.get(a, ())) == len(e.shapes.get(b, ())) for a, b in mapping.items()
                    if a in shapes or b in e.shapes):
            out.append(e)
    return out


_COMMUTATIVE = {"+", "*"}


def _canonical(n):
    """Spellings of one function: maximum(0, x) and maximum(x, 0) are relu(x)."""
    if isinstance(n, S.Call) and n.fn == "maximum" and len(n.args) == 2:
        for k in (0, 1):
            if isinstance(n.args[k], S.Const) and n.args[k].value == 0:
                return dataclasses.replace(n, fn="relu", args=(n.args[1 - k],))
    return n


def _same(a, b, mapping):
    a, b = _canonical(a), _canonical(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, S.Name):
        if a.id in mapping:
            return mapping[a.id] == b.id
        if b.id in mapping.values():
            return False
        mapping[a.id] = b.id
        return True
    if isinstance(a, S.Const):
        return a.value == b.value
    if isinstance(a, (S.Neg, S.Transpose)):
        return _same(a.operand, b.operand, mapping)
    if isinstance(a, (S.Binary, S.Compare)):
        if a.op != b.op:
            return False
        pairs = [(a.left, b.left, a.right, b.right)]
        if a.op in _COMMUTATIVE:
            pairs.append((a.left, b.right, a.right, b.left))
        for x1, y1, x2, y2 in pairs:
            trial = dict(mapping)
            if _same(x1, y1, trial) and _same(x2, y2, trial):
                mapping.clear()
                mapping.update(trial)
                return True
        return False
    if isinstance(a, S.Call):
        if a.fn != b.fn or len(a.args) != len(b.args) or dict(a.kwargs) != dict(b.kwargs):
            return False
        trial = dict(mapping)
        if all(_same(x, y, trial) for x, y in zip(a.args, b.args)):
            mapping.clear()
            mapping.update(trial)
            return True
        return False
    return False


def related_to_reader(reader_tree, wrt, shapes, out_shape):
    """Entries stating the backprop rule of one equation: Σ G ⊙ (reader) by the variable, where G
    (the upstream adjoint) has the reader's shape."""
    g = "G_"
    while g in shapes:
        g += "_"
    at = dict(start=0, end=0, line=1, source="")
    tree = S.Call(fn="sum", args=(S.Binary(op="*", left=S.Name(id=g, **at), right=reader_tree, **at),), **at)
    return related(tree, wrt, dict(shapes, **{g: tuple(out_shape)}))


def pointer(entries):
    """One sentence naming catalog entries, for explain."""
    names = list(dict.fromkeys(f"“{e.name}” ({e.section}{', ' + e.cite if e.cite else ''})" for e in entries))
    if not names:
        return None
    return ("In the identity catalog (`chainrule identities`), the same pattern: " + "; ".join(names) + ".")
