# Every target creates the virtual environment on first use; nothing is needed beforehand
# but Python >= 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench bench-org package deploy-lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov>=3.2'
	touch $@

demo: $(STAMP)
	$(BIN)/keyrotate demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# cfn-lint and checkov must both report zero findings; every checkov skip sits in the
# resource's Metadata with its reason. --skip-download keeps checkov offline.
deploy-lint: $(STAMP) $(CHECKOV_VENV)/.installed
	$(BIN)/cfn-lint deploy/*.yaml
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -d deploy

# The Lambda zip (dist/keyrotate-lambda.zip): manylinux wheels for the runtime in main.yaml,
# byte-identical across builds; prints its sha256.
package: $(STAMP)
	$(BIN)/python deploy/package.py --output dist/keyrotate-lambda.zip

test: lint typecheck deploy-lint
	$(BIN)/pytest -q

# Benchmarks print figures; they are not tests. bench-org seeds 50 accounts x 200 users in a
# moto server of its own and compares the per-user and credential-report scans (minutes).
bench: $(STAMP)
	$(BIN)/python bench/engine.py

bench-org: $(STAMP)
	$(BIN)/python bench/org.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) build dist *.egg-info
