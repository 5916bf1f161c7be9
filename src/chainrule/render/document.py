"""An explanation as a small document: sections made of blocks (prose, display math, verbatim,
tables, lists), rendered four ways — text for a terminal, Markdown with LaTeX math, a LaTeX
fragment, and a self-contained HTML page (math as MathML, rendered offline by the browser)."""
import dataclasses
import html
import re

from ..lang import syntax as S
from ..lang.functions import FUNCTIONS, STATED
from .printing import latex_name


@dataclasses.dataclass
class Para:
    text: str                 # prose; `code` spans in backticks


@dataclasses.dataclass
class Math:
    text: str                 # the equation in Unicode (terminal)
    latex: str                # the same equation in LaTeX


@dataclasses.dataclass
class Code:
    text: str                 # verbatim lines (scalar equations, NumPy)


@dataclasses.dataclass
class Table:
    header: tuple
    rows: list


@dataclasses.dataclass
class Items:
    items: list               # prose items


# -- renderers of one section's blocks ----------------------------------------------------------
def text(blocks):
    out = []
    for b in blocks:
        if isinstance(b, Para):
            out.append(b.text.replace("`", ""))
        elif isinstance(b, Math):
            out.append("\n".join("    " + ln for ln in b.text.splitlines()))
        elif isinstance(b, Code):
            out.append("\n".join("    " + ln for ln in b.text.splitlines()))
        elif isinstance(b, Table):
            plain = lambda r: tuple(str(c).replace("`", "") for c in r)   # noqa: E731
            b = Table(plain(b.header), [plain(r) for r in b.rows])
            widths = [max(len(str(r[k])) for r in [b.header] + b.rows) for k in range(len(b.header))]
            line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()   # noqa: E731
            out.append("\n".join("    " + line(r) for r in [b.header] + b.rows))
        else:
            out.append("\n".join("- " + it.replace("`", "") for it in b.items))
    return "\n\n".join(out)


def markdown(blocks):
    out = []
    for b in blocks:
        if isinstance(b, Para):
            out.append(b.text)
        elif isinstance(b, Math):
            out.append(f"$$\n{b.latex}\n$$")
        elif isinstance(b, Code):
            out.append("```\n" + b.text + "\n```")
        elif isinstance(b, Table):
            rows = [b.header, tuple("---" for _ in b.header)] + b.rows
            out.append("\n".join("| " + " | ".join(str(c) for c in r) + " |" for r in rows))
        else:
            out.append("\n".join("- " + it for it in b.items))
    return "\n\n".join(out)


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex_prose(s):
    parts = s.split("`")
    out = []
    for k, part in enumerate(parts):
        esc = "".join(_TEX_SPECIAL.get(c, c) for c in part)
        out.append(rf"\texttt{{{esc}}}" if k % 2 else esc)
    return "".join(out)


def latex(blocks):
    """A LaTeX fragment (Unicode prose: compile with LuaLaTeX or XeLaTeX)."""
    out = []
    for b in blocks:
        if isinstance(b, Para):
            out.append(_tex_prose(b.text))
        elif isinstance(b, Math):
            out.append(rf"\[ {b.latex} \]")
        elif isinstance(b, Code):
            out.append("\\begin{verbatim}\n" + b.text + "\n\\end{verbatim}")
        elif isinstance(b, Table):
            cols = "l" * len(b.header)
            rows = [" & ".join(_tex_prose(str(c)) for c in r) + r" \\" for r in [b.header] + b.rows]
            out.append(f"\\begin{{tabular}}{{{cols}}}\n" + rows[0] + "\n\\hline\n" + "\n".join(rows[1:])
                       + "\n\\end{tabular}")
        else:
            out.append("\\begin{itemize}\n" + "\n".join(r"\item " + _tex_prose(it) for it in b.items)
                       + "\n\\end{itemize}")
    return "\n\n".join(out)


def _html_prose(s):
    parts = s.split("`")
    return "".join(f"<code>{html.escape(p)}</code>" if k % 2 else html.escape(p) for k, p in enumerate(parts))


def mathml(tex, display=True):
    """LaTeX → MathML with latex2mathml when installed; else the TeX source in a <code> span."""
    try:
        from latex2mathml.converter import convert
        out = convert(tex, display="block" if display else "inline")
    except Exception:       # not installed, or a construct it cannot read: show the source instead
        return f'<pre class="tex">{html.escape(tex)}</pre>'
    return _LETTERS.sub(_one_identifier, out).replace('<mn mathvariant="bold">1</mn>', "<mi>𝟏</mi>")


# latex2mathml writes \mathit{dgamma} as one <mi> per letter (d g a m m a, spaced as a product) and
# \mathbf{1} as a bold digit that MathML Core draws as a plain 1: a name is made one <mi> again, and the
# ones vector the character 𝟏
_LETTERS = re.compile(r'<mrow>((?:<m[in] mathvariant="[a-z-]+">[^<]*</m[in]>){2,})</mrow>')
_LETTER = re.compile(r'<m[in] mathvariant="([a-z-]+)">([^<]*)</m[in]>')     # dA1d has a digit inside


def _one_identifier(m):
    letters = _LETTER.findall(m.group(1))
    if len({v for v, _ in letters}) != 1:
        return m.group(0)
    return f'<mi mathvariant="{letters[0][0]}">{"".join(c for _, c in letters)}</mi>'


def html_blocks(blocks):
    out = []
    for b in blocks:
        if isinstance(b, Para):
            out.append(f"<p>{_html_prose(b.text)}</p>")
        elif isinstance(b, Math):
            out.append(f'<div class="math" title="{html.escape(b.text)}">{mathml(b.latex)}</div>')
        elif isinstance(b, Code):
            out.append(f"<pre>{html.escape(b.text)}</pre>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{_html_prose(str(c))}</th>" for c in b.header)
            cls = [' class="shape"' if h == "shape" else "" for h in b.header]      # (n_h, m) on one line
            body = "".join("<tr>" + "".join(f"<td{k}>{_html_prose(str(c))}</td>" for k, c in zip(cls, r)) + "</tr>"
                           for r in b.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        else:
            out.append("<ul>" + "".join(f"<li>{_html_prose(it)}</li>" for it in b.items) + "</ul>")
    return "\n".join(out)


HTML_STYLE = """body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
pre{background:#f5f5f5;padding:.6rem;overflow-x:auto}table{border-collapse:collapse;display:block;overflow-x:auto}
td,th{border:1px solid #ccc;padding:.2rem .6rem}code{background:#f5f5f5}.math{overflow-x:auto;margin:.6rem 0}
.shape{white-space:nowrap}mi[mathvariant=italic]{font-style:italic}p,li{overflow-wrap:anywhere}"""


def html_page(title, sections):
    """A self-contained page: no scripts, no fonts or styles fetched from anywhere."""
    body = "\n".join(f"<section><h2>{k}. {html.escape(t)}</h2>\n{h}</section>" for k, (t, h) in enumerate(sections, 1))
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{HTML_STYLE}</style></head>\n<body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n")


# -- source expressions in LaTeX ----------------------------------------------------------------
_PREC = {"+": 1, "-": 1, "*": 2, "@": 2, "/": 2, "**": 4}


def tree_latex(node):
    """A parsed NumPy-style expression (a model's equation) in LaTeX."""
    return _tl(node)[0]


def _num(v):
    if v.denominator == 1:
        return str(v.numerator)
    if v.numerator == 1 and re.fullmatch(r"10*", str(v.denominator)):
        return f"10^{{-{len(str(v.denominator)) - 1}}}"
    return rf"\frac{{{v.numerator}}}{{{v.denominator}}}"


def _wrap(pair, prec):
    s, p = pair
    return rf"\left({s}\right)" if p < prec else s


def _tl(n):
    if isinstance(n, S.Dims):
        return "(" + ", ".join(latex_name(d) if isinstance(d, str) else str(d) for d in n.items) + ")", 9
    if isinstance(n, S.Name):
        return latex_name(n.id), 9
    if isinstance(n, S.Const):
        return _num(n.value), 9 if n.value.denominator == 1 else 3
    if isinstance(n, S.Neg):
        return "-" + _wrap(_tl(n.operand), 2), 1
    if isinstance(n, S.Transpose):
        return _wrap(_tl(n.operand), 9) + r"^\top", 8
    if isinstance(n, S.Compare):
        return f"[{_tl(n.left)[0]} {n.op} {_tl(n.right)[0]}]", 9
    if isinstance(n, S.Binary):
        a, b = _tl(n.left), _tl(n.right)
        if n.op == "/":
            return rf"\frac{{{a[0]}}}{{{b[0]}}}", 3
        if n.op == "**":
            return _wrap(a, 9) + f"^{{{b[0]}}}", 8
        p = _PREC[n.op]
        op = {"+": " + ", "-": " - ", "*": r" \odot ", "@": " "}[n.op]
        if n.op == "*" and (a[1] == 3 or isinstance(n.left, S.Const)):    # a scalar coefficient: -1/m · Σ…
            op = " "
        return _wrap(a, p) + op + _wrap(b, p + (1 if n.op in "-/" else 0)), p
    if isinstance(n, S.Call):
        spec = FUNCTIONS.get(n.fn) or STATED[n.fn]
        return spec.latex(n, [_tl(a) for a in n.args])
    raise TypeError(type(n).__name__)


def and_list(names):
    """Names as prose: 'mu', 'mu and var', 'mu, var and Zn'."""
    names = list(names)
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
