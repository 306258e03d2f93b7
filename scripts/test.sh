#!/usr/bin/env bash
# The project's one test command (README, and CI through .ci/run): sets up .venv when missing,
# installs the project with its test extras, then runs lint, types, layering and the test suite, and
# the core suites again against the mypyc-compiled build the container image ships.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
echo "== ruff"; .venv/bin/ruff check webhook tests bench setup.py
echo "== mypy (strict)"; .venv/bin/mypy
echo "== import-linter"; .venv/bin/lint-imports
echo "== pytest"; .venv/bin/pytest -q "$@"
echo "== pytest, compiled build (scripts/compiled.sh)"; ./scripts/compiled.sh test
