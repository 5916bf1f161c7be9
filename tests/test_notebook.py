"""The example notebook runs top to bottom (nbclient), and every result object displays as rendered
math or HTML in a notebook."""
from pathlib import Path

import pytest

import chainrule

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "two_layer_backprop.ipynb"


def test_example_notebook_executes():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    kinds = {k for o in outputs for k in o.get("data", {})}
    assert {"text/latex", "text/html", "text/markdown"} <= kinds
    text = "".join(o.get("text", "") for o in outputs)
    assert "dW1  = dZ1 @ X.T / m" in text and "finite difference" in text and "training accuracy" in text
    images = [[o for o in c.outputs if "image/png" in o.get("data", {})] for c in nb.cells if c.cell_type == "code"]
    assert sum(map(len, images)) == 2 and max(map(len, images)) == 1         # the two plots, inline, each once


def test_every_result_object_displays_in_a_notebook():
    two = chainrule.example("two-layer")
    d = chainrule.derive("x.T @ A @ x", "x", {"A": ("n", "n"), "x": ("n",)})
    assert d._repr_latex_().startswith("$$")
    assert "\\begin{aligned}" in chainrule.backprop(two)._repr_latex_()
    e = chainrule.explain(two, "dZ1")
    assert "<math" in e._repr_html_() and "## 1. Setup" in e._repr_markdown_()
    assert "mi[mathvariant=italic]{font-style:italic}" in e._repr_html_()     # dZ2 italic in Chromium's Jupyter too
    assert "<pre>a1_11 = tanh(z1_11)" in e._repr_html_()                      # the toy's scalars, verbatim
    assert chainrule.check(two, "dZ2 = A2 - Y")._repr_markdown_().startswith("✅")
    assert "| identity |" in chainrule.identities("trace")._repr_markdown_()
    assert "$$" in chainrule.identities("trace")[0]._repr_markdown_()
