"""Fixtures for the end-to-end suite: a real control plane, and `stsmesh serve` as a real process.

The whole suite is skipped, with the reason, when the Kubernetes binaries are missing
(``scripts/build-k8s.sh`` builds them; ``.ci/run`` calls it so CI always runs this suite).
"""

from __future__ import annotations

import io
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.e2e.cluster import LocalCluster, Release, binaries_missing, free_port, k8s_version
from webhook.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
RELEASE = Release(k8s_version()) if binaries_missing() is None else Release((0, 0))
"""The Kubernetes the suite runs on (STSMESH_K8S_BIN): the harness and tests adapt to it."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = binaries_missing()
    if reason is None:
        return
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    local = LocalCluster(tmp_path_factory.mktemp("cluster"))
    try:
        local.start()
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def api(cluster: LocalCluster) -> client.ApiClient:
    from kubernetes import config

    return config.new_client_from_config(config_file=str(cluster.kubeconfig))


def stsmesh(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@dataclass
class WebhookProcess:
    """`python -m webhook serve` on 127.0.0.1 with certificates behind a kubelet-style symlink."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    version: int = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/mutate"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "ca" / "ca.crt"

    def make_certs(self) -> None:
        """Issue a serving cert from the (kept) CA into a new version dir and swap ..data to it."""
        self.version += 1
        ca_dir = self.workdir / "ca"
        code, _, err = stsmesh("certs", "--out-dir", str(ca_dir), "--ip", "127.0.0.1")
        assert code == 0, err
        version_dir = self.workdir / "tls" / f"..v{self.version}"
        version_dir.mkdir(parents=True)
        for name in ("tls.crt", "tls.key"):
            (version_dir / name).write_bytes((ca_dir / name).read_bytes())
        tls = self.workdir / "tls"
        tmp_link = tls / "..data_tmp"
        if tmp_link.is_symlink():
            tmp_link.unlink()
        tmp_link.symlink_to(version_dir.name)
        os.replace(tmp_link, tls / "..data")
        for name in ("tls.crt", "tls.key"):
            if not (tls / name).is_symlink():
                (tls / name).symlink_to(f"..data/{name}")

    def start(self, *extra: str) -> None:
        if self.version == 0:
            self.make_certs()
        log = open(self.workdir / "serve.log", "ab")  # noqa: SIM115 - closed with the process
        env = dict(os.environ, STSMESH_CERT_RELOAD_SECONDS="0.5", STSMESH_SHUTDOWN_DRAIN_SECONDS="0")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "webhook", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--cert-file", str(self.workdir / "tls/tls.crt"), "--key-file", str(self.workdir / "tls/tls.key"),
             "--log-format", "json", *extra],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"stsmesh serve exited: {(self.workdir / 'serve.log').read_text()[-2000:]}")
            if self.ready():
                return
            time.sleep(0.1)
        raise TimeoutError("stsmesh serve did not become ready")

    def ready(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{self.port}/readyz", context=context, timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None


@pytest.fixture
def webhook_process(tmp_path: Path) -> Iterator[WebhookProcess]:
    process = WebhookProcess(tmp_path)
    try:
        yield process
    finally:
        process.stop()


def create_namespace(api: client.ApiClient, name: str) -> None:
    """The namespace, once pods can be created in it: its default ServiceAccount exists (and, up to
    1.23, that account's token Secret, which the ServiceAccount admission plugin waits for)."""
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": name}})
    needs_secret = RELEASE.token_secrets
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        sas = core.list_namespaced_service_account(name).items
        if any(sa.metadata.name == "default" and (sa.secrets or not needs_secret) for sa in sas):
            return
        time.sleep(0.2)
    raise TimeoutError(f"no default ServiceAccount{' token' if needs_secret else ''} in {name}")


def wait_for_pods(api: client.ApiClient, namespace: str, selector: str, count: int, timeout: float = 60) -> list[Any]:
    core = client.CoreV1Api(api)
    deadline = time.monotonic() + timeout
    pods: list[Any] = []
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod(namespace, label_selector=selector, _preload_content=False)
        import json

        items = json.loads(pods.data)["items"]
        if len(items) >= count:
            return sorted(items, key=lambda p: p["metadata"]["name"])
        time.sleep(0.2)
    raise TimeoutError(f"{selector}: wanted {count} pods in {namespace}, got {len(pods)}")


@pytest.fixture
def registered(cluster: Any, webhook_process: WebhookProcess) -> Iterator[WebhookProcess]:
    """``stsmesh serve --mesh istio --mesh-version 1.9`` registered with the apiserver; unregistered after."""
    webhook_process.start("--mesh", "istio", "--mesh-version", "1.9")
    kubeconfig = str(cluster.kubeconfig)
    code, _, err = stsmesh("register", "--url", webhook_process.url, "--ca-file", str(webhook_process.ca_file),
                           "--kubeconfig", kubeconfig)  # fmt: skip
    assert code == 0, err
    yield webhook_process
    stsmesh("unregister", "--kubeconfig", kubeconfig)
