"""A real control plane on loopback for the e2e tests: etcd + kube-apiserver + kube-controller-manager.

Binaries come from ``scripts/build-k8s.sh`` (cached outside the repository); etcd from Debian.
Everything listens on 127.0.0.1 on free ports, PKI is made with cryptography in a temp dir, and
``stop()`` ends the processes by their own PIDs. See ../shared/reference/real-apiserver.md.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from webhook.core import certs

K8S_BIN = Path(os.environ.get("STSMESH_K8S_BIN", Path.home() / ".cache/stsmesh/k8s-1.20.2/bin"))


def binaries_missing() -> str | None:
    """Why the e2e suite cannot run here, or None."""
    for name in ("kube-apiserver", "kube-controller-manager"):
        if not (K8S_BIN / name).exists():
            return f"{K8S_BIN / name} is missing: run scripts/build-k8s.sh (CI does)"
    if shutil.which("etcd") is None:
        return "etcd is not installed: run scripts/build-k8s.sh (installs Debian's etcd-server)"
    return None


def free_port() -> int:
    """A free loopback port outside the kernel's ephemeral range.

    A port the kernel hands out for bind(0) is an ephemeral one, and the many client connections
    of a running apiserver, etcd and controller-manager draw from the same range: one of them can
    take the port between this call and the server's own bind (CI once failed on exactly that).
    """
    low, _high = (int(part) for part in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    candidates = list(range(max(1024, low - 12000), low))
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port below the ephemeral range ({low})")


def k8s_version() -> tuple[int, int]:
    """The (major, minor) of the kube-apiserver in STSMESH_K8S_BIN (``--version``: ``Kubernetes v1.20.2``)."""
    done = subprocess.run([str(K8S_BIN / "kube-apiserver"), "--version"], capture_output=True, text=True)
    found = re.search(r"v(\d+)\.(\d+)", done.stdout + done.stderr)
    if found is None:
        raise RuntimeError(f"cannot read the version of {K8S_BIN / 'kube-apiserver'}: {done.stdout}{done.stderr}")
    return int(found.group(1)), int(found.group(2))


@dataclass(frozen=True)
class Release:
    """What the harness and the tests must know of the Kubernetes they run on."""

    version: tuple[int, int]

    @property
    def controller_manager_insecure_port(self) -> bool:
        """``--port=0`` (turn the insecure port off) exists up to 1.23; passing it later is fatal."""
        return self.version < (1, 24)

    @property
    def token_secrets(self) -> bool:
        """ServiceAccount token Secrets are generated up to 1.23 (LegacyServiceAccountTokenNoAutoGeneration)."""
        return self.version < (1, 24)

    @property
    def pod_index_label(self) -> bool:
        """The StatefulSet controller sets apps.kubernetes.io/pod-index from 1.28."""
        return self.version >= (1, 28)

    @property
    def pdb_api(self) -> str:
        return "policy/v1" if self.version >= (1, 21) else "policy/v1beta1"


@dataclass
class LocalCluster:
    workdir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    api_port: int = 0
    kubeconfig: Path = Path()
    commands: dict[str, tuple[list[str], dict[str, str], int]] = field(default_factory=dict)
    release: Release = field(default_factory=lambda: Release(k8s_version()))

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.api_port = free_port()
        pki = self._pki()
        etcd_client, etcd_peer = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy")}
        env["NO_PROXY"] = "127.0.0.1,localhost"
        self._spawn(
            "etcd",
            [
                "etcd", "--name", "loopback", "--data-dir", str(self.workdir / "etcd-data"),
                "--listen-client-urls", f"http://127.0.0.1:{etcd_client}",
                "--advertise-client-urls", f"http://127.0.0.1:{etcd_client}",
                "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
                "--initial-cluster", f"loopback=http://127.0.0.1:{etcd_peer}",
                "--initial-cluster-state", "new",
            ],
            env,
        )  # fmt: skip
        self._wait(lambda: _http_ok(f"http://127.0.0.1:{etcd_client}/health"), "etcd")
        self._spawn(
            "kube-apiserver",
            [
                str(K8S_BIN / "kube-apiserver"), "--advertise-address=127.0.0.1", "--bind-address=127.0.0.1",
                f"--secure-port={self.api_port}", f"--etcd-servers=http://127.0.0.1:{etcd_client}",
                f"--tls-cert-file={pki['apiserver.crt']}", f"--tls-private-key-file={pki['apiserver.key']}",
                f"--client-ca-file={pki['ca.crt']}", f"--service-account-key-file={pki['sa.pub']}",
                f"--service-account-signing-key-file={pki['sa.key']}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--service-cluster-ip-range=127.100.0.0/24", "--authorization-mode=RBAC",
                "--allow-privileged=true", "--endpoint-reconciler-type=none", "--profiling=false",
            ],
            env,
        )  # fmt: skip
        self._wait(self._apiserver_ready, "kube-apiserver", timeout=60)
        cm_port = free_port()
        self._spawn(
            "kube-controller-manager",
            [
                str(K8S_BIN / "kube-controller-manager"), f"--kubeconfig={self.workdir / 'cm.kubeconfig'}",
                "--bind-address=127.0.0.1", f"--secure-port={cm_port}", "--leader-elect=false",
                *(["--port=0"] if self.release.controller_manager_insecure_port else []),
                "--controllers=*", "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki['sa.key']}", f"--root-ca-file={pki['ca.crt']}",
                f"--cluster-signing-cert-file={pki['ca.crt']}", f"--cluster-signing-key-file={pki['ca.key']}",
                "--profiling=false",
            ],
            env,
        )  # fmt: skip
        self._wait(lambda: self._controller_manager_healthy(cm_port), "kube-controller-manager")

    def _controller_manager_healthy(self, port: int) -> bool:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # its self-signed serving certificate; only health is asked
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=context, timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.processes.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env))
        self.commands[name] = (argv, env, len(self.processes) - 1)

    def restart_apiserver(self) -> None:
        """Kill kube-apiserver (by its PID: abruptly, as a crash or a node loss ends it; a graceful stop
        waits a minute for open watches) and start it again on the same port and etcd."""
        argv, env, index = self.commands["kube-apiserver"]
        process = self.processes[index]
        process.kill()
        process.wait(timeout=30)
        log = open(self.workdir / "kube-apiserver.log", "ab")  # noqa: SIM115 - closed with the process
        self.processes[index] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        self._wait(self._apiserver_ready, "kube-apiserver after a restart", timeout=60)

    def _wait(self, ready: Any, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, (_, _, index) in self.commands.items():
                code = self.processes[index].poll()
                if code is not None:
                    log = (self.workdir / f"{name}.log").read_text(errors="replace").strip().splitlines()[-8:]
                    raise RuntimeError(
                        f"{name} exited with code {code} while waiting for {what} (Kubernetes "
                        f"{'.'.join(map(str, self.release.version))}); the end of its log:\n" + "\n".join(log)
                    )
            if ready():
                return
            time.sleep(0.2)
        raise TimeoutError(f"{what} not ready after {timeout}s; logs in {self.workdir}")

    def _apiserver_ready(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.workdir / "pki/ca.crt"))
        context.load_cert_chain(self.workdir / "pki/admin.crt", self.workdir / "pki/admin.key")
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{self.api_port}/readyz", context=context, timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def _pki(self) -> dict[str, Path]:
        pki = self.workdir / "pki"
        pki.mkdir(exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        ca = certs.make_ca(now, common_name="e2e-kubernetes-ca", days=2)
        apiserver = certs.make_serving_cert(
            ca,
            now,
            ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
             "kubernetes.default.svc.cluster.local"],
            ["127.0.0.1", "127.100.0.1"],
            days=2,
        )  # fmt: skip
        admin = certs.make_serving_cert(
            ca, now, ["kubernetes-admin"], days=2, client_auth=True,
            common_name="kubernetes-admin", organization="system:masters",
        )  # fmt: skip
        cm = certs.make_serving_cert(
            ca, now, ["kube-controller-manager"], days=2, client_auth=True,
            common_name="system:kube-controller-manager",
        )  # fmt: skip
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        files = {
            "ca.crt": ca.cert,
            "ca.key": ca.key,
            "apiserver.crt": apiserver.cert,
            "apiserver.key": apiserver.key,
            "admin.crt": admin.cert,
            "admin.key": admin.key,
            "sa.key": sa_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ),
            "sa.pub": sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        }  # fmt: skip
        paths = {}
        for name, data in files.items():
            (pki / name).write_bytes(data)
            paths[name] = pki / name
        server = f"https://127.0.0.1:{self.api_port}"
        self.kubeconfig = self.workdir / "admin.kubeconfig"
        _write_kubeconfig(self.kubeconfig, server, ca.cert, admin)
        _write_kubeconfig(self.workdir / "cm.kubeconfig", server, ca.cert, cm)
        return paths


def _write_kubeconfig(path: Path, server: str, ca: bytes, user: certs.Pem) -> None:
    import base64

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": {"server": server, "certificate-authority-data": b64(ca)}}],
        "users": [
            {"name": "e2e", "user": {"client-certificate-data": b64(user.cert), "client-key-data": b64(user.key)}}
        ],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "e2e"}}],
        "current-context": "e2e",
    }
    path.write_text(yaml.safe_dump(config))


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
