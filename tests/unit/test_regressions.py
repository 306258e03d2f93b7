"""Regression tests for the core: two bugs found while writing the tests (both fixed), a dangling
init container flag and a proxy.istio.io/config value whose YAML types JSON cannot dump; and malformed
env entries, which pod_problem stopped walking for speed, read safely by the env fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

ISTIO_INIT_ARGS = ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", ""]


def test_dangling_init_flag_is_patched_idempotently(
    make_sts_pod: Callable[..., Any],
    make_review: Callable[..., Any],
    run_review: Callable[..., Any],
    apply_ops: Callable[..., Any],
) -> None:
    pod = make_sts_pod(
        "nifi",
        containers=[
            {"name": "nifi", "image": "apache/nifi:1.23.2"},
            {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.9.5"},
        ],
        init_containers=[
            {
                "name": "istio-init",
                "image": "docker.io/istio/proxyv2:1.9.5",
                "args": [*ISTIO_INIT_ARGS, "-b", "*", "-d"],
            }
        ],
    )
    _, ops = run_review(make_review(pod), "auto")
    patched = apply_ops(pod, ops)
    _, second = run_review(make_review(patched), "auto")
    assert second == []
    assert "-d,6342" not in patched["spec"]["initContainers"][0]["args"]


def test_proxy_config_with_a_yaml_typed_value_does_not_drop_all_fixes(
    make_sts_pod: Callable[..., Any], make_review: Callable[..., Any], run_review: Callable[..., Any]
) -> None:
    pod = make_sts_pod(
        "zk",
        containers=[
            {
                "name": "zk",
                "image": "bitnami/zookeeper:3.7.0",
                "env": [{"name": "ZOO_LISTEN_ALLIPS_ENABLED", "value": "no"}],
            }
        ],
        annotations={"proxy.istio.io/config": "{proxyMetadata: {BUILD_DATE: 2021-05-19}}"},
    )
    result, ops = run_review(make_review(pod), "istio", "1.9")
    assert result.outcome == "patched", result.error
    assert any(op["path"] == "/spec/containers/0/env/0" for op in ops)


def test_malformed_env_entries_are_skipped_and_the_env_fix_still_applies_idempotently(
    make_sts_pod: Callable[..., Any],
    make_review: Callable[..., Any],
    run_review: Callable[..., Any],
    apply_ops: Callable[..., Any],
) -> None:
    """Env entries without a string name are not a shape problem (the apiserver's validation rejects
    them after us): the fix finds the real entry past them and the patch applies where they sit."""
    malformed: list[Any] = [{"value": "no name"}, None, "ZOO_LISTEN_ALLIPS_ENABLED=yes", {"name": 5}]
    pod = make_sts_pod(
        "zk",
        containers=[
            {
                "name": "zk",
                "image": "bitnami/zookeeper:3.7.0",
                "env": [malformed[0], {"name": "ZOO_LISTEN_ALLIPS_ENABLED", "value": "no"}, *malformed[1:]],
            }
        ],
    )
    result, ops = run_review(make_review(pod), "istio", "1.9")
    assert result.outcome == "patched", result.error
    assert {"op": "replace", "path": "/spec/containers/0/env/1",
            "value": {"name": "ZOO_LISTEN_ALLIPS_ENABLED", "value": "yes"}} in ops  # fmt: skip
    patched = apply_ops(pod, ops)
    env = patched["spec"]["containers"][0]["env"]
    assert [env[0], *env[2:]] == malformed  # untouched, in place
    _, second = run_review(make_review(patched), "istio", "1.9")
    assert second == []


# --- found by a review of the data-plane model (2026-12-04), each fixed ---------------------------

ZK_TUTORIAL = {
    "name": "zk",
    "image": "registry.k8s.io/kubernetes-zookeeper:1.0-3.4.10",
    "command": ["sh", "-c", "start-zookeeper --servers=3"],
}


def _idempotent(pod: Any, hint: tuple[Any, ...], run_review: Any, make_review: Any, apply_ops: Any) -> list[Any]:
    result, ops = run_review(make_review(pod), *hint)
    _, second = run_review(make_review(apply_ops(pod, ops)), *hint)
    assert second == [], "a second review changes nothing"
    return [result, ops]


def test_consul_cni_keeps_its_init_container_and_the_config_annotation_is_patched(
    make_sts_pod: Callable[..., Any], make_review: Callable[..., Any], run_review: Callable[..., Any],
    apply_ops: Callable[..., Any],
) -> None:  # fmt: skip
    """consul-k8s always injects consul-connect-inject-init; with CNI its config is an annotation."""
    pod = make_sts_pod(
        "zk",
        containers=[dict(ZK_TUTORIAL), {"name": "consul-dataplane", "image": "hashicorp/consul-dataplane:1.6.1"}],
        init_containers=[{"name": "consul-connect-inject-init", "command": ["/bin/sh", "-ec", "connect-init"]}],
    )
    pod["metadata"]["annotations"] = {
        "consul.hashicorp.com/connect-inject-status": "injected",
        "consul.hashicorp.com/redirect-traffic-config": '{"ExcludeInboundPorts":["20200"]}',
    }
    result, ops = _idempotent(pod, (None, None), run_review, make_review, apply_ops)
    (op,) = [op for op in ops if op["path"].endswith("redirect-traffic-config")]
    assert '"ExcludeInboundPorts":["20200","2888","3888"]' in op["value"]
    assert not [w for w in result.mutation.warnings if "restart the pod" in w]


def test_an_include_list_of_only_our_ports_stays_idempotent(
    make_sts_pod: Callable[..., Any], make_review: Callable[..., Any], run_review: Callable[..., Any],
    apply_ops: Callable[..., Any],
) -> None:  # fmt: skip
    init = {"name": "istio-init", "args": [*ISTIO_INIT_ARGS, "-b", "2888,3888", "-d", "15090"]}
    pod = make_sts_pod(
        "zk",
        containers=[dict(ZK_TUTORIAL), {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.9.5"}],
        init_containers=[init],
    )
    _idempotent(pod, ("auto",), run_review, make_review, apply_ops)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("linkerd.io/proxy-version", "1." + "9" * 5000, id="huge-version"),
        pytest.param("sidecar.istio.io/status", "[" * 200000, id="deep-status-json"),
    ],
)
def test_odd_mesh_annotations_never_make_review_raise(
    key: str, value: str, make_sts_pod: Callable[..., Any], make_review: Callable[..., Any],
    run_review: Callable[..., Any],
) -> None:  # fmt: skip
    pod = make_sts_pod("zk", containers=[dict(ZK_TUTORIAL)])
    pod["metadata"]["annotations"] = {key: value}
    result, _ = run_review(make_review(pod), "auto")
    assert result.outcome in ("patched", "unchanged")


def test_unreadable_consul_port_lists_and_odd_port_digits_are_left_with_a_warning(
    make_sts_pod: Callable[..., Any], make_review: Callable[..., Any], run_review: Callable[..., Any],
) -> None:  # fmt: skip
    config = {"name": "CONSUL_REDIRECT_TRAFFIC_CONFIG", "value": '{"ExcludeInboundPorts":5}'}
    pod = make_sts_pod(
        "zk",
        containers=[dict(ZK_TUTORIAL), {"name": "consul-dataplane", "image": "hashicorp/consul-dataplane:1.6.1"}],
        init_containers=[{"name": "consul-connect-inject-init", "env": [config]}],
    )
    result, ops = run_review(make_review(pod), None, None)
    assert result.outcome == "patched" and not [op for op in ops if "/initContainers/" in op["path"]]
    assert [w for w in result.mutation.warnings if "cannot read" in w]
    odd_port = {"name": "NIFI_CLUSTER_NODE_PROTOCOL_PORT", "value": "²"}  # a digit to str.isdigit, not to int()
    nifi = make_sts_pod("nifi", containers=[{"name": "nifi", "image": "apache/nifi:1.23.2", "env": [odd_port]}])
    assert run_review(make_review(nifi), "istio", "1.9")[0].outcome == "patched"


def test_an_injection_request_wins_over_the_namespace_ambient_and_an_opt_out_over_a_revision() -> None:
    from webhook.core.mesh import MeshHint, detect

    ambient_namespace = MeshHint("istio", (1, 24), "ambient")
    for request in ({"labels": {"istio.io/rev": "1-24"}}, {"annotations": {"linkerd.io/inject": "enabled"}}):
        pod = {"metadata": {"labels": {}, "annotations": {}, **request}, "spec": {"containers": [dict(ZK_TUTORIAL)]}}
        assert detect(pod, ambient_namespace).dataplane != "ambient", request
    opted_out = {"metadata": {"labels": {"sidecar.istio.io/inject": "false", "istio.io/rev": "1-9"}}, "spec": {}}
    assert detect(opted_out).mesh == "unknown" and detect(opted_out, MeshHint("istio", (1, 9))).mesh == "none"
