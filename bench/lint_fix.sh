#!/usr/bin/env bash
# Run once on main after the branches are merged: ruff's own fixes and the formatter (`make lint-fix`),
# the hand fixes written for what ruff cannot fix (bench/lint_handfix.py), the formatter again for
# those, then mypy's known findings listed afresh (bench/mypy_known.py) and `make lint`.
# Review `git diff` before committing: every change is meant to be behaviour-neutral.
set -euo pipefail
cd "$(dirname "$0")/.."
make lint-fix
.venv/bin/python bench/lint_handfix.py
make lint-fix
.venv/bin/python bench/mypy_known.py
make lint
