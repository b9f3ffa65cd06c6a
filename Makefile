# Everything a new user or CI needs starts here. `make` bootstraps .venv from a plain python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= $(CURDIR)/.strongroom
UV_PIN := uv==0.13.9

# The AWS SAM CLI pins its own boto3 exactly, so it lives in a venv of its own, locked with
# hashes in infra/sam-cli.lock (`make lock` writes it from this pin).
SAM_CLI   := aws-sam-cli==1.170.0
SAM_VENV  := $(VENV)/sam
SAM       := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed

# Lambda architecture of every function (template.yaml's and node.yaml's Architecture
# parameter). arm64 on AWS; `make build ARCH=x86_64` makes artifacts this machine can import.
ARCH       ?= arm64
# No usage data from the SAM CLI to AWS (and no waiting on it where there is no network).
export SAM_CLI_TELEMETRY := 0
BUILD_DIR  ?= .aws-sam/build
NODE_BUILD_DIR ?= .aws-sam/node

.PHONY: demo test lint up down bench bench-quick lock clean venv sam build checkov
.DEFAULT_GOAL := demo

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check $(UV_PIN)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

sam: $(SAM_STAMP)

$(SAM_STAMP): infra/sam-cli.lock $(STAMP)
	$(PYTHON) -m venv $(SAM_VENV)
	$(BIN)/uv pip install --quiet --python $(SAM_VENV)/bin/python --require-hashes -r infra/sam-cli.lock
	touch $(SAM_STAMP)

# Re-lock from the pins in pyproject.toml (after changing them), or after changing SAM_CLI:
#   requirements.lock      the dev/local environment (.venv)
#   functions/runtime.lock what Lambda functions run with: core + the replay/render extras, with the
#                          hashes of every file of each version (functions/Makefile requires them);
#                          the same versions as requirements.lock, so the tests run what Lambda runs,
#                          resolved for Lambda's platform: wheels only (but SDIST_ONLY), manylinux2014,
#                          checked for both architectures
#   infra/sam-cli.lock     the SAM CLI's own venv
SDIST_ONLY   := $(shell sed -n 's/^SDIST_ONLY := //p' functions/Makefile)
LAMBDA_WHEELS = --python-version 3.11 --only-binary :all: $(addprefix --no-binary ,$(SDIST_ONLY))
lock:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check $(UV_PIN)
	$(BIN)/uv pip compile --quiet --python-version 3.11 --custom-compile-command "make lock" \
	  --extra local --extra dev pyproject.toml -o requirements.lock
	$(BIN)/uv pip compile --quiet $(LAMBDA_WHEELS) --python-platform aarch64-manylinux2014 \
	  --custom-compile-command "make lock" --generate-hashes --extra replay --extra render \
	  pyproject.toml -c requirements.lock -o functions/runtime.lock
	$(BIN)/uv pip compile --quiet $(LAMBDA_WHEELS) --python-platform x86_64-manylinux2014 \
	  --extra replay --extra render pyproject.toml -c functions/runtime.lock -o /dev/null
	echo "$(SAM_CLI)" | $(BIN)/uv pip compile --quiet --python-version 3.11 --custom-compile-command "make lock" \
	  --generate-hashes - -o infra/sam-cli.lock

# Every function's artifact (template.yaml into $(BUILD_DIR), infra/node.yaml's auditor into
# $(NODE_BUILD_DIR)), built by functions/Makefile; no container.
build: venv sam
	STRONGROOM_ARCH=$(ARCH) $(SAM) build --template-file template.yaml --build-dir $(BUILD_DIR) \
	  --parameter-overrides Architecture=$(ARCH) --parallel
	STRONGROOM_ARCH=$(ARCH) $(SAM) build --template-file infra/node.yaml --build-dir $(NODE_BUILD_DIR) \
	  --parameter-overrides Architecture=$(ARCH)

demo: venv
	$(BIN)/strongroom --data $(DATA) demo

up: venv
	$(BIN)/strongroom --data $(DATA) up

down: venv
	$(BIN)/strongroom --data $(DATA) down

# The code's own checks: lint, types (mypy, configured in pyproject.toml), the layers (import-linter),
# the templates (cfn-lint, checkov).
# Part of `make test`.
lint: venv
	$(BIN)/ruff check functions tests
	$(BIN)/ruff format --check functions tests
	$(BIN)/mypy
	cd functions && ../$(BIN)/lint-imports --config ../pyproject.toml --no-cache
	$(BIN)/cfn-lint template.yaml infra/*.yaml
	$(MAKE) --no-print-directory checkov

checkov: venv
	$(BIN)/checkov --quiet --compact --framework cloudformation --skip-download \
	  $(addprefix -f ,template.yaml $(wildcard infra/*.yaml))

test: venv sam lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup tests

bench: venv
	$(BIN)/python -m tests.bench

# The scale figures (issue 8) in a few minutes: one flat JSON object in bench-quick.json.
bench-quick: venv
	$(BIN)/python -m tests.bench.quick bench-quick.json

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache .aws-sam
