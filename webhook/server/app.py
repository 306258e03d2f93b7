"""Edge: the web application. HTTP in and out around :func:`webhook.core.admission.review`: the
``/mutate`` handler and its log lines, the probes, ``/metrics``, and the certificate reloader that
runs while the app does. Listening, signals and graceful shutdown are :mod:`webhook.server.lifecycle`'s.

How a ``POST /mutate[/{mesh}[/{version}]]`` is answered. HTTP errors are only for requests that are
not an answerable AdmissionReview, always with a small ``{"error": "..."}`` JSON body; anything
about the pod is an AdmissionReview with 200:

* 404 — unknown mesh or unreadable version in the URL path;
* 415 — ``Content-Type`` is not ``application/json`` (checked before the body is read);
* 413 — body over ``settings.max_body_bytes``;
* 400 — empty body, invalid JSON, JSON nested deeper than :data:`MAX_JSON_DEPTH`, or not an
  AdmissionReview with a uid (:class:`~webhook.core.review.InvalidReview`);
* 200 — every AdmissionReview with a uid, answered in its own apiVersion;
* 200, allowed with a warning — an unexpected exception once the uid is known (logged with its
  traceback and counted); 400 if it happens before.

Never a 5xx and never a ``Retry-After`` header: the apiserver retries 429/5xx carrying one, which
turns one slow call into many. The apiserver's ``?timeout=`` (a Go duration) minus
``settings.deadline_margin_seconds`` bounds the work: past it the pod is admitted unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from aiohttp import web

from webhook.core.admission import (
    InvalidReview,
    ReviewResult,
    deadline_check,
    hint_from_path,
    internal_error_response,
    review,
)
from webhook.core.catalogue import Catalogue
from webhook.core.mesh import MeshHint
from webhook.core.review import clip
from webhook.core.settings import Settings
from webhook.server.catalogue_reload import CatalogueReloader
from webhook.server.clusterview import ClusterView
from webhook.server.logs import line_writer, request_identity
from webhook.server.metrics import EXPOSITION_CONTENT_TYPE, Metrics
from webhook.server.tls import CertReloader, ReloadResult, ServingCertificate

log = logging.getLogger(__name__)

MAX_JSON_DEPTH = 1024
"""Deepest JSON nesting accepted: orjson refuses deeper documents (a 400, "not valid JSON"). A pod
review is about 12 deep, and nothing in the core recurses into the pod, so no walk of our own is
spent on the hot path."""

JSON_CONTENT_TYPE = "application/json"


class Readiness:
    """Whether ``/readyz`` answers 200: after startup, until shutdown begins."""

    def __init__(self) -> None:
        self.ready = False
        self.state = "starting"

    def mark_ready(self) -> None:
        self.ready, self.state = True, "ready"

    def mark_shutting_down(self) -> None:
        self.ready, self.state = False, "shutting down"


class InFlight:
    """Admission requests being handled, so shutdown can wait for them while their connections still
    read (aiohttp ignores data arriving on a connection once its own shutdown has begun). A plain
    count per request; the event exists only once shutdown waits."""

    def __init__(self) -> None:
        self.count = 0
        self._idle: asyncio.Event | None = None

    def enter(self) -> None:
        self.count += 1

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0 and self._idle is not None:
            self._idle.set()

    async def wait_idle(self) -> None:
        if self._idle is None:
            self._idle = asyncio.Event()
        while self.count:
            self._idle.clear()
            await self._idle.wait()


SETTINGS_KEY = web.AppKey("settings", Settings)
METRICS_KEY = web.AppKey("metrics", Metrics)
READINESS_KEY = web.AppKey("readiness", Readiness)
IN_FLIGHT_KEY = web.AppKey("in_flight", InFlight)
CLUSTER_VIEW_KEY = web.AppKey("cluster_view", ClusterView)
CERT_RELOADER_KEY = web.AppKey("cert_reloader", CertReloader)
"""Present only when the app was made with an SSL context and certificate files."""
CATALOGUE_RELOADER_KEY = web.AppKey("catalogue_reloader", CatalogueReloader)
"""Present only when a user catalogue file is configured."""


def make_app(
    settings: Settings, *, ssl_context: ssl.SSLContext | None = None, view: ClusterView | None = None
) -> web.Application:
    """The web application. With ``ssl_context`` (the one the listener serves) and
    ``settings.cert_file``, a :class:`~webhook.server.tls.CertReloader` keeps that context's certificate
    current while the app runs. With ``view``, its watches run while the app runs and every review
    reads its latest namespace and control-plane knowledge."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    metrics = Metrics()
    app[SETTINGS_KEY] = settings
    app[METRICS_KEY] = metrics
    app[READINESS_KEY] = Readiness()
    app[IN_FLIGHT_KEY] = in_flight = InFlight()
    metrics.in_flight.set_function(lambda: in_flight.count)  # read at scrape time, free per request
    if ssl_context is not None and settings.cert_file:
        app[CERT_RELOADER_KEY] = _make_reloader(settings, ssl_context, metrics)
        app.cleanup_ctx.append(_cert_reloading)
    if view is not None:
        app[CLUSTER_VIEW_KEY] = view
        app.cleanup_ctx.append(_watching)
        metrics.cluster_view_synced.set_function(lambda: 1.0 if view.synced else 0.0)
    app.on_startup.append(_mark_ready)
    handler = MutateHandler(settings, metrics, in_flight, view)
    if settings.catalogue_file:
        app[CATALOGUE_RELOADER_KEY] = CatalogueReloader(
            settings.catalogue_file,
            handler.use_catalogue,
            interval_seconds=settings.cert_reload_seconds,
            on_result=lambda result: metrics.catalogue_reloads.labels(result=result).inc(),
        )
        app.cleanup_ctx.append(_catalogue_reloading)
    mutate = handler.mutate
    app.router.add_post("/mutate", mutate)
    app.router.add_post("/mutate/{mesh}", mutate)
    app.router.add_post("/mutate/{mesh}/{version}", mutate)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
    return app


def _make_reloader(settings: Settings, context: ssl.SSLContext, metrics: Metrics) -> CertReloader:
    def record(result: ReloadResult, certificate: ServingCertificate | None) -> None:
        metrics.count_cert_reload(result)
        if certificate is not None:
            metrics.cert_expiry.set(certificate.not_after.timestamp())

    reloader = CertReloader(
        context,
        settings.cert_file,
        settings.key_file or settings.cert_file,
        interval_seconds=settings.cert_reload_seconds,
        on_result=record,
    )
    if reloader.current is not None:
        metrics.cert_expiry.set(reloader.current.not_after.timestamp())
    return reloader


async def _cert_reloading(app: web.Application) -> AsyncIterator[None]:
    reloader = app[CERT_RELOADER_KEY]
    reloader.start()
    yield
    await reloader.stop()


async def _catalogue_reloading(app: web.Application) -> AsyncIterator[None]:
    reloader = app[CATALOGUE_RELOADER_KEY]
    reloader.start()
    yield
    await reloader.stop()


async def _watching(app: web.Application) -> AsyncIterator[None]:
    view = app[CLUSTER_VIEW_KEY]
    view.start()
    yield
    await view.stop()


async def _mark_ready(app: web.Application) -> None:
    app[READINESS_KEY].mark_ready()


# --- probes and metrics ---------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    readiness = request.app[READINESS_KEY]
    return web.Response(text=f"{readiness.state}\n", status=200 if readiness.ready else 503)


async def metrics_endpoint(request: web.Request) -> web.Response:
    body = request.app[METRICS_KEY].exposition()
    return web.Response(body=body, headers={"Content-Type": EXPOSITION_CONTENT_TYPE})


# --- POST /mutate ---------------------------------------------------------------------------------


class Rejected(Exception):
    """A request that is not an answerable AdmissionReview: HTTP ``status`` with ``{"error": message}``."""

    def __init__(self, status: int, outcome: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.message = message


class MutateHandler:
    """The ``POST /mutate`` handler, holding what every request needs (no per-request app lookups).

    The common case (an AdmissionReview that gets reviewed) runs as one straight path in
    :meth:`mutate`; everything else leaves it by exception. That path is kept to few Python calls:
    under load the interpreter's frames and their code are fetched from memory on every request,
    and each one the handler avoids is measurable (see "Where the time goes" in bench/RESULTS.md).
    """

    def __init__(
        self, settings: Settings, metrics: Metrics, in_flight: InFlight, view: ClusterView | None = None
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.in_flight = in_flight
        self.view = view

    def use_catalogue(self, catalogue: Catalogue) -> None:
        """Review every request from now on with ``catalogue`` (one assignment: a request already
        running keeps the settings it started with)."""
        self.settings = self.settings.with_overrides(catalogue=catalogue)

    async def mutate(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        settings = self.settings
        in_flight = self.in_flight
        in_flight.enter()
        body: object = None
        try:
            try:
                route_parts = request.match_info  # empty for plain /mutate
                hint = _route_hint(request, route_parts) if route_parts else None
                body = await _read_json(request, settings.max_body_bytes)
                expired = deadline_check(request.raw_path, started, settings.deadline_margin_seconds)
                knowledge = self.view.knowledge if self.view is not None else None
                result = review(body, settings, path_hint=hint, expired=expired, knowledge=knowledge)
                payload = orjson.dumps(result.response)
            except Rejected as rejected:
                return self._reject(request, rejected, started)
            except InvalidReview as invalid:
                return self._reject(request, Rejected(400, "invalid", str(invalid)), started)
            except Exception as exc:  # a bug, or the connection broke while the body was read
                return self._internal_error(request, exc, body, started)
        finally:
            in_flight.leave()
        response = web.Response(body=payload, content_type=JSON_CONTENT_TYPE)
        try:
            self._count_and_log(result, time.monotonic() - started)
        except Exception:
            log.exception("could not log or count a request", extra={"uid": result.request.uid})
        return response

    def _count_and_log(self, result: ReviewResult, duration: float) -> None:
        mutation = result.mutation
        fixes = mutation.applied_fixes if mutation is not None else ()
        outcome = result.outcome
        skip_reason = result.decision.reason if outcome == "skipped" else ""
        metrics = self.metrics
        metrics.record_request(outcome, 200, duration, fixes if mutation and mutation.patch else (), skip_reason)
        if outcome in ("rule-error", "denied"):
            metrics.rule_errors.inc()
        if log.isEnabledFor(logging.WARNING if result.error else logging.INFO):
            _log_result(result, fixes, duration)

    def _reject(self, request: web.Request, rejected: Rejected, started: float) -> web.Response:
        return self._answer_otherwise(
            request, rejected.status, {"error": rejected.message}, rejected.outcome, "", rejected.message, started
        )

    def _internal_error(self, request: web.Request, exc: Exception, body: object, started: float) -> web.Response:
        """Answer as the core says we answer a bug (:func:`~webhook.core.admission.internal_error_response`):
        200 admitting the pod unchanged when the body has a uid, else 400. Called from an ``except``
        block, so the traceback is logged."""
        self.metrics.internal_errors.inc()
        answer = internal_error_response(body, exc)
        uid = str(answer["response"]["uid"]) if answer is not None else ""
        log.exception(
            "unexpected error while handling an admission request", extra={"uid": uid, "outcome": "internal-error"}
        )
        if answer is None:
            message = f"stsmesh could not handle the request ({type(exc).__name__})"
            return self._answer_otherwise(request, 400, {"error": message}, "internal-error", "", message, started)
        warnings = answer["response"]["warnings"]
        return self._answer_otherwise(request, 200, answer, "internal-error", uid, str(warnings[0]), started)

    def _answer_otherwise(
        self,
        request: web.Request,
        status: int,
        answer: dict[str, Any],
        outcome: str,
        uid: str,
        problem: str,
        started: float,
    ) -> web.Response:
        """The response, count and log line for a request that was not reviewed."""
        response = web.Response(body=orjson.dumps(answer), status=status, content_type=JSON_CONTENT_TYPE)
        if not request.content.at_eof():
            response.force_close()  # the body was left unread: do not read it just to keep the connection
        duration = time.monotonic() - started
        try:
            self.metrics.record_request(outcome, status, duration)
            _log_rejection(request, status, outcome, uid, problem, duration)
        except Exception:
            log.exception("could not log or count a request", extra={"uid": uid})
        return response


def _route_hint(request: web.Request, route_parts: Mapping[str, str]) -> MeshHint | None:
    try:
        return hint_from_path(route_parts.get("mesh"), route_parts.get("version"))
    except ValueError as exc:
        raise Rejected(404, "unknown-mesh", f"{request.path}: {exc}") from None


async def _read_json(request: web.Request, max_body_bytes: int) -> object:
    """The request's JSON body; :class:`Rejected` (415, 413, 400) when it is not one we can take."""
    # The media type straight from the header: aiohttp's parser (the stdlib email one) raises on
    # some malformed parameters, and the parameters do not matter here.
    content_type = request.headers.get("Content-Type", "")
    if content_type != JSON_CONTENT_TYPE and content_type.split(";", 1)[0].strip().lower() != JSON_CONTENT_TYPE:
        given = clip(content_type or "none")
        raise Rejected(415, "unsupported-media-type", f"Content-Type must be {JSON_CONTENT_TYPE}, got {given}")
    declared_length = request.content_length
    if declared_length is not None and declared_length > max_body_bytes:
        raise _too_large(max_body_bytes)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(max_body_bytes) from None
    if not raw:
        raise Rejected(400, "invalid", "empty body; expected an AdmissionReview")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Rejected(400, "invalid", f"body is not valid JSON: {exc}") from None


def _too_large(max_body_bytes: int) -> Rejected:
    return Rejected(413, "too-large", f"body is larger than the {max_body_bytes}-byte limit")


def _pod_name(result: ReviewResult) -> str:
    pod = result.request.object
    metadata = pod.get("metadata") if isinstance(pod, dict) else None
    if isinstance(metadata, dict):
        for key in ("name", "generateName"):
            if isinstance(metadata.get(key), str) and metadata[key]:
                return str(metadata[key])
    return result.request.name


def _log_result(result: ReviewResult, fixes: tuple[str, ...], duration: float) -> None:
    request = result.request
    extra: dict[str, Any] = {
        **request_identity(request.uid, request.namespace, _pod_name(result), request.operation),
        "outcome": result.outcome,
        "reason": result.decision.reason,
        "fixes": fixes,
        "duration_ms": round(duration * 1000, 2),
    }
    if result.mutation is not None:
        extra["mesh"] = result.mutation.mesh.label
    summary = result.outcome + (f" ({', '.join(fixes)})" if fixes else "")
    if result.outcome == "skipped":
        summary += f": {result.decision.detail}"
    message = f"{summary} in {duration * 1000:.1f} ms"
    if result.error:
        extra["error"] = result.error
        message = f"{message}: {result.error}"
    writer = line_writer()
    if writer is not None:  # the same line as log.info/log.warning would write, at a tenth of the cost
        writer.write("WARNING" if result.error else "INFO", log.name, message, extra)
    elif result.error:
        log.warning("%s", message, extra=extra)
    else:
        log.info("%s", message, extra=extra)


def _log_rejection(request: web.Request, status: int, outcome: str, uid: str, problem: str, duration: float) -> None:
    extra: dict[str, Any] = {
        "outcome": outcome,
        "code": status,
        "path": request.path,
        "remote": request.remote or "",
        "duration_ms": round(duration * 1000, 2),
    }
    if uid:
        extra["uid"] = uid
    if status == 200:  # an internal error answered with an allowed review; logged with its traceback
        log.warning("admitted unchanged after an internal error", extra=extra)
    else:
        log.warning("rejected with HTTP %d: %s", status, problem, extra=extra)
