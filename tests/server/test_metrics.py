"""webhook.server.metrics: the per-request tally comes out of /metrics as ordinary Prometheus families,
with the same names, labels and histogram semantics prometheus_client's own metrics would give."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from webhook.server.metrics import LATENCY_BUCKETS, Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_requests_fixes_and_skips_are_counted_by_label() -> None:
    metrics = Metrics()
    metrics.record_request("patched", 200, 0.002, ["identity-labels", "zookeeper-listen-all-ips"])
    metrics.record_request("patched", 200, 0.003, ["identity-labels"])
    metrics.record_request("skipped", 200, 0.0001, skip_reason="not-statefulset")
    metrics.record_request("invalid", 400, 0.0001)
    got = samples(metrics)
    assert got[("stsmesh_admission_requests_total", (("code", "200"), ("outcome", "patched")))] == 2
    assert got[("stsmesh_admission_requests_total", (("code", "200"), ("outcome", "skipped")))] == 1
    assert got[("stsmesh_admission_requests_total", (("code", "400"), ("outcome", "invalid")))] == 1
    assert got[("stsmesh_fixes_applied_total", (("fix", "identity-labels"),))] == 2
    assert got[("stsmesh_fixes_applied_total", (("fix", "zookeeper-listen-all-ips"),))] == 1
    assert got[("stsmesh_skipped_requests_total", (("reason", "not-statefulset"),))] == 1
    assert not any(name == "stsmesh_skipped_requests_total" and labels != (("reason", "not-statefulset"),)
                   for name, labels in got)  # fmt: skip


def test_latency_histogram_is_cumulative_with_bounds_inclusive() -> None:
    metrics = Metrics()
    for seconds in (0.0005, 0.001, 0.003, 0.2, 9.0):  # 0.001 sits exactly on a bound: counted in it
        metrics.record_request("patched", 200, seconds)
    got = samples(metrics)

    def bucket(le: str) -> float:
        return got[("stsmesh_admission_request_duration_seconds_bucket", (("le", le),))]

    assert bucket("0.001") == 2
    assert bucket("0.0025") == 2
    assert bucket("0.005") == 3
    assert bucket("0.1") == 3
    assert bucket("0.5") == 4
    assert bucket("2.5") == 4
    assert bucket("+Inf") == 5
    assert got[("stsmesh_admission_request_duration_seconds_count", ())] == 5
    assert abs(got[("stsmesh_admission_request_duration_seconds_sum", ())] - 9.2045) < 1e-9
    bounds = {labels[0][1] for name, labels in got if name.endswith("_bucket")}
    assert bounds == {repr(b) for b in LATENCY_BUCKETS} | {"+Inf"}


def test_empty_registry_still_exports_every_family() -> None:
    text = Metrics().exposition().decode()
    for name in (
        "stsmesh_admission_requests",
        "stsmesh_admission_request_duration_seconds",
        "stsmesh_fixes_applied",
        "stsmesh_skipped_requests",
        "stsmesh_admission_requests_in_flight",
    ):
        assert f"# TYPE {name} " in text or f"# TYPE {name}_total counter" in text, name  # fmt: skip
    assert "stsmesh_admission_request_duration_seconds_count 0.0" in text


def test_build_info_process_metrics_and_no_created_series() -> None:
    from webhook import __version__

    metrics = Metrics()
    metrics.record_request("patched", 200, 0.002, ("zookeeper-listen-all-ips",))
    metrics.count_cert_reload("ok")
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    (build,) = families["stsmesh_build_info"].samples
    assert build.value == 1 and build.labels["version"] == __version__ and build.labels["compiled"] in ("true", "false")
    for name in ("process_resident_memory_bytes", "process_open_fds", "process_cpu_seconds", "python_info"):
        assert name in families, name
    names = [s.name for f in families.values() for s in f.samples]
    assert not [n for n in names if n.endswith("_created")], "no _created series"
