"""Every StatefulSet in ../shared/manifests (real chart renders) through review(), on five mesh hints.

For ordinal 0 and the last ordinal of each StatefulSet, with hints Istio 1.9 / 1.10, Linkerd 2.10 /
2.11 and auto: the response contract holds, the patch applies with jsonpatch, and the patched pod
needs no second patch. A few targeted checks pin the behaviour the manifests were chosen for.
The manifests are read in place, never copied into this repository.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from webhook.core.admission import ReviewResult
from webhook.core.inputs import load_documents, pod_from_statefulset, pod_review

REPO_ROOT = Path(__file__).resolve().parents[1]
MANIFESTS_DIR = (REPO_ROOT / ".." / "shared" / "manifests").resolve()

if not MANIFESTS_DIR.is_dir():
    pytest.skip(
        f"shared manifests not found at {MANIFESTS_DIR} (a checkout with ../shared beside it is needed)",
        allow_module_level=True,
    )

HINTS = {
    "istio-1.9": ("istio", "1.9"),
    "istio-1.10": ("istio", "1.10"),
    "linkerd-2.10": ("linkerd", "2.10"),
    "linkerd-2.11": ("linkerd", "2.11"),
    "auto": ("auto", None),
}

ISTIO_EXCLUDE_IN = "traffic.sidecar.istio.io/excludeInboundPorts"
ISTIO_EXCLUDE_OUT = "traffic.sidecar.istio.io/excludeOutboundPorts"


def _load() -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(MANIFESTS_DIR.glob("*.yaml")):
        docs = load_documents(path.read_text(encoding="utf-8"), path.name)
        found[path.stem] = [d for d in docs if d.get("kind") == "StatefulSet"]
    return found


STATEFULSETS = _load()


def _pods() -> list[Any]:
    params = []
    for manifest, sets in STATEFULSETS.items():
        for sts in sets:
            replicas = sts["spec"].get("replicas") or 1
            for ordinal in sorted({0, replicas - 1}):
                pod_name = f"{sts['metadata']['name']}-{ordinal}"
                params.append(pytest.param(manifest, sts, ordinal, id=f"{manifest}/{pod_name}"))
    return params


def _review_for(sts: dict[str, Any], ordinal: int) -> dict[str, Any]:
    return pod_review(pod_from_statefulset(sts, ordinal))


def _env(container: dict[str, Any], name: str) -> list[Any]:
    return [e.get("value") for e in container.get("env") or [] if e.get("name") == name]


def _statefulset(manifest: str, name: str) -> dict[str, Any]:
    (sts,) = [s for s in STATEFULSETS[manifest] if s["metadata"]["name"] == name]
    return sts


def test_the_expected_manifests_are_there() -> None:
    assert len(STATEFULSETS) >= 10, sorted(STATEFULSETS)
    assert all(STATEFULSETS.values()), "every manifest holds at least one StatefulSet"
    for name in ("zookeeper-6.7.2", "zookeeper-6.7.2-listenOnAllIPs", "cassandra-10.4.2", "kafka-21.5.0"):
        assert name in STATEFULSETS


@pytest.mark.parametrize("hint", list(HINTS))
@pytest.mark.parametrize(("manifest", "sts", "ordinal"), _pods())
def test_shared_statefulset_pod(
    manifest: str,
    sts: dict[str, Any],
    ordinal: int,
    hint: str,
    run_review: Callable[..., tuple[ReviewResult, list[dict[str, Any]]]],
    assert_response_contract: Callable[..., list[dict[str, Any]]],
    apply_ops: Callable[..., Any],
) -> None:
    mesh, version = HINTS[hint]
    body = _review_for(sts, ordinal)
    original = copy.deepcopy(body["request"]["object"])

    result, ops = run_review(body, mesh, version)
    assert assert_response_contract(body, result.response) == ops
    response = result.response["response"]
    assert response["allowed"] is True
    assert result.decision.reason == "statefulset-pod" and result.decision.ordinal == ordinal
    assert result.outcome in ("patched", "unchanged"), (result.outcome, result.error)

    patched = apply_ops(original, ops)
    assert patched["spec"]["containers"], "containers survive the patch"
    assert patched["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == str(ordinal)
    # Nothing outside metadata and the container lists is touched.
    assert {k: v for k, v in patched["spec"].items() if k not in ("containers", "initContainers")} == {
        k: v for k, v in original["spec"].items() if k not in ("containers", "initContainers")
    }
    # No env name appears twice in a container where it appeared once before.
    for list_name in ("initContainers", "containers"):
        for before, after in zip(
            original["spec"].get(list_name) or [], patched["spec"].get(list_name) or [], strict=True
        ):
            names_before = [e["name"] for e in before.get("env") or []]
            names_after = [e["name"] for e in after.get("env") or []]
            for name in set(names_after):
                assert names_after.count(name) <= max(1, names_before.count(name)), name

    again = copy.deepcopy(body)
    again["request"]["object"] = patched
    again["request"]["uid"] = body["request"]["uid"] + "-again"
    second, second_ops = run_review(again, mesh, version)
    assert assert_response_contract(again, second.response) == []
    assert second_ops == [], f"not idempotent: {second_ops}"


@pytest.mark.parametrize("hint", list(HINTS))
def test_bitnami_zookeeper_gets_listen_all_ips(
    hint: str, run_review: Callable[..., Any], apply_ops: Callable[..., Any]
) -> None:
    body = _review_for(_statefulset("zookeeper-6.7.2", "my-release-zookeeper"), 0)
    assert _env(body["request"]["object"]["spec"]["containers"][0], "ZOO_LISTEN_ALLIPS_ENABLED") == ["no"]
    _, ops = run_review(body, *HINTS[hint])
    patched = apply_ops(body["request"]["object"], ops)
    assert _env(patched["spec"]["containers"][0], "ZOO_LISTEN_ALLIPS_ENABLED") == ["yes"]
    assert [op["op"] for op in ops if "/env/" in op["path"]] == ["replace"], "set in place, not appended"


@pytest.mark.parametrize("hint", list(HINTS))
def test_bitnami_zookeeper_listening_on_all_ips_keeps_its_env(
    hint: str, run_review: Callable[..., Any], apply_ops: Callable[..., Any]
) -> None:
    body = _review_for(_statefulset("zookeeper-6.7.2-listenOnAllIPs", "my-release-zookeeper"), 0)
    original = body["request"]["object"]
    assert _env(original["spec"]["containers"][0], "ZOO_LISTEN_ALLIPS_ENABLED") == ["yes"]
    _, ops = run_review(body, *HINTS[hint])
    assert not [op for op in ops if op["path"].startswith("/spec/")], ops
    assert apply_ops(original, ops)["spec"] == original["spec"]


def test_cassandra_on_istio_1_9_excludes_internode_ports(
    run_review: Callable[..., Any], apply_ops: Callable[..., Any]
) -> None:
    body = _review_for(_statefulset("cassandra-10.4.2", "my-release-cassandra"), 0)
    _, ops = run_review(body, "istio", "1.9")
    annotations = apply_ops(body["request"]["object"], ops)["metadata"]["annotations"]
    assert annotations[ISTIO_EXCLUDE_IN].split(",") == ["7000", "7001"]
    assert annotations[ISTIO_EXCLUDE_OUT].split(",") == ["7000", "7001"]


@pytest.mark.parametrize("hint", ["istio-1.10", "linkerd-2.11"])
def test_cassandra_needs_no_exclusions_where_the_proxy_forwards_to_the_pod_ip(
    hint: str, run_review: Callable[..., Any], apply_ops: Callable[..., Any]
) -> None:
    body = _review_for(_statefulset("cassandra-10.4.2", "my-release-cassandra"), 0)
    _, ops = run_review(body, *HINTS[hint])
    annotations = apply_ops(body["request"]["object"], ops)["metadata"].get("annotations") or {}
    assert not [k for k in annotations if "exclude" in k or "skip-" in k], annotations


@pytest.mark.parametrize("hint", list(HINTS))
def test_kafka_listeners_are_left_unchanged(
    hint: str, run_review: Callable[..., Any], apply_ops: Callable[..., Any]
) -> None:
    body = _review_for(_statefulset("kafka-21.5.0", "my-release-kafka"), 0)
    original = body["request"]["object"]
    _, ops = run_review(body, *HINTS[hint])
    patched = apply_ops(original, ops)
    kafka = patched["spec"]["containers"][0]
    assert _env(kafka, "KAFKA_CFG_LISTENERS") == ["INTERNAL://:9093,CLIENT://:9092"]
    assert patched["spec"]["containers"] == original["spec"]["containers"]


@pytest.mark.parametrize(("hint", "opaque"), [("linkerd-2.10", "9300"), ("linkerd-2.11", None), ("istio-1.9", None)])
def test_elasticsearch_transport_is_opaque_only_before_linkerd_2_11(
    hint: str, opaque: str | None, run_review: Callable[..., Any], apply_ops: Callable[..., Any]
) -> None:
    for sts in STATEFULSETS["elasticsearch-19.9.5"]:
        body = _review_for(sts, 0)
        _, ops = run_review(body, *HINTS[hint])
        annotations = apply_ops(body["request"]["object"], ops)["metadata"].get("annotations") or {}
        assert annotations.get("config.linkerd.io/opaque-ports") == opaque, sts["metadata"]["name"]


@pytest.mark.parametrize("manifest", ["consul-10.12.1", "quarkus-statefulset-0d579c7", "quarkus-statefulset-7508b22"])
@pytest.mark.parametrize("hint", list(HINTS))
def test_apps_outside_the_catalogue_are_not_patched(manifest: str, hint: str, run_review: Callable[..., Any]) -> None:
    for sts in STATEFULSETS[manifest]:
        result, ops = run_review(_review_for(sts, 0), *HINTS[hint])
        assert ops == [] and result.outcome == "unchanged"
        assert result.mutation is not None and list(result.mutation.apps) == []
