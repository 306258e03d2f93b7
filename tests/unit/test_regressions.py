"""Regression tests for the core: two bugs found while writing the tests (both fixed), a dangling
init container flag and a proxy.istio.io/config value whose YAML types JSON cannot dump; and malformed
env entries, which pod_problem stopped walking for speed, read safely by the env fix."""

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
