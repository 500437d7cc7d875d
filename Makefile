# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint setup

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

test: lint
	$(BIN)/pytest
