"""Edge: throwaway certificates for ``stsmesh serve`` with no certificate given, and for tests.

* :func:`write_self_signed` makes a CA and a serving certificate for ``localhost`` / ``127.0.0.1`` /
  ``::1`` and writes them to a fresh private temp directory (``tls.crt``, ``tls.key``, ``ca.crt``),
  so the server runs out of the box (``curl --cacert <dir>/tls.crt https://127.0.0.1:8443/healthz``).
  Not for clusters: the apiserver needs a certificate for ``<service>.<namespace>.svc`` (``stsmesh certs``).
* :func:`make_ca_and_serving_cert` / :func:`issue_serving_cert` give PEM bytes so tests can trust
  exactly one CA and rotate serving certificates under it.

The certificates themselves are built by :mod:`webhook.core.certs` (ECDSA P-256, SHA-256, SANs).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from webhook.core import certs

LOCAL_DNS_NAMES = ("localhost",)
LOCAL_IP_ADDRESSES = ("127.0.0.1", "::1")


class CertificateBundle(NamedTuple):
    """A CA and a serving certificate it signed, PEM-encoded."""

    ca_cert: bytes
    ca_key: bytes
    cert: bytes
    key: bytes


@dataclass(frozen=True)
class SelfSignedFiles:
    directory: Path
    cert_file: Path
    key_file: Path
    ca_file: Path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def issue_serving_cert(
    ca_cert_pem: bytes,
    ca_key_pem: bytes,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str] = (),
    *,
    days: int = 365,
) -> tuple[bytes, bytes]:
    """Another serving certificate (and key) from an existing CA."""
    pem = certs.make_serving_cert(
        certs.Pem(ca_cert_pem, ca_key_pem), _now(), dns_names, [str(i) for i in ip_addresses], days=days
    )
    return pem.cert, pem.key


def make_ca_and_serving_cert(
    dns_names: Sequence[str], ip_addresses: Sequence[str] = (), *, days: int = 365
) -> CertificateBundle:
    ca = certs.make_ca(_now(), common_name="stsmesh test CA", days=days)
    cert, key = issue_serving_cert(ca.cert, ca.key, dns_names, ip_addresses, days=days)
    return CertificateBundle(ca.cert, ca.key, cert, key)


def write_self_signed(directory: Path | None = None) -> SelfSignedFiles:
    """Write a throwaway CA + serving certificate for localhost/127.0.0.1/::1.

    Without ``directory`` a fresh private temp directory (mode 0700) is made; keys are 0600. The
    files are named like a ``kubernetes.io/tls`` Secret's keys.
    """
    target = directory if directory is not None else Path(tempfile.mkdtemp(prefix="stsmesh-selfsigned-"))
    bundle = make_ca_and_serving_cert(LOCAL_DNS_NAMES, LOCAL_IP_ADDRESSES, days=30)
    files = SelfSignedFiles(target, target / "tls.crt", target / "tls.key", target / "ca.crt")
    write_private(files.key_file, bundle.key)
    # The chain (leaf + CA) in tls.crt lets a client use tls.crt itself as its CA file.
    files.cert_file.write_bytes(bundle.cert + bundle.ca_cert)
    files.ca_file.write_bytes(bundle.ca_cert)
    return files


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only (for private keys)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
