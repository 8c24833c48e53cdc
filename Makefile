# The README's two commands are `make demo` and `make test`; .ci/run calls `make test`.
# Everything installs into .venv from PyPI, so both work on a fresh machine with Python 3.11.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit bench clean

# Deploy-side targets (layer, cfn-lint, sam validate/build) and aws-sam-cli in its own venv.
include make/sam.mk
# `make fuzz`: the hypothesis properties of tests/fuzz with a large example budget.
include make/fuzz.mk
# NIST PKITS fixtures for the test suite (fetched before pytest).
include make/pkits.mk
# `make differential`: the long differential run of generated PKIs (tests/differential).
include make/differential.mk

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## The demo: decide every sample event in events/ with the real handler and print a table.
demo: $(STAMP)
	$(BIN)/mtls-authorizer demo

## Everything CI runs: lint, types, tests (the template tests use sam from .venv-sam).
test: lint typecheck sam-artifacts unit

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) pkits
	$(BIN)/pytest

## Benchmarks print their figures (they are not tests: nothing here can flake a build).
bench: $(STAMP) host-layer host-layer-runtime
	$(BIN)/python bench/bench_decision.py
	$(BIN)/python bench/bench_policy.py
	$(BIN)/python bench/bench_revocation.py
	$(BIN)/python bench/bench_fleet.py
	$(BIN)/python bench/bench_validation.py
	$(BIN)/python bench/bench_coldstart.py
	$(BIN)/python bench/bench_serve.py

clean:
	rm -rf $(VENV) .venv-sam .pytest_cache .mypy_cache .ruff_cache build .aws-sam
