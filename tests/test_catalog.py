"""The identity catalog: every entry is derived by the engine, checked against finite differences on
random data of its domain, and its stated result equals the engine's result numerically."""
import numpy as np
import pytest

import chainrule
from chainrule.tutor.catalog import identities, markdown
from chainrule.numeric.checks import concrete_dims, domains, sample
from chainrule.lang.syntax import parse_expression

ENTRIES = identities()


def _data(e, seed=0):
    rng = np.random.default_rng(seed)
    dims = concrete_dims(e.shapes)
    doms = dict(domains(parse_expression(e.expr)), **e.domain)
    return sample(e.shapes, dims, doms, rng), dims


@pytest.mark.parametrize("e", ENTRIES, ids=[f"{e.section}: {e.name}" for e in ENTRIES])
def test_entry_is_derived_checked_and_stated_correctly(e):
    d = e.derivative()
    assert d.check(domain=e.domain) < 1e-5, (e.name, d.text)           # the engine, against finite differences
    for seed in (0, 1):
        values, dims = _data(e, seed)
        engine = np.asarray(eval(d.numpy, {"__builtins__": {}}, dict(values, np=np)), dtype=float)
        stated = e.evaluate(dict(values, **dims))
        assert stated.shape == engine.shape, (e.name, stated.shape, engine.shape)
        assert np.allclose(stated, engine, rtol=1e-7, atol=1e-9), (e.name, e.result, d.text)


def test_catalog_size_and_sections():
    assert len(ENTRIES) >= 80
    assert len({e.name for e in ENTRIES}) == len(ENTRIES)              # names are unique


def test_search():
    assert any("(100)" in e.cite for e in identities("(100)"))
    assert all("trace" in (e.expr + e.name + e.section).lower() for e in identities("trace"))
    assert identities("no such identity anywhere") == []
    with pytest.raises(chainrule.ChainruleError):
        identities(section="nonexistent")


def test_the_docs_page_is_current():
    from pathlib import Path
    page = Path(__file__).resolve().parent.parent / "docs" / "identities.md"
    assert page.read_text(encoding="utf-8") == markdown(identities()) + "\n", \
        "docs/identities.md is stale: run `chainrule identities --markdown docs/identities.md --force`"


def test_explain_points_to_the_catalog_entries_of_its_rules():
    import chainrule as c
    two = c.example("two-layer")
    text = c.explain(two, "dZ1").steps[3].text
    assert "tanh activation, backward" in text and "dense layer, by the input" in text
    assert "ReLU activation, backward" in c.explain(c.example("deep-relu"), "dZ2").steps[3].text
    assert "dense layer, by the weights" in c.explain(two, "dW1").steps[3].text
    e = c.explain(expr="u.T @ M @ v", wrt="M", shapes={"u": ("p",), "M": ("p", "q"), "v": ("q",)})
    assert "bilinear form, by the matrix" in e.steps[3].text
    # the vector identity is not offered for a matrix variable: the mistake the forum learner made
    e = c.explain(expr="c.T @ W", wrt="W", shapes={"c": ("p",), "W": ("p", "q")})
    assert "inner product with a constant vector" not in e.steps[3].text


def test_cli_identities(capsys):
    assert chainrule.main(["identities", "trace", "--section", "trace"]) == 0
    out = capsys.readouterr().out
    assert "chainrule derives:" in out and "Cookbook (" in out
    assert chainrule.main(["identities", "--format", "json", "logdet"]) == 0
    import json
    assert all("logdet" in (e["expr"] + e["name"] + e["note"]).lower() for e in json.loads(capsys.readouterr().out))
    assert chainrule.main(["identities", "zzzz-nothing"]) == 1
    assert chainrule.main(["identities", "--section", "nope"]) == 2


def test_every_row_of_the_table_names_its_source():
    rows = [r for r in markdown(ENTRIES).splitlines() if r.startswith("| **")]
    sources = [r.split(" | ")[3] for r in rows]                        # identity | result | shapes | source | notes
    assert len(rows) == len(ENTRIES) and all(s.strip() for s in sources)
    assert "Matrix Cookbook (100)" in sources and "Ioffe & Szegedy 2015" in sources and "*derived here*" in sources
    assert "| source |" in identities("dense layer")._repr_markdown_()       # the notebook's table
