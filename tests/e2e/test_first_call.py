"""The first call knows the namespace's mesh: on a real apiserver, with no --namespace-mesh and no
mesh in the URL, stsmesh's watch of namespaces and control planes puts the hold annotation and the
exclusions on the pod **before** the mesh's injector runs.

The injector is played by a second webhook registered after stsmesh (``zz-recorder`` sorts after
``00-stsmesh``; the apiserver calls mutating webhooks in name order): a TLS server in this process
that records every pod it is sent and admits it unchanged. The stand-in control plane is an
``istiod`` Deployment (0 replicas) whose image tag names the version, as the real one does.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.e2e.cluster import LocalCluster, free_port
from tests.e2e.conftest import WebhookProcess, create_namespace, stsmesh

NS = "e2e-first-call"
RECORDER = "zz-recorder"
RECORDED = {"e2e.stsmesh.io/recorder": "true"}
RULE = {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}
ROOT = Path(__file__).resolve().parents[2]


def zookeeper(name: str, example: str = "zookeeper-tutorial.yaml") -> dict[str, Any]:
    """A shipped example (an app that needs exclusions), renamed, Parallel (no kubelet here)."""
    docs = [d for d in yaml.safe_load_all((ROOT / "examples" / example).read_text()) if d]
    sts = next(d for d in docs if d["kind"] == "StatefulSet")
    sts["metadata"] = {"name": name, "namespace": NS}
    sts["spec"]["podManagementPolicy"] = "Parallel"
    sts["spec"]["replicas"] = 1
    return sts


class Recorder:
    """A mutating webhook that only records the pods it receives (the mesh injector's seat)."""

    def __init__(self, workdir: Path) -> None:
        code, _, err = stsmesh("certs", "--out-dir", str(workdir), "--ip", "127.0.0.1")
        assert code == 0, err
        self.ca_file = workdir / "ca.crt"
        self.pods: list[dict[str, Any]] = []
        recorded = self.pods

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                recorded.append(body["request"]["object"])
                answer = {"apiVersion": body["apiVersion"], "kind": "AdmissionReview",
                          "response": {"uid": body["request"]["uid"], "allowed": True}}  # fmt: skip
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(workdir / "tls.crt", workdir / "tls.key")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}/record"

    def pod(self, name: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for pod in self.pods:
                if pod["metadata"].get("name") == name:
                    return pod
            time.sleep(0.2)
        raise TimeoutError(f"the recorder never saw pod {name}")


@pytest.fixture
def recorder(api: client.ApiClient, tmp_path: Path) -> Iterator[Recorder]:
    rec = Recorder(tmp_path / "recorder")
    rec.thread.start()
    admission = client.AdmissionregistrationV1Api(api)
    admission.create_mutating_webhook_configuration(
        {
            "metadata": {"name": RECORDER},
            "webhooks": [
                {
                    "name": "recorder.e2e.stsmesh.io",
                    "clientConfig": {"url": rec.url, "caBundle": _b64(rec.ca_file.read_bytes())},
                    "rules": [RULE],
                    "namespaceSelector": {"matchLabels": RECORDED},
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                    "failurePolicy": "Ignore",
                    "timeoutSeconds": 5,
                }
            ],
        }
    )
    try:
        yield rec
    finally:
        admission.delete_mutating_webhook_configuration(RECORDER)
        rec.server.shutdown()
        rec.server.server_close()


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def _wait_for(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise TimeoutError(what)


def _istiod(version: str) -> dict[str, Any]:
    labels = {"app": "istiod"}
    container = {"name": "discovery", "image": f"docker.io/istio/pilot:{version}"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "istiod", "namespace": "istio-system", "labels": labels},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def test_the_first_call_knows_the_namespace_mesh(
    cluster: LocalCluster, api: client.ApiClient, webhook_process: WebhookProcess, recorder: Recorder
) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    create_namespace(api, "istio-system")
    apps.create_namespaced_deployment("istio-system", _istiod("1.9.5"))
    create_namespace(api, NS)
    labels = {"istio-injection": "enabled", "stsmesh.io/enabled": "true", **RECORDED}
    core.patch_namespace(NS, {"metadata": {"labels": labels}})

    webhook_process.start("--kubeconfig", str(cluster.kubeconfig))  # no --mesh, no --namespace-mesh
    code, _, err = stsmesh("register", "--url", webhook_process.url, "--ca-file", str(webhook_process.ca_file),
                           "--kubeconfig", str(cluster.kubeconfig))  # fmt: skip
    assert code == 0, err
    try:
        _wait_for(lambda: _synced(webhook_process), "stsmesh's cluster view never synced")
        apps.create_namespaced_stateful_set(NS, zookeeper("zk-a"))
        pod = recorder.pod("zk-a-0")
        annotations = pod["metadata"].get("annotations") or {}
        assert annotations.get("traffic.sidecar.istio.io/excludeInboundPorts") == "2888,3888", annotations
        assert "holdApplicationUntilProxyStarts" in annotations.get("proxy.istio.io/config", ""), annotations

        # relabel: Linkerd now; the next pod follows without a restart
        core.patch_namespace(NS, {"metadata": {"labels": {"istio-injection": None},
                                               "annotations": {"linkerd.io/inject": "enabled"}}})  # fmt: skip
        time.sleep(1.0)
        apps.create_namespaced_stateful_set(NS, zookeeper("zk-b"))
        annotations = recorder.pod("zk-b-0")["metadata"].get("annotations") or {}
        assert annotations.get("config.linkerd.io/skip-inbound-ports") == "2888,3888", annotations
        assert "traffic.sidecar.istio.io/excludeInboundPorts" not in annotations

        # the apiserver restarts mid-watch: the cache resumes and sees the next change
        cluster.restart_apiserver()
        core.patch_namespace(NS, {"metadata": {"labels": {"istio-injection": "enabled"},
                                               "annotations": {"linkerd.io/inject": None}}})  # fmt: skip
        _wait_for(lambda: _synced(webhook_process), "the cluster view did not resync after the restart", 60)
        time.sleep(1.0)
        apps.create_namespaced_stateful_set(NS, zookeeper("zk-c"))
        annotations = recorder.pod("zk-c-0")["metadata"].get("annotations") or {}
        assert annotations.get("traffic.sidecar.istio.io/excludeInboundPorts") == "2888,3888", annotations

        # Istio 1.24 delivers to the pod IP (Cassandra needs nothing) unless its mesh config says LOCALHOST
        apps.patch_namespaced_deployment("istiod", "istio-system", _istiod("1.24.2"))
        time.sleep(1.0)
        apps.create_namespaced_stateful_set(NS, zookeeper("db-a", "cassandra-bitnami.yaml"))
        annotations = recorder.pod("db-a-0")["metadata"].get("annotations") or {}
        assert "traffic.sidecar.istio.io/excludeInboundPorts" not in annotations, annotations
        mesh = "inboundTrafficPolicy:\n  mode: LOCALHOST\n"
        core.create_namespaced_config_map("istio-system", {"metadata": {"name": "istio"}, "data": {"mesh": mesh}})
        time.sleep(1.0)
        apps.create_namespaced_stateful_set(NS, zookeeper("db-b", "cassandra-bitnami.yaml"))
        annotations = recorder.pod("db-b-0")["metadata"].get("annotations") or {}
        assert annotations.get("traffic.sidecar.istio.io/excludeInboundPorts") == "7000,7001", annotations
    finally:
        stsmesh("unregister", "--kubeconfig", str(cluster.kubeconfig))
        core.delete_namespace(NS)


def _synced(process: WebhookProcess) -> bool:
    import urllib.request

    context = ssl.create_default_context(cafile=str(process.ca_file))
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{process.port}/metrics", context=context, timeout=2) as r:
            return "stsmesh_cluster_view_synced 1.0" in r.read().decode()
    except OSError:
        return False
