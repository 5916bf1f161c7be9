"""Benchmarks run in CI only in their quick correctness mode (never as timed tests)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_derive_benchmark_quick_mode_runs():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_derive.py"), "--quick"],
                         capture_output=True, text=True, check=True).stdout
    assert "derive: median" in out and "import chainrule" in out


def test_backprop_benchmark_quick_mode_runs():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_backprop.py"), "--quick"],
                         capture_output=True, text=True, check=True).stdout
    assert "L =   5" in out and "two-layer example" in out


def test_tutor_benchmark_quick_mode_runs():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_tutor.py"), "--quick"],
                         capture_output=True, text=True, check=True).stdout
    assert "explain:" in out and "check:" in out


def test_codegen_benchmark_quick_mode_runs():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_codegen.py"), "--quick", "--only", "nn"],
                         capture_output=True, text=True, check=True).stdout
    assert "generated vs hand-written" in out


def test_sympy_benchmark_quick_mode_runs():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_sympy.py"), "--quick"],
                         capture_output=True, text=True, check=True).stdout
    assert "chainrule answered all" in out


def test_web_benchmark_quick_mode_runs():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_web.py"), "--quick"],
                         capture_output=True, text=True, check=True, timeout=600).stdout
    assert out.count("p95") == 4


def test_train_benchmark_quick_mode_runs():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_train.py"), "--quick"],
                         capture_output=True, text=True, check=True).stdout
    assert "ratio" in out and "final cost" in out
