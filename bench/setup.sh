#!/usr/bin/env bash
# The benchmark's own set-up: the project in .venv (as the README installs it, plus the tools that
# compile the core with mypyc, as the container image ships it, and the FastAPI peer), the Go peer,
# wrk and (optionally) valgrind and perf from Debian.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[compile,bench]'
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
# The Go peer (bench/peers/go), built outside the repository with Debian's Go.
if ! command -v go >/dev/null; then
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq golang-go >/dev/null
fi
PEERS=${STSMESH_BENCH_PEERS:-$HOME/.cache/stsmesh/bench}
mkdir -p "$PEERS"
(cd bench/peers/go && GOFLAGS=-mod=mod GOCACHE="$PEERS/gocache" go build -o "$PEERS/webhook-go" .)
if ! command -v wrk >/dev/null; then
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null
fi
# valgrind (optional) counts instructions per request in bench/instructions.py, where a VM has no
# hardware counters for perf.
if ! command -v valgrind >/dev/null; then
  $SUDO apt-get install -y -qq valgrind >/dev/null 2>&1 || echo "valgrind not installed: bench.instructions will not run"
fi
# perf (optional) counts the servers' instructions per request; without it that column shows "-".
if ! command -v perf >/dev/null; then
  $SUDO apt-get install -y -qq linux-perf >/dev/null 2>&1 || echo "perf not installed: instruction counts are skipped"
fi
