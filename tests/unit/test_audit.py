"""The audit of running pods: needs-restart, which side of Istio 1.10 / Linkerd 2.11 breaks, conflicts."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from webhook.cluster.audit import audit_pod, namespace_hint, table
from webhook.core.mesh import MeshHint
from webhook.core.settings import Settings

ISTIO_PROXY = {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.9.5"}
ISTIO_INIT_ARGS = ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-b", "*", "-d", "15090,15021,15020"]


def zookeeper(listen_all: str) -> dict[str, Any]:
    return {
        "name": "zookeeper",
        "image": "docker.io/bitnami/zookeeper:3.7.0-debian-10-r27",
        "env": [{"name": "ZOO_LISTEN_ALLIPS_ENABLED", "value": listen_all}],
        "ports": [{"containerPort": 2888}, {"containerPort": 3888}],
    }


def injected(pod: dict[str, Any], init_args: list[str] | None = None) -> dict[str, Any]:
    pod = copy.deepcopy(pod)
    pod["spec"]["containers"].append(dict(ISTIO_PROXY))
    pod["spec"]["initContainers"] = [
        {"name": "istio-init", "image": ISTIO_PROXY["image"], "args": init_args or ISTIO_INIT_ARGS}
    ]
    pod["metadata"].setdefault("annotations", {})["sidecar.istio.io/status"] = '{"revision":"default"}'
    return pod


def test_a_pod_created_before_the_webhook_needs_a_restart(make_sts_pod: Callable[..., Any]) -> None:
    pod = injected(make_sts_pod("zk", containers=[zookeeper("no")]))
    audit = audit_pod(pod, Settings())
    assert audit is not None and audit.broken
    assert "zookeeper-listen-all-ips" in audit.missing_fixes
    assert audit.mesh == "Istio 1.9"
    assert any(side.startswith("Istio 1.9 and older") for side in audit.breaks_on)
    assert "needs restart" in table([audit])


def test_a_fixed_pod_is_clean(make_sts_pod: Callable[..., Any]) -> None:
    pod = injected(make_sts_pod("zk", containers=[zookeeper("yes")]))
    audit = audit_pod(pod, Settings())
    assert audit is not None
    assert audit.missing_fixes == [] and audit.breaks_on == [] and audit.conflicts == []
    assert not audit.broken


def test_annotation_added_after_injection_is_a_conflict(make_sts_pod: Callable[..., Any]) -> None:
    cassandra = {"name": "cassandra", "image": "bitnami/cassandra:4.1.2"}
    pod = injected(
        make_sts_pod(
            "cassandra",
            containers=[cassandra],
            annotations={
                "traffic.sidecar.istio.io/excludeInboundPorts": "7000,7001",
                "traffic.sidecar.istio.io/excludeOutboundPorts": "7000,7001",
            },
        )
    )
    audit = audit_pod(pod, Settings())
    assert audit is not None
    assert any("istio-init -d does not" in c for c in audit.conflicts)
    assert any("istio-init -o does not" in c for c in audit.conflicts)


def test_loopback_listener_breaks_on_the_new_side(make_sts_pod: Callable[..., Any]) -> None:
    etcd = {
        "name": "etcd",
        "image": "quay.io/coreos/etcd:v3.4.13",
        "command": ["etcd", "--listen-peer-urls=http://127.0.0.1:2380"],
    }
    audit = audit_pod(make_sts_pod("etcd", containers=[etcd]), Settings(), MeshHint.parse("istio", "1.9"))
    assert audit is not None
    assert any("Istio 1.22 and newer" in side for side in audit.breaks_on)
    assert not any("1.9 and older" in side for side in audit.breaks_on)


def test_explicit_include_list_makes_excludes_moot(make_sts_pod: Callable[..., Any]) -> None:
    annotations = {
        "traffic.sidecar.istio.io/includeInboundPorts": "9042",
        "traffic.sidecar.istio.io/excludeInboundPorts": "7000",
    }
    pod = make_sts_pod("c", containers=[{"name": "app", "image": "busybox:1.36"}], annotations=annotations)
    audit = audit_pod(pod, Settings(), MeshHint.parse("istio", "1.22"))
    assert audit is not None and any("no effect" in c for c in audit.conflicts)


def test_pods_not_owned_by_a_statefulset_are_not_audited(make_sts_pod: Callable[..., Any]) -> None:
    pod = make_sts_pod("zk", containers=[zookeeper("no")])
    del pod["metadata"]["ownerReferences"]
    assert audit_pod(pod, Settings()) is None


@pytest.mark.parametrize(
    ("labels", "annotations", "expected"),
    [
        pytest.param({"istio-injection": "enabled"}, {}, MeshHint("istio"), id="istio-injection"),
        pytest.param({"istio.io/rev": "1-9-5"}, {}, MeshHint("istio", (1, 9)), id="revision-with-version"),
        pytest.param({"istio.io/rev": "canary"}, {}, MeshHint("istio"), id="revision-without-version"),
        pytest.param({}, {"linkerd.io/inject": "enabled"}, MeshHint("linkerd"), id="linkerd"),
        pytest.param({}, {}, MeshHint(), id="nothing"),
    ],
)
def test_namespace_hint(labels: dict[str, str], annotations: dict[str, str], expected: MeshHint) -> None:
    assert namespace_hint(labels, annotations) == expected


def test_a_pod_ip_only_app_under_istio_localhost_policy_breaks_as_configured(make_sts_pod: Callable[..., Any]) -> None:
    cassandra = {"name": "cassandra", "image": "docker.io/bitnami/cassandra:4.1.2", "ports": [{"containerPort": 7000}]}
    pod = injected(make_sts_pod("db", containers=[cassandra]))
    proxy = pod["spec"]["containers"][-1]
    proxy["image"] = "docker.io/istio/proxyv2:1.24.2"
    audit = audit_pod(pod, Settings())
    assert audit is not None and not any("as configured" in side for side in audit.breaks_on)
    proxy["env"] = [{"name": "REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION", "value": "true"}]
    audit = audit_pod(pod, Settings())
    assert audit is not None and audit.broken
    assert "cassandra-skip-internode-ports" in audit.missing_fixes
    assert [side for side in audit.breaks_on if "as configured" in side] == [
        "Istio 1.24 as configured (REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION=true on istio-proxy: inbound goes to "
        "127.0.0.1 (LOCALHOST policy); the app listens on the pod IP only)"
    ]
