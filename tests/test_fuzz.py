"""A fast, deterministic slice of the fuzz campaign (fuzz/campaign.py runs ≥ 100k inputs): generated
expressions and models, their mutations and random bytes go through parse → shapes → derive → print
(→ explain, check); each ends in a result or a positioned ChainruleError, never anything else, and
within the time limit."""
import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))
from grammar import NAMES, TOKENS, case  # noqa: E402
from runner import run  # noqa: E402

ACCEPTED = ("ok", "error")


@pytest.mark.parametrize("block", range(6))
def test_generated_inputs(block):
    rng = random.Random(f"slice-{block}")
    for k in range(100):
        kind, text, wrt = case(rng)
        outcome, detail, seconds = run(kind, text, wrt, deep=(k % 25 == 0))
        assert outcome in ACCEPTED, (outcome, detail, kind, text, wrt)


FUZZ = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map("".join), st.sampled_from(NAMES))
def test_token_soup(text, wrt):
    outcome, detail, _ = run("expr", text, wrt)
    assert outcome in ACCEPTED, (outcome, detail, text)


@FUZZ
@given(st.binary(max_size=120), st.sampled_from(["expr", "model"]))
def test_random_bytes(data, kind):
    text = data.decode("latin-1")
    outcome, detail, _ = run(kind, text, "x")
    assert outcome in ACCEPTED, (outcome, detail, text)


@FUZZ
@given(st.text(max_size=60), st.sampled_from(["expr", "model"]))
def test_random_unicode(text, kind):
    outcome, detail, _ = run(kind, text, "x")
    assert outcome in ACCEPTED, (outcome, detail, text)
