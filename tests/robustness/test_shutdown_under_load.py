"""Graceful shutdown of a real ``python -m webhook serve`` process under load (target T9, checklist c.6).

The process listens on 127.0.0.1 with certificates from ``webhook.server.selfsigned`` and
``STSMESH_SHUTDOWN_DRAIN_SECONDS=1``. Clients play the apiserver (kept-alive connections posting
reviews continuously) and the kubelet (polling ``/readyz`` on a new connection every 20 ms). The test
sends SIGTERM and proves:

* ``/readyz`` answers 503 within 0.5 s;
* the apiserver-like clients, which stop sending new requests once readiness fails, see 0 failures;
* during the drain window the server still answers, on kept-alive and on new connections (an
  apiserver that has not yet seen the endpoint go);
* the listener closes only after the drain window, while a request that was in flight (its body
  still arriving) is waited for and completes with 200 and its patch;
* the process exits with code 0, within the drain window plus a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.e2e.cluster import free_port
from tests.robustness.support import Figure
from tests.support import refused
from webhook.core.review import decode_patch
from webhook.server.selfsigned import write_self_signed

ROOT = Path(__file__).resolve().parents[2]
DRAIN_SECONDS = 1.0
SENDERS = 4
JSON = {"Content-Type": "application/json"}


@dataclass
class ServeProcess:
    port: int
    trust: ssl.SSLContext
    process: subprocess.Popen[bytes]
    log_file: Path

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        return self.log_file.read_text(errors="replace")[-3000:]


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[ServeProcess]:
    """``python -m webhook serve`` on 127.0.0.1:<free port>, ready; killed at the end if still running."""
    files = write_self_signed(tmp_path)
    port = free_port()
    log_file = tmp_path / "serve.log"
    env = dict(os.environ, STSMESH_SHUTDOWN_DRAIN_SECONDS=str(DRAIN_SECONDS), STSMESH_LOG_FORMAT="json")
    with open(log_file, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "webhook", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--cert-file", str(files.cert_file), "--key-file", str(files.key_file)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )  # fmt: skip
    served = ServeProcess(port, ssl.create_default_context(cafile=str(files.ca_file)), process, log_file)
    try:
        yield served
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


async def readyz(trust: ssl.SSLContext, base: str) -> int:
    """GET /readyz on a new connection, as a kubelet probe does."""
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust, force_close=True)) as session,
        session.get(f"{base}/readyz", timeout=aiohttp.ClientTimeout(total=2)) as resp,
    ):
        return resp.status


async def wait_ready(served: ServeProcess, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert served.process.poll() is None, f"stsmesh serve exited:\n{served.log_tail()}"
        with contextlib.suppress(OSError, aiohttp.ClientError, TimeoutError):
            if await readyz(served.trust, served.base) == 200:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"stsmesh serve not ready after {seconds} s:\n{served.log_tail()}")


@dataclass
class Apiserver:
    """Posts reviews on kept-alive connections until readiness fails; every answer is checked."""

    session: aiohttp.ClientSession
    url: str
    body: bytes
    uid: str
    unready: asyncio.Event
    answered: int = 0
    failures: list[str] = field(default_factory=list)

    async def post(self) -> None:
        try:
            async with self.session.post(self.url, data=self.body, headers=JSON) as resp:
                answer = await resp.json()
                assert resp.status == 200, answer
                assert answer["response"]["uid"] == self.uid and decode_patch(answer)
            self.answered += 1
        except Exception as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}")

    async def send_until_unready(self) -> None:
        while not self.unready.is_set():
            await self.post()


async def test_sigterm_fails_readiness_drains_finishes_in_flight_and_exits_zero(
    serve_process: ServeProcess, zk_review: dict[str, Any], figure: Figure
) -> None:
    """SIGTERM under load: readiness fails at once, nothing fails, the in-flight request completes,
    exit code 0 soon after the 1 s drain window."""
    served = serve_process
    await wait_ready(served)
    body = orjson.dumps(zk_review)
    uid = zk_review["request"]["uid"]
    unready = asyncio.Event()
    rest_of_body = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield body[:100]
        with contextlib.suppress(TimeoutError):  # bounded: never hangs the test
            await asyncio.wait_for(rest_of_body.wait(), DRAIN_SECONDS + 5)
        yield body[100:]

    connector = aiohttp.TCPConnector(ssl=served.trust, limit=SENDERS)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=served.trust, limit=1)) as late_session,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=served.trust, limit=1)) as slow_session,
    ):
        apiserver = Apiserver(session, f"{served.base}/mutate", body, uid, unready)
        late = Apiserver(late_session, f"{served.base}/mutate", body, uid, asyncio.Event())
        await late.post()  # opens the kept-alive connection a lagging apiserver will use in the drain window
        senders = [asyncio.create_task(apiserver.send_until_unready()) for _ in range(SENDERS)]
        await asyncio.sleep(0.5)  # steady load before the signal
        slow = asyncio.create_task(slow_session.post(f"{served.base}/mutate", data=slow_body(), headers=JSON))
        await asyncio.sleep(0.1)  # the slow request is in flight: headers and 100 bytes sent
        before_signal = apiserver.answered

        signalled = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        probes = 0
        while time.monotonic() - signalled < 2.0:
            probes += 1
            if await readyz(served.trust, served.base) == 503:
                break
            await asyncio.sleep(0.02)
        unready_after = time.monotonic() - signalled
        unready.set()
        await asyncio.wait_for(asyncio.gather(*senders), 5.0)

        # the drain window: a lagging apiserver is still served, on its old and on a new connection
        await late.post()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=served.trust)) as fresh:
            late_new = Apiserver(fresh, f"{served.base}/mutate", body, uid, asyncio.Event())
            await late_new.post()
        drain_answered_at = time.monotonic() - signalled

        # the listener closes after the drain window; the in-flight request is still waited for
        deadline = signalled + DRAIN_SECONDS + 3.0
        while not await refused(served.port) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        closed_after = time.monotonic() - signalled
        assert await refused(served.port), "the listener is still open well after the drain window"
        assert served.process.poll() is None, "the process exited while a request was in flight"
        rest_of_body.set()
        async with await asyncio.wait_for(slow, 5.0) as resp:
            slow_status, slow_answer = resp.status, await resp.json()

    exit_code = await asyncio.to_thread(served.process.wait, DRAIN_SECONDS + 5)
    exited_after = time.monotonic() - signalled
    log = served.log_tail()

    assert unready_after < 0.5, f"/readyz still 200 {unready_after:.2f} s after SIGTERM"
    assert not apiserver.failures, apiserver.failures[:3]
    assert before_signal >= 20 and apiserver.answered >= before_signal, "too little load to prove anything"
    assert not late.failures and not late_new.failures, late.failures + late_new.failures
    assert late.answered == 2 and late_new.answered == 1
    assert drain_answered_at < DRAIN_SECONDS, "the drain-window requests were not tested inside the window"
    assert closed_after >= DRAIN_SECONDS * 0.9, f"the listener closed {closed_after:.2f} s after SIGTERM"
    assert slow_status == 200 and slow_answer["response"]["uid"] == uid and decode_patch(slow_answer)
    assert exit_code == 0, log
    assert exited_after < DRAIN_SECONDS + 3.0, f"exited {exited_after:.2f} s after SIGTERM"
    assert "Traceback" not in log, log
    figure(
        "shutdown under load",
        drain_s=DRAIN_SECONDS,
        requests_answered=apiserver.answered,
        failed=len(apiserver.failures),
        readyz_503_after_s=round(unready_after, 3),
        readiness_probes=probes,
        listener_closed_after_s=round(closed_after, 3),
        exited_after_s=round(exited_after, 3),
    )
