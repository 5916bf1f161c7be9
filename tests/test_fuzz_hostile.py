"""A deterministic slice of the second fuzz generator (fuzz/hostile.py; the campaign is
fuzz/hostile_run.py, one child process per input with time and memory measured). The slice is the
cheap cases (hostile.cheap: decided from the text, before running) among the first 500 of seed
"slice", run in-process: each must end in a result or a ChainruleError with a position — a caret,
the model line, or the argument it is about. No wall-clock limits: slow inputs are the campaign's.

KNOWN lists the cases the engine does not handle yet, each with its failure; they are
xfail(strict=True), so a fix makes the test fail until its entry is removed here."""
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))
import hostile  # noqa: E402

SEED, CANDIDATES = "slice", 500

NOT_FINITE = "numeric check: 'the expression is not finite on random data', no position (the sub-expression is not named)"
SINGULAR = "numeric check: 'a matrix function met a singular matrix', no position (which inv/det is not named)"
KNOWN = {
    26: NOT_FINITE,         # log(det(A * 0))
    130: NOT_FINITE,        # sum(exp(3.0 ** 64 * x))
    154: NOT_FINITE,        # sum(log(0) * x)
    165: NOT_FINITE,        # sum(x ** 0.5) + sum((-x * x) ** 0.5), order 2
    210: NOT_FINITE,        # sum(x ** 0.5) + sum((-x * x) ** 0.5)
    425: NOT_FINITE,        # log(det(A * 0))
    499: NOT_FINITE,        # sum(log(-exp(x))), shapes 3
    232: SINGULAR,          # sum(inv(A * 0) @ x)
    283: SINGULAR,          # sum(inv(outer(x, x)))
    392: SINGULAR,          # sum(inv(A) @ inv(A - A) @ x), order 2
}


def _slice():
    out = []
    for k in range(CANDIDATES):
        c = hostile.case(SEED, k)
        if hostile.cheap(c):
            marks = [pytest.mark.xfail(strict=True, reason=KNOWN[k])] if k in KNOWN else []
            out.append(pytest.param(c, id=f"{c['family']}-{k}-{c['api']}", marks=marks))
    return out


SLICE = _slice()


def test_slice_is_a_few_hundred_cases_of_every_family():
    families = {p.values[0]["family"] for p in SLICE}
    assert 300 <= len(SLICE) <= 600, len(SLICE)
    assert families == set(hostile.FAMILIES), set(hostile.FAMILIES) - families
    assert set(KNOWN) <= {p.values[0]["k"] for p in SLICE}, "a KNOWN case is no longer in the slice"


def test_cases_are_deterministic():
    assert hostile.case(SEED, 17) == hostile.case(SEED, 17)
    assert hostile.case(3, 5) != hostile.case(3, 6)


@pytest.mark.parametrize("case", SLICE)
def test_hostile_case(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # NumPy's overflow warnings on extreme data are not failures
        outcome, detail = hostile.run_inprocess(case)
    assert outcome in ("ok", "error"), (outcome, detail, case["api"], case["args"])
