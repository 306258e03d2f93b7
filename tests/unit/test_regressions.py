"""Regression tests for core bugs found while writing the tests (both fixed): a dangling init
container flag, and a proxy.istio.io/config value whose YAML types JSON cannot dump."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
