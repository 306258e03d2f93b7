"""Graceful shutdown: readiness fails first, the server keeps serving through the drain window, then
stops listening while an in-flight request still completes; ``run()`` end to end with a self-signed
certificate, stopped by an event and by SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.support import refused
from webhook.core.review import decode_patch
from webhook.core.settings import Settings
from webhook.server.app import IN_FLIGHT_KEY, READINESS_KEY, SETTINGS_KEY
from webhook.server.lifecycle import IN_FLIGHT_GRACE_SECONDS, RunningServer, drain_and_stop, run, start_server


async def wait_for(condition: Any, what: str, seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def test_drain_sequence_readiness_first_then_in_flight_completes(
    settings: Settings, zk_review: dict[str, Any]
) -> None:
    server = await start_server(settings, ssl_context=None)
    base = f"http://127.0.0.1:{server.port}"
    assert server.runner.server is not None
    in_flight = server.app[IN_FLIGHT_KEY]
    body = orjson.dumps(zk_review)
    rest_of_body = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield body[:100]
        await rest_of_body.wait()
        yield body[100:]

    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/readyz") as resp:
            assert resp.status == 200
        slow_request = asyncio.create_task(
            session.post(f"{base}/mutate", data=slow_body(), headers={"Content-Type": "application/json"})
        )
        await wait_for(lambda: in_flight.count == 1, "the request to be in flight")

        stopping = asyncio.create_task(drain_and_stop(server, drain_seconds=2.0))  # room for a slow machine
        await asyncio.sleep(0)
        assert not server.app[READINESS_KEY].ready
        async with aiohttp.ClientSession() as other:  # a new connection during the drain window
            async with other.get(f"{base}/readyz") as resp:
                assert resp.status == 503
            async with other.get(f"{base}/healthz") as resp:
                assert resp.status == 200
            async with other.post(f"{base}/mutate", data=body, headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 200, "still serving during the drain window"

        await wait_for(lambda: refused(server.port), "the listener to close", seconds=10.0)
        assert not stopping.done(), "shutdown waits for the in-flight request"
        rest_of_body.set()
        async with await slow_request as resp:
            assert resp.status == 200
            answer = await resp.json()
        await asyncio.wait_for(stopping, 2.0)
    assert answer["response"]["uid"] == zk_review["request"]["uid"]
    assert decode_patch(answer)
    assert server.runner.server is None


async def test_runner_settings(settings: Settings) -> None:
    server = await start_server(settings.with_overrides(keepalive_timeout=123.0), ssl_context=None)
    try:
        handler_kwargs = server.runner._kwargs
        assert handler_kwargs["keepalive_timeout"] == 123.0
        assert handler_kwargs["access_log"] is None
        assert server.runner._shutdown_timeout == IN_FLIGHT_GRACE_SECONDS == Settings().shutdown_timeout_seconds
        assert server.url.startswith("http://127.0.0.1:")
    finally:
        await server.runner.cleanup()


async def run_in_background(
    settings: Settings, stop: asyncio.Event | None = None
) -> tuple[asyncio.Task[None], RunningServer]:
    started: asyncio.Future[RunningServer] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run(settings, stop=stop, on_started=started.set_result))
    done, _ = await asyncio.wait([task, started], timeout=2.0, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    assert started in done, "run() did not start within 2 s"
    return task, started.result()


async def https_status(server: RunningServer, path: str) -> int:
    cert_file = server.app[SETTINGS_KEY].cert_file
    trust = ssl.create_default_context(cafile=cert_file)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as session,
        session.get(f"https://127.0.0.1:{server.port}{path}") as resp,
    ):
        return resp.status


async def test_run_without_certificate_serves_self_signed_and_stops(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO, logger="webhook"):
        task, server = await run_in_background(settings.with_overrides(shutdown_drain_seconds=0.1), stop)
        cert_file = Path(server.app[SETTINGS_KEY].cert_file)
        assert cert_file.exists()
        assert await https_status(server, "/healthz") == 200
        assert await https_status(server, "/readyz") == 200
        stop.set()
        await asyncio.wait_for(task, 2.0)
    messages = [r.getMessage() for r in caplog.records]
    assert any("self-signed" in m and str(cert_file) in m for m in messages)
    assert any(m.startswith("listening on https://127.0.0.1:") for m in messages)
    assert not cert_file.parent.exists(), "the throwaway certificate is deleted on exit"


async def test_sigterm_stops_run_gracefully(settings: Settings) -> None:
    task, server = await run_in_background(settings.with_overrides(shutdown_drain_seconds=0.2))
    assert gc.get_freeze_count() > 0, "startup objects are out of the collector's reach while serving"
    os.kill(os.getpid(), signal.SIGTERM)
    await wait_for(lambda: not server.app[READINESS_KEY].ready, "readiness to fail")
    assert await https_status(server, "/readyz") == 503
    await asyncio.wait_for(task, 2.0)
    assert await refused(server.port)
    assert gc.get_freeze_count() == 0, "run() gives the collector its objects back when it returns"


def test_a_port_already_held_is_one_line_and_a_usage_exit(tmp_path: Path) -> None:
    import io
    import socket

    from webhook.cli.main import main
    from webhook.core.exits import EXIT_USAGE

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        out, err = io.StringIO(), io.StringIO()
        code = main(["serve", "--host", "127.0.0.1", "--port", str(port), "--watch-cluster", "off"], out=out, err=err)
    assert code == EXIT_USAGE, err.getvalue()
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"stsmesh: cannot listen on 127.0.0.1:{port}"), lines
    assert "--port" in lines[0] and "Traceback" not in err.getvalue()
