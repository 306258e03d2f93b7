"""The real HTTPS path: a CA the test makes, TLS >= 1.2 only, and certificate reload on a Secret swap."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer
from cryptography import x509

from webhook.core.settings import Settings
from webhook.server.app import CERT_RELOADER_KEY, METRICS_KEY, make_app
from webhook.server.selfsigned import CertificateBundle, make_ca_and_serving_cert
from webhook.server.tls import CertReloader, server_context

JSON = {"Content-Type": "application/json"}

TrustOnly = Callable[[bytes], ssl.SSLContext]
SerialOf = Callable[[bytes], int]
SecretVolume = Any  # conftest.SecretVolume: publish(cert, key) swaps ..data like the kubelet


async def peer_serial(port: int, context: ssl.SSLContext) -> int:
    """Serial of the certificate the server presents on a NEW connection."""
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="127.0.0.1")
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der).serial_number
    finally:
        writer.close()
        await writer.wait_closed()


def reload_count(server: TestServer, result: str) -> float | None:
    metrics = server.app[METRICS_KEY]  # type: ignore[union-attr]
    return metrics.registry.get_sample_value("stsmesh_certificate_reloads_total", {"result": result})


@pytest.fixture
async def tls_server(
    aiohttp_server: Any, secret_volume: SecretVolume, test_ca: CertificateBundle, settings: Settings
) -> TestServer:
    """The app over TLS on 127.0.0.1, serving the test CA's certificate from a Secret-like volume.
    The poll interval is an hour: tests call ``check_now()``."""
    secret_volume.publish(test_ca.cert, test_ca.key)
    context = server_context(secret_volume.cert_file, secret_volume.key_file)
    app_settings = settings.with_overrides(
        cert_file=str(secret_volume.cert_file), key_file=str(secret_volume.key_file), cert_reload_seconds=3600.0
    )
    return await aiohttp_server(make_app(app_settings, ssl_context=context), ssl=context)  # type: ignore[no-any-return]


async def test_https_round_trip_trusting_only_the_test_ca(
    tls_server: TestServer,
    test_ca: CertificateBundle,
    zk_review: dict[str, Any],
    trust_only: TrustOnly,
    serial_of: SerialOf,
) -> None:
    connector = aiohttp.TCPConnector(ssl=trust_only(test_ca.ca_cert))
    async with aiohttp.ClientSession(connector=connector) as session:
        url = tls_server.make_url("/mutate")
        assert url.scheme == "https" and url.host == "127.0.0.1"
        async with session.post(url, data=orjson.dumps(zk_review), headers=JSON) as resp:
            assert resp.status == 200
            answer = await resp.json()
        async with session.get(tls_server.make_url("/healthz")) as resp:
            assert resp.status == 200
    assert answer["response"]["uid"] == zk_review["request"]["uid"]
    assert answer["response"]["patchType"] == "JSONPatch"
    assert await peer_serial(tls_server.port, trust_only(test_ca.ca_cert)) == serial_of(test_ca.cert)  # type: ignore[arg-type]


async def test_a_client_trusting_another_ca_is_refused(tls_server: TestServer, trust_only: TrustOnly) -> None:
    stranger = make_ca_and_serving_cert(["localhost"], ["127.0.0.1"])
    connector = aiohttp.TCPConnector(ssl=trust_only(stranger.ca_cert))
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(tls_server.make_url("/healthz"))


def old_protocol_client(version: ssl.TLSVersion) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client really offer the old protocol
    context.minimum_version = version
    context.maximum_version = version
    return context


async def handshake_version(port: int, context: ssl.SSLContext) -> str:
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        return str(writer.get_extra_info("ssl_object").version())
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
async def test_tls_1_0_and_1_1_are_refused(
    tls_server: TestServer, version: str, tmp_path: Path, test_ca: CertificateBundle
) -> None:
    tls_version = ssl.TLSVersion[version]
    # First prove this client can speak the old protocol at all, to a server that allows it ...
    (tmp_path / "c.pem").write_bytes(test_ca.cert)
    (tmp_path / "k.pem").write_bytes(test_ca.key)
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    permissive.set_ciphers("DEFAULT:@SECLEVEL=0")
    permissive.minimum_version = tls_version
    permissive.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    other = await asyncio.start_server(hang_up, "127.0.0.1", 0, ssl=permissive)
    try:
        other_port = other.sockets[0].getsockname()[1]
        try:
            await handshake_version(other_port, old_protocol_client(tls_version))
        except (ssl.SSLError, ConnectionError):
            pytest.skip(f"this OpenSSL cannot speak {version} at all")
    finally:
        other.close()
        await other.wait_closed()
    # ... then that ours refuses it, while TLS 1.2 and 1.3 work.
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await handshake_version(tls_server.port, old_protocol_client(tls_version))  # type: ignore[arg-type]
    assert await handshake_version(tls_server.port, old_protocol_client(ssl.TLSVersion.TLSv1_2)) == "TLSv1.2"  # type: ignore[arg-type]
    assert await handshake_version(tls_server.port, old_protocol_client(ssl.TLSVersion.TLSv1_3)) == "TLSv1.3"  # type: ignore[arg-type]


async def test_secret_swap_is_served_to_new_connections(
    tls_server: TestServer,
    secret_volume: SecretVolume,
    test_ca: CertificateBundle,
    issue: Callable[[], tuple[bytes, bytes]],
    zk_review: dict[str, Any],
    trust_only: TrustOnly,
    serial_of: SerialOf,
) -> None:
    port: int = tls_server.port  # type: ignore[assignment]
    trust = trust_only(test_ca.ca_cert)
    reloader: CertReloader = tls_server.app[CERT_RELOADER_KEY]  # type: ignore[index]
    assert await peer_serial(port, trust) == serial_of(test_ca.cert)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as session:
        async with session.post(tls_server.make_url("/mutate"), data=orjson.dumps(zk_review), headers=JSON) as resp:
            assert resp.status == 200  # a kept-alive connection with the old certificate

        new_cert, new_key = issue()
        secret_volume.publish(new_cert, new_key)
        assert reloader.check_now() == "reloaded"
        assert reloader.check_now() == "unchanged"

        assert await peer_serial(port, trust) == serial_of(new_cert)
        async with session.post(tls_server.make_url("/mutate"), data=orjson.dumps(zk_review), headers=JSON) as resp:
            assert resp.status == 200
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as fresh,
        fresh.get(tls_server.make_url("/healthz")) as resp,
    ):
        assert resp.status == 200
    assert reload_count(tls_server, "ok") == 1
    assert reload_count(tls_server, "error") == 0
    metrics = tls_server.app[METRICS_KEY]  # type: ignore[index]
    expiry = metrics.registry.get_sample_value("stsmesh_certificate_expiry_timestamp_seconds")
    assert expiry == x509.load_pem_x509_certificate(new_cert).not_valid_after_utc.timestamp()


@pytest.mark.parametrize("breakage", ["mismatched", "half-written", "missing-key"])
async def test_a_bad_pair_keeps_the_old_certificate(
    tls_server: TestServer,
    secret_volume: SecretVolume,
    test_ca: CertificateBundle,
    issue: Callable[[], tuple[bytes, bytes]],
    caplog: pytest.LogCaptureFixture,
    breakage: str,
    trust_only: TrustOnly,
    serial_of: SerialOf,
) -> None:
    port: int = tls_server.port  # type: ignore[assignment]
    trust = trust_only(test_ca.ca_cert)
    reloader: CertReloader = tls_server.app[CERT_RELOADER_KEY]  # type: ignore[index]
    cert_a, key_a = issue()
    _, key_b = issue()
    if breakage == "mismatched":
        secret_volume.publish(cert_a, key_b)
    elif breakage == "half-written":
        secret_volume.publish(cert_a[: len(cert_a) // 2], key_a)
    else:
        secret_volume.publish(cert_a, key_a)
        (secret_volume.root / "..data" / "tls.key").unlink()

    assert reloader.check_now() == "failed"
    assert reload_count(tls_server, "error") == 1
    assert any(r.levelname == "ERROR" and "not reloaded" in r.getMessage() for r in caplog.records)
    assert await peer_serial(port, trust) == serial_of(test_ca.cert), "the old certificate is still served"
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as session,
        session.get(tls_server.make_url("/healthz")) as resp,
    ):
        assert resp.status == 200

    secret_volume.publish(cert_a, key_a)  # the writer finishes: the next check takes it
    assert reloader.check_now() == "reloaded"
    assert await peer_serial(port, trust) == serial_of(cert_a)
    assert reload_count(tls_server, "ok") == 1


async def test_the_poller_reloads_by_itself(
    secret_volume: SecretVolume,
    test_ca: CertificateBundle,
    issue: Callable[[], tuple[bytes, bytes]],
    serial_of: SerialOf,
) -> None:
    secret_volume.publish(test_ca.cert, test_ca.key)
    context = server_context(secret_volume.cert_file, secret_volume.key_file)
    results: list[str] = []
    reloader = CertReloader(
        context,
        secret_volume.cert_file,
        secret_volume.key_file,
        interval_seconds=0.05,
        on_result=lambda result, _certificate: results.append(result),
    )
    reloader.start()
    try:
        new_cert, new_key = issue()
        secret_volume.publish(new_cert, new_key)
        for _ in range(40):
            if results:
                break
            await asyncio.sleep(0.05)
    finally:
        await reloader.stop()
    assert results == ["ok"]
    assert reloader.current is not None and reloader.current.serial == serial_of(new_cert)


def test_server_context_refuses_old_protocols(test_ca: CertificateBundle, tmp_path: Path) -> None:
    (tmp_path / "tls.crt").write_bytes(test_ca.cert)
    (tmp_path / "tls.key").write_bytes(test_ca.key)
    context = server_context(tmp_path / "tls.crt", tmp_path / "tls.key")
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_NONE  # the apiserver presents no client certificate by default
