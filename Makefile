# Two commands do everything on a fresh machine: `make demo` and `make test` (both install first).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
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
