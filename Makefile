# Two commands do everything on a fresh machine: `make demo` and `make test` (both install first).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	@echo "installing the Python packages into $(VENV) (quiet; a minute or two the first time)"
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
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
	rm -rf $(VENV) node_modules .aibtrigger .pytest_cache

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
