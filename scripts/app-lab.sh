#!/usr/bin/env bash
# The app lab's matrix (app x delivery x without/with stsmesh) on real processes, printed as the
# README's table. Needs root (network namespaces, iptables) and the lab's packages.
#
#   scripts/app-lab.sh            run every cell (about 6 minutes on 2 cores) and print the table
#   scripts/app-lab.sh --clean    delete namespaces an interrupted run left behind
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "no .venv: run ./scripts/test.sh first" >&2; exit 2; }
if [ "${1:-}" = "--clean" ]; then
  exec .venv/bin/python -c "from tests.applab.lab import clean; print('deleted:', ', '.join(clean()) or 'nothing')"
fi
./scripts/app-lab-deps.sh >/dev/null
exec .venv/bin/python -m tests.applab.matrix "$@"
