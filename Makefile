# Two commands on a fresh clone: `make demo` and `make test`.
# Each creates .venv with the Python found on PATH (3.11+) and installs the pinned
# dependencies from the lock files; re-running skips the install while the locks are unchanged.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SCENARIO ?= scenarios/demo.toml
PYTEST_ARGS ?=

.PHONY: demo test test-all lint bench lock clean help

help:
	@echo "make demo      run the planner on the embedded demo region (outputs/demo/)"
	@echo "make test      run the fast test suite"
	@echo "make test-all  run every test, slow ones included"
	@echo "make lint      ruff check (style, complexity) and mypy (types)"
	@echo "make bench     run the benchmarks (prints ratios against the peers)"
	@echo "make lock      re-pin dependencies after editing pyproject.toml"

$(BIN)/python:
	@echo ">> creating $(VENV) with $$($(PYTHON) --version)"
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "planner needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-runtime: requirements.lock pyproject.toml | $(BIN)/python
	@echo ">> installing pinned runtime dependencies (requirements.lock)"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

$(VENV)/.installed-dev: requirements-dev.lock pyproject.toml | $(BIN)/python
	@echo ">> installing pinned runtime and test dependencies (requirements-dev.lock)"
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@ $(VENV)/.installed-runtime

demo: $(VENV)/.installed-runtime
	@echo ">> planner run $(SCENARIO)"
	$(BIN)/planner run $(SCENARIO)

test: $(VENV)/.installed-dev
	@echo ">> running the fast test suite (slow cases: make test-all)"
	$(BIN)/python -m pytest -m "not slow" -n 2 $(PYTEST_ARGS)

test-all: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check planner tests benchmarks
	$(BIN)/mypy

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/coverage.py
	$(BIN)/python benchmarks/siting.py
	$(BIN)/python benchmarks/county.py
	$(BIN)/python benchmarks/outputs.py

lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 -o requirements-dev.lock

clean:
	rm -rf $(VENV) outputs/demo .pytest_cache
