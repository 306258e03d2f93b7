"""The per-pod controller on the real apiserver: follows scale 3 → 5 → 2 → 0, survives a restart in
the middle, never touches a Service it did not create, and its objects go with the StatefulSet."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.e2e.conftest import create_namespace

ROOT = Path(__file__).resolve().parents[2]
NS = "e2e-perpod"


def zk_statefulset(replicas: int) -> dict[str, Any]:
    """Modelled on the Kubernetes ZooKeeper tutorial (zk, headless zk-hs, 2181/2888/3888), opted in."""
    labels = {"app": "zk"}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "zk", "namespace": NS, "annotations": {"stsmesh.io/per-pod": "true"}},
        "spec": {
            "serviceName": "zk-hs",
            "replicas": replicas,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "kubernetes-zookeeper",
                            "image": "registry.k8s.io/kubernetes-zookeeper:1.0-3.4.10",
                            "ports": [
                                {"containerPort": 2181, "name": "client"},
                                {"containerPort": 2888, "name": "server"},
                                {"containerPort": 3888, "name": "leader-election"},
                            ],
                        }
                    ]
                },
            },
        },
    }


def headless_service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "zk-hs", "namespace": NS, "labels": {"app": "zk"}},
        "spec": {
            "clusterIP": "None",
            "selector": {"app": "zk"},
            "ports": [{"port": 2888, "name": "server"}, {"port": 3888, "name": "leader-election"}],
        },
    }


def services(api: client.ApiClient) -> dict[str, dict[str, Any]]:
    data = client.CoreV1Api(api).list_namespaced_service(NS, _preload_content=False)
    return {s["metadata"]["name"]: s for s in json.loads(data.data)["items"]}


def eventually(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}")


def per_pod(api: client.ApiClient) -> set[str]:
    return {
        name
        for name, s in services(api).items()
        if s["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") == "stsmesh"
    }


@pytest.fixture
def controller(cluster: Any, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"controller-{len(processes)}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [sys.executable, "-m", "webhook", "per-pod-controller", "-n", NS, "--resync", "2", "--mesh", "linkerd",
             "--kubeconfig", str(cluster.kubeconfig), *extra],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=15)


def scale(api: client.ApiClient, replicas: int) -> None:
    client.AppsV1Api(api).patch_namespaced_stateful_set("zk", NS, {"spec": {"replicas": replicas}})


def test_controller_follows_scaling_restarts_and_deletion(
    api: client.ApiClient, controller: Callable[[], subprocess.Popen[bytes]]
) -> None:
    create_namespace(api, NS)
    core = client.CoreV1Api(api)
    core.create_namespaced_service(NS, headless_service())
    foreign = {"metadata": {"name": "zk-4", "namespace": NS}, "spec": {"ports": [{"port": 80}], "selector": {"x": "y"}}}
    core.create_namespaced_service(NS, foreign)
    client.AppsV1Api(api).create_namespaced_stateful_set(NS, zk_statefulset(3))

    first = controller()
    eventually(lambda: per_pod(api) == {"zk-0", "zk-1", "zk-2"}, "3 per-pod Services")
    zk0 = services(api)["zk-0"]
    assert zk0["spec"]["selector"] == {"statefulset.kubernetes.io/pod-name": "zk-0"}
    assert [r["kind"] for r in zk0["metadata"]["ownerReferences"]] == ["StatefulSet"]

    scale(api, 5)
    eventually(lambda: per_pod(api) == {"zk-0", "zk-1", "zk-2", "zk-3"}, "scale-up to 5 (zk-4 is not ours)")
    assert "app.kubernetes.io/managed-by" not in services(api)["zk-4"]["metadata"].get("labels", {})

    scale(api, 2)
    eventually(lambda: per_pod(api) == {"zk-0", "zk-1"}, "scale-down to 2")
    assert "zk-4" in services(api), "a Service stsmesh did not create is never deleted"

    first.terminate()
    first.wait(timeout=15)
    scale(api, 0)  # while the controller is down
    time.sleep(1)
    assert per_pod(api) == {"zk-0", "zk-1"}, "nothing changes while the controller is down"
    controller()
    eventually(lambda: per_pod(api) == set(), "scale-down to 0 after the restart")

    scale(api, 2)
    eventually(lambda: per_pod(api) == {"zk-0", "zk-1"}, "scale-up to 2 again")
    client.AppsV1Api(api).delete_namespaced_stateful_set("zk", NS, propagation_policy="Background")
    eventually(lambda: per_pod(api) == set(), "per-pod Services deleted with their StatefulSet", timeout=60)
    assert "zk-4" in services(api) and "zk-hs" in services(api)


def test_controller_outlives_an_apiserver_restart_and_catches_up(
    api: client.ApiClient, cluster: Any, controller: Callable[[], subprocess.Popen[bytes]]
) -> None:
    """kube-apiserver killed and started again (same etcd) while the controller watches: the same
    process carries on, and a scale-up made right after the restart is followed."""
    namespace_api = client.CoreV1Api(api)
    if NS not in {n.metadata.name for n in namespace_api.list_namespace().items}:
        create_namespace(api, NS)
    client.AppsV1Api(api).create_namespaced_stateful_set(NS, zk_statefulset(1))
    process = controller()
    try:
        eventually(lambda: per_pod(api) == {"zk-0"}, "1 per-pod Service")
        cluster.restart_apiserver()
        assert process.poll() is None, "the controller exited when the apiserver went away"
        scale(api, 3)
        eventually(lambda: per_pod(api) == {"zk-0", "zk-1", "zk-2"}, "scale-up after the restart", timeout=60)
        assert process.poll() is None
    finally:
        client.AppsV1Api(api).delete_namespaced_stateful_set("zk", NS, propagation_policy="Background")
        eventually(lambda: per_pod(api) == set(), "cleaned up", timeout=60)


def test_two_controllers_under_leader_election_one_acts_and_the_other_takes_over(
    api: client.ApiClient, cluster: Any, controller: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """Two replicas with --leader-elect: exactly one holds the Lease and acts; killed (SIGKILL: no
    release), the other takes over within the lease duration and follows a scale-up."""
    core = client.CoreV1Api(api)
    names = {n.metadata.name for n in core.list_namespace().items}
    for namespace in (NS, "e2e-lease"):
        if namespace not in names:
            create_namespace(api, namespace)
    client.AppsV1Api(api).create_namespaced_stateful_set(NS, zk_statefulset(1))
    election = ("--leader-elect", "--lease-namespace", "e2e-lease", "--lease-seconds", "3")
    first, second = controller(*election), controller(*election)
    coordination = client.CoordinationV1Api(api)

    def holder() -> str:
        try:
            return str(
                coordination.read_namespaced_lease("stsmesh-per-pod-controller", "e2e-lease").spec.holder_identity or ""
            )
        except client.exceptions.ApiException:
            return ""

    try:
        eventually(lambda: per_pod(api) == {"zk-0"} and holder() != "", "a leader and its per-pod Service")
        leader = holder()
        pids = {first.pid: first, second.pid: second}
        leading = pids[int(leader.rsplit("_", 1)[1])]
        standby = second if leading is first else first
        logs = sorted(tmp_path.glob("controller-*.log"))
        assert sum("leads (Lease" in log.read_text() for log in logs) == 1, "exactly one leads"
        leading.kill()
        leading.wait(timeout=10)
        eventually(lambda: holder() not in ("", leader), "the standby takes the Lease", timeout=20)
        assert int(holder().rsplit("_", 1)[1]) == standby.pid
        scale(api, 3)
        eventually(lambda: per_pod(api) == {"zk-0", "zk-1", "zk-2"}, "the new leader follows a scale-up")
        standby.terminate()
        standby.wait(timeout=30)
        assert holder() == "", "a leader stopped by SIGTERM releases the Lease"
    finally:
        client.AppsV1Api(api).delete_namespaced_stateful_set("zk", NS, propagation_policy="Background")
        eventually(lambda: per_pod(api) == set(), "cleaned up", timeout=60)
