"""Generated from the registries: every function of the language and every derivative rule is
tested numerically (first and second order) on data from its declared domain."""
import pytest

import chainrule
from chainrule import syntax as S
from chainrule import tensor as T
from chainrule.derivation import Parsed
from chainrule.functions import FUNCTIONS
from chainrule.rules import ELEMENTWISE, MATRIX_FUNCTIONS

SHAPES = {"X": ("n", "n"), "Y": ("n", "n"), "M": ("n", "m"), "x": ("n",), "y": ("n",), "s": ()}
SPECS = sorted({id(f): f for f in FUNCTIONS.values()}.values(), key=lambda f: f.name)
COMPARISONS = ["(X > 0) * X ** 2", "(X >= 0) * X ** 2", "(X < 0) * X", "(X <= Y) * X", "sign(X) * X"]


def _variables(example):
    tree = Parsed(example, SHAPES)
    return [n for n in SHAPES if n in {x.id for x in S.names(tree.tree)}]


@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.name)
@pytest.mark.parametrize("order", [1, 2])
def test_every_function_differentiates(spec, order):
    for wrt in _variables(spec.example):
        r = chainrule.derive(spec.example, wrt, SHAPES, order)
        assert r.check(seed=order) < 1e-6, (spec.example, wrt, order, r.text)


@pytest.mark.parametrize("expr", COMPARISONS)
def test_comparisons_are_piecewise_constant(expr):
    r = chainrule.derive(expr, "X", SHAPES)
    assert r.check() < 1e-6, r.text


def test_every_rule_is_reached_by_the_language():
    reached = set()
    for expr in [f.example for f in SPECS] + COMPARISONS:
        for a in T.walk_atoms(Parsed(expr, SHAPES).expr):
            if isinstance(a, (T.Func, T.MatFn)):
                reached.add(a.name)
    # derivative rules introduce sign/gt0 (abs′, relu′); the language must reach every rule
    missing = (set(ELEMENTWISE) | set(MATRIX_FUNCTIONS)) - reached
    assert not missing, f"rules with no test through the language: {missing}"


def test_every_rule_documents_its_formula():
    for rule in list(ELEMENTWISE.values()) + list(MATRIX_FUNCTIONS.values()):
        assert rule.doc and ("′" in rule.doc or "d" in rule.doc), rule.name
    for spec in SPECS:
        assert spec.doc, spec.name
