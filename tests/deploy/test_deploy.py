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
import json
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


HELM_LABELS = (
    "helm.sh/chart",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
)
"""Labels only a Helm release carries (and the managed-by that `register` sets): compared apart."""


@pytest.fixture(scope="session")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.crt"
    path.write_bytes(certs.make_ca(dt.datetime.now(dt.UTC)).cert)
    return path


def helm_run(*sets: str, files: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    assert HELM is not None
    argv = [HELM, "template", "stsmesh", str(ROOT / "deploy/helm/stsmesh"), "--namespace", "stsmesh"]
    for value in sets:
        argv += ["--set", value]
    for value in files:
        argv += ["--set-file", value]
    return subprocess.run(argv, capture_output=True, text=True)


def helm_template(*sets: str, files: tuple[str, ...] = (), ca: Path | None = None) -> list[dict[str, Any]]:
    """``helm template`` with ``sets``; ``ca``: also give it a caBundle (the chart refuses a webhook
    the apiserver could not verify)."""
    done = helm_run(*sets, files=(*files, *((f"webhook.caBundle={ca}",) if ca else ())))
    assert done.returncode == 0, done.stderr
    return _docs(done.stdout)


def normalized(docs: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Objects less what only differs between a Helm release and kustomize: Helm's labels, the
    catalogue checksum, the caBundle."""
    out = {}
    for key, doc in docs.items():
        doc = json.loads(json.dumps(doc))
        metas = [doc["metadata"], ((doc.get("spec") or {}).get("template") or {}).get("metadata") or {}]
        for meta in metas:
            for label in HELM_LABELS:
                (meta.get("labels") or {}).pop(label, None)
            annotations = meta.get("annotations") or {}
            for name in [a for a in annotations if a.startswith("checksum/")]:
                del annotations[name]
        for webhook in doc.get("webhooks") or []:
            webhook["clientConfig"].pop("caBundle", None)
        out[key] = doc
    return out


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
def test_helm_renders_the_same_objects_as_kustomize(ca_file: Path) -> None:
    base = {k: v for k, v in by_key(kustomize("deploy/base")).items() if k[0] != "Namespace"}
    assert normalized(by_key(helm_template(ca=ca_file))) == normalized(base)


@needs_kubectl
@needs_helm
def test_helm_cert_manager_matches_the_overlay() -> None:
    overlay = {k: v for k, v in by_key(kustomize("deploy/overlays/cert-manager")).items() if k[0] != "Namespace"}
    assert normalized(by_key(helm_template("certManager.enabled=true"))) == normalized(overlay)


@needs_kubectl
@needs_helm
def test_helm_istio_mesh_config_matches_the_overlay(ca_file: Path) -> None:
    overlay = {k: v for k, v in by_key(kustomize("deploy/overlays/istio-mesh-config")).items() if k[0] != "Namespace"}
    assert normalized(by_key(helm_template("istioMeshConfig=true", ca=ca_file))) == normalized(overlay)
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


# --- the Helm chart's conventions ---------------------------------------------------------------


@needs_helm
def test_the_chart_refuses_a_webhook_the_apiserver_could_not_verify(ca_file: Path) -> None:
    done = helm_run()
    assert done.returncode != 0 and "webhook.caBundle is empty and certManager.enabled is false" in done.stderr
    kinds = {d["kind"] for d in helm_template("webhook.create=false")}
    assert "MutatingWebhookConfiguration" not in kinds and "Deployment" in kinds, "register it yourself"
    assert "MutatingWebhookConfiguration" in {d["kind"] for d in helm_template(ca=ca_file)}


@needs_helm
@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("webhook.failurePolicy=Sometimes", "failurePolicy"),
        ("replicas=0", "replicas"),
        ("webhook.timeoutSeconds=31", "timeoutSeconds"),
        ("logFormat=xml", "logFormat"),
        ("nodeSelecter.disk=ssd", "nodeSelecter"),
        ("extraArgs[0]=namespace-mesh=shop=istio", "extraArgs"),
        ("serviceMonitor.interval=soon", "interval"),
    ],
)
def test_the_values_schema_rejects_mistakes(ca_file: Path, value: str, says: str) -> None:
    done = helm_run(value, files=(f"webhook.caBundle={ca_file}",))
    assert done.returncode != 0 and "values don't meet the specifications of the schema" in done.stderr, done.stderr
    assert says in done.stderr


@needs_helm
def test_recommended_labels_on_every_object(ca_file: Path) -> None:
    for doc in helm_template("perPodController.enabled=true", ca=ca_file):
        labels = doc["metadata"]["labels"]
        assert labels["helm.sh/chart"] == "stsmesh-0.1.0", doc["kind"]
        assert labels["app.kubernetes.io/instance"] == "stsmesh" and labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/name"] in ("stsmesh", "stsmesh-per-pod")


@needs_helm
def test_pdb_only_with_more_than_one_replica(ca_file: Path) -> None:
    assert ("PodDisruptionBudget", "stsmesh") in by_key(helm_template(ca=ca_file))
    assert ("PodDisruptionBudget", "stsmesh") not in by_key(helm_template("replicas=1", ca=ca_file)), (
        "minAvailable 1 of 1 would block every node drain"
    )


@needs_helm
def test_scheduling_extra_args_and_env_reach_the_pod(ca_file: Path, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "nodeSelector": {"disk": "ssd"},
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}],
                "priorityClassName": "system-cluster-critical",
                "topologySpreadConstraints": [
                    {
                        "maxSkew": 1,
                        "topologyKey": "topology.kubernetes.io/zone",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "stsmesh"}},
                    }
                ],
                "affinity": {"nodeAffinity": {}},
                "extraArgs": ["--namespace-mesh=shop=istio:1.9"],
                "extraEnv": [{"name": "STSMESH_ON_RULE_ERROR", "value": "deny"}],
                "logLevel": "DEBUG",
            }
        )
    )
    assert HELM is not None
    argv = [HELM, "template", "stsmesh", str(ROOT / "deploy/helm/stsmesh"), "-n", "stsmesh", "-f", str(values),
            "--set-file", f"webhook.caBundle={ca_file}"]  # fmt: skip
    docs = by_key(_docs(subprocess.run(argv, check=True, capture_output=True, text=True).stdout))
    pod = docs[("Deployment", "stsmesh")]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"disk": "ssd"} and pod["tolerations"][0]["key"] == "dedicated"
    assert pod["priorityClassName"] == "system-cluster-critical" and pod["topologySpreadConstraints"][0]["maxSkew"] == 1
    assert pod["affinity"] == {"nodeAffinity": {}}, "affinity replaces the default anti-affinity"
    (container,) = pod["containers"]
    assert "--namespace-mesh=shop=istio:1.9" in container["args"] and "--log-level=DEBUG" in container["args"]
    assert {"name": "STSMESH_ON_RULE_ERROR", "value": "deny"} in container["env"]


@needs_helm
def test_a_catalogue_change_rolls_the_pods(ca_file: Path) -> None:
    def checksum(*sets: str) -> str:
        pod = by_key(helm_template(*sets, ca=ca_file))[("Deployment", "stsmesh")]["spec"]["template"]
        return str(pod["metadata"]["annotations"]["checksum/catalogue"])

    assert checksum() != checksum("catalogue=version: 1\\ndisable: [zookeeper-bitnami]")


@needs_kubectl
@needs_helm
def test_helm_per_pod_controller_matches_the_overlay(ca_file: Path) -> None:
    overlay = {k: v for k, v in by_key(kustomize("deploy/overlays/per-pod-controller")).items() if k[0] != "Namespace"}
    assert normalized(by_key(helm_template("perPodController.enabled=true", ca=ca_file))) == normalized(overlay)


@needs_helm
def test_monitoring_objects_when_asked(ca_file: Path) -> None:
    assert not {d["kind"] for d in helm_template(ca=ca_file)} & {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    sets = ("serviceMonitor.enabled=true", "podMonitor.enabled=true", "prometheusRule.enabled=true")
    docs = by_key(helm_template(*sets, ca=ca_file))
    (endpoint,) = docs[("ServiceMonitor", "stsmesh")]["spec"]["endpoints"]
    assert endpoint["port"] == "https-webhook" and endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"]["serverName"] == "stsmesh.stsmesh.svc"
    assert docs[("PodMonitor", "stsmesh")]["spec"]["podMetricsEndpoints"][0]["port"] == "https"
    rules = yaml.safe_load((ROOT / "deploy/helm/stsmesh/files/alerts.yaml").read_text())
    assert docs[("PrometheusRule", "stsmesh")]["spec"] == rules


@needs_helm
def test_helm_lint_strict_and_the_chart_documents_every_value(ca_file: Path) -> None:
    assert HELM is not None
    chart = ROOT / "deploy/helm/stsmesh"
    done = subprocess.run([HELM, "lint", "--strict", str(chart), "--set-file", f"webhook.caBundle={ca_file}"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    chart_yaml = yaml.safe_load((chart / "Chart.yaml").read_text())
    assert chart_yaml["kubeVersion"] == ">=1.20.0-0"
    assert (chart / "templates/NOTES.txt").exists()
    readme = (chart / "README.md").read_text()

    def keys(values: dict[str, Any], prefix: str = "") -> list[str]:
        found = []
        for key, value in values.items():
            found.append(prefix + key)
            if isinstance(value, dict) and value and key not in ("resources", "nodeSelector", "affinity"):
                found.extend(keys(value, f"{prefix}{key}."))
        return found

    values = yaml.safe_load((chart / "values.yaml").read_text())
    schema = json.loads((chart / "values.schema.json").read_text())
    undocumented = [k for k in keys(values) if f"`{k}`" not in readme]
    assert not undocumented, f"values missing from the chart README: {undocumented}"
    assert set(values) == set(schema["properties"]), "every value is in the schema, and only those"
