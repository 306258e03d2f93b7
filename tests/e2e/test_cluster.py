"""End to end on a real kube-apiserver + etcd + controller-manager (v1.20.2), all on 127.0.0.1.

The chain under test is the user's: ``stsmesh certs`` (IP SAN) → ``stsmesh serve`` → ``stsmesh
register --url`` → ``stsmesh enable NS`` → real StatefulSets, whose pods the real StatefulSet
controller creates and the real apiserver sends to the webhook. The stored pods must carry exactly
what ``review()`` (the dry-run) says for them, and nothing when stsmesh should stay out.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml
from kubernetes import client

from tests.e2e.conftest import RELEASE, WebhookProcess, create_namespace, stsmesh, wait_for_pods
from tests.support import HELM, KUBECTL, MISSING_TOOL
from webhook.core import certs
from webhook.core.admission import review
from webhook.core.exits import EXIT_CLUSTER
from webhook.core.inputs import pod_from_statefulset, pod_review
from webhook.core.mesh import MeshHint
from webhook.core.review import decode_patch
from webhook.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ISTIO_19 = Settings(default_hint=MeshHint.parse("istio", "1.9"))
APPLIED = "stsmesh.io/applied"


def statefulset(example: str, namespace: str, **changes: Any) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all((ROOT / "examples" / example).read_text()) if d]
    sts = copy.deepcopy(next(d for d in docs if d["kind"] == "StatefulSet"))
    sts["metadata"]["namespace"] = namespace
    sts["spec"]["podManagementPolicy"] = "Parallel"  # no kubelet here: OrderedReady would stop at ordinal 0
    for key, value in changes.items():
        sts["spec"][key] = value
    return sts


def quarkus(namespace: str) -> dict[str, Any]:
    """Negative control modelled on redhat-scholars/kubernetes-tutorial quarkus-statefulset.yaml."""
    labels = {"app": "quarkus-statefulset"}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "quarkus", "namespace": namespace},
        "spec": {
            "serviceName": "quarkus",
            "replicas": 1,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "quarkus",
                            "image": "quay.io/rhdevelopers/quarkus-demo:v1",
                            "ports": [{"containerPort": 8080}],
                        }
                    ]
                },
            },
        },
    }


def apply(api: client.ApiClient, sts: dict[str, Any]) -> None:
    client.AppsV1Api(api).create_namespaced_stateful_set(sts["metadata"]["namespace"], sts)


def assert_carries_golden_mutations(stored: dict[str, Any], sts: dict[str, Any]) -> None:
    """The stored pod is exactly the controller's pod plus what the dry-run patch adds."""
    ordinal = int(stored["metadata"]["name"].rsplit("-", 1)[1])
    dry = pod_from_statefulset(sts, ordinal)
    if not RELEASE.pod_index_label:  # the controller sets it from 1.28; the dry-run always does
        dry["metadata"]["labels"].pop("apps.kubernetes.io/pod-index")
    result = review(pod_review(copy.deepcopy(dry)), ISTIO_19)
    expected = jsonpatch.apply_patch(dry, decode_patch(result.response))
    assert stored["metadata"].get("annotations", {}) == expected["metadata"].get("annotations", {})
    stored_labels = {k: v for k, v in stored["metadata"]["labels"].items() if k != "controller-revision-hash"}
    expected_labels = {k: v for k, v in expected["metadata"]["labels"].items() if k != "controller-revision-hash"}
    assert stored_labels == expected_labels
    for stored_c, expected_c in zip(stored["spec"]["containers"], expected["spec"]["containers"], strict=True):
        assert stored_c.get("env") == expected_c.get("env")
        assert stored_c.get("command") == expected_c.get("command")
    # and the webhook has nothing left to do: reinvocation gives an empty patch
    assert decode_patch(review(pod_review(copy.deepcopy(stored)), ISTIO_19).response) == []


def test_pods_carry_the_golden_mutations_and_other_namespaces_are_untouched(
    api: client.ApiClient, cluster: Any, registered: WebhookProcess
) -> None:
    kubeconfig = str(cluster.kubeconfig)
    create_namespace(api, "e2e-on")
    create_namespace(api, "e2e-off")
    code, _, err = stsmesh("enable", "e2e-on", "--kubeconfig", kubeconfig)
    assert code == 0, err

    sets = [
        statefulset("zookeeper-tutorial.yaml", "e2e-on"),
        statefulset("zookeeper-bitnami.yaml", "e2e-on"),
        statefulset("cassandra-bitnami.yaml", "e2e-on"),
        quarkus("e2e-on"),
        statefulset("zookeeper-bitnami.yaml", "e2e-on", replicas=10)
        | {"metadata": {"name": "zk-ten", "namespace": "e2e-on"}},
    ]
    sets[-1]["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/name": "zk-ten"}
    sets[-1]["spec"]["template"]["metadata"]["labels"] = {"app.kubernetes.io/name": "zk-ten"}
    for sts in sets:
        apply(api, sts)
    for sts in sets:
        selector = ",".join(f"{k}={v}" for k, v in sts["spec"]["selector"]["matchLabels"].items())
        pods = wait_for_pods(api, "e2e-on", selector, sts["spec"]["replicas"])
        assert len(pods) == sts["spec"]["replicas"]
        for pod in pods:
            assert_carries_golden_mutations(pod, sts)

    zk = wait_for_pods(api, "e2e-on", "app.kubernetes.io/name=zk", 3)[0]
    assert zk["metadata"]["annotations"]["traffic.sidecar.istio.io/excludeInboundPorts"] == "2888,3888"
    bitnami = wait_for_pods(api, "e2e-on", "app.kubernetes.io/name=zookeeper", 3)[0]
    env = {e["name"]: e.get("value") for e in bitnami["spec"]["containers"][0]["env"]}
    assert env["ZOO_LISTEN_ALLIPS_ENABLED"] == "yes"
    negative = wait_for_pods(api, "e2e-on", "app=quarkus-statefulset", 1)[0]
    assert negative["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "0"
    assert "traffic.sidecar.istio.io/excludeInboundPorts" not in negative["metadata"].get("annotations", {})

    off = statefulset("zookeeper-bitnami.yaml", "e2e-off")
    apply(api, off)
    (untouched,) = wait_for_pods(api, "e2e-off", "app.kubernetes.io/name=zookeeper", 1)[:1]
    assert APPLIED not in untouched["metadata"].get("annotations", {})
    assert ("apps.kubernetes.io/pod-index" in untouched["metadata"]["labels"]) == RELEASE.pod_index_label
    env = {e["name"]: e.get("value") for e in untouched["spec"]["containers"][0]["env"]}
    assert env["ZOO_LISTEN_ALLIPS_ENABLED"] == "no"


def test_status_tells_the_truth_and_ignore_keeps_pods_coming(
    api: client.ApiClient, cluster: Any, webhook_process: WebhookProcess
) -> None:
    kubeconfig = str(cluster.kubeconfig)
    code, out, _ = stsmesh("status", "--kubeconfig", kubeconfig)
    assert code == 1 and "not registered" in out

    webhook_process.start("--mesh", "istio", "--mesh-version", "1.9")
    code, _, err = stsmesh("register", "--url", webhook_process.url, "--ca-file", str(webhook_process.ca_file),
                           "--kubeconfig", kubeconfig)  # fmt: skip
    assert code == 0, err
    create_namespace(api, "e2e-status")
    stsmesh("enable", "e2e-status", "--kubeconfig", kubeconfig)
    code, out, _ = stsmesh("status", "--kubeconfig", kubeconfig)
    assert code == 0, out
    assert "verifies the certificate" in out and "e2e-status" in out and "/readyz answered 200" in out

    webhook_process.stop()
    code, out, _ = stsmesh("status", "--kubeconfig", kubeconfig)
    assert code == 1 and "BAD health" in out

    # failurePolicy Ignore: with the webhook down, pods are still created (unmutated)
    apply(api, statefulset("cassandra-bitnami.yaml", "e2e-status"))
    pods = wait_for_pods(api, "e2e-status", "app.kubernetes.io/name=cassandra", 2)
    assert all(APPLIED not in p["metadata"].get("annotations", {}) for p in pods)

    code, out, _ = stsmesh("unregister", "--kubeconfig", kubeconfig)
    assert code == 0 and "deleted" in out
    code, out, _ = stsmesh("status", "--kubeconfig", kubeconfig)
    assert code == 1 and "not registered" in out


def test_certificate_rotation_while_pods_are_created(
    api: client.ApiClient, cluster: Any, registered: WebhookProcess
) -> None:
    kubeconfig = str(cluster.kubeconfig)
    create_namespace(api, "e2e-rotate")
    stsmesh("enable", "e2e-rotate", "--kubeconfig", kubeconfig)
    sts = statefulset("zookeeper-tutorial.yaml", "e2e-rotate", replicas=20)
    stop = threading.Event()

    def rotate() -> None:
        while not stop.is_set():
            registered.make_certs()
            time.sleep(0.3)

    rotator = threading.Thread(target=rotate)
    rotator.start()
    try:
        apply(api, sts)
        pods = wait_for_pods(api, "e2e-rotate", "app.kubernetes.io/name=zk", 20)
    finally:
        stop.set()
        rotator.join()
    assert registered.version > 2, "certificates were rotated during the run"
    assert all(APPLIED in p["metadata"]["annotations"] for p in pods), "every pod went through the webhook"
    events = client.CoreV1Api(api).list_namespaced_event("e2e-rotate", _preload_content=False)
    reasons = [e["reason"] for e in json.loads(events.data)["items"]]
    assert "FailedCreate" not in reasons


@pytest.mark.skipif(KUBECTL is None, reason=MISSING_TOOL.format("kubectl"))
def test_deploy_manifests_pass_server_side_validation(api: client.ApiClient, cluster: Any, tmp_path: Path) -> None:
    """The real apiserver validates what deploy/ renders (schema and semantics), as a dry run.

    PodDisruptionBudget policy/v1 and the cert-manager kinds are not served by this 1.20 apiserver;
    the PDB is validated as policy/v1beta1 (same spec fields)."""
    rendered = subprocess.run(
        [str(KUBECTL), "kustomize", str(ROOT / "deploy/overlays/per-pod-controller")],
        check=True,
        capture_output=True,
        text=True,
    )
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]  # the base plus the per-pod controller
    for doc in docs:
        if doc["kind"] == "PodDisruptionBudget":
            doc["apiVersion"] = RELEASE.pdb_api
    (tmp_path / "base.yaml").write_text(yaml.safe_dump_all([d for d in docs if d["kind"] != "Namespace"]))
    # a server-side dry run does not persist the Namespace, so objects inside it need it for real
    client.CoreV1Api(api).create_namespace({"metadata": {"name": "stsmesh"}})
    kubectl = [str(KUBECTL), "--kubeconfig", str(cluster.kubeconfig)]
    result = subprocess.run(
        [*kubectl, "apply", "--dry-run=server", "-f", str(tmp_path / "base.yaml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert (
        "mutatingwebhookconfiguration.admissionregistration.k8s.io/00-stsmesh created (server dry run)" in result.stdout
    )
    assert "deployment.apps/stsmesh-per-pod created (server dry run)" in result.stdout


def test_api_errors_are_short_and_say_what_to_do(api: client.ApiClient, cluster: Any, tmp_path: Path) -> None:
    """403 for a user without rights, 404 for a namespace that does not exist, unreachable server."""
    pki = Path(cluster.workdir) / "pki"
    ca = certs.Pem((pki / "ca.crt").read_bytes(), (pki / "ca.key").read_bytes())
    nobody = certs.make_serving_cert(ca, dt.datetime.now(dt.UTC), ["nobody"], client_auth=True, common_name="nobody")
    config = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    config["users"][0]["user"] = {
        "client-certificate-data": base64.b64encode(nobody.cert).decode(),
        "client-key-data": base64.b64encode(nobody.key).decode(),
    }
    (tmp_path / "nobody.kubeconfig").write_text(yaml.safe_dump(config))

    code, _, err = stsmesh("enable", "default", "--kubeconfig", str(tmp_path / "nobody.kubeconfig"))
    assert code == EXIT_CLUSTER
    assert "forbidden (403)" in err and "RBAC" in err and "Traceback" not in err

    code, _, err = stsmesh("enable", "no-such-namespace", "--kubeconfig", str(cluster.kubeconfig))
    assert code == EXIT_CLUSTER and "not found (404)" in err

    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    (tmp_path / "down.kubeconfig").write_text(yaml.safe_dump(config))
    code, _, err = stsmesh("status", "--kubeconfig", str(tmp_path / "down.kubeconfig"))
    assert code == EXIT_CLUSTER and "cannot reach the API server" in err


def test_audit_reports_pods_created_before_the_webhook_until_they_are_recreated(
    api: client.ApiClient, cluster: Any, registered: WebhookProcess
) -> None:
    kubeconfig = str(cluster.kubeconfig)
    create_namespace(api, "e2e-audit")
    apply(api, statefulset("zookeeper-bitnami.yaml", "e2e-audit", replicas=1))
    (before,) = wait_for_pods(api, "e2e-audit", "app.kubernetes.io/name=zookeeper", 1)
    assert APPLIED not in before["metadata"].get("annotations", {}), "created before the namespace was enabled"

    stsmesh("enable", "e2e-audit", "--kubeconfig", kubeconfig)
    code, out, err = stsmesh("audit", "--kubeconfig", kubeconfig, "--mesh", "istio", "--mesh-version", "1.9")
    assert code == 1, err
    assert "e2e-audit/zookeeper-0" in out and "needs restart" in out and "zookeeper-listen-all-ips" in out
    code, out, _ = stsmesh("audit", "-n", "e2e-audit", "-o", "json", "--kubeconfig", kubeconfig, "--mesh", "istio",
                           "--mesh-version", "1.9")  # fmt: skip
    (pod,) = json.loads(out)["pods"]
    assert pod["needsRestart"] is True and code == 1

    uid = before["metadata"]["uid"]
    client.CoreV1Api(api).delete_namespaced_pod("zookeeper-0", "e2e-audit", grace_period_seconds=0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pods = wait_for_pods(api, "e2e-audit", "app.kubernetes.io/name=zookeeper", 1)
        if pods[0]["metadata"]["uid"] != uid:
            break
        time.sleep(0.2)
    code, out, err = stsmesh("audit", "-n", "e2e-audit", "--kubeconfig", kubeconfig, "--mesh", "istio",
                             "--mesh-version", "1.9")  # fmt: skip
    assert code == 0, out + err
    assert "needs restart" not in out and "0 need attention" in out


def test_register_is_a_server_side_apply_that_keeps_what_others_own(
    api: client.ApiClient, cluster: Any, webhook_process: WebhookProcess
) -> None:
    """With cert-manager, `register --ca-file ''` leaves the caBundle to its CA injector. Another
    manager writes the caBundle, cert-manager's annotation and a label; registering again (a new
    timeout) changes our field and keeps all of theirs, and the apiserver then trusts the server."""
    kubeconfig = str(cluster.kubeconfig)
    webhook_process.start("--mesh", "istio", "--mesh-version", "1.9")
    base = ("register", "--url", webhook_process.url, "--ca-file", "", "--kubeconfig", kubeconfig)
    code, out, err = stsmesh(*base)
    assert code == 0 and "created" in out, err
    admission = client.AdmissionregistrationV1Api(api)
    name = "00-stsmesh"
    ca_bundle = base64.b64encode(webhook_process.ca_file.read_bytes()).decode()
    injected = {
        "metadata": {
            "annotations": {"cert-manager.io/inject-ca-from": "stsmesh/stsmesh-serving"},
            "labels": {"team": "platform"},
        },
        "webhooks": [{"name": "pods.stsmesh.io", "clientConfig": {"caBundle": ca_bundle}}],
    }
    admission.patch_mutating_webhook_configuration(
        name, injected, field_manager="cert-manager-cainjector", _content_type="application/strategic-merge-patch+json"
    )
    try:
        code, out, err = stsmesh(*base, "--timeout", "7")
        assert code == 0 and "updated" in out, err
        stored = json.loads(admission.read_mutating_webhook_configuration(name, _preload_content=False).data)
        (webhook,) = stored["webhooks"]
        assert webhook["timeoutSeconds"] == 7, "our field changed"
        assert webhook["clientConfig"]["caBundle"] == ca_bundle, "the injected caBundle survives"
        assert stored["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == "stsmesh/stsmesh-serving"
        assert stored["metadata"]["labels"]["team"] == "platform"
        managers = {entry["manager"] for entry in stored["metadata"]["managedFields"]}
        assert {"stsmesh", "cert-manager-cainjector"} <= managers, managers

        create_namespace(api, "e2e-ssa")
        stsmesh("enable", "e2e-ssa", "--kubeconfig", kubeconfig)
        apply(api, statefulset("zookeeper-bitnami.yaml", "e2e-ssa", replicas=1))
        (pod,) = wait_for_pods(api, "e2e-ssa", "app.kubernetes.io/name=zookeeper", 1)
        assert APPLIED in pod["metadata"]["annotations"], "the apiserver trusted the server through the kept caBundle"
    finally:
        stsmesh("unregister", "--kubeconfig", kubeconfig)


@pytest.mark.skipif(KUBECTL is None, reason=MISSING_TOOL.format("kubectl"))
def test_check_passes_when_healthy_and_names_each_fault(
    api: client.ApiClient, cluster: Any, webhook_process: WebhookProcess, tmp_path: Path
) -> None:
    """`stsmesh check` on the real apiserver: all ✓ once installed; then each fault gives its ×
    (webhook missing, a caBundle from another CA, the server down, an injector ordered first)."""
    kubeconfig = str(cluster.kubeconfig)
    kubectl = [str(KUBECTL), "--kubeconfig", kubeconfig]
    core = client.CoreV1Api(api)
    if "stsmesh" not in {n.metadata.name for n in core.list_namespace().items}:
        core.create_namespace({"metadata": {"name": "stsmesh"}})
    for manifest in ("serviceaccount.yaml", "rbac.yaml"):
        subprocess.run([*kubectl, "apply", "-f", str(ROOT / "deploy/base" / manifest)], check=True, capture_output=True)
    create_namespace(api, "e2e-check")
    stsmesh("enable", "e2e-check", "--kubeconfig", kubeconfig)
    webhook_process.start("--mesh", "istio", "--mesh-version", "1.9")
    register = ("register", "--url", webhook_process.url, "--kubeconfig", kubeconfig)

    def check() -> tuple[int, dict[str, Any]]:
        code, out, err = stsmesh("check", "-o", "json", "--kubeconfig", kubeconfig)
        assert "Traceback" not in err, err
        return code, {c["name"]: c for c in json.loads(out)["checks"]}

    def failing(checks: dict[str, Any]) -> set[str]:
        return {name for name, c in checks.items() if not c["ok"]}

    admission = client.AdmissionregistrationV1Api(api)
    try:
        assert stsmesh(*register, "--ca-file", str(webhook_process.ca_file))[0] == 0
        code, checks = check()
        assert (code, failing(checks)) == (0, set()), checks
        assert "stsmesh 0.1.0" in checks["server"]["detail"] or checks["server"]["detail"].startswith("stsmesh ")
        code, text, _ = stsmesh("check", "--kubeconfig", kubeconfig)
        assert code == 0 and text.count("✓") == len(checks) and "×" not in text

        other = tmp_path / "other"
        stsmesh("certs", "--out-dir", str(other), "--ip", "127.0.0.1")
        assert stsmesh(*register, "--ca-file", str(other / "ca.crt"))[0] == 0
        code, checks = check()
        assert (code, failing(checks)) == (1, {"caBundle"}), checks
        assert "does NOT verify" in checks["caBundle"]["detail"] and checks["caBundle"]["hint"]

        assert stsmesh(*register, "--ca-file", str(webhook_process.ca_file))[0] == 0
        istio_first = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": "0-istio-sidecar-injector"},
            "webhooks": [{
                "name": "namespace.sidecar-injector.istio.io", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                "clientConfig": {"url": "https://127.0.0.1:1/inject"}, "failurePolicy": "Ignore",
                "namespaceSelector": {"matchLabels": {"no-such-label": "x"}},
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
            }],
        }  # fmt: skip
        admission.create_mutating_webhook_configuration(istio_first)
        code, checks = check()
        assert (code, failing(checks)) == (1, {"ordering"}), checks
        admission.delete_mutating_webhook_configuration("0-istio-sidecar-injector")

        webhook_process.stop()
        code, checks = check()
        assert code == 1 and {"server", "caBundle"} <= failing(checks) <= {"server", "caBundle"}, checks

        stsmesh("unregister", "--kubeconfig", kubeconfig)
        code, checks = check()
        assert code == 1 and "registration" in failing(checks), checks
    finally:
        stsmesh("unregister", "--kubeconfig", kubeconfig)


@pytest.mark.skipif(KUBECTL is None or HELM is None, reason=MISSING_TOOL.format("kubectl or helm"))
def test_the_chart_passes_server_side_validation(api: client.ApiClient, cluster: Any, tmp_path: Path) -> None:
    """What the chart renders with its options on (but the Prometheus Operator kinds, whose CRDs
    this apiserver lacks) is accepted by the real apiserver, as a dry run."""
    (tmp_path / "ca.crt").write_bytes(certs.make_ca(dt.datetime.now(dt.UTC)).cert)
    rendered = subprocess.run(
        [str(HELM), "template", "stsmesh", str(ROOT / "deploy/helm/stsmesh"), "-n", "stsmesh",
         "--set", "perPodController.enabled=true", "--set", "replicas=3",
         "--set-file", f"webhook.caBundle={tmp_path / 'ca.crt'}"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    for doc in docs:
        if doc["kind"] == "PodDisruptionBudget":
            doc["apiVersion"] = RELEASE.pdb_api  # 1.20 serves no policy/v1
    (tmp_path / "chart.yaml").write_text(yaml.safe_dump_all(docs))
    core = client.CoreV1Api(api)
    if "stsmesh" not in {n.metadata.name for n in core.list_namespace().items}:
        core.create_namespace({"metadata": {"name": "stsmesh"}})
    kubectl = [str(KUBECTL), "--kubeconfig", str(cluster.kubeconfig)]
    result = subprocess.run(
        [*kubectl, "apply", "--dry-run=server", "-f", str(tmp_path / "chart.yaml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "deployment.apps/stsmesh-per-pod" in result.stdout and "mutatingwebhookconfiguration" in result.stdout
