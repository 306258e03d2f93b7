"""Keep-alive hygiene (target T10, checklist c.12): the server's idle timeout outlasts the apiserver's.

The apiserver's HTTP client drops idle connections after 90 s and does not retry a POST that fails
on a connection the server closed at the same moment, so the server must wait longer than 90 s. The
first test proves that without waiting 90 s, on the aiohttp objects the running server really uses
(the per-connection handler and its armed idle timer), not on ``Settings``. The other two prove the
setting is wired through, with timeouts short enough to wait for: an idle connection is reused within
the timeout and closed by the server after it.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.web_protocol import RequestHandler

from tests.robustness.support import TrustOnly, write_pair
from webhook.core.settings import Settings
from webhook.server.lifecycle import APISERVER_IDLE_TIMEOUT_SECONDS, RunningServer, drain_and_stop, start_server
from webhook.server.selfsigned import CertificateBundle
from webhook.server.tls import server_context

JSON = {"Content-Type": "application/json"}

StartServer = Callable[..., Any]


@pytest.fixture
async def tls_server(tmp_path: Path, test_ca: CertificateBundle) -> AsyncIterator[StartServer]:
    """``start(**settings)``: ``start_server`` over TLS on 127.0.0.1 (other settings default);
    every server started is stopped at the end."""
    cert_file, key_file = write_pair(tmp_path / "tls", test_ca)
    started: list[RunningServer] = []

    async def start(**overrides: Any) -> RunningServer:
        settings = Settings(host="127.0.0.1", port=0, shutdown_drain_seconds=0.0, **overrides)
        server = await start_server(settings, server_context(cert_file, key_file))
        started.append(server)
        return server

    yield start
    for server in started:
        await drain_and_stop(server, 0.0, grace_seconds=2.0)


def handlers(server: RunningServer) -> list[RequestHandler]:
    """The server's open connections (one aiohttp RequestHandler per TCP connection)."""
    assert server.runner.server is not None
    return server.runner.server.connections


class Client:
    """An aiohttp client with one pooled connection that counts, through aiohttp's public tracing
    signals, how many connections it opened and how often it reused one."""

    def __init__(self, server: RunningServer, trust: ssl.SSLContext) -> None:
        self.url = f"https://127.0.0.1:{server.port}/mutate"
        self.created = self.reused = 0
        tracing = aiohttp.TraceConfig()
        tracing.on_connection_create_end.append(self._on_create)
        tracing.on_connection_reuseconn.append(self._on_reuse)
        connector = aiohttp.TCPConnector(ssl=trust, limit=1)
        self.session = aiohttp.ClientSession(connector=connector, trace_configs=[tracing])

    async def _on_create(self, *_: object) -> None:
        self.created += 1

    async def _on_reuse(self, *_: object) -> None:
        self.reused += 1

    async def post(self, body: bytes) -> int:
        async with self.session.post(self.url, data=body, headers=JSON) as resp:
            await resp.read()
            return resp.status

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.session.close()


def client_port(handler: RequestHandler) -> int:
    """The client's port of the connection a server-side handler serves."""
    assert handler.transport is not None
    port: int = handler.transport.get_extra_info("peername")[1]
    return port


async def test_the_running_server_keeps_idle_connections_longer_than_the_apiserver(
    tls_server: StartServer, test_ca: CertificateBundle, trust_only: TrustOnly, zk_review: dict[str, Any]
) -> None:
    """Default settings: the live connection's handler has a keep-alive timeout above 90 s, and the
    idle timer armed after a request fires more than 90 s later."""
    server = await tls_server()
    async with Client(server, trust_only(test_ca.ca_cert)) as client:
        assert await client.post(orjson.dumps(zk_review)) == 200
        (handler,) = handlers(server)
        loop = asyncio.get_running_loop()
        assert handler.keepalive_timeout == Settings().keepalive_timeout
        assert handler.keepalive_timeout > APISERVER_IDLE_TIMEOUT_SECONDS == 90.0
        # the timer aiohttp armed when the request finished (the idle connection closes at that time)
        armed_in = handler._next_keepalive_close_time - loop.time()
        assert APISERVER_IDLE_TIMEOUT_SECONDS < armed_in <= handler.keepalive_timeout
        assert handler._keepalive_handle is not None
        assert handler._keepalive_handle.when() - loop.time() > APISERVER_IDLE_TIMEOUT_SECONDS


async def test_a_connection_idle_for_2_s_is_reused_under_a_5_s_timeout(
    tls_server: StartServer, test_ca: CertificateBundle, trust_only: TrustOnly, zk_review: dict[str, Any]
) -> None:
    """Idle for 2 s with keepalive_timeout=5: the second request goes over the same connection,
    on both sides (same client transport and local port, same server handler)."""
    server = await tls_server(keepalive_timeout=5.0)
    body = orjson.dumps(zk_review)
    async with Client(server, trust_only(test_ca.ca_cert)) as client:
        assert await client.post(body) == 200
        (handler,) = handlers(server)
        port = client_port(handler)
        await asyncio.sleep(2.0)
        assert handlers(server) == [handler], "the server closed the idle connection within its timeout"
        assert await client.post(body) == 200
        assert (client.created, client.reused) == (1, 1), "the client had to open a second connection"
        assert handlers(server) == [handler] and client_port(handler) == port


async def test_the_server_closes_a_connection_idle_past_a_short_timeout(
    tls_server: StartServer, test_ca: CertificateBundle, trust_only: TrustOnly, zk_review: dict[str, Any]
) -> None:
    """keepalive_timeout=0.5: the server itself closes the idle connection after about 0.5 s (not
    at once), and the next request needs a new connection. With the setting not wired through,
    aiohttp's own default (hours) would keep it open and this fails."""
    server = await tls_server(keepalive_timeout=0.5)
    body = orjson.dumps(zk_review)
    async with Client(server, trust_only(test_ca.ca_cert)) as client:
        assert await client.post(body) == 200
        idle_since = time.monotonic()
        (handler,) = handlers(server)
        port = client_port(handler)
        deadline = idle_since + 2.0
        while handlers(server) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        closed_after = time.monotonic() - idle_since
        assert not handlers(server), "the idle connection is still open 2 s later"
        assert closed_after >= 0.4, f"closed after {closed_after:.2f} s: too early for a 0.5 s idle timeout"
        assert await client.post(body) == 200
        assert (client.created, client.reused) == (2, 0), "the closed connection was not replaced"
        (new_handler,) = handlers(server)
        assert new_handler is not handler and client_port(new_handler) != port
