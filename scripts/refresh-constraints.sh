#!/usr/bin/env bash
# Re-resolve the newest versions pyproject.toml allows, in a scratch venv, and rewrite
# constraints.txt with them; then run ./scripts/test.sh before committing the change.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/stsmesh-constraints.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
"${PYTHON:-python3}" -m venv "$SCRATCH/venv"
"$SCRATCH/venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip setuptools wheel
"$SCRATCH/venv/bin/pip" install --quiet --disable-pip-version-check '.[test,compile]'
{
  sed -n '1,3p' constraints.txt
  "$SCRATCH/venv/bin/pip" freeze --all --disable-pip-version-check | grep -v -E '^stsmesh=='
} > constraints.txt.new
mv constraints.txt.new constraints.txt
echo "constraints.txt rewritten; run ./scripts/test.sh, then commit it"
