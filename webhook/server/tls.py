"""Edge: the server's TLS context and hot reload of its certificate.

:func:`server_context` builds the :class:`ssl.SSLContext` the listener uses (TLS 1.2 or later, as the
apiserver's client requires; ALPN ``http/1.1``, which the apiserver forces for webhooks).

:class:`CertReloader` keeps that context's certificate current without restarting the listener. It
polls a digest of the certificate and key *contents* (reading through symlinks, so a kubelet Secret
volume swapping its ``..data`` symlink counts as a change) and, on change, loads the new pair into
the same context with ``load_cert_chain``: new handshakes get the new certificate, connections
already open keep theirs. A new pair is parsed and trial-loaded into a scratch context first, from
the exact bytes that were read, so a half-written or mismatched pair never touches the live context:
the old certificate stays in use, the failure is logged and reported as ``error``.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import os
import ssl
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from webhook.server.periodic import PeriodicCheck

log = logging.getLogger(__name__)

ReloadResult = Literal["ok", "error"]
CheckOutcome = Literal["unchanged", "reloaded", "failed"]


def server_context(cert_file: str | os.PathLike[str], key_file: str | os.PathLike[str]) -> ssl.SSLContext:
    """A server-side context serving ``cert_file`` (PEM, leaf first, then intermediates) and ``key_file``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    context.load_cert_chain(os.fspath(cert_file), os.fspath(key_file))
    return context


class CertificateError(ValueError):
    """The certificate/key pair cannot be served; the message says why."""


@dataclass(frozen=True)
class ServingCertificate:
    """What is being served, for logs and the expiry metric."""

    serial: int
    subject: str
    not_after: datetime.datetime
    digest: str

    def describe(self) -> str:
        return f"serial {self.serial:x}, subject {self.subject}, expires {self.not_after:%Y-%m-%dT%H:%M:%SZ}"


def pair_digest(cert_pem: bytes, key_pem: bytes) -> str:
    """SHA-256 over both files' contents; any change to either changes it."""
    digest = hashlib.sha256()
    for part in (cert_pem, key_pem):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def inspect_pair(cert_pem: bytes, key_pem: bytes) -> ServingCertificate:
    """Parse the pair and check the key belongs to the (first) certificate; CertificateError if not."""
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError as exc:
        raise CertificateError(f"certificate file holds no readable PEM certificate ({exc})") from exc
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"key file holds no readable unencrypted PEM private key ({exc})") from exc
    leaf = chain[0]
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise CertificateError("the private key does not match the certificate")
    return ServingCertificate(
        serial=leaf.serial_number,
        subject=leaf.subject.rfc4514_string(),
        not_after=leaf.not_valid_after_utc,
        digest=pair_digest(cert_pem, key_pem),
    )


def read_pair(cert_file: str | os.PathLike[str], key_file: str | os.PathLike[str]) -> tuple[bytes, bytes]:
    """Both files' contents, read through any symlinks.

    A kubelet Secret volume swaps its ``..data`` link atomically, but the two files are opened one
    after the other: if the contents of either file changed between the two reads, read again so
    the pair comes from one version."""
    cert, key = Path(cert_file).read_bytes(), Path(key_file).read_bytes()
    for _ in range(3):
        again = Path(cert_file).read_bytes(), Path(key_file).read_bytes()
        if again == (cert, key):
            break
        cert, key = again
    return cert, key


@contextlib.contextmanager
def _pem_paths(cert_pem: bytes, key_pem: bytes) -> Iterator[tuple[str, str]]:
    """Paths holding exactly these bytes, for ``load_cert_chain`` (which only takes paths).

    On Linux the bytes live in anonymous memory files (memfd), so nothing is written to disk and a
    read-only root filesystem is fine; elsewhere they go to a private temp directory for a moment.
    """
    fds = _memory_files(cert_pem, key_pem)
    if fds is not None:
        try:
            yield f"/proc/self/fd/{fds[0]}", f"/proc/self/fd/{fds[1]}"
        finally:
            for fd in fds:
                os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="stsmesh-tls-") as directory:
        cert_path = os.path.join(directory, "tls.crt")
        key_path = os.path.join(directory, "tls.key")
        for path, data in ((cert_path, cert_pem), (key_path, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        yield cert_path, key_path


def _memory_files(*contents: bytes) -> list[int] | None:
    """One memfd per content, or None where memfd or ``/proc/self/fd`` is unavailable."""
    if not hasattr(os, "memfd_create") or not os.path.isdir("/proc/self/fd"):
        return None
    fds: list[int] = []
    try:
        for data in contents:
            fds.append(os.memfd_create("stsmesh-tls", os.MFD_CLOEXEC))
            with open(fds[-1], "wb", closefd=False) as handle:
                handle.write(data)
    except OSError:
        for fd in fds:
            os.close(fd)
        return None
    return fds


def load_pair(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """Trial-load the pair into a scratch context, then into ``context``; ``context`` is untouched
    when the trial fails (OpenSSL would otherwise be left with the new certificate and no key)."""
    with _pem_paths(cert_pem, key_pem) as (cert_path, key_path):
        scratch = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            scratch.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as exc:
            raise CertificateError(f"OpenSSL refuses the pair: {exc}") from exc
        context.load_cert_chain(cert_path, key_path)


class CertReloader(PeriodicCheck):
    """Polls ``cert_file``/``key_file`` every ``interval_seconds`` and reloads ``context`` on change.

    ``on_result`` is told ``"ok"`` after each successful reload and ``"error"`` after each failed
    attempt (the old certificate stays in use), with the certificate now being served. A failure is
    logged at ERROR the first time it is seen and at DEBUG while it persists.

    The context is assumed to hold the files' current contents when the reloader is made.
    """

    def __init__(
        self,
        context: ssl.SSLContext,
        cert_file: str | os.PathLike[str],
        key_file: str | os.PathLike[str],
        *,
        interval_seconds: float = 10.0,
        on_result: Callable[[ReloadResult, ServingCertificate | None], None] | None = None,
    ) -> None:
        super().__init__(
            interval_seconds,
            interval_name="certificate reload",
            task_name="stsmesh-cert-reloader",
            logger=log,
            failure_message="certificate check failed",
        )
        self.context = context
        self.cert_file = Path(cert_file)
        self.key_file = Path(key_file)
        self._on_result = on_result
        self._last_failure: str | None = None
        self.current: ServingCertificate | None = None
        try:
            self.current = inspect_pair(*read_pair(self.cert_file, self.key_file))
        except (OSError, CertificateError) as exc:
            log.warning("cannot read the serving certificate being used: %s", exc)

    def check_now(self) -> CheckOutcome:
        """Compare the files with what is loaded; reload if they changed. Never raises."""
        try:
            cert_pem, key_pem = read_pair(self.cert_file, self.key_file)
        except OSError as exc:
            return self._failed(f"cannot read {exc.filename or 'the certificate files'}: {exc.strerror or exc}")
        digest = pair_digest(cert_pem, key_pem)
        if self.current is not None and digest == self.current.digest:
            self._last_failure = None
            return "unchanged"
        try:
            certificate = inspect_pair(cert_pem, key_pem)
            load_pair(self.context, cert_pem, key_pem)
        except CertificateError as exc:
            return self._failed(str(exc), digest)
        except Exception as exc:  # anything else must not stop the poller nor drop the old pair
            return self._failed(f"{type(exc).__name__}: {exc}", digest)
        self.current = certificate
        self._last_failure = None
        log.info(
            "serving certificate reloaded from %s: %s",
            os.path.realpath(self.cert_file),
            certificate.describe(),
            extra={"cert_serial": f"{certificate.serial:x}"},
        )
        if certificate.not_after < datetime.datetime.now(datetime.UTC):
            log.warning("the reloaded serving certificate has expired (%s)", certificate.describe())
        self._report("ok")
        return "reloaded"

    def _failed(self, reason: str, digest: str | None = None) -> CheckOutcome:
        failure = f"{digest}:{reason}"
        level = logging.DEBUG if failure == self._last_failure else logging.ERROR
        self._last_failure = failure
        log.log(
            level,
            "serving certificate not reloaded, still serving the previous one (%s): %s",
            self.current.describe() if self.current else "unknown",
            reason,
            extra={"cert_file": str(self.cert_file), "key_file": str(self.key_file)},
        )
        self._report("error")
        return "failed"

    def _report(self, result: ReloadResult) -> None:
        if self._on_result is not None:
            self._on_result(result, self.current)
