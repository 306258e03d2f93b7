"""Edge: the process lifecycle around the web application of :mod:`webhook.server.app`: TLS
context and throwaway certificate, listening, heap trimming, signal handling and graceful shutdown.

Shutdown (SIGTERM/SIGINT), see :func:`drain_and_stop`: ``/readyz`` fails at once, the server keeps
serving for ``settings.shutdown_drain_seconds`` so every apiserver sees the endpoint go, then the
listener closes, in-flight requests get up to :data:`IN_FLIGHT_GRACE_SECONDS` to finish, and the
keep-alive connections are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import shutil
import signal
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from webhook.core.exits import EXIT_USAGE, CommandError
from webhook.core.settings import Settings
from webhook.server.apiaccess import ApiAccessError, from_kubeconfig, in_cluster
from webhook.server.app import IN_FLIGHT_KEY, METRICS_KEY, READINESS_KEY, make_app
from webhook.server.clusterview import ClusterView
from webhook.server.guard import GuardedRunner, RateLimitedLog
from webhook.server.memory import HeapTrimmer, glibc_malloc_trim
from webhook.server.selfsigned import write_self_signed
from webhook.server.tls import server_context

log = logging.getLogger(__name__)

IN_FLIGHT_GRACE_SECONDS = 10.0
"""How long shutdown waits for in-flight requests by default (``Settings.shutdown_timeout_seconds``):
the apiserver's longest webhook timeout."""

APISERVER_IDLE_TIMEOUT_SECONDS = 90.0
"""The apiserver closes idle webhook connections after this; our keep-alive must outlast it."""


@dataclass
class RunningServer:
    """A started server: its runner and listening site, for :func:`drain_and_stop`."""

    app: web.Application
    runner: web.AppRunner
    site: web.TCPSite
    heap_trimmer: HeapTrimmer | None = None

    @property
    def url(self) -> str:
        return self.site.name

    @property
    def port(self) -> int:
        return self.site.port


async def start_server(
    settings: Settings, ssl_context: ssl.SSLContext | None, view: ClusterView | None = None
) -> RunningServer:
    """Make the app and listen on ``settings.host``/``settings.port`` (0: any free port)."""
    app = make_app(settings, ssl_context=ssl_context, view=view)
    metrics = app[METRICS_KEY]
    runner = GuardedRunner(
        app,
        header_seconds=settings.request_header_seconds,
        max_connections=settings.max_connections,
        refused=RateLimitedLog(lambda reason: metrics.connections_refused.labels(reason=reason).inc()),
        keepalive_timeout=settings.keepalive_timeout,
        shutdown_timeout=settings.shutdown_timeout_seconds,
        access_log=None,  # mutate logs its own line with the uid; probes would flood the log
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=ssl_context)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise CommandError(
            f"cannot listen on {settings.host}:{settings.port} ({error.strerror or error}): "
            "choose another --host/--port (STSMESH_HOST/STSMESH_PORT), or stop what holds it",
            EXIT_USAGE,
        ) from error
    except BaseException:
        await runner.cleanup()
        raise
    heap_trimmer = None
    trim, http_server = glibc_malloc_trim(), runner.server
    if trim is not None and http_server is not None:
        heap_trimmer = HeapTrimmer(lambda: len(http_server.connections), trim)
        heap_trimmer.start()
    return RunningServer(app, runner, site, heap_trimmer)


async def drain_and_stop(
    server: RunningServer,
    drain_seconds: float,
    hurry: asyncio.Event | None = None,
    grace_seconds: float = IN_FLIGHT_GRACE_SECONDS,
) -> None:
    """The shutdown sequence.

    1. ``/readyz`` fails at once;
    2. keep serving for ``drain_seconds`` (cut short when ``hurry`` is set, e.g. by a second
       signal) so every apiserver drops the endpoint;
    3. close the listener, and wait up to ``grace_seconds`` for in-flight admission requests while
       their connections still read normally (a request whose body is still arriving completes);
    4. close the keep-alive connections (aiohttp gives a request that slipped in on one meanwhile
       up to :data:`IN_FLIGHT_GRACE_SECONDS` more) and run the app's cleanup (the certificate
       reloader stops).
    """
    server.app[READINESS_KEY].mark_shutting_down()
    log.info("shutting down: /readyz now fails; still serving for %.1f s so endpoints update", drain_seconds)
    if drain_seconds > 0:
        if hurry is None:
            await asyncio.sleep(drain_seconds)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hurry.wait(), drain_seconds)
    in_flight = server.app[IN_FLIGHT_KEY]
    await server.site.stop()
    log.info("no longer accepting connections; %d admission request(s) in flight", in_flight.count)
    try:
        await asyncio.wait_for(in_flight.wait_idle(), grace_seconds)
    except TimeoutError:
        log.warning(
            "%d admission request(s) still running after %.0f s; closing anyway", in_flight.count, grace_seconds
        )
    if server.heap_trimmer is not None:
        await server.heap_trimmer.stop()
    await server.runner.cleanup()
    log.info("stopped")


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def cluster_view(settings: Settings, environ: Mapping[str, str]) -> ClusterView | None:
    """The namespace and control-plane watches ``settings.watch_cluster`` asks for, said once at start:
    ``auto`` uses the in-cluster service account or ``settings.kubeconfig`` when there is one."""
    if settings.watch_cluster == "off":
        log.info("not watching the cluster (--watch-cluster off): the mesh of a new pod comes from the pod, "
                 "the webhook path and --namespace-mesh only")  # fmt: skip
        return None
    try:
        access = from_kubeconfig(settings.kubeconfig) if settings.kubeconfig else in_cluster(environ)
    except ApiAccessError as exc:
        if settings.watch_cluster == "on":
            raise
        log.warning("not watching the cluster: %s", exc)
        return None
    if access is None:
        if settings.watch_cluster == "on":
            raise ApiAccessError("--watch-cluster on: no in-cluster service account and no --kubeconfig")
        log.warning(
            "no API credentials (no in-cluster service account, no --kubeconfig): not watching namespaces, so "
            "a new pod's mesh comes from the pod, the webhook path and --namespace-mesh only"
        )
        return None
    return ClusterView(access)


def freeze_startup_objects() -> None:
    """Move everything alive once the server is up (modules, the catalogue, the app: about 24,000
    objects) out of the garbage collector's reach, as ``gc.freeze`` does.

    A review allocates a container per JSON object in the pod, so a 64 KB pod (1000 env entries)
    triggers several collections, and the full ones walked all those startup objects every time.
    Measured A/B with 64 connections sending the benchmark's 1000-env review (compiled build, two runs
    each): p99 32 ms -> 19-20 ms, CPU per request 298-312 -> 252-274 µs. Typical pods allocate too
    little to notice.
    """
    gc.collect()  # nothing collectable left to pin for the process's lifetime
    gc.freeze()


def serving_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """The listener's TLS context, or a :class:`CommandError` naming the file and what is wrong."""
    for what, path in (("certificate", cert_file), ("key", key_file)):
        try:
            Path(path).read_bytes()
        except OSError as error:
            raise CommandError(
                f"cannot read the serving {what} {path}: {error.strerror or error}; "
                "give --cert-file/--key-file (STSMESH_CERT_FILE/STSMESH_KEY_FILE), or neither for a throwaway one",
                EXIT_USAGE,
            ) from error
    try:
        return server_context(cert_file, key_file)
    except ssl.SSLError as error:
        reason = (
            "the key does not match the certificate"
            if "KEY_VALUES_MISMATCH" in str(error)
            else (f"not a PEM certificate and key ({error.reason or error})")
        )
        raise CommandError(f"cannot serve {cert_file} with key {key_file}: {reason}", EXIT_USAGE) from error


async def run(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    on_started: Callable[[RunningServer], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or ``stop`` is set), then shut down gracefully and return.

    Without ``settings.cert_file`` a throwaway self-signed certificate for localhost/127.0.0.1 is
    made in a temp directory (and deleted on exit). A second signal cuts the drain window short.
    """
    stop = stop if stop is not None else asyncio.Event()
    hurry = asyncio.Event()
    selfsigned_directory: Path | None = None
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def on_signal(signum: signal.Signals) -> None:
        if stop.is_set():
            log.info("received %s again: cutting the drain short", signum.name)
            hurry.set()
        else:
            log.info("received %s", signum.name)
            stop.set()

    try:
        # What can refuse to start goes first, before anything is logged or made.
        key_file = settings.key_file or settings.cert_file
        context = serving_context(settings.cert_file, key_file) if settings.cert_file else None
        view = cluster_view(settings, os.environ)
        if context is None:
            files = write_self_signed()
            selfsigned_directory = files.directory
            settings = settings.with_overrides(cert_file=str(files.cert_file), key_file=str(files.key_file))
            log.warning(
                "no certificate given: serving a throwaway self-signed certificate for localhost/127.0.0.1 "
                "(%s, key %s); fine for trying stsmesh locally, not for a cluster",
                files.cert_file,
                files.key_file,
            )
            context = serving_context(settings.cert_file, settings.key_file)
        if settings.keepalive_timeout <= APISERVER_IDLE_TIMEOUT_SECONDS:
            log.warning(
                "keep-alive timeout %.0f s is not above the apiserver's %.0f s idle timeout: calls can fail "
                "when both close a connection at once",
                settings.keepalive_timeout,
                APISERVER_IDLE_TIMEOUT_SECONDS,
            )
        server = await start_server(settings, context, view)
        freeze_startup_objects()
        for signum in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows / not main thread
                loop.add_signal_handler(signum, on_signal, signum)
                installed.append(signum)
        log.info("listening on %s (POST /mutate, GET /healthz /readyz /metrics)", server.url)
        if on_started is not None:
            on_started(server)
        await stop.wait()
        await drain_and_stop(server, settings.shutdown_drain_seconds, hurry, settings.shutdown_timeout_seconds)
    finally:
        gc.unfreeze()  # only matters to a process that goes on after run(), such as the tests
        for signum in installed:
            loop.remove_signal_handler(signum)
        if selfsigned_directory is not None:
            shutil.rmtree(selfsigned_directory, ignore_errors=True)
