# Every target creates (or reuses) a local virtual environment in .venv, so a fresh
# machine needs nothing but Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/agentflow validate workflows/
	$(BIN)/agentflow plan workflows/hr_onboarding.yaml
	$(BIN)/agentflow run workflows/hr_onboarding.yaml --mock
	@echo
	@echo "agentflow is installed in $(VENV)/, not on your PATH. Next:"
	@echo "  . $(VENV)/bin/activate     # then: agentflow --help"
	@echo "  (or: pipx install .        # a user-wide agentflow command)"

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check agentflow tests benchmarks
	$(BIN)/ruff format --check agentflow tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
