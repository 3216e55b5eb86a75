# Two commands do everything on a fresh machine: `make demo` and `make test` (both install first).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test bench clean lock lint lint-fix

setup: $(VENV)/.installed node_modules/.installed

# Exactly the lock, nothing else: a new venv each time the lock changes (a reused one would keep
# packages the lock dropped), every file checked against its hash; then the project without deps,
# again (seconds) whenever pyproject.toml changes.
$(VENV)/.locked: requirements-dev.lock
	$(PYTHON) -m venv --clear $(VENV)
	@echo "installing the locked Python packages into $(VENV) (quiet; a minute or two the first time)"
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	touch $@

$(VENV)/.installed: $(VENV)/.locked pyproject.toml
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# A whole local build on Azurite: request ubuntu-base, follow it to the end, show artifact and log.
demo: setup
	$(VENV)/bin/aibtrigger demo

# The suite; pytest's exit 5 (no test collected) is a failure here, never a silent pass.
test: setup
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; exit $$rc

bench: setup
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) node_modules .aibtrigger .pytest_cache .mypy_cache .ruff_cache

# --- Infrastructure checks (infra/, tests/infra) ----------------------------------------------
# checkov pins many packages, so it gets its own venv (.venv-infra), never the app's. `make test`
# installs it first and exports AIBTRIGGER_REQUIRE_INFRA_TOOLS=1, so tests/infra fails (never
# skips) when checkov or pycep-parser is missing. `make infra-check` runs only those checks.
INFRA_VENV ?= .venv-infra

.PHONY: infra-check clean-infra

$(INFRA_VENV)/.installed: infra/requirements-check.txt
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements-check.txt
	touch $@

test: $(INFRA_VENV)/.installed
test: export AIBTRIGGER_REQUIRE_INFRA_TOOLS := 1
test: export AIBTRIGGER_CHECKOV := $(abspath $(INFRA_VENV))/bin/checkov

infra-check: export AIBTRIGGER_REQUIRE_INFRA_TOOLS := 1
infra-check: export AIBTRIGGER_CHECKOV := $(abspath $(INFRA_VENV))/bin/checkov
infra-check: setup $(INFRA_VENV)/.installed
	$(PY) -m pytest tests/infra

clean: clean-infra
clean-infra:
	rm -rf $(INFRA_VENV)

# --- Status page browser tests (tests/e2e/test_status_page.py) ---------------------------------
# Debian's Chromium and its driver, driven by Selenium (pointed at /usr/bin/chromedriver: Selenium
# Manager cannot download a browser here). `make test` installs them when missing and exports
# AIBTRIGGER_REQUIRE_BROWSER=1, so the browser tests fail (never skip) without them.
.PHONY: browser

browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		apt-get update && apt-get install -y chromium chromium-driver; fi

test: browser
test: export AIBTRIGGER_REQUIRE_BROWSER := 1

# --- Lock, lint and types ---------------------------------------------------------------------
# pyproject.toml holds the ranges; `make lock` resolves them once with uv, for the platform Azure
# runs (Python 3.11 on Linux), into two hashed locks: requirements.txt (runtime: what the Functions
# remote build installs) and requirements-dev.lock (runtime + [dev], held to the same runtime pins).
# It keeps the current pins where the ranges still allow them; to move on:
# `make lock LOCK_ARGS=--upgrade` (everything) or `LOCK_ARGS="--upgrade-package azure-core"`.
LOCK_ARGS ?=
LOCK_FLAGS = --python-version 3.11 --python-platform linux --generate-hashes --quiet \
	--custom-compile-command "make lock" $(LOCK_ARGS)

# uv comes from the venv (order-only: a lock is rewritten from ranges, never from what is installed).
lock: | $(VENV)/.installed
	$(VENV)/bin/uv pip compile pyproject.toml $(LOCK_FLAGS) --output-file requirements.txt
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --constraint requirements.txt $(LOCK_FLAGS) \
		--output-file requirements-dev.lock

LINT_PATHS := aibtrigger tests bench function_app.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy aibtrigger

# The fixes ruff can make by itself (imports, pyupgrade, ...), then the formatter; run by hand,
# review the diff. What `make lint` still finds afterwards needs a person (--exit-zero: the
# formatter must run even when findings remain).
lint-fix: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix --exit-zero --quiet $(LINT_PATHS)
	$(VENV)/bin/ruff format $(LINT_PATHS)
