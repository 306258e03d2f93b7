"""stsmesh benchmark: one command, a table of figures, a check of the targets, and JSON.

    bash bench/setup.sh && .venv/bin/python -m bench.run [--duration 5] [--repeat 5] [--quick] [--build pure]

What it measures, on this machine, in one run:

* ``stsmesh serve`` and a minimal aiohttp webhook (bench/baseline_server.py, same TLS, a fixed
  answer) each pinned to CPU 0, loaded by wrk pinned to CPU 1 over kept-alive TLS connections, for
  every review body (bench/reviews.py) at concurrency 1, 8 and 64: requests/s, p50/p99 latency,
  server CPU µs per request (from /proc/<pid>/stat), server instructions per request (``perf
  stat``, when perf may count: steadier than CPU time on a VM whose speed drifts), errors, and the
  ratios of stsmesh to the baseline (requests/s and p99). Each row runs both servers back to back,
  ``--repeat`` times (default 5), the server order alternating; the table shows the median of each
  figure, and each ratio is the median of the back-to-back pairs' ratios. On a shared VM whose
  speed flips by up to 1.7x within seconds, a ratio taken within a pair is far steadier than one
  between medians taken minutes apart;
* new TLS connections per second (``Connection: close``), cold start (process start → first 200
  over TLS), RSS idle, steady (2 s after the typical-pod rows) and peak (/proc/<pid>/status);
* the pure ``review()`` path in-process (bench/micro.py: reviews/s, no TLS) and patch length per
  pod size;
* (separately, ``python -m bench.instructions``) instructions per request for both servers counted
  by valgrind, for machines whose VM exposes no counters to perf;
* the targets of issue #4 (throughput ≥ 0.5× baseline on every pod size, p99 ≤ 5 ms at 8
  connections, p99 at 64 connections ≤ 1.5× the baseline's, 64 KB pod p50 ≤ 5 ms at 8 connections,
  patch size independent of pod size, cold start ≤ 1 s, steady RSS ≤ 64 MiB), each met or missed.

stsmesh runs as the container image ships it: the mypyc-compiled build (scripts/compiled.sh makes it
outside the repo). ``--build pure`` measures the source tree as plain Python instead.

Results go to bench/results/<UTC time>.json (git-ignored) so runs can be compared between commits.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from bench.reviews import bodies
from webhook.core import certs

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
CPUS = os.cpu_count() or 1
SETTLE_SECONDS = 2.0
"""Pause before reading RSS after load: the connections are closed and ``serve`` gives the memory
they held back within a second (webhook.server.memory)."""
ORDINARY_BODIES = ("typical", "3-containers", "injected-istio")


@dataclass
class Row:
    server: str
    body: str
    connections: int
    mode: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float
    errors: int
    kinstructions_per_request: float | None = None
    """Server instructions per request in thousands (perf stat), when perf can count them: unlike CPU
    time, it hardly moves when the VM's speed drifts, so it compares commits and servers steadily."""
    ratio_to_baseline: float | None = None
    """stsmesh's requests/s over the baseline's: the median of the ratios of back-to-back pairs."""
    p99_ratio_to_baseline: float | None = None
    """stsmesh's p99 over the baseline's, the median of the pairs' ratios likewise."""
    runs: int = 1


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and CPUS > 1 else []


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Server:
    def __init__(self, name: str, argv: list[str], port: int, ca_file: Path, cwd: Path) -> None:
        self.name, self.argv, self.port, self.ca_file, self.cwd = name, argv, port, ca_file, cwd
        self.log_file = ca_file.parent / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.cold_start_s = 0.0

    def start(self, body: bytes) -> None:
        started = time.perf_counter()
        log = open(self.log_file, "ab")  # noqa: SIM115 - the server's stderr, closed with it
        self.process = subprocess.Popen([*_pin(0), *self.argv], cwd=self.cwd, stdout=log, stderr=log)
        context = ssl.create_default_context(cafile=str(self.ca_file))
        deadline = started + 20
        while time.perf_counter() < deadline:
            try:
                connection = http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=2)
                connection.request("POST", "/mutate", body=body, headers={"Content-Type": "application/json"})
                if connection.getresponse().status == 200:
                    self.cold_start_s = time.perf_counter() - started
                    connection.close()
                    return
            except OSError:
                time.sleep(0.005)
        raise RuntimeError(f"{self.name} did not answer within 20 s")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)


def wrk(port: int, body_file: Path, connections: int, duration: float, close: bool = False) -> dict[str, float]:
    env = dict(os.environ, BODY_FILE=str(body_file), CLOSE="1" if close else "0")
    # The query is what the apiserver sends on every call (the webhook's timeoutSeconds as a Go duration).
    argv = [*_pin(1), "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "-s",
            str(ROOT / "bench/post.lua"), f"https://127.0.0.1:{port}/mutate?timeout=10s"]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    requests, socket_errors, status_errors, duration_us, p50_us, p99_us = (float(v) for v in line.split()[1:])
    return {
        "requests": requests,
        "errors": socket_errors + status_errors,
        "seconds": duration_us / 1e6,
        "p50_ms": p50_us / 1000,
        "p99_ms": p99_us / 1000,
    }


class InstructionCounter:
    """``perf stat -e instructions`` attached to a process while a load row runs; counts nothing (None)
    where perf is missing or not allowed to count (``kernel.perf_event_paranoid``, containers)."""

    def __init__(self, pid: int) -> None:
        self.output = Path(tempfile.mkstemp(prefix="stsmesh-perf-")[1])
        self.process: subprocess.Popen[bytes] | None = None
        if shutil.which("perf"):
            argv = ["perf", "stat", "-e", "instructions", "-x", ",", "-o", str(self.output), "-p", str(pid)]
            self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.1)  # attached before the load starts

    def stop(self) -> float | None:
        """Instructions counted since the start, or None."""
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=10)
        text = self.output.read_text(errors="replace")
        self.output.unlink(missing_ok=True)
        for line in text.splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[2].startswith("instructions") and fields[0].isdigit():
                return float(fields[0])
        return None


def load_row(server: Server, body: str, body_file: Path, connections: int, duration: float, close: bool) -> Row:
    before = _cpu_ticks(server.pid)
    counter = InstructionCounter(server.pid)
    result = wrk(server.port, body_file, connections, duration, close)
    instructions = counter.stop()
    cpu_s = (_cpu_ticks(server.pid) - before) / TICKS
    requests = max(result["requests"], 1)
    return Row(
        server=server.name,
        body=body,
        connections=connections,
        mode="new-connection" if close else "keep-alive",
        requests_per_s=round(result["requests"] / result["seconds"], 1),
        p50_ms=round(result["p50_ms"], 3),
        p99_ms=round(result["p99_ms"], 3),
        cpu_us_per_request=round(cpu_s / requests * 1e6, 1),
        errors=int(result["errors"]),
        kinstructions_per_request=round(instructions / requests / 1000, 1) if instructions else None,
    )


def median_row(runs: list[Row]) -> Row:
    """One row from repeated runs: the median of each figure, errors summed."""
    first = runs[0]
    return Row(
        server=first.server,
        body=first.body,
        connections=first.connections,
        mode=first.mode,
        requests_per_s=round(statistics.median(r.requests_per_s for r in runs), 1),
        p50_ms=round(statistics.median(r.p50_ms for r in runs), 3),
        p99_ms=round(statistics.median(r.p99_ms for r in runs), 3),
        cpu_us_per_request=round(statistics.median(r.cpu_us_per_request for r in runs), 1),
        errors=sum(r.errors for r in runs),
        kinstructions_per_request=_median_or_none([r.kinstructions_per_request for r in runs]),
        runs=len(runs),
    )


def pair_ratios(row: Row, ours: list[Row], baseline: list[Row]) -> None:
    """Set ``row``'s ratios to the baseline: the medians over the back-to-back pairs (``ours[i]`` ran
    next to ``baseline[i]``), so a drift in the machine's speed between pairs cancels out."""
    pairs = list(zip(ours, baseline, strict=True))
    row.ratio_to_baseline = _median_ratio([(o.requests_per_s, b.requests_per_s) for o, b in pairs])
    row.p99_ratio_to_baseline = _median_ratio([(o.p99_ms, b.p99_ms) for o, b in pairs])


PEERS = ("aiohttp-json", "fastapi", "go")


def peer_ratios(ours: list[Row], peer: list[Row], body: str, connections: int, close: bool) -> dict[str, Any]:
    """stsmesh (as deployed) against a peer in one row: medians of the back-to-back rounds' ratios
    of requests/s and of CPU per request."""
    pairs = list(zip(ours, peer, strict=True))
    return {
        "peer": peer[0].server, "body": body, "connections": connections, "mode": "close" if close else "keep-alive",
        "requests_ratio": _median_ratio([(o.requests_per_s, p.requests_per_s) for o, p in pairs]),
        "cpu_ratio": _median_ratio([(o.cpu_us_per_request, p.cpu_us_per_request) for o, p in pairs]),
    }  # fmt: skip


def _median_ratio(pairs: list[tuple[float, float]]) -> float | None:
    """None when the baseline measured nothing (no requests answered) in every pair."""
    ratios = [ours / base for ours, base in pairs if base > 0]
    return round(statistics.median(ratios), 2) if ratios else None


def _median_or_none(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 1) if known else None


def micro(tree: Path, seconds: float = 1.0) -> list[dict[str, Any]]:
    """review() in-process, in the measured build's tree (bench/micro.py)."""
    out = subprocess.run(
        [*_pin(0), sys.executable, "-m", "bench.micro", str(seconds)],
        cwd=tree, capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows: list[dict[str, Any]] = json.loads(out.stdout)
    return rows


def compiled_tree() -> Path:
    """The mypyc build, made fresh by scripts/compiled.sh outside the repo."""
    done = subprocess.run([str(ROOT / "scripts/compiled.sh"), "build"], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"could not build the compiled tree:\n{done.stderr}")
    return Path(done.stdout.strip().splitlines()[-1])


ServerCommand = Callable[[int], list[str]]
"""The argv that starts a server on a port."""


def prepare_workdir(now: dt.datetime) -> tuple[Path, dict[str, Path]]:
    """A scratch directory with a CA, a serving certificate for 127.0.0.1 and every review body as
    a file; returns it and the body files by name."""
    workdir = Path(tempfile.mkdtemp(prefix="stsmesh-bench-"))
    ca = certs.make_ca(now)
    leaf = certs.make_serving_cert(ca, now, ["localhost"], ["127.0.0.1"])
    (workdir / "ca.crt").write_bytes(ca.cert)
    (workdir / "tls.crt").write_bytes(leaf.cert)
    (workdir / "tls.key").write_bytes(leaf.key)
    files = {}
    for name, review_body in bodies().items():
        files[name] = workdir / f"{name}.json"
        files[name].write_bytes(orjson.dumps(review_body))
    return workdir, files


DEPLOYMENT = ROOT / "deploy/base/deployment.yaml"


def deployed_args(workdir: Path) -> list[str]:
    """The ``stsmesh serve`` arguments of deploy/base's Deployment, its certificate paths pointed at
    the bench's (tests/unit/test_bench_baseline.py keeps them in step)."""
    deployment = yaml.safe_load(DEPLOYMENT.read_text())
    (container,) = (c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "stsmesh")
    where = {"/etc/stsmesh/tls/tls.crt": str(workdir / "tls.crt"), "/etc/stsmesh/tls/tls.key": str(workdir / "tls.key")}
    args = []
    for arg in container["args"]:
        flag, equals, value = arg.partition("=")
        args.append(f"{flag}={where.get(value, value)}" if equals else arg)
    return args


BENCH_ONLY = ["--mesh", "istio", "--mesh-version", "1.9"]
"""What the bench adds to a deployment's arguments: the mesh its review bodies do not carry (a
cluster's namespaces would say it)."""


PEERS_DIR = Path(os.environ.get("STSMESH_BENCH_PEERS", Path.home() / ".cache/stsmesh/bench"))
"""Where bench/setup.sh builds the Go peer."""


def server_commands(tree: Path, workdir: Path, peers: bool = False) -> dict[str, tuple[Path, ServerCommand]]:
    """stsmesh as deployed (deploy/base's arguments: JSON lines at INFO, metrics on), stsmesh with
    the command's defaults (text lines at INFO), the baseline, and (``peers``) the webhooks people
    write by hand (bench/peers: aiohttp with the json module, FastAPI + uvicorn, Go net/http), each
    as (working directory, argv for a port). Every server writes its log to a file, as a kubelet does."""
    serve = [sys.executable, "-m", "webhook", "serve", "--host", "127.0.0.1"]
    pair = [str(workdir / "tls.crt"), str(workdir / "tls.key")]
    certs_given = ["--cert-file", pair[0], "--key-file", pair[1]]
    commands: dict[str, tuple[Path, ServerCommand]] = {
        "stsmesh": (tree, lambda port: [*serve, "--port", str(port), *deployed_args(workdir), *BENCH_ONLY]),
        "stsmesh-text": (tree, lambda port: [*serve, "--port", str(port), *certs_given, *BENCH_ONLY]),
        "baseline": (ROOT, lambda port: [sys.executable, str(ROOT / "bench/baseline_server.py"), str(port), *pair]),
    }
    if peers:
        commands["aiohttp-json"] = (ROOT, lambda port: [sys.executable, "-m", "bench.peers.aiohttp_stdlib",
                                                        str(port), *pair])  # fmt: skip
        commands["fastapi"] = (
            ROOT,
            lambda port: [sys.executable, "-m", "bench.peers.fastapi_webhook", str(port), *pair],
        )
        commands["go"] = (ROOT, lambda port: [str(PEERS_DIR / "webhook-go"), str(port), *pair])
    return commands


def missing_peers() -> list[str]:
    """What bench/setup.sh has not installed yet."""
    missing = []
    for module in ("fastapi", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if not (PEERS_DIR / "webhook-go").exists():
        missing.append(str(PEERS_DIR / "webhook-go"))
    return missing


def table(rows: list[Row]) -> str:
    head = (
        f"{'server':<13}{'body':<22}{'conn':>5} {'mode':<15}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'CPU µs/req':>11}{'kinstr/req':>11}{'err':>5}{'×base':>7}{'p99×base':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        ratio = f"{r.ratio_to_baseline:.2f}" if r.ratio_to_baseline is not None else ""
        p99_ratio = f"{r.p99_ratio_to_baseline:.2f}" if r.p99_ratio_to_baseline is not None else ""
        kinstr = f"{r.kinstructions_per_request:.0f}" if r.kinstructions_per_request is not None else "-"
        lines.append(
            f"{r.server:<13}{r.body:<22}{r.connections:>5} {r.mode:<15}{r.requests_per_s:>9.0f}{r.p50_ms:>9.2f}"
            f"{r.p99_ms:>9.2f}{r.cpu_us_per_request:>11.0f}{kinstr:>11}{r.errors:>5}{ratio:>7}{p99_ratio:>9}"
        )
    return "\n".join(lines)


def targets(
    rows: list[Row], extra: dict[str, dict[str, Any]], micro_rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Issue #4's targets, each with the measured figure and whether it is met."""
    ours = {(r.body, r.connections, r.mode): r for r in rows if r.server == "stsmesh"}
    base = {(r.body, r.connections, r.mode): r for r in rows if r.server == "baseline"}
    keep = [k for k in ours if k[2] == "keep-alive" and k in base]
    out: list[dict[str, Any]] = []

    def check(name: str, measured: str, met: bool) -> None:
        out.append({"target": name, "measured": measured, "met": met})

    if keep:
        worst = min(keep, key=lambda k: ours[k].ratio_to_baseline or 0)
        check("requests/s ≥ 0.5× baseline, every body and concurrency",
              f"lowest {ours[worst].ratio_to_baseline:.2f} ({worst[0]}, {worst[1]} conn)",
              all((ours[k].ratio_to_baseline or 0) >= 0.5 for k in keep))  # fmt: skip
    # The p99 target is for pods of ordinary size (the reference's T2: typical pod); the 19 KB and
    # 64 KB bodies have targets of their own, and the baseline itself passes 5 ms on them.
    at8 = [k for k in keep if k[1] == 8 and k[0] in ORDINARY_BODIES]
    if at8:
        worst = max(at8, key=lambda k: ours[k].p99_ms)
        check("p99 ≤ 5 ms at 8 connections, pods up to 8.5 KB", f"highest {ours[worst].p99_ms:.2f} ms ({worst[0]})",
              all(ours[k].p99_ms <= 5 for k in at8))  # fmt: skip
    at64 = [k for k in keep if k[1] == 64]
    if at64:
        ratio = {k: ours[k].p99_ratio_to_baseline or float("inf") for k in at64}
        worst = max(at64, key=lambda k: ratio[k])
        check("p99 at 64 connections ≤ 1.5× the baseline's", f"highest {ratio[worst]:.2f}× ({worst[0]})",
              all(v <= 1.5 for v in ratio.values()))  # fmt: skip
    big = ours.get(("1000-env", 8, "keep-alive"))
    if big:
        check("64 KB pod p50 ≤ 5 ms at 8 connections", f"{big.p50_ms:.2f} ms", big.p50_ms <= 5)
    patches = {(m["patch_ops"], m["patch_bytes"]) for m in micro_rows if m["body"] in ("typical", "1000-env")}
    sizes = ", ".join(f"{m['body']} {m['patch_ops']} ops/{m['patch_bytes']} B" for m in micro_rows)
    check("patch size independent of pod size", sizes, len(patches) == 1)
    cold = extra["stsmesh"]["cold_start_s"]
    check("cold start ≤ 1 s", f"{cold * 1000:.0f} ms", cold <= 1)
    steady = extra["stsmesh"].get("rss_steady_mib")
    if steady is not None:
        check("steady RSS ≤ 64 MiB (after the typical-pod rows)", f"{steady} MiB", steady <= 64)
    return out


def peer_targets(versus: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue #18's targets against the peers, on the typical and the Bitnami-sized review at 8 and
    64 connections, kept alive."""
    scope = [v for v in versus if v["mode"] == "keep-alive" and v["connections"] in (8, 64)
             and v["body"] in ("typical", "bitnami-managedFields")]  # fmt: skip
    out = []
    for peer, floor, what in (("aiohttp-json", 1.0, "requests/s"), ("fastapi", 1.5, "requests/s")):
        rows = [v for v in scope if v["peer"] == peer and v["requests_ratio"] is not None]
        if rows:
            low = min(rows, key=lambda v: v["requests_ratio"])
            out.append({"target": f"as deployed: {what} ≥ {floor}× {peer}'s",
                        "measured": f"lowest {low['requests_ratio']:.2f}× ({low['body']}, {low['connections']} conn)",
                        "met": low["requests_ratio"] >= floor})  # fmt: skip
    rows = [v for v in scope if v["peer"] == "aiohttp-json" and v["cpu_ratio"] is not None]
    if rows:
        high = max(rows, key=lambda v: v["cpu_ratio"])
        out.append({"target": "as deployed: CPU per request ≤ 1.1× aiohttp-json's",
                    "measured": f"highest {high['cpu_ratio']:.2f}× ({high['body']}, {high['connections']} conn)",
                    "met": high["cpu_ratio"] <= 1.1})  # fmt: skip
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load row (default 5)")
    parser.add_argument(
        "--repeat", type=int, default=5, help="back-to-back pairs per row; medians are shown (default 5)"
    )
    parser.add_argument("--quick", action="store_true", help="typical body only, concurrency 8 (smoke run)")
    parser.add_argument(
        "--build",
        choices=("compiled", "pure"),
        default="compiled",
        help="stsmesh as the image ships it (compiled, default) or the source tree as plain Python",
    )
    parser.add_argument(
        "--bodies", default="", metavar="NAME,...", help="only these review bodies (default: all; see bench/reviews.py)"
    )
    parser.add_argument("--connections", default="", metavar="N,...", help="only these concurrencies (default 1,8,64)")
    parser.add_argument("--no-peers", action="store_true", help="leave out the hand-written peers (bench/peers)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: run `bash bench/setup.sh` first", file=sys.stderr)
        return 2
    if not args.no_peers and missing_peers():
        print(f"peers missing ({', '.join(missing_peers())}): run `bash bench/setup.sh`, or pass --no-peers",
              file=sys.stderr)  # fmt: skip
        return 2

    tree = compiled_tree() if args.build == "compiled" else ROOT
    now = dt.datetime.now(dt.UTC)
    workdir, files = prepare_workdir(now)
    servers = server_commands(tree, workdir, peers=not args.no_peers)
    body_names = ["typical"] if args.quick else list(files)
    concurrencies = [8] if args.quick else [1, 8, 64]
    if args.bodies:
        body_names = [b for b in args.bodies.split(",") if b]
        unknown = set(body_names) - set(files)
        if unknown:
            print(f"unknown bodies {sorted(unknown)}: choose from {', '.join(files)}", file=sys.stderr)
            return 2
    if args.connections:
        concurrencies = [int(c) for c in args.connections.split(",") if c]
    repeat = max(1, args.repeat)
    rows: list[Row] = []
    raw_rows: list[Row] = []
    versus: list[dict[str, Any]] = []
    extra: dict[str, dict[str, Any]] = {}
    running: dict[str, Server] = {}
    try:
        for server_name, (cwd, argv) in servers.items():
            port = _free_port()
            running[server_name] = Server(server_name, argv(port), port, workdir / "ca.crt", cwd)
            running[server_name].start(files["typical"].read_bytes())
            extra[server_name] = {
                "cold_start_s": round(running[server_name].cold_start_s, 3),
                "rss_idle_mib": round(_memory_kib(running[server_name].pid, "VmRSS") / 1024, 1),
            }
        # Typical pods first, so RSS after them is the steady figure; then the larger bodies.
        plan = [(body, connections, False) for body in body_names for connections in concurrencies]
        plan.append(("typical", 8, True))
        plan.sort(key=lambda item: item[0] != "typical")
        for index, (body, connections, close) in enumerate(plan):
            if index > 0 and plan[index - 1][0] == "typical" and body != "typical":
                time.sleep(SETTLE_SECONDS)
                for name, server in running.items():
                    extra[name]["rss_steady_mib"] = round(_memory_kib(server.pid, "VmRSS") / 1024, 1)
            runs: dict[str, list[Row]] = {name: [] for name in running}
            for attempt in range(repeat):
                # Both servers back to back, the order alternating: drift in the machine's speed (a
                # shared VM) hits both sides of a ratio alike.
                order = list(running.values()) if attempt % 2 == 0 else list(reversed(running.values()))
                for server in order:
                    row = load_row(server, body, files[body], connections, args.duration, close=close)
                    runs[server.name].append(row)
                    raw_rows.append(row)
            medians = {name: median_row(r) for name, r in runs.items()}
            for name in (n for n in runs if n != "baseline" and "baseline" in runs):
                pair_ratios(medians[name], runs[name], runs["baseline"])
            for peer in (n for n in runs if n in PEERS):
                versus.append(peer_ratios(runs["stsmesh"], runs[peer], body, connections, close))
            rows.extend(medians.values())
        time.sleep(SETTLE_SECONDS)
        for name, server in running.items():
            extra[name].setdefault("rss_steady_mib", round(_memory_kib(server.pid, "VmRSS") / 1024, 1))
            extra[name]["rss_after_load_mib"] = round(_memory_kib(server.pid, "VmRSS") / 1024, 1)
            extra[name]["rss_peak_mib"] = round(_memory_kib(server.pid, "VmHWM") / 1024, 1)
    finally:
        for server in running.values():
            server.stop()
    micro_rows = micro(tree)
    checks = targets(rows, extra, micro_rows) + peer_targets(versus)

    print(f"stsmesh build: {args.build}; {args.duration:g} s per row, medians of {repeat} back-to-back pair(s)\n")
    print(table(sorted(rows, key=lambda r: (r.body, r.mode, r.connections, r.server != "stsmesh"))))
    print()
    for name, figures in extra.items():
        print(f"{name}: cold start {figures['cold_start_s'] * 1000:.0f} ms, RSS idle {figures['rss_idle_mib']} MiB, "
              f"steady {figures['rss_steady_mib']} MiB, after all rows {figures['rss_after_load_mib']} MiB, "
              f"peak {figures['rss_peak_mib']} MiB")  # fmt: skip
    print()
    print(f"{'review() in-process':<24}{'bytes':>8}{'reviews/s':>11}{'µs':>8}{'patch ops':>10}{'patch bytes':>12}")
    for m in micro_rows:
        print(f"{m['body']:<24}{m['body_bytes']:>8}{m['reviews_per_s']:>11}{m['us_per_review']:>8}"
              f"{m['patch_ops']:>10}{m['patch_bytes']:>12}")  # fmt: skip
    print()
    if versus:
        print(f"{'stsmesh as deployed vs':<24}{'body':<22}{'conn':>5} {'mode':<15}{'req/s ×':>9}{'CPU/req ×':>11}")
        for v in versus:
            print(f"{v['peer']:<24}{v['body']:<22}{v['connections']:>5} {v['mode']:<15}"
                  f"{v['requests_ratio'] or 0:>9.2f}{v['cpu_ratio'] or 0:>11.2f}")  # fmt: skip
        print()
    for c in checks:
        print(f"{'met ' if c['met'] else 'MISS'}  {c['target']}: {c['measured']}")

    results = ROOT / "bench/results"
    results.mkdir(exist_ok=True)
    out = results / f"{now:%Y%m%dT%H%M%SZ}.json"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    out.write_text(json.dumps({
        "when": now.isoformat(), "commit": commit, "build": args.build,
        "machine": {"cpus": CPUS, "python": platform.python_version()},
        "duration_s": args.duration, "repeat": repeat, "load": [asdict(r) for r in rows],
        "load_runs": [asdict(r) for r in raw_rows], "processes": extra, "review": micro_rows, "targets": checks,
        "peers": versus,
    }, indent=2))  # fmt: skip
    print(f"\nwritten {out.relative_to(ROOT)}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
