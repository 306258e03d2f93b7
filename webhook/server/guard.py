"""Edge: what a slow or greedy client can hold. The apiserver sends a request's headers at once;
a client that trickles them (slowloris) would otherwise keep a connection, its TLS state and its
buffers for the whole keep-alive timeout (issue #19 measured 400 such connections taking the
server from 53 to 164 MiB for two minutes). So:

* a request's headers must be complete within ``header_seconds`` of its first byte (or of the
  connection, for the first request), else the connection is closed;
* at most ``max_connections`` are open at once; one more is closed as soon as it is accepted.

Both are counted (``stsmesh_connections_refused_total{reason}``) and logged at most once a
minute. The hooks are aiohttp's own: :class:`GuardedServer` makes the connections' protocol
objects, :class:`GuardedHandler` is aiohttp's request handler with the header deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

log = logging.getLogger(__name__)

Refused = Callable[[str], None]
"""Called with the reason (``slow-headers`` or ``too-many-connections``) of each refusal."""


class GuardedHandler(RequestHandler):
    """aiohttp's request handler, closing a connection whose request headers do not arrive in time."""

    __slots__ = ("_deadline", "_header_seconds", "_refused", "_requests_seen")

    def __init__(self, manager: Server, *, header_seconds: float, refused: Refused, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_seconds = header_seconds
        self._deadline: asyncio.TimerHandle | None = None
        self._requests_seen = 0
        self._refused = refused

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._request_count > self._requests_seen:  # a request's headers are complete
            self._requests_seen = self._request_count
            self._disarm()
        elif data and self._deadline is None:  # the first bytes of the next request on this connection
            self._arm()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._deadline = self._loop.call_later(self._header_seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport is not None:
            self._refused("slow-headers")
            self.transport.close()


class GuardedServer(Server):
    """aiohttp's connection factory, making :class:`GuardedHandler` protocols and refusing
    connections past ``max_connections``."""

    header_seconds: float = 10.0
    max_connections: int = 512
    refused: Refused = staticmethod(lambda reason: None)

    def __call__(self) -> RequestHandler:
        return GuardedHandler(
            self, loop=self._loop, header_seconds=self.header_seconds, refused=self.refused, **self._kwargs
        )

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        if len(self._connections) >= self.max_connections:
            self.refused("too-many-connections")
            transport.close()
            return
        super().connection_made(handler, transport)


class GuardedRunner(web.AppRunner):
    """``web.AppRunner`` whose server is a :class:`GuardedServer` with these limits."""

    def __init__(self, app: web.Application, *, header_seconds: float, max_connections: int, refused: Refused,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(app, **kwargs)
        self._limits = (header_seconds, max_connections, refused)

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        # aiohttp builds its Server in Application._make_handler; the subclass adds only methods
        # and class attributes, so the instance becomes one in place.
        server.__class__ = GuardedServer
        guarded: Any = server
        guarded.header_seconds, guarded.max_connections, guarded.refused = self._limits
        return server


class RateLimitedLog:
    """One warning a minute per reason at most, with how many refusals it stands for."""

    def __init__(self, count: Callable[[str], None], every_seconds: float = 60.0) -> None:
        self._count = count
        self._every = every_seconds
        self._last: dict[str, float] = {}
        self._since: dict[str, int] = {}

    def __call__(self, reason: str) -> None:
        self._count(reason)
        self._since[reason] = self._since.get(reason, 0) + 1
        now = time.monotonic()
        if now - self._last.get(reason, -self._every) >= self._every:
            what = "request headers not complete in time" if reason == "slow-headers" else "connection limit reached"
            log.warning("closed %d connection(s) in the last minute: %s", self._since[reason], what,
                        extra={"reason": reason})  # fmt: skip
            self._last[reason], self._since[reason] = now, 0
