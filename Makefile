# Two commands a new user needs: `make demo` and `make test`.
# The virtualenv is created and the package installed on first use, and again
# whenever pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test lint format clean demo vendor-c

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The Vendor C test machine (node-opcua): `npm ci` from the committed lock when
# node_modules is missing or the lock changed. The stamp lives inside
# node_modules so that deleting it installs again. Never installed at test time.
VENDOR_C       := tests/peers/vendor_c
VENDOR_C_STAMP := $(VENDOR_C)/node_modules/.npm-ci-stamp

$(VENDOR_C_STAMP): $(VENDOR_C)/package-lock.json $(VENDOR_C)/package.json
	cd $(VENDOR_C) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

vendor-c: $(VENDOR_C_STAMP)

test: $(STAMP) $(VENDOR_C_STAMP)
	$(BIN)/python -m pytest

# The main job on the embedded default: SQLite (./mes.db), a filesystem broker,
# the simulated line and real Celery worker processes. No server to install.
demo: $(STAMP)
	$(BIN)/mes demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .mes-demo .mes-broker .mes-collector
