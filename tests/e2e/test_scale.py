"""A 50-replica StatefulSet on the real apiserver, with and without the webhook in the path.

The same ``podManagementPolicy: Parallel`` StatefulSet (examples/zookeeper-tutorial.yaml, 50
replicas) is created in a namespace that is not enabled (the apiserver never calls the webhook) and
in an enabled one (``stsmesh serve`` as a real process, registered with ``stsmesh register``), after
an unmeasured warm-up set. The test asserts correctness only: in the enabled namespace all 50 pods
are admitted and each carries exactly the dry-run's mutations; in the other none is touched and the
webhook saw no call. Reported, not asserted (it depends on the machine): the wall time from create
to all 50 pods stored for both, their ratio, and the apiserver's own mean time per webhook call
(``record_property`` and stdout, shown with ``-rA``).
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.e2e.conftest import WebhookProcess, create_namespace, stsmesh, wait_for_pods
from tests.e2e.test_cluster import APPLIED, apply, assert_carries_golden_mutations, statefulset

REPLICAS = 50
SELECTOR = "app.kubernetes.io/name=zk"


def scrape(url: str, context: ssl.SSLContext) -> str:
    with urllib.request.urlopen(url, context=context, timeout=5) as resp:
        return str(resp.read().decode())


def admission_calls(webhook: WebhookProcess) -> dict[str, float]:
    """``stsmesh_admission_requests_total`` by outcome, from the webhook process's /metrics."""
    context = ssl.create_default_context(cafile=str(webhook.ca_file))
    calls: dict[str, float] = {}
    for line in scrape(f"https://127.0.0.1:{webhook.port}/metrics", context).splitlines():
        if line.startswith("stsmesh_admission_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            outcome = labels.split('outcome="', 1)[1].split('"', 1)[0]
            calls[outcome] = calls.get(outcome, 0.0) + float(value)
    return calls


def apiserver_webhook_seconds(cluster: Any) -> tuple[float, float]:
    """The apiserver's own view of our webhook: ``apiserver_admission_webhook_admission_duration_seconds``
    sum and count (time per call, TLS and network included)."""
    pki = Path(cluster.workdir) / "pki"
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(pki / "admin.crt", pki / "admin.key")
    total = count = 0.0
    for line in scrape(f"https://127.0.0.1:{cluster.api_port}/metrics", context).splitlines():
        if line.startswith("apiserver_admission_webhook_admission_duration_seconds_") and "pods.stsmesh.io" in line:
            value = float(line.rsplit(" ", 1)[1])
            if line.startswith("apiserver_admission_webhook_admission_duration_seconds_sum"):
                total += value
            elif line.startswith("apiserver_admission_webhook_admission_duration_seconds_count"):
                count += value
    return total, count


def create_and_time(api: client.ApiClient, namespace: str) -> tuple[float, list[dict[str, Any]], dict[str, Any]]:
    """Create the 50-replica set; seconds until all 50 pods are stored, the pods, the set."""
    sts = statefulset("zookeeper-tutorial.yaml", namespace, replicas=REPLICAS)
    started = time.monotonic()
    apply(api, sts)
    pods = wait_for_pods(api, namespace, SELECTOR, REPLICAS, timeout=120)
    return time.monotonic() - started, pods, sts


def test_fifty_parallel_pods_are_all_mutated_and_the_webhook_cost_is_measured(
    api: client.ApiClient,
    cluster: Any,
    registered: WebhookProcess,
    record_property: Callable[[str, object], None],
) -> None:
    """All 50 pods mutated exactly as the dry-run says in the enabled namespace, none (and no webhook
    call) in the other; create-to-stored wall time reported for both."""
    kubeconfig = str(cluster.kubeconfig)
    for namespace in ("e2e-scale-warm-up", "e2e-scale-off", "e2e-scale-on"):
        create_namespace(api, namespace)
    code, _, err = stsmesh("enable", "e2e-scale-on", "--kubeconfig", kubeconfig)
    assert code == 0, err

    # The controller-manager's client rate limiter (QPS 20, burst 30) starts full: whichever set is
    # created first gets ~1.5 s for free. An unmeasured set first puts both measured runs on equal terms.
    create_and_time(api, "e2e-scale-warm-up")
    calls_before = admission_calls(registered)
    without_webhook, plain_pods, _ = create_and_time(api, "e2e-scale-off")
    calls_between = admission_calls(registered)
    seconds_before, count_before = apiserver_webhook_seconds(cluster)
    with_webhook, mutated_pods, sts = create_and_time(api, "e2e-scale-on")
    seconds_after, count_after = apiserver_webhook_seconds(cluster)
    calls_after = admission_calls(registered)

    ratio = with_webhook / without_webhook
    per_call_ms = 1000 * (seconds_after - seconds_before) / max(count_after - count_before, 1)
    figures = {
        "scale_replicas": REPLICAS,
        "scale_seconds_without_webhook": round(without_webhook, 2),
        "scale_seconds_with_webhook": round(with_webhook, 2),
        "scale_ratio": round(ratio, 2),
        "scale_apiserver_webhook_calls": count_after - count_before,
        "scale_apiserver_ms_per_webhook_call": round(per_call_ms, 2),
    }
    for name, value in figures.items():
        record_property(name, value)
    print(
        f"\n{REPLICAS}-replica Parallel StatefulSet, create -> all pods stored: {without_webhook:.2f} s without "
        f"the webhook, {with_webhook:.2f} s with it (ratio {ratio:.2f}); the apiserver timed "
        f"{count_after - count_before:.0f} webhook calls at {per_call_ms:.2f} ms each on average"
    )

    assert len(plain_pods) == len(mutated_pods) == REPLICAS
    assert calls_between == calls_before, "the webhook was called for a namespace that is not enabled"
    for pod in plain_pods:
        assert APPLIED not in pod["metadata"].get("annotations", {})
        assert "traffic.sidecar.istio.io/excludeInboundPorts" not in pod["metadata"].get("annotations", {})
    for pod in mutated_pods:
        assert APPLIED in pod["metadata"]["annotations"], pod["metadata"]["name"]
        assert_carries_golden_mutations(pod, sts)
    patched = calls_after.get("patched", 0.0) - calls_between.get("patched", 0.0)
    assert patched >= REPLICAS, f"only {patched:.0f} patched answers for {REPLICAS} pods"
    events = client.CoreV1Api(api).list_namespaced_event("e2e-scale-on", _preload_content=False)
    assert "FailedCreate" not in [e["reason"] for e in json.loads(events.data)["items"]]
