"""Edge: the webhook's Prometheus metrics, on a registry of their own.

Each app gets its own :class:`Metrics` (and :class:`~prometheus_client.CollectorRegistry`), so
tests can build several apps in one process and read exact counter values. ``GET /metrics`` serves
:meth:`Metrics.exposition` in the classic text format (``version=0.0.4``), which every Prometheus
version scrapes.

The latency buckets line up with the apiserver's webhook histograms (5/25/100 ms ... 2.5 s), so
the webhook's view and ``apiserver_admission_webhook_admission_duration_seconds`` can be compared.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1.0, 2.5)

EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """Every metric stsmesh exports. Names are prefixed ``stsmesh_``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "stsmesh_admission_requests_total",
            "Admission requests answered, by outcome (patched, unchanged, skipped, unreadable, rule-error, "
            "denied, deadline, invalid, unsupported-media-type, too-large, unknown-mesh, internal-error) "
            "and HTTP status code.",
            ["outcome", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "stsmesh_admission_request_duration_seconds",
            "Time from receiving an admission request to having its answer ready.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "stsmesh_admission_requests_in_flight",
            "Admission requests being handled right now.",
            registry=self.registry,
        )
        self.fixes = Counter(
            "stsmesh_fixes_applied_total",
            "Fixes applied to pods, by fix id (a pod can get several).",
            ["fix"],
            registry=self.registry,
        )
        self.skips = Counter(
            "stsmesh_skipped_requests_total",
            "Requests admitted without looking further, by reason (not-create, not-statefulset, ...).",
            ["reason"],
            registry=self.registry,
        )
        self.rule_errors = Counter(
            "stsmesh_rule_errors_total",
            "Rules that raised while processing a pod (the pod was admitted or denied per on_rule_error).",
            registry=self.registry,
        )
        self.internal_errors = Counter(
            "stsmesh_internal_errors_total",
            "Unexpected exceptions in the request handler (answered without a 5xx; see the logs).",
            registry=self.registry,
        )
        self.cert_reloads = Counter(
            "stsmesh_certificate_reloads_total",
            "Serving certificate reloads after the files changed, by result (ok or error).",
            ["result"],
            registry=self.registry,
        )
        self.cert_expiry = Gauge(
            "stsmesh_certificate_expiry_timestamp_seconds",
            "When the serving certificate in use expires (Unix time).",
            registry=self.registry,
        )
        for result in ("ok", "error"):
            self.cert_reloads.labels(result=result)
        # labels() costs a lock and a tuple build per call; a request's children are cached by value.
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, metric: Counter, *values: str) -> Any:
        key = (metric._name, *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def count_request(self, outcome: str, code: int) -> None:
        self._child(self.requests, outcome, str(code)).inc()

    def count_fix(self, fix: str) -> None:
        self._child(self.fixes, fix).inc()

    def count_skip(self, reason: str) -> None:
        self._child(self.skips, reason).inc()

    def count_cert_reload(self, result: str) -> None:
        """``result`` is ``ok`` or ``error``."""
        self.cert_reloads.labels(result=result).inc()

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)
