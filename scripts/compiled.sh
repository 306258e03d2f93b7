#!/usr/bin/env bash
# The compiled build (STSMESH_COMPILE=1: the pure core compiled with mypyc, as the container image
# ships it), made in place in a scratch copy of this tree outside the repo, with .venv's tools.
#
#   scripts/compiled.sh build          make the copy and compile it; prints its directory
#   scripts/compiled.sh test [ARGS]    build, then run the core, golden, property, shared-manifest and
#                                      server suites against the compiled modules (pytest ARGS added)
#
# The copy is rebuilt every time (about 15 s), so it never runs stale code.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${STSMESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stsmesh}
OUT=$CACHE/compiled/stsmesh
PY=$ROOT/.venv/bin/python
MODE=${1:-build}
[ $# -gt 0 ] && shift
[ -x "$PY" ] || { echo "no .venv: run ./scripts/test.sh (or bash bench/setup.sh) first" >&2; exit 2; }

rm -rf "$OUT" && mkdir -p "$OUT"
# ../shared (the chart renders the shared-manifest tests read) must sit beside the copy too.
[ -d "$ROOT/../shared" ] && ln -sfn "$(cd "$ROOT/../shared" && pwd)" "$CACHE/compiled/shared"
(cd "$ROOT" && tar --exclude=./.venv --exclude=./.git --exclude='__pycache__' --exclude='*.so' \
  --exclude=./build --exclude=./bench/results -cf - .) | (cd "$OUT" && tar -xf -)
if ! (cd "$OUT" && STSMESH_COMPILE=1 "$PY" setup.py build_ext --inplace >build.log 2>&1); then
  tail -40 "$OUT/build.log" >&2
  echo "mypyc build failed (full log: $OUT/build.log); it needs gcc, the Python headers and mypy in .venv" >&2
  exit 1
fi

case "$MODE" in
  build) echo "$OUT" ;;
  test)
    cd "$OUT"
    STSMESH_EXPECT_COMPILED=1 "$PY" -m pytest -q -p no:cacheprovider \
      tests/unit tests/golden tests/property tests/test_shared_manifests.py tests/server "$@"
    ;;
  *) echo "usage: scripts/compiled.sh build|test [pytest args]" >&2; exit 2 ;;
esac
