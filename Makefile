# Every target creates the virtual environment on first use; nothing is needed beforehand
# but Python >= 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
STAMP := $(VENV)/.installed

PYTEST := $(BIN)/pytest -q -p no:cacheprovider
# One worker per core; a test file stays on one worker (module-scoped organizations and servers
# are shared by the tests of a file). Each worker runs its own emulator.
PARALLEL := -n auto --dist loadfile
# make test fails when the tests cover less of src/keyrotate than this (97.0% of lines measured at 15a84dd)
COVERAGE_FLOOR := 90

.PHONY: demo test check lint typecheck layers unit functional faults fast bench bench-org package \
	bench-enforce deploy-lint clean

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

# The layering contracts of pyproject.toml: the engine is pure, only aws/ imports the SDK.
layers: $(STAMP)
	$(BIN)/lint-imports

# The inner loop, in seconds: lint, types, layering and the unit tests (no server, no network).
check: lint typecheck layers unit

unit: $(STAMP)
	$(PYTEST) tests/unit

# Against a real moto server over HTTP and a real SMTP server on loopback (minutes).
functional: $(STAMP)
	$(PYTEST) $(PARALLEL) tests/functional

# Fault injection, crashes (SIGKILL), concurrency, throttling, leak scans (minutes).
faults: $(STAMP)
	$(PYTEST) $(PARALLEL) tests/faults

# Every tier but the modules marked slow (the fault matrix, the crash points, the races, the
# throttled runs, the demo and the demo organization's runs): the loop before a push.
fast: $(STAMP)
	$(PYTEST) $(PARALLEL) -m "not slow" tests

# cfn-lint and checkov must both report zero findings; every checkov skip sits in the
# resource's Metadata with its reason. --skip-download keeps checkov offline.
deploy-lint: $(STAMP) $(CHECKOV_VENV)/.installed
	$(BIN)/cfn-lint deploy/*.yaml
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -d deploy

# The Lambda zip (dist/keyrotate-lambda.zip): manylinux wheels for the runtime in main.yaml,
# byte-identical across builds; prints its sha256.
package: $(STAMP)
	$(BIN)/python deploy/package.py --output dist/keyrotate-lambda.zip

test: lint typecheck layers deploy-lint
	$(PYTEST) $(PARALLEL) --cov --cov-report=term --cov-fail-under=$(COVERAGE_FLOOR)

# Benchmarks print figures; they are not tests. bench-org seeds 50 accounts x 200 users in a
# moto server of its own and compares the per-user and credential-report scans (minutes).
bench: $(STAMP)
	$(BIN)/python bench/engine.py

bench-org: $(STAMP)
	$(BIN)/python bench/org.py

# The first enforce run of an adopting organization (8 accounts x 40 users, half overdue) at
# 20 ms per call and a 6 s propagation delay, then one account of 500 overdue users at 50 ms
# against Lambda's 15 minutes; each set against its floor (minutes).
bench-enforce: $(STAMP)
	$(BIN)/python bench/enforce.py
	$(BIN)/python bench/enforce.py --lambda-account

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) build dist *.egg-info
