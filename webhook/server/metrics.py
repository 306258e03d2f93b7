"""Edge: the webhook's Prometheus metrics, on a registry of their own.

Each app gets its own :class:`Metrics` (and :class:`~prometheus_client.CollectorRegistry`), so
tests can build several apps in one process and read exact counter values. ``GET /metrics`` serves
:meth:`Metrics.exposition` in the classic text format (``version=0.0.4``), which every Prometheus
version scrapes.

The latency buckets line up with the apiserver's webhook histograms (5/25/100 ms ... 2.5 s), so
the webhook's view and ``apiserver_admission_webhook_admission_duration_seconds`` can be compared.

What every admission request updates (requests by outcome and code, latency, fixes, skips) is
one count in a plain dict, keyed by all of them at once (:meth:`Metrics.record_request`, on the
event-loop thread), and the metric families are summed from it only when ``/metrics`` is scraped:
prometheus_client's per-sample locks and label lookups cost more than the rest of the request's
bookkeeping together, and even in a plain dict each increment costs about a microsecond, so there
is one per request. The keys stay few: outcomes, codes, latency buckets, the fix combinations the
catalogue produces and the skip reasons are each a short list. The rarer
metrics (errors, certificate reloads, which a background thread updates) are ordinary
prometheus_client metrics.
"""

from __future__ import annotations

import bisect
import platform
from collections import Counter as Tally
from collections.abc import Iterable, Iterator

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, PlatformCollector, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from webhook import __version__


def core_compiled() -> bool:
    """Whether the core runs as the mypyc-compiled build (its modules are extension modules)."""
    from webhook.core import admission

    return not str(getattr(admission, "__file__", "")).endswith(".py")


LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1.0, 2.5)

EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """Every metric stsmesh exports. Names are prefixed ``stsmesh_``."""

    def __init__(self) -> None:
        # A `_created` series per counter doubles what is scraped and no dashboard reads it.
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, resident memory, open fds…
        PlatformCollector(registry=self.registry)  # python_info
        build = Gauge(
            "stsmesh_build_info",
            "Always 1; the labels say which stsmesh is running (compiled: the mypyc build of the core).",
            ["version", "python", "compiled"],
            registry=self.registry,
        )
        build.labels(version=__version__, python=platform.python_version(), compiled=str(core_compiled()).lower()).set(
            1
        )
        self.in_flight = Gauge(
            "stsmesh_admission_requests_in_flight",
            "Admission requests being handled right now.",
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
        self.connections_refused = Counter(
            "stsmesh_connections_refused_total",
            "Connections closed by the server's guard: slow-headers (a request's headers not complete in "
            "time) or too-many-connections.",
            ["reason"],
            registry=self.registry,
        )
        for reason in ("slow-headers", "too-many-connections"):
            self.connections_refused.labels(reason=reason)
        self.catalogue_reloads = Counter(
            "stsmesh_catalogue_reloads_total",
            "User catalogue reloads after the file changed, by result (ok, or error: the previous one stays).",
            ["result"],
            registry=self.registry,
        )
        self.cert_expiry = Gauge(
            "stsmesh_certificate_expiry_timestamp_seconds",
            "When the serving certificate in use expires (Unix time).",
            registry=self.registry,
        )
        self.cluster_view_synced = Gauge(
            "stsmesh_cluster_view_synced",
            "1 when the watches of namespaces and mesh control planes are in sync, else 0 (absent: not watching).",
            registry=self.registry,
        )
        for result in ("ok", "error"):
            self.cert_reloads.labels(result=result)
            self.catalogue_reloads.labels(result=result)
        self.request_tally = RequestTally()
        self.registry.register(_RequestCollector(self.request_tally))

    def record_request(
        self, outcome: str, code: int, seconds: float, fixes: Iterable[str] = (), skip_reason: str = ""
    ) -> None:
        """Count one answered admission request: outcome and code, latency, the fixes it applied,
        and why it was skipped (when it was)."""
        tally = self.request_tally
        tally.counts[(outcome, code, bisect.bisect_left(LATENCY_BUCKETS, seconds), tuple(fixes), skip_reason)] += 1
        tally.latency_sum += seconds

    def count_cert_reload(self, result: str) -> None:
        """``result`` is ``ok`` or ``error``."""
        self.cert_reloads.labels(result=result).inc()

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


RequestKey = tuple[str, int, int, tuple[str, ...], str]
"""outcome, HTTP code, latency bucket index, fix ids applied, skip reason."""


class RequestTally:
    """The per-request figures as plain counts (see the module docstring)."""

    def __init__(self) -> None:
        self.counts: Tally[RequestKey] = Tally()
        self.latency_sum = 0.0

    def totals(self) -> tuple[Tally[tuple[str, int]], list[int], Tally[str], Tally[str]]:
        """Requests by (outcome, code), requests per latency bucket (the last one +Inf), fixes
        applied by id, and skips by reason, summed from :attr:`counts`."""
        requests: Tally[tuple[str, int]] = Tally()
        latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        fixes: Tally[str] = Tally()
        skips: Tally[str] = Tally()
        for (outcome, code, bucket, fix_ids, skip_reason), count in list(self.counts.items()):
            requests[(outcome, code)] += count
            latency_counts[bucket] += count
            for fix in fix_ids:
                fixes[fix] += count
            if skip_reason:
                skips[skip_reason] += count
        return requests, latency_counts, fixes, skips


class _RequestCollector:
    """Exports a :class:`RequestTally` as metric families when the registry is collected."""

    def __init__(self, tally: RequestTally) -> None:
        self.tally = tally

    def collect(self) -> Iterator[Metric]:
        tally = self.tally
        counts, latency_counts, fix_counts, skip_counts = tally.totals()
        requests = CounterMetricFamily(
            "stsmesh_admission_requests",
            "Admission requests answered, by outcome (patched, unchanged, skipped, unreadable, rule-error, "
            "denied, deadline, invalid, unsupported-media-type, too-large, unknown-mesh, internal-error) "
            "and HTTP status code.",
            labels=["outcome", "code"],
        )
        for (outcome, code), count in sorted(counts.items()):
            requests.add_metric([outcome, str(code)], count)
        yield requests
        latency = HistogramMetricFamily(
            "stsmesh_admission_request_duration_seconds",
            "Time from receiving an admission request to having its answer ready.",
        )
        cumulative, buckets = 0, []
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), latency_counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        latency.add_metric([], buckets, tally.latency_sum)
        yield latency
        fixes = CounterMetricFamily(
            "stsmesh_fixes_applied", "Fixes applied to pods, by fix id (a pod can get several).", labels=["fix"]
        )
        for fix, count in sorted(fix_counts.items()):
            fixes.add_metric([fix], count)
        yield fixes
        skips = CounterMetricFamily(
            "stsmesh_skipped_requests",
            "Requests admitted without looking further, by reason (not-create, not-statefulset, ...).",
            labels=["reason"],
        )
        for reason, count in sorted(skip_counts.items()):
            skips.add_metric([reason], count)
        yield skips
