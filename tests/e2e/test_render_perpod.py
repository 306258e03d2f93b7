"""End to end: ``stsmesh render per-pod`` against a real kube-apiserver and StatefulSet controller.

A real 3-replica StatefulSet (the ZooKeeper tutorial input of our golden cases) is created; the
StatefulSet as the apiserver stores it (``kubectl get -o yaml``: with its uid) is piped into the
command; the rendered per-pod Services go through ``kubectl apply --dry-run=server``, which runs the
apiserver's full validation and admission without persisting anything. Only Services: this
apiserver has no Istio CRDs, so the Istio objects are checked structurally in tests/perpod instead.
Each rendered selector must also pick exactly its own pod among the pods the real controller made.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.e2e.conftest import create_namespace, wait_for_pods
from tests.perpod.wiring import cmd_render
from tests.support import KUBECTL, MISSING_TOOL
from webhook.perpod.command import add_render_commands

ROOT = Path(__file__).resolve().parents[2]
INPUT = ROOT / "tests/perpod/golden/zookeeper-tutorial-istio-1.9/input.yaml"
NAMESPACE = "e2e-render-perpod"

pytestmark = pytest.mark.skipif(KUBECTL is None, reason=MISSING_TOOL.format("kubectl"))


def kubectl(cluster: Any, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(cluster.kubeconfig), *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def stored_statefulset(api: client.ApiClient, cluster: Any) -> Iterator[str]:
    """The zk StatefulSet and its headless Service, created for real; yields the stored StatefulSet YAML."""
    create_namespace(api, NAMESPACE)
    docs = [d for d in yaml.safe_load_all(INPUT.read_text(encoding="utf-8")) if d]
    for doc in docs:
        doc["metadata"]["namespace"] = NAMESPACE
    created = kubectl(cluster, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    assert created.returncode == 0, created.stderr
    wait_for_pods(api, NAMESPACE, "app=zk", 3)  # podManagementPolicy Parallel: no kubelet needed
    stored = kubectl(cluster, "get", "statefulset", "zk", "-n", NAMESPACE, "-o", "yaml")
    assert stored.returncode == 0, stored.stderr
    headless = kubectl(cluster, "get", "service", "zk-hs", "-n", NAMESPACE, "-o", "yaml")
    assert headless.returncode == 0, headless.stderr
    yield stored.stdout + "\n---\n" + headless.stdout
    kubectl(cluster, "delete", "namespace", NAMESPACE, "--wait=false")


def render(stdin: str, *flags: str) -> tuple[list[dict[str, Any]], str]:
    top = argparse.ArgumentParser(prog="stsmesh")
    add_render_commands(top.add_subparsers(dest="command"))
    args = top.parse_args(["render", "per-pod", "-", "-o", "json", *flags])
    out, err = io.StringIO(), io.StringIO()
    code = cmd_render(args, out, err, io.StringIO(stdin))
    assert code == 0, err.getvalue()
    return json.loads(out.getvalue())["items"], err.getvalue()


@pytest.mark.parametrize("service_type", ["ClusterIP", "LoadBalancer", "NodePort"])
def test_rendered_per_pod_services_pass_server_side_validation(
    cluster: Any, stored_statefulset: str, tmp_path: Path, service_type: str
) -> None:
    objects, notes = render(
        stored_statefulset,
        "--mesh", "istio", "--mesh-version", "1.9", "--service-type", service_type,
        "--host-pattern", "zk-{ordinal}.example.com", "--tcp-gateway-port-base", "31400",
    )  # fmt: skip
    assert "no ownerReference" not in notes, "a stored StatefulSet has a uid"
    services = [o for o in objects if o["kind"] == "Service"]
    assert [s["metadata"]["name"] for s in services] == ["zk-0", "zk-1", "zk-2"]
    assert {o["kind"] for o in objects} == {"Service", "Gateway", "VirtualService"}  # Istio kinds: not applied here
    path = tmp_path / "services.yaml"
    path.write_text(yaml.safe_dump_all(services), encoding="utf-8")

    result = kubectl(cluster, "apply", "--dry-run=server", "-o", "json", "-f", str(path))
    assert result.returncode == 0, result.stderr
    returned = json.loads(result.stdout)
    accepted = returned["items"] if returned.get("kind") == "List" else [returned]
    uid = yaml.safe_load(stored_statefulset.split("\n---\n")[0])["metadata"]["uid"]
    assert [a["metadata"]["name"] for a in accepted] == ["zk-0", "zk-1", "zk-2"]
    for svc in accepted:
        assert svc["spec"]["type"] == service_type
        assert svc["metadata"]["ownerReferences"][0]["uid"] == uid
        assert svc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "stsmesh"
        if service_type == "ClusterIP":
            assert "externalTrafficPolicy" not in svc["spec"]
            assert svc["spec"]["publishNotReadyAddresses"] is True  # copied from zk-hs
        else:
            assert svc["spec"]["externalTrafficPolicy"] == "Local"
            assert all(p["nodePort"] for p in svc["spec"]["ports"])  # allocated by the apiserver, not by us

    # Nothing was stored by the dry run.
    listed = kubectl(
        cluster, "get", "services", "-n", NAMESPACE, "-l", "app.kubernetes.io/managed-by=stsmesh", "-o", "name"
    )
    assert listed.returncode == 0 and listed.stdout.strip() == ""


def test_each_rendered_selector_picks_exactly_its_pod(cluster: Any, stored_statefulset: str) -> None:
    objects, _ = render(stored_statefulset, "--mesh", "linkerd", "--mesh-version", "2.11")
    for svc in objects:
        selector = ",".join(f"{k}={v}" for k, v in svc["spec"]["selector"].items())
        pods = kubectl(cluster, "get", "pods", "-n", NAMESPACE, "-l", selector, "-o", "name")
        assert pods.returncode == 0, pods.stderr
        assert pods.stdout.split() == [f"pod/{svc['metadata']['name']}"]


def test_the_dry_run_rejects_what_validation_should(cluster: Any, stored_statefulset: str, tmp_path: Path) -> None:
    """Negative control: the same dry run refuses a Service the structural checks would refuse too."""
    objects, _ = render(stored_statefulset, "--mesh", "none")
    broken = objects[0]
    broken["spec"]["ports"][0]["name"] = "Server_Port"  # not a DNS-1123 label
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = kubectl(cluster, "apply", "--dry-run=server", "-f", str(path))
    assert result.returncode != 0
    assert "spec.ports[0].name" in result.stderr
