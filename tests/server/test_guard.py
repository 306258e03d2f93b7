"""What a slow or greedy client can hold: a request's headers must arrive within
``request_header_seconds`` (from the connection, or from the next request's first byte on a
kept-alive one), and no more than ``max_connections`` are open; both refusals are counted. The
apiserver's own behaviour (headers at once, idle kept-alive connections) is never refused."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from webhook.core.settings import Settings
from webhook.server.app import METRICS_KEY
from webhook.server.lifecycle import drain_and_stop, start_server


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), within) == b""
    except TimeoutError:
        return False


def request_bytes(body: bytes) -> bytes:
    head = f"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def one_request(writer: asyncio.StreamWriter, reader: asyncio.StreamReader, body: bytes) -> bytes:
    writer.write(request_bytes(body))
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    await reader.readexactly(length)
    return head.split(b" ", 2)[1]


async def refusals(server: Any, reason: str) -> float:
    text = server.app[METRICS_KEY].exposition().decode()
    line = next(x for x in text.splitlines() if x.startswith(f'stsmesh_connections_refused_total{{reason="{reason}"}}'))
    return float(line.split()[-1])


async def test_trickled_headers_are_cut_off_but_prompt_and_idle_clients_are_not(
    settings: Settings, zk_review: dict[str, Any]
) -> None:
    server = await start_server(settings.with_overrides(request_header_seconds=0.5), ssl_context=None)
    body = orjson.dumps(zk_review)
    try:
        slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", server.port)
        slow_writer.write(b"POST /mutate HTTP/1.1\r\nHost: x\r\n")  # and then nothing more
        await slow_writer.drain()

        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await one_request(writer, reader, body) == b"200"
        started = time.monotonic()
        assert await closed_by_server(slow_reader, within=3.0), "the trickling client is closed"
        assert time.monotonic() - started < 2.0
        assert await refusals(server, "slow-headers") == 1

        await asyncio.sleep(1.0)  # idle on a kept-alive connection, past the header deadline: fine
        assert await one_request(writer, reader, body) == b"200", "an idle kept-alive client is not refused"
        writer.write(b"POST /mutate HTTP/1.1\r\n")  # the next request trickles: cut off too
        await writer.drain()
        assert await closed_by_server(reader, within=3.0)
        assert await refusals(server, "slow-headers") == 2
    finally:
        await drain_and_stop(server, 0)


async def test_connections_past_the_cap_are_closed_at_once(settings: Settings, zk_review: dict[str, Any]) -> None:
    server = await start_server(settings.with_overrides(max_connections=3), ssl_context=None)
    body = orjson.dumps(zk_review)
    try:
        held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(3)]
        await asyncio.sleep(0.1)
        reader, _ = await asyncio.open_connection("127.0.0.1", server.port)
        assert await closed_by_server(reader, within=2.0), "the fourth connection is closed"
        assert await refusals(server, "too-many-connections") == 1
        assert await one_request(held[0][1], held[0][0], body) == b"200", "the held ones still work"
        for _, writer in held:
            writer.close()
        await asyncio.sleep(0.2)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await one_request(writer, reader, body) == b"200", "room again once they are gone"
        writer.close()
    finally:
        await drain_and_stop(server, 0)


def test_the_limits_are_settings() -> None:
    from webhook.core.settings import SettingsError, assemble

    settings = assemble({}, {"STSMESH_REQUEST_HEADER_SECONDS": "3", "STSMESH_MAX_CONNECTIONS": "100"}, lambda p: None)  # type: ignore[arg-type,return-value]
    assert (settings.request_header_seconds, settings.max_connections) == (3.0, 100)
    try:
        assemble({}, {"STSMESH_MAX_CONNECTIONS": "0"}, lambda p: None)  # type: ignore[arg-type,return-value]
    except SettingsError as exc:
        assert "STSMESH_MAX_CONNECTIONS" in str(exc)
    else:
        raise AssertionError("0 connections accepted")
