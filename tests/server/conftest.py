"""Fixtures for the server edge: request bodies, settings, a test CA and kubelet-style Secret dirs.

As in ``tests/conftest.py``, helpers are handed out through fixtures (``trust_only``, ``serial_of``)
rather than imported, so test modules never import a ``conftest``.
"""

from __future__ import annotations

import copy
import logging
import os
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from webhook.core.inputs import pod_review
from webhook.core.settings import Settings
from webhook.server.selfsigned import CertificateBundle, issue_serving_cert, make_ca_and_serving_cert

ZK_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "zk-0",
        "namespace": "data",
        "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "zk", "controller": True, "uid": "x"}
        ],
    },
    "spec": {"containers": [{"name": "zookeeper", "image": "docker.io/bitnami/zookeeper:3.7.0"}]},
}


@pytest.fixture
def zk_review() -> dict[str, Any]:
    """An admission.k8s.io/v1 CREATE review for pod zk-0 of StatefulSet zk: it gets a patch."""
    return pod_review(copy.deepcopy(ZK_POD))


@pytest.fixture
def plain_pod_review() -> dict[str, Any]:
    """A review for a pod no StatefulSet controls: skipped."""
    pod = copy.deepcopy(ZK_POD)
    del pod["metadata"]["ownerReferences"]
    pod["metadata"]["name"] = "web"
    return pod_review(pod)


@pytest.fixture
def settings() -> Settings:
    return Settings(host="127.0.0.1", port=0, shutdown_drain_seconds=0.0)


@pytest.fixture(scope="session")
def test_ca() -> CertificateBundle:
    """A CA and a serving certificate for 127.0.0.1/localhost (made once: key generation is slow-ish)."""
    return make_ca_and_serving_cert(["localhost"], ["127.0.0.1"])


@pytest.fixture
def issue(test_ca: CertificateBundle) -> Callable[[], tuple[bytes, bytes]]:
    """A new serving certificate and key for 127.0.0.1, signed by the test CA."""
    return lambda: issue_serving_cert(test_ca.ca_cert, test_ca.ca_key, ["localhost"], ["127.0.0.1"])


def _trust_only(ca_pem: bytes) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=ca_pem.decode("ascii"))


def _serial_of(cert_pem: bytes) -> int:
    return x509.load_pem_x509_certificate(cert_pem).serial_number


@pytest.fixture(scope="session")
def trust_only() -> Callable[[bytes], ssl.SSLContext]:
    """``trust_only(ca_pem)``: a client SSL context that trusts that CA and nothing else."""
    return _trust_only


@pytest.fixture(scope="session")
def serial_of() -> Callable[[bytes], int]:
    """``serial_of(cert_pem)``: the certificate's serial number."""
    return _serial_of


@dataclass
class SecretVolume:
    """A directory laid out like a kubelet Secret volume: ``tls.crt -> ..data/tls.crt``,
    ``..data -> ..<timestamp>``; :meth:`publish` swaps ``..data`` atomically, as the kubelet does."""

    root: Path
    generation: int = 0

    @property
    def cert_file(self) -> Path:
        return self.root / "tls.crt"

    @property
    def key_file(self) -> Path:
        return self.root / "tls.key"

    def publish(self, cert_pem: bytes, key_pem: bytes) -> None:
        self.generation += 1
        target = f"..2024_01_01_00_00_{self.generation:02d}.{os.getpid()}"
        (self.root / target).mkdir(mode=0o755)
        (self.root / target / "tls.crt").write_bytes(cert_pem)
        (self.root / target / "tls.key").write_bytes(key_pem)
        data = self.root / "..data"
        old = os.readlink(data) if data.is_symlink() else None
        staging = self.root / "..data_tmp"
        os.symlink(target, staging)
        os.replace(staging, data)  # the atomic swap
        for name in ("tls.crt", "tls.key"):
            if not (self.root / name).is_symlink():
                os.symlink(f"..data/{name}", self.root / name)
        if old is not None:
            for leftover in (self.root / old).iterdir():
                leftover.unlink()
            (self.root / old).rmdir()


@pytest.fixture
def secret_volume(tmp_path: Path) -> SecretVolume:
    root = tmp_path / "tls"
    root.mkdir()
    return SecretVolume(root)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Undo :func:`webhook.server.logs.configure` after a test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    own = {name: logging.getLogger(name).level for name in ("webhook", "stsmesh")}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, own_level in own.items():
        logging.getLogger(name).setLevel(own_level)
