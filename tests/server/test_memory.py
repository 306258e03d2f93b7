"""webhook.server.memory: the heap is trimmed after connections close, and only then."""

from __future__ import annotations

import asyncio
import platform
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from webhook.core.settings import Settings
from webhook.server.lifecycle import drain_and_stop, start_server
from webhook.server.memory import HeapTrimmer, glibc_malloc_trim
from webhook.server.selfsigned import CertificateBundle
from webhook.server.tls import server_context

GLIBC = platform.libc_ver()[0] == "glibc"


@pytest.mark.parametrize(
    ("counts", "trimmed_after"),
    [
        pytest.param([0, 0, 0], [False, False, False], id="idle: never"),
        pytest.param([4, 8, 8, 8], [False, False, False, False], id="steady or growing load: never"),
        pytest.param([8, 3], [False, True], id="some connections closed"),
        pytest.param([8, 0, 0], [False, True, False], id="once per drop, not again while idle"),
        pytest.param([8, 2, 6, 1], [False, True, False, True], id="peak counted from the last trim"),
    ],
)
def test_trims_only_when_connections_closed(counts: list[int], trimmed_after: list[bool]) -> None:
    remaining = iter(counts)
    calls: list[int] = []
    trimmer = HeapTrimmer(lambda: next(remaining), lambda: calls.append(1))
    assert [trimmer.check_now() for _ in counts] == trimmed_after
    assert len(calls) == trimmer.trims == sum(trimmed_after)


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        HeapTrimmer(lambda: 0, lambda: None, interval_seconds=0)


def test_malloc_trim_is_found_on_glibc() -> None:
    trim = glibc_malloc_trim()
    if not GLIBC:
        assert trim is None
        return
    assert trim is not None
    assert trim() in (0, 1)  # 1: memory was released, 0: there was nothing to release


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's; elsewhere serve does not trim")
async def test_server_trims_after_tls_connections_close(
    settings: Settings, test_ca: CertificateBundle, tmp_path: Path, zk_review: dict[str, Any], trust_only: Any
) -> None:
    (tmp_path / "tls.crt").write_bytes(test_ca.cert)
    (tmp_path / "tls.key").write_bytes(test_ca.key)
    server = await start_server(settings, server_context(tmp_path / "tls.crt", tmp_path / "tls.key"))
    try:
        trimmer = server.heap_trimmer
        assert trimmer is not None
        connector = aiohttp.TCPConnector(ssl=trust_only(test_ca.ca_cert), limit=16)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def post() -> int:
                async with session.post(
                    f"https://127.0.0.1:{server.port}/mutate",
                    data=orjson.dumps(zk_review),
                    headers={"Content-Type": "application/json"},
                ) as response:
                    await response.read()
                    return response.status

            assert await asyncio.gather(*(post() for _ in range(16))) == [200] * 16
            await asyncio.sleep(trimmer.interval_seconds * 1.5)  # the trimmer sees the 16 connections
            assert trimmer.trims == 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10 * trimmer.interval_seconds
        while trimmer.trims == 0 and loop.time() < deadline:
            await asyncio.sleep(0.05)
        assert trimmer.trims >= 1
    finally:
        await drain_and_stop(server, drain_seconds=0)
