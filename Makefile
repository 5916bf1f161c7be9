# Two commands: `make demo` and `make test`. Both create the virtual environment when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test bench acceptance clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/chainrule demo

test: $(STAMP)
	$(BIN)/python -m pytest

# Benchmarks against JAX and PyTorch install them into the venv (torch pinned: the CPU build).
bench: $(STAMP)
	$(BIN)/python -c "import jax, torch" 2>/dev/null || $(BIN)/python -m pip install -q ".[bench]"
	$(BIN)/python benchmarks/bench_derive.py
	$(BIN)/python benchmarks/bench_limits.py
	$(BIN)/python benchmarks/bench_backprop.py
	$(BIN)/python benchmarks/bench_tutor.py
	$(BIN)/python benchmarks/bench_codegen.py
	$(BIN)/python benchmarks/bench_sympy.py
	$(BIN)/python benchmarks/bench_web.py
	$(BIN)/python benchmarks/bench_train.py

# The public acceptance cases, checked against exact JAX derivatives (installs jax into the venv).
acceptance: $(STAMP)
	$(BIN)/python -c "import jax" 2>/dev/null || $(BIN)/python -m pip install -q jax
	$(BIN)/python ../shared/acceptance/check_derive.py ../shared/acceptance/public_cases.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .hypothesis
