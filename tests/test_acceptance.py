"""The public acceptance cases (../shared/acceptance), when present: every case correct (against
finite differences here, and against exact JAX derivatives when jax is installed) and every
`matrix` case printed in matrix form."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import chainrule

ACCEPTANCE = Path(__file__).resolve().parents[2] / "shared" / "acceptance"
CASES = ACCEPTANCE / "public_cases.py"


def _cases():
    if not CASES.exists():
        return []
    spec = importlib.util.spec_from_file_location("public_cases", CASES)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.C


@pytest.mark.skipif(not CASES.exists(), reason="acceptance material not present")
@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_public_case(case):
    r = chainrule.derive(case["expr"], case["wrt"], case["shapes"], case["order"])
    assert r.check() < 1e-6
    if case["matrix"]:
        assert r.matrix_form and "einsum" not in r.numpy


@pytest.mark.skipif(not CASES.exists(), reason="acceptance material not present")
def test_public_cases_against_jax():
    pytest.importorskip("jax")
    out = subprocess.run([sys.executable, str(ACCEPTANCE / "check_derive.py"), str(CASES), "--min-matrix", "1"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
