# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins an old boto3 that conflicts with aws-sam-cli, so it gets a virtualenv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CHECKOV_VERSION := 3.3.30

.PHONY: demo test lint setup bench mutation

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Replays the bundled sample trail against the sample allowlist. Exit code 1 from replay means
# "findings were printed", which is what the demo is for.
demo: $(STAMP)
	@$(BIN)/paramwatch check-allowlist events/allowlist.yaml
	@$(BIN)/paramwatch replay --allowlist events/allowlist.yaml --format table events/sample-trail; \
	  code=$$?; [ $$code -le 1 ] || exit $$code

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $@

test: lint $(CHECKOV_STAMP)
	CHECKOV=$(CHECKOV_VENV)/bin/checkov $(BIN)/pytest

# Benchmarks (not tests): generates a busy day of CloudTrail logs and prints a table of figures.
bench: $(STAMP)
	PYTHONPATH=functions:tests $(BIN)/python bench/run.py

# Mutation testing (not part of `make test`: about 1 hour 15 minutes on 2 cores shared with other
# work, the detector's 1,550 mutants 38 minutes of it (December 4, 2026, after a detector run and
# five rechecks: every mutant killed or listed as equivalent; see the README). mutmut lives in its own
# virtualenv: it needs a newer click than aws-sam-cli pins. Prints the score per module.
MUTATION_VENV := .venv-mutation
MUTATION_STAMP := $(MUTATION_VENV)/.installed

$(MUTATION_STAMP): pyproject.toml
	$(PYTHON) -m venv $(MUTATION_VENV)
	$(MUTATION_VENV)/bin/pip install --quiet --upgrade pip
	$(MUTATION_VENV)/bin/pip install --quiet -e . 'pytest>=8' 'hypothesis>=6.100' 'moto[server]>=5.1' boto3 jsonschema \
	  'duckdb>=1.1' 'sqlglot>=25' 'aws-lambda-powertools>=3.10,<4' 'mutmut==3.8.1'
	touch $@

mutation: $(STAMP) $(MUTATION_STAMP)
	nice -n 19 $(BIN)/python mutation/run.py $(if $(MODULE),--module $(MODULE))
