# Everything a new user or CI needs starts here. `make` bootstraps .venv from a plain python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= $(CURDIR)/.strongroom

.PHONY: demo test lint up down bench lock clean venv
.DEFAULT_GOAL := demo

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# Re-lock the whole dependency tree from the pins in pyproject.toml (after changing them).
lock:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip compile --quiet --python-version 3.11 --extra local --extra dev pyproject.toml -o requirements.lock

demo: venv
	$(BIN)/strongroom --data $(DATA) demo

up: venv
	$(BIN)/strongroom --data $(DATA) up

down: venv
	$(BIN)/strongroom --data $(DATA) down

# The code's own checks: lint, the layers (import-linter), types. Part of `make test`.
lint: venv
	$(BIN)/ruff check functions tests
	cd functions && ../$(BIN)/lint-imports --config ../pyproject.toml --no-cache
	$(BIN)/cfn-lint template.yaml infra/*.yaml

test: venv lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup tests

bench: venv
	$(BIN)/python -m tests.bench

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache
