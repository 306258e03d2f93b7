"""deploy/: the kustomize base and overlays, the Helm chart and the Dockerfile.

Renders with the real tools (``kubectl kustomize``; ``helm template`` from scripts/fetch-tools.sh)
and checks that both renderings agree, that the webhook configuration is exactly what
``stsmesh register --dry-run`` prints, and the deployment defaults a webhook needs (T15).
Schema validation against a real apiserver is in tests/e2e (server-side dry-run).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import HELM, KUBECTL, MISSING_TOOL
from webhook.cli.main import main
from webhook.core import certs

ROOT = Path(__file__).resolve().parents[2]
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason=MISSING_TOOL.format("kubectl"))
needs_helm = pytest.mark.skipif(HELM is None, reason=MISSING_TOOL.format("helm"))


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def kustomize(path: str) -> list[dict[str, Any]]:
    assert KUBECTL is not None
    out = subprocess.run([KUBECTL, "kustomize", str(ROOT / path)], check=True, capture_output=True, text=True)
    return _docs(out.stdout)


def helm_template(*sets: str, files: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    assert HELM is not None
    argv = [HELM, "template", "stsmesh", str(ROOT / "deploy/helm/stsmesh"), "--namespace", "stsmesh"]
    for value in sets:
        argv += ["--set", value]
    for value in files:
        argv += ["--set-file", value]
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    return _docs(out.stdout)


def by_key(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def register_dry_run(*extra: str) -> dict[str, Any]:
    out = io.StringIO()
    code = main(["register", "--service", "stsmesh/stsmesh", "--ca-file", "", "--dry-run", *extra], out=out)
    assert code == 0
    document: dict[str, Any] = yaml.safe_load(out.getvalue())
    return document


@needs_kubectl
@pytest.mark.parametrize(
    "path",
    [
        "deploy/base",
        "deploy/overlays/cert-manager",
        "deploy/overlays/development",
        "deploy/overlays/per-pod-controller",
        "deploy/overlays/istio-mesh-config",
    ],
)
def test_kustomize_renders(path: str) -> None:
    kinds = {d["kind"] for d in kustomize(path)}
    assert {"Deployment", "Service", "MutatingWebhookConfiguration", "ServiceAccount", "ConfigMap"} <= kinds


@needs_kubectl
def test_base_webhook_configuration_is_what_register_prints() -> None:
    rendered = by_key(kustomize("deploy/base"))[("MutatingWebhookConfiguration", "00-stsmesh")]
    assert rendered == register_dry_run()


@needs_kubectl
@needs_helm
def test_helm_renders_the_same_objects_as_kustomize() -> None:
    base = {k: v for k, v in by_key(kustomize("deploy/base")).items() if k[0] != "Namespace"}
    assert by_key(helm_template()) == base


@needs_kubectl
@needs_helm
def test_helm_cert_manager_matches_the_overlay() -> None:
    overlay = {k: v for k, v in by_key(kustomize("deploy/overlays/cert-manager")).items() if k[0] != "Namespace"}
    assert by_key(helm_template("certManager.enabled=true")) == overlay


@needs_kubectl
@needs_helm
def test_helm_istio_mesh_config_matches_the_overlay() -> None:
    overlay = {k: v for k, v in by_key(kustomize("deploy/overlays/istio-mesh-config")).items() if k[0] != "Namespace"}
    assert by_key(helm_template("istioMeshConfig=true")) == overlay
    role = overlay[("Role", "stsmesh-mesh-config-reader")]
    assert role["metadata"]["namespace"] == "istio-system"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "watch"]}]


@needs_helm
def test_helm_ca_bundle_and_fail_policy_values(tmp_path: Path) -> None:
    ca = certs.make_ca(dt.datetime.now(dt.UTC)).cert
    (tmp_path / "ca.crt").write_bytes(ca)
    docs = by_key(helm_template("webhook.failurePolicy=Fail", files=(f"webhook.caBundle={tmp_path / 'ca.crt'}",)))
    webhook = docs[("MutatingWebhookConfiguration", "00-stsmesh")]["webhooks"][0]
    assert webhook["failurePolicy"] == "Fail"
    assert base64.b64decode(webhook["clientConfig"]["caBundle"]) == ca


@needs_kubectl
def test_deployment_defaults() -> None:
    docs = by_key(kustomize("deploy/base"))
    deployment = docs[("Deployment", "stsmesh")]
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert deployment["spec"]["replicas"] == 2
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] not in (0, 1337)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    preferred = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred and "requiredDuringSchedulingIgnoredDuringExecution" not in spec["affinity"]["podAntiAffinity"]
    assert all("subPath" not in m for m in container["volumeMounts"]), "subPath mounts never see Secret updates"
    assert docs[("PodDisruptionBudget", "stsmesh")]["spec"]["minAvailable"] == 1
    assert spec["automountServiceAccountToken"] is True, "the server's watches need its token"
    server_role = docs[("ClusterRole", "stsmesh-server")]
    assert server_role["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["deployments", "daemonsets"], "verbs": ["list", "watch"]},
    ], "list and watch namespaces, Deployments and DaemonSets, nothing more"
    binding = docs[("ClusterRoleBinding", "stsmesh-server")]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "stsmesh", "namespace": "stsmesh"}]


def test_webhook_configuration_contract() -> None:
    configuration = register_dry_run()
    name = configuration["metadata"]["name"]
    for injector in ("istio-sidecar-injector", "istio-revision-tag-default", "linkerd-proxy-injector-webhook-config"):
        assert name < injector, f"{name} must sort before {injector} so our annotations reach the injector"
    (webhook,) = configuration["webhooks"]
    assert webhook["rules"] == [
        {
            "operations": ["CREATE"],
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]
    assert webhook["failurePolicy"] == "Ignore"
    assert webhook["sideEffects"] == "None"
    assert webhook["timeoutSeconds"] == 5
    assert webhook["reinvocationPolicy"] == "IfNeeded"
    excluded = webhook["namespaceSelector"]["matchExpressions"][1]["values"]
    assert {"kube-system", "kube-node-lease", "stsmesh"} <= set(excluded)
    assert {"key": "statefulset.kubernetes.io/pod-name", "operator": "Exists"} in webhook["objectSelector"][
        "matchExpressions"
    ]


def test_register_rejects_bad_flags(tmp_path: Path) -> None:
    err = io.StringIO()
    assert main(["register", "--url", "http://127.0.0.1:8443/mutate", "--ca-file", "", "--dry-run"], err=err) == 2
    assert "https://" in err.getvalue()
    err = io.StringIO()
    assert (
        main(["register", "--ca-file", str(tmp_path / "missing.crt"), "--dry-run"], err=err) == 2
    )  # EXIT_USAGE: a flag names a file that is not there
    assert "stsmesh certs" in err.getvalue()


def test_dockerfile_is_multistage_slim_and_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert len(stages) >= 2, "build and runtime stages"
    final = text[text.rindex("\nFROM ") :]
    assert "slim" in stages[-1]
    assert "USER 10001" in final and "1337" not in final
    assert 'ENTRYPOINT ["stsmesh", "serve"]' in final
    for tool in ("gcc", "build-essential", "apt-get install", "pip install"):
        assert tool not in final, f"no build tools in the final image ({tool})"


def test_dockerfile_build_stage_runs_and_ships_the_compiled_core(tmp_path: Path) -> None:
    """No Docker engine here: run the build stage as written (its COPY set, ENV and RUN lines, with
    /opt and /wheels mapped into a temp dir), then the runtime's entry point from the venv it made.
    The wheel is the mypyc build: the core modules load as C extensions."""
    import json
    import sys
    import tomllib

    text = (ROOT / "Dockerfile").read_text()
    build_stage = text[: text.rindex("\nFROM ")].replace("\\\n", " ")
    src = tmp_path / "src"
    src.mkdir()
    places = {"/opt/stsmesh": tmp_path / "stsmesh", "/opt/build": tmp_path / "build", "/wheels": tmp_path / "wheels"}
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"  # `python` is this interpreter
    runs = []
    for line in build_stage.splitlines():
        if line.startswith("COPY "):
            *sources, _dest = line.split()[1:]
            for source in sources:
                origin = ROOT / source
                target = src / source
                if origin.is_dir():
                    shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
                else:
                    shutil.copy(origin, target)
        elif line.startswith("ENV "):
            name, _, value = line[4:].strip().partition("=")
            env[name] = value
        elif line.startswith("RUN "):
            command = line[4:]
            for place, local in places.items():
                command = command.replace(place, str(local))
            runs.append(command)
    assert env.get("STSMESH_COMPILE") == "1", "the image ships the compiled build"
    for command in runs:
        done = subprocess.run(["bash", "-c", command], cwd=src, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    venv = places["/opt/stsmesh"]
    compiled = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["stsmesh"]["compiled"]
    show = f"import importlib, json; print(json.dumps([importlib.import_module(m).__file__ for m in {compiled!r}]))"
    python = str(venv / "bin/python")
    where = subprocess.run([python, "-c", show], capture_output=True, text=True, check=True, cwd=tmp_path)
    files = json.loads(where.stdout)
    assert files and all(f.endswith(".so") for f in files), files
    version = subprocess.run([str(venv / "bin/stsmesh"), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("stsmesh ")
    dry = subprocess.run(
        [str(venv / "bin/stsmesh"), "dry-run", str(ROOT / "examples/zookeeper-bitnami.yaml"), "-o", "json",
         "--mesh", "istio", "--mesh-version", "1.9"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert yaml.safe_load(dry.stdout)["response"]["patchType"] == "JSONPatch"
    help_text = subprocess.run([str(venv / "bin/stsmesh"), "serve", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "--cert-file" in help_text.stdout


def test_the_readme_flow_registers_the_ca_that_signed_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: `certs -o secret | kubectl apply`, then `register --ca-file certs/ca.crt`. The Secret's
    certificate must verify against the caBundle register writes (a lost CA meant a new one, and a
    webhook the apiserver cannot trust, silently skipped under failurePolicy Ignore)."""
    monkeypatch.chdir(tmp_path)
    secret_out = io.StringIO()
    assert main(["certs", "--service", "stsmesh/stsmesh", "-o", "secret"], out=secret_out) == 0
    secret = yaml.safe_load(secret_out.getvalue())
    registration_out, err = io.StringIO(), io.StringIO()
    argv = ["register", "--service", "stsmesh/stsmesh", "--ca-file", "certs/ca.crt", "--dry-run"]
    assert main(argv, out=registration_out, err=err) == 0, err.getvalue()
    (webhook,) = yaml.safe_load(registration_out.getvalue())["webhooks"]
    ca_bundle = base64.b64decode(webhook["clientConfig"]["caBundle"])
    served = base64.b64decode(secret["data"]["tls.crt"])
    assert certs.signed_by(served, ca_bundle)
    assert base64.b64decode(secret["data"]["ca.crt"]) == ca_bundle
    renewed = io.StringIO()
    assert main(["certs", "--service", "stsmesh/stsmesh", "-o", "secret"], out=renewed) == 0
    assert certs.signed_by(base64.b64decode(yaml.safe_load(renewed.getvalue())["data"]["tls.crt"]), ca_bundle), (
        "a renewal keeps the CA, so the registered caBundle stays valid"
    )


def test_builds_are_pinned() -> None:
    """The base images by digest; every pip install through constraints.txt, which pins every
    package the project and its tools install; the tools' wheel by hash."""
    text = (ROOT / "Dockerfile").read_text()
    for line in (line for line in text.splitlines() if line.startswith("FROM ")):
        assert "@sha256:" in line, line
    installs = [
        line
        for path in ("Dockerfile", "scripts/test.sh", "bench/setup.sh")
        for line in (ROOT / path).read_text().replace("\\\n", " ").splitlines()
        if "pip install" in line
    ]
    assert installs and all("-c constraints.txt" in line for line in installs), installs
    pins = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    import importlib.metadata

    needed = {"aiohttp", "cryptography", "jsonpatch", "kubernetes", "orjson", "prometheus-client", "pyyaml", "pytest"}
    installed = {d.metadata["Name"].lower().replace("_", "-") for d in importlib.metadata.distributions()}
    assert needed <= pins
    assert installed - pins <= {"stsmesh"}, f"installed but not pinned: {sorted(installed - pins - {'stsmesh'})}"
    assert "--hash=sha256:" in (ROOT / "scripts/tools-requirements.txt").read_text()
    assert "--require-hashes" in (ROOT / "scripts/fetch-tools.sh").read_text()


@needs_kubectl
def test_kubectl_runs_stsmesh_as_a_plugin() -> None:
    """pip installs kubectl-stsmesh beside stsmesh; kubectl finds it on PATH: `kubectl stsmesh ...`."""
    import sys

    assert KUBECTL is not None
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "kubectl-stsmesh").exists(), "installed by the project's console scripts"
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    done = subprocess.run([KUBECTL, "stsmesh", "--version"], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout.startswith("stsmesh "), done.stderr
