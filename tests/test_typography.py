"""Typography of the HTML (MathML) output: a name of several letters is one identifier, the ones
vector is 𝟏, shape cells stay on one line. The page in a browser: test_web.py."""
import re
from pathlib import Path

import pytest

import chainrule
from chainrule.render.document import HTML_STYLE, mathml
from chainrule.render.printing import latex_name

pytest.importorskip("latex2mathml")
STYLE = (Path(chainrule.__file__).parent / "web_static" / "style.css").read_text()
LETTERS = re.compile(r'(?:<m[in] mathvariant="[a-z-]+">[^<]</m[in]>){2,}')      # d g a m m a, one <mi> a letter


def test_a_name_of_several_letters_is_one_identifier():
    html = chainrule.explain(chainrule.example("batchnorm"), "dgamma").html()
    assert '<mi mathvariant="italic">dgamma</mi>' in html and '<mi mathvariant="italic">dZt</mi>' in html
    assert not LETTERS.findall(html)
    for name, base, sub in (("dZ1", "dZ", "1"), ("keep_prob", "keep", "prob"), ("X_hat", "X", "hat")):
        m = mathml(latex_name(name))
        assert f">{base}</mi>" in m and f">{sub}</m" in m and not LETTERS.findall(m), m
    for example in chainrule.examples():                               # every gradient the web page shows
        for g in chainrule.backprop(chainrule.example(example)).gradients:
            m = mathml(f"{latex_name(g.name)} = {g.latex}")
            assert not LETTERS.findall(m), (example, g.name, LETTERS.findall(m))
    assert "mi[mathvariant=italic]{font-style:italic}" in STYLE + HTML_STYLE    # drawn italic, as in LaTeX


def test_the_ones_vector_is_bold_one():
    html = chainrule.explain(chainrule.example("batchnorm"), "dgamma").html()
    assert "<mi>𝟏</mi>" in html and 'mathvariant="bold">1<' not in html     # not a plain 1 in MathML Core
    assert mathml(r"\mathbf{1}^\top x").count("𝟏") == 1


def test_shape_cells_do_not_wrap():
    html = chainrule.explain(chainrule.example("batchnorm"), "dZ1").html()
    assert '<td class="shape">(n_h, m)</td>' in html and "<td>(n_h" not in html
    assert ".shape{white-space:nowrap}" in HTML_STYLE and ".shape{white-space:nowrap}" in STYLE
