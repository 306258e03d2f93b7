"""Certificate rotation under load (target T8), in process, over real TLS.

``start_server`` with the real ``CertReloader`` polling every 50 ms serves a certificate from a
kubelet-style Secret volume (``tls.crt -> ..data/tls.crt``, ``..data`` swapped atomically). Client
tasks keep posting valid reviews on kept-alive connections and on a new connection per request, each
trusting only the test CA (a minimal HTTP/1.1 client on asyncio streams, so the test knows which TCP
connection carried each request and which certificate its handshake got). Meanwhile the test swaps
``..data`` to 10 new serving certificates from the same CA, then publishes a half-written pair and a
mismatched pair. It proves:

* 0 failed requests, on either kind of connection, through all of it;
* after each swap every new handshake presents the new serial (read from the connection's
  ``ssl_object``), while kept-alive connections carry on with the certificate they started with;
* a broken pair keeps the previous certificate and is counted in
  ``stsmesh_certificate_reloads_total{result="error"}`` on ``/metrics``; the good swaps count as ``ok``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest
from cryptography import x509

from tests.robustness.support import Figure, SerialOf, TrustOnly
from webhook.core.review import decode_patch
from webhook.core.settings import Settings
from webhook.server.app import CERT_RELOADER_KEY, METRICS_KEY
from webhook.server.lifecycle import RunningServer, drain_and_stop, start_server
from webhook.server.selfsigned import CertificateBundle
from webhook.server.tls import CertReloader, server_context

SecretVolume = Any  # tests/server/conftest.py SecretVolume: publish(cert, key) swaps ..data like the kubelet

SWAPS = 10
KEPT_ALIVE_CLIENTS = 4
NEW_CONNECTION_CLIENTS = 2
JSON = {"Content-Type": "application/json"}


@dataclass
class Outcome:
    """One request: which kind of connection, when it started, what certificate the server showed."""

    kind: str  # "kept" or "new"
    client: int
    started: float
    serial: int = 0
    local_port: int = 0
    error: str = ""


class Connection:
    """A minimal HTTP/1.1 client connection over TLS (asyncio streams), so the test knows exactly
    which TCP connection carried each request and which certificate its handshake got."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        self.serial = x509.load_der_x509_certificate(der).serial_number
        self.local_port = writer.get_extra_info("sockname")[1]

    @classmethod
    async def open(cls, port: int, trust: ssl.SSLContext) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=trust, server_hostname="127.0.0.1")
        return cls(reader, writer)

    async def post(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        self.writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status_line = await self.reader.readuntil(b"\r\n")
        headers: dict[str, str] = {}
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        data = await self.reader.readexactly(int(headers["content-length"]))
        return int(status_line.split()[1]), headers, data

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


@dataclass
class Load:
    """Client tasks posting reviews until ``stop`` is set; every request is recorded."""

    port: int
    body: bytes
    uid: str
    trust: ssl.SSLContext
    outcomes: list[Outcome]
    stop: asyncio.Event

    async def one(self, connection: Connection | None, kind: str, client: int) -> Connection | None:
        """Post one review (on ``connection``, or on a new one); the connection to use next."""
        outcome = Outcome(kind, client, time.monotonic())
        self.outcomes.append(outcome)
        try:
            if connection is None:
                connection = await Connection.open(self.port, self.trust)
            outcome.serial, outcome.local_port = connection.serial, connection.local_port
            status, headers, data = await connection.post("/mutate", self.body)
            answer = orjson.loads(data)
            assert status == 200, answer
            assert headers.get("connection", "").lower() != "close", "the server closed a kept-alive connection"
            assert answer["response"]["uid"] == self.uid
            assert decode_patch(answer), "a valid review lost its patch"
        except Exception as exc:  # recorded, so the test reports every failure, not the first one
            outcome.error = f"{type(exc).__name__}: {exc}"
            if connection is not None:
                await connection.close()
            return None
        return connection

    async def kept_alive(self, client: int) -> None:
        """One connection, reused for every request (reopened only after a failure, which is counted)."""
        connection: Connection | None = None
        try:
            while not self.stop.is_set():
                connection = await self.one(connection, "kept", client)
        finally:
            if connection is not None:
                await connection.close()

    async def new_connections(self, client: int) -> None:
        """A new TCP connection and a full TLS handshake for every request."""
        while not self.stop.is_set():
            connection = await self.one(None, "new", client)
            if connection is not None:
                await connection.close()

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error]


async def wait_until(condition: Callable[[], bool], what: str, seconds: float = 5.0) -> float:
    """Poll every 10 ms; the time it became true (AssertionError after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


@pytest.fixture
async def rotating_server(secret_volume: SecretVolume, test_ca: CertificateBundle) -> AsyncIterator[RunningServer]:
    """The server over TLS on 127.0.0.1 with the reloader polling the Secret volume every 50 ms."""
    secret_volume.publish(test_ca.cert, test_ca.key)
    context = server_context(secret_volume.cert_file, secret_volume.key_file)
    settings = Settings(
        host="127.0.0.1",
        port=0,
        cert_file=str(secret_volume.cert_file),
        key_file=str(secret_volume.key_file),
        cert_reload_seconds=0.05,
        shutdown_drain_seconds=0.0,
    )
    server = await start_server(settings, context)
    try:
        yield server
    finally:
        await drain_and_stop(server, 0.0, grace_seconds=2.0)


def reload_errors(server: RunningServer) -> float:
    value = server.app[METRICS_KEY].registry.get_sample_value("stsmesh_certificate_reloads_total", {"result": "error"})
    return value or 0.0


def reloads(text: str, result: str) -> float:
    """``stsmesh_certificate_reloads_total{result=...}`` read from a /metrics exposition."""
    prefix = f'stsmesh_certificate_reloads_total{{result="{result}"}} '
    (line,) = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(line.removeprefix(prefix))


async def test_ten_secret_swaps_under_load_lose_no_request_and_bad_pairs_keep_the_old_cert(
    rotating_server: RunningServer,
    secret_volume: SecretVolume,
    test_ca: CertificateBundle,
    issue: Callable[[], tuple[bytes, bytes]],
    zk_review: dict[str, Any],
    trust_only: TrustOnly,
    serial_of: SerialOf,
    figure: Figure,
) -> None:
    """10 swaps and 2 broken pairs while 4 kept-alive and 2 new-connection clients post reviews."""
    server = rotating_server
    reloader: CertReloader = server.app[CERT_RELOADER_KEY]
    trust = trust_only(test_ca.ca_cert)
    base = f"https://127.0.0.1:{server.port}"
    pairs = [issue() for _ in range(SWAPS + 2)]  # made up front: key generation is not under test
    load = Load(server.port, orjson.dumps(zk_review), zk_review["request"]["uid"], trust, [], asyncio.Event())
    generation = {serial_of(test_ca.cert): 0} | {serial_of(cert): n for n, (cert, _) in enumerate(pairs, 1)}
    swapped_at = [0.0]  # when generation n became the loaded one (monotonic)
    latencies: list[float] = []

    def new_since(moment: float, serial: int) -> bool:
        return any(o.kind == "new" and o.started > moment and o.serial == serial for o in load.outcomes)

    tasks = [asyncio.create_task(load.kept_alive(i)) for i in range(KEPT_ALIVE_CLIENTS)]
    tasks += [asyncio.create_task(load.new_connections(i)) for i in range(NEW_CONNECTION_CLIENTS)]
    try:
        await wait_until(lambda: len(load.outcomes) >= 20, "the load to start")
        for cert, key in pairs[:SWAPS]:
            await asyncio.sleep(0.1)  # some load on the current certificate first
            published = time.monotonic()
            secret_volume.publish(cert, key)
            serial = serial_of(cert)
            loaded = await wait_until(lambda s=serial: reloader.current.serial == s, "the reload")
            swapped_at.append(loaded)
            seen = await wait_until(lambda t=loaded, s=serial: new_since(t, s), "a new handshake with the new cert")
            latencies.append(seen - published)

        # broken pairs: the last good certificate stays, the failure is counted
        last_good = serial_of(pairs[SWAPS - 1][0])
        (cert_a, key_a), (_, key_b) = pairs[SWAPS], pairs[SWAPS + 1]
        for label, broken_cert, broken_key in (
            ("half-written", cert_a[: len(cert_a) // 2], key_a),
            ("mismatched", cert_a, key_b),
        ):
            loaded_before, errors_before = reloader.current, reload_errors(server)
            secret_volume.publish(broken_cert, broken_key)
            refused = await wait_until(lambda n=errors_before: reload_errors(server) > n, f"the {label} pair refused")
            await wait_until(lambda t=refused: new_since(t, last_good), f"a new handshake after the {label} pair")
            assert reloader.current is loaded_before, f"{label}: the loaded certificate changed"
        load.stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10.0)
    finally:
        load.stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as session,
        session.get(f"{base}/metrics") as resp,
    ):
        exposition = await resp.text()

    failures = load.failures()
    assert not failures, f"{len(failures)} failed requests, e.g. {failures[:3]}"
    kept = [o for o in load.outcomes if o.kind == "kept"]
    new = [o for o in load.outcomes if o.kind == "new"]
    # every new handshake got the newest certificate loaded when its request started (or a newer one)
    for outcome in new:
        loaded_then = max(n for n, moment in enumerate(swapped_at) if moment <= outcome.started)
        assert generation[outcome.serial] >= loaded_then, outcome
    assert all(generation[o.serial] <= SWAPS for o in load.outcomes), "a broken pair was served"
    assert {generation[o.serial] for o in new} >= set(range(1, SWAPS + 1)), "a swap was never served"
    # kept-alive connections were never dropped: one connection, one certificate per client
    for client in range(KEPT_ALIVE_CLIENTS):
        mine = [o for o in kept if o.client == client]
        assert len({o.local_port for o in mine}) == 1, f"kept-alive client {client} had to reconnect"
        assert len({o.serial for o in mine}) == 1
    assert len(kept) >= 200 and len(new) >= 50, "too little load to prove anything"
    assert reloads(exposition, "ok") == SWAPS
    assert reloads(exposition, "error") >= 2
    figure(
        "rotation under load",
        swaps=SWAPS,
        requests=len(load.outcomes),
        kept_alive_requests=len(kept),
        new_connection_requests=len(new),
        failed=len(failures),
        max_swap_to_new_handshake_s=round(max(latencies), 3),
        reload_errors_counted=reloads(exposition, "error"),
    )
