"""The app lab's "pods": network namespaces on a private bridge, each with its own capture layer.

A :class:`Lab` makes, for one run, a bridge namespace and three pod namespaces joined by veth pairs,
with addresses on a /24 that exists only inside them (nothing is routed anywhere else). Each pod's
capture layer emulates a data plane: ``nat PREROUTING`` sends inbound TCP to a chain that RETURNs
the excluded ports and REDIRECTs the rest to the pod's forwarder (:mod:`tests.applab.forwarder`),
which delivers to 127.0.0.1 or to the pod IP; delivery ``none`` is the no-mesh control (no capture).
Nothing is put in OUTPUT, so the forwarder's own upstream connections are not captured again.

Everything a lab starts is stopped by its PID and every namespace it made is deleted on
:meth:`Lab.close`, which runs on failure too (a context manager; the test fixture also closes on
SIGTERM). Names carry a per-run id under :data:`PREFIX`; a lab refuses to start while namespaces of an
earlier run are left (:func:`leftovers`), and :func:`clean` removes them.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "stsmesh-lab-"
FORWARDER_PORT = 15006
HERE = Path(__file__).resolve().parent


def unavailable() -> str | None:
    """Why the lab cannot run here, or None."""
    if os.geteuid() != 0:
        return "the app lab needs root (network namespaces and iptables)"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/app-lab-deps.sh installs the lab's Debian packages)"
    probe = f"{PREFIX}probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def leftovers() -> list[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in listed.splitlines() if line.startswith(PREFIX)]


def clean() -> list[str]:
    """Delete every namespace an earlier lab left (and so everything still running in it)."""
    gone = []
    for name in leftovers():
        for pid in subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split():
            _kill(int(pid))
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        gone.append(name)
    return gone


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@dataclass
class Pod:
    index: int
    netns: str
    ip: str
    workdir: Path


@dataclass
class Lab:
    workdir: Path
    run_id: str = field(default_factory=lambda: f"{os.getpid() % 10000}{random.randrange(100, 1000)}")
    subnet: str = field(default_factory=lambda: f"10.{random.randrange(200, 250)}.{random.randrange(1, 250)}")
    pods: list[Pod] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    def __enter__(self) -> Lab:
        left = leftovers()
        if left:
            raise RuntimeError(f"namespaces of an earlier lab are left ({', '.join(left)}): scripts/app-lab.sh --clean")
        bridge = self._netns("br")
        self._ip(bridge, "link", "add", "br0", "type", "bridge")
        self._ip(bridge, "link", "set", "br0", "up")
        for index in range(3):
            netns = self._netns(f"p{index}")
            ip = f"{self.subnet}.{index + 1}"
            host_end, pod_end = f"l{self.run_id}p{index}", f"v{self.run_id}p{index}"
            _run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", pod_end])
            _run(["ip", "link", "set", host_end, "netns", bridge])
            _run(["ip", "link", "set", pod_end, "netns", netns])
            self._ip(bridge, "link", "set", host_end, "master", "br0")
            self._ip(bridge, "link", "set", host_end, "up")
            self._ip(netns, "link", "set", "lo", "up")
            self._ip(netns, "link", "set", pod_end, "name", "eth0")
            self._ip(netns, "addr", "add", f"{ip}/24", "dev", "eth0")
            self._ip(netns, "link", "set", "eth0", "up")
            workdir = self.workdir / f"pod{index}"
            workdir.mkdir(parents=True, exist_ok=True)
            self.pods.append(Pod(index, netns, ip, workdir))
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        self.processes.clear()
        for netns in reversed(self.namespaces):
            for pid in subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True).stdout.split():
                _kill(int(pid))
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)
        self.namespaces.clear()

    def _netns(self, suffix: str) -> str:
        name = f"{PREFIX}{self.run_id}-{suffix}"
        _run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        return name

    @staticmethod
    def _ip(netns: str, *argv: str) -> None:
        _run(["ip", "-n", netns, *argv])

    # --- capture and processes ------------------------------------------------------------------

    def capture(self, pod: Pod, delivery: str, excluded: Sequence[int]) -> None:
        """Emulate the data plane on ``pod``: ``localhost`` / ``pod-ip`` delivery through the forwarder
        with ``excluded`` inbound ports bypassing it, or ``none`` (no capture at all)."""
        if delivery == "none":
            return
        chain = "STSMESH_INBOUND"
        rules = [["-t", "nat", "-N", chain]]
        rules += [["-t", "nat", "-A", chain, "-p", "tcp", "--dport", str(port), "-j", "RETURN"] for port in excluded]
        rules += [
            ["-t", "nat", "-A", chain, "-p", "tcp", "-j", "REDIRECT", "--to-ports", str(FORWARDER_PORT)],
            ["-t", "nat", "-A", "PREROUTING", "-p", "tcp", "-j", chain],
        ]
        for rule in rules:
            _run(["ip", "netns", "exec", pod.netns, "iptables", *rule])
        forwarder = [sys.executable, str(HERE / "forwarder.py"), str(FORWARDER_PORT), delivery, pod.ip]
        self.start(pod, "forwarder", forwarder)

    def start(
        self, pod: Pod, name: str, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(pod.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            ["ip", "netns", "exec", pod.netns, *argv], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=pod.workdir
        )
        self.processes.append(process)
        return process

    def exec(self, pod: Pod, argv: Sequence[str], timeout: float = 5) -> str:
        command = ["ip", "netns", "exec", pod.netns, *argv]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        return done.stdout

    def log(self, pod: Pod, name: str) -> str:
        path = pod.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _run(argv: Sequence[str]) -> None:
    done = subprocess.run(list(argv), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")


def wait_until(condition: object, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(interval)
    return False
