"""A deterministic slice of the second fuzz generator (fuzz/hostile.py; the campaign is
fuzz/hostile_run.py, one child process per input with time and memory measured). The slice is the
cheap cases (hostile.cheap: decided from the text, before running) among the first 500 of seed
"slice", run in-process: each must end in a result or a ChainruleError with a position — a caret,
the model line, or the argument it is about. No wall-clock limits: slow inputs are the campaign's.

REPROS adds the minimal repros of the campaign's failure classes that are fast. KNOWN lists the cases
the engine does not handle yet, each with its failure; they are xfail(strict=True), so a fix makes
the test fail until its entry is removed here."""
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))
import hostile  # noqa: E402

SEED, CANDIDATES = "slice", 500

# Minimal repros of the campaign's failure classes (fuzz/hostile_run.py, shrunk by hand or --shrink),
# each a fast case: they run with the slice.
TWO_LAYER = hostile.example("two-layer")
REPROS = {
    "dim-named-np": ("backprop+check", {"model": "X: n_x, np data\nW: 1, n_x\nJ = -1/np * sum(W @ X)\n"}),
    "dim-named-np-tiny": ("backprop+check", {"model": "Y: np\nb2:\nZ2 = b2\n"}),
    "hidden-dim-named-np": ("backprop+check", {"model": TWO_LAYER.replace("n_h", "np")}),
    "parameter-named-like-adjoint": ("backprop+check", {"model": TWO_LAYER.replace("W1", "dZ1").replace("A1", "dZ2")}),
    "explain-power-tower": ("explain", {"expr": "sum(" + "(" * 11 + "x" + ") ** 2" * 11 + ")", "wrt": "x",
                                        "shapes": {"x": ["n"]}}),
    "superscript-dimension-model": ("backprop", {"model": "W: 2\u00b2\nJ = sum(W)\n"}),
    "superscript-dimension-shapes": ("derive", {"expr": "sum(x)", "wrt": "x", "shapes": {"x": ["\u00b2"]}}),
    "explain-sinh-6": ("explain", {"expr": "sum(" + "sinh(" * 6 + "x" + ")" * 6 + ")", "wrt": "x", "shapes": {"x": ["n"]}}),
    "explain-constant-loss": ("explain", {"model": TWO_LAYER.replace(TWO_LAYER.splitlines()[-1], "J = -1"),
                                          "target": "dZ2"}),
    "subnormal-constant-check": ("derive+check", {"expr": "sum(x) * 1e-320", "wrt": "x", "shapes": {"x": ["n"]}}),
    "subnormal-constant-model-check": ("backprop+check", {"model": "W: n\nJ = 1e-320 * sum(W ** 2)\n"}),
    "constant-underflow-check": ("derive+check", {"expr": "sum(x) * (1e-296) ** 2", "wrt": "x", "shapes": {"x": ["n"]}}),
    "explain-empty-target": ("explain", {"model": TWO_LAYER, "target": ""}),
}

# The cases the engine does not handle yet (slice index or repro name -> the failure seen).
KNOWN = {
}


def _param(c, name):
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN[name])] if name in KNOWN else []
    return pytest.param(c, id=f"{c['family']}-{name}-{c['api']}", marks=marks)


def _slice():
    return [_param(c, c["k"]) for c in (hostile.case(SEED, k) for k in range(CANDIDATES)) if hostile.cheap(c)]


SLICE = _slice()
FOUND = [_param({"family": "repro", "api": api, "args": args, "seed": None, "k": name}, name)
         for name, (api, args) in REPROS.items()]


def test_slice_is_a_few_hundred_cases_of_every_family():
    families = {p.values[0]["family"] for p in SLICE}
    assert 300 <= len(SLICE) <= 600, len(SLICE)
    assert families == set(hostile.FAMILIES), set(hostile.FAMILIES) - families
    assert set(KNOWN) <= {p.values[0]["k"] for p in SLICE} | set(REPROS), "a KNOWN case is no longer run"


def test_cases_are_deterministic():
    assert hostile.case(SEED, 17) == hostile.case(SEED, 17)
    assert hostile.case(3, 5) != hostile.case(3, 6)


@pytest.mark.parametrize("case", SLICE + FOUND)
def test_hostile_case(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # NumPy's overflow warnings on extreme data are not failures
        outcome, detail = hostile.run_inprocess(case)
    assert outcome in ("ok", "error"), (outcome, detail, case["api"], case["args"])
