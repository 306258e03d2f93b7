"""stsmesh benchmark: one command, a table of figures, and the same figures as JSON.

    bash bench/setup.sh && .venv/bin/python -m bench.run [--duration 5] [--quick]

What it measures, on this machine, in one run:

* ``stsmesh serve`` and a minimal aiohttp webhook (bench/baseline_server.py, same TLS) each pinned
  to CPU 0, loaded by wrk pinned to CPU 1 over kept-alive TLS connections, for every review body
  (bench/reviews.py) at concurrency 1, 8 and 64: requests/s, p50/p99 latency, server CPU µs per
  request (from /proc/<pid>/stat), errors, and the ratio of stsmesh to the baseline;
* new TLS connections per second (``Connection: close``), cold start (process start → first 200
  over TLS), peak and steady RSS (/proc/<pid>/status VmHWM/VmRSS);
* the pure ``review()`` path in-process (reviews/s, no TLS), and patch length per pod size.

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
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.reviews import bodies
from webhook import certs
from webhook.admission import review
from webhook.mesh import MeshHint
from webhook.review import decode_patch
from webhook.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
CPUS = os.cpu_count() or 1


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
    ratio_to_baseline: float | None = None


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
    def __init__(self, name: str, argv: list[str], port: int, ca_file: Path) -> None:
        self.name, self.argv, self.port, self.ca_file = name, argv, port, ca_file
        self.process: subprocess.Popen[bytes] | None = None
        self.cold_start_s = 0.0

    def start(self, body: bytes) -> None:
        started = time.perf_counter()
        self.process = subprocess.Popen([*_pin(0), *self.argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    argv = [*_pin(1), "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "-s",
            str(ROOT / "bench/post.lua"), f"https://127.0.0.1:{port}/mutate"]  # fmt: skip
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


def load_row(server: Server, body: str, body_file: Path, connections: int, duration: float, close: bool) -> Row:
    before = _cpu_ticks(server.pid)
    result = wrk(server.port, body_file, connections, duration, close)
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
    )


def micro(settings: Settings, seconds: float = 1.0) -> list[dict[str, Any]]:
    """review() alone: parse → decide → rules → response, from the raw bytes, per body."""
    out = []
    for name, body in bodies().items():
        raw = orjson.dumps(body)
        count = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            review(orjson.loads(raw), settings)
            count += 1
        elapsed = time.perf_counter() - started
        patch = decode_patch(review(orjson.loads(raw), settings).response)
        out.append(
            {
                "body": name,
                "body_bytes": len(raw),
                "reviews_per_s": round(count / elapsed),
                "us_per_review": round(elapsed / count * 1e6, 1),
                "patch_ops": len(patch),
                "patch_bytes": len(orjson.dumps(patch)),
            }
        )
    return out


def table(rows: list[Row]) -> str:
    head = (
        f"{'server':<9}{'body':<22}{'conn':>5} {'mode':<15}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'CPU µs/req':>11}{'err':>5}{'×base':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        ratio = f"{r.ratio_to_baseline:.2f}" if r.ratio_to_baseline is not None else ""
        lines.append(
            f"{r.server:<9}{r.body:<22}{r.connections:>5} {r.mode:<15}{r.requests_per_s:>9.0f}{r.p50_ms:>9.2f}"
            f"{r.p99_ms:>9.2f}{r.cpu_us_per_request:>11.0f}{r.errors:>5}{ratio:>7}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load row (default 5)")
    parser.add_argument("--quick", action="store_true", help="typical body only, concurrency 8 (smoke run)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: run `bash bench/setup.sh` first", file=sys.stderr)
        return 2

    settings = Settings(default_hint=MeshHint.parse("istio", "1.9"))
    workdir = Path(tempfile.mkdtemp(prefix="stsmesh-bench-"))
    now = dt.datetime.now(dt.UTC)
    ca = certs.make_ca(now)
    leaf = certs.make_serving_cert(ca, now, ["localhost"], ["127.0.0.1"])
    (workdir / "ca.crt").write_bytes(ca.cert)
    (workdir / "tls.crt").write_bytes(leaf.cert)
    (workdir / "tls.key").write_bytes(leaf.key)
    files = {}
    for name, body in bodies().items():
        files[name] = workdir / f"{name}.json"
        files[name].write_bytes(orjson.dumps(body))

    servers = {
        "stsmesh": lambda port: [sys.executable, "-m", "webhook", "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--cert-file", str(workdir / "tls.crt"), "--key-file", str(workdir / "tls.key"),
                                 "--mesh", "istio", "--mesh-version", "1.9", "--log-level", "WARNING"],
        "baseline": lambda port: [sys.executable, str(ROOT / "bench/baseline_server.py"), str(port),
                                  str(workdir / "tls.crt"), str(workdir / "tls.key")],
    }  # fmt: skip
    body_names = ["typical"] if args.quick else list(files)
    concurrencies = [8] if args.quick else [1, 8, 64]
    rows: list[Row] = []
    extra: dict[str, dict[str, Any]] = {}
    running: dict[str, Server] = {}
    try:
        for server_name, argv in servers.items():
            port = _free_port()
            running[server_name] = Server(server_name, argv(port), port, workdir / "ca.crt")
            running[server_name].start(files["typical"].read_bytes())
            extra[server_name] = {
                "cold_start_s": round(running[server_name].cold_start_s, 3),
                "rss_idle_mib": round(_memory_kib(running[server_name].pid, "VmRSS") / 1024, 1),
            }
        # Each row runs against both servers back to back, so drift in the machine's speed (a shared
        # VM) hits both sides of a ratio alike.
        plan = [(body, connections, False) for body in body_names for connections in concurrencies]
        plan.append(("typical", 8, True))
        for body, connections, close in plan:
            for server in running.values():
                rows.append(load_row(server, body, files[body], connections, args.duration, close=close))
        for name, server in running.items():
            extra[name]["rss_after_load_mib"] = round(_memory_kib(server.pid, "VmRSS") / 1024, 1)
            extra[name]["rss_peak_mib"] = round(_memory_kib(server.pid, "VmHWM") / 1024, 1)
    finally:
        for server in running.values():
            server.stop()
    baseline = {(r.body, r.connections, r.mode): r for r in rows if r.server == "baseline"}
    for r in rows:
        base = baseline.get((r.body, r.connections, r.mode))
        if r.server == "stsmesh" and base and base.requests_per_s:
            r.ratio_to_baseline = round(r.requests_per_s / base.requests_per_s, 2)
    micro_rows = micro(settings)

    print(table(sorted(rows, key=lambda r: (r.body, r.mode, r.connections, r.server != "stsmesh"))))
    print()
    for name, figures in extra.items():
        print(f"{name}: cold start {figures['cold_start_s'] * 1000:.0f} ms, RSS idle {figures['rss_idle_mib']} MiB, "
              f"after load {figures['rss_after_load_mib']} MiB, peak {figures['rss_peak_mib']} MiB")  # fmt: skip
    print()
    print(f"{'review() in-process':<24}{'bytes':>8}{'reviews/s':>11}{'µs':>8}{'patch ops':>10}{'patch bytes':>12}")
    for m in micro_rows:
        print(f"{m['body']:<24}{m['body_bytes']:>8}{m['reviews_per_s']:>11}{m['us_per_review']:>8}"
              f"{m['patch_ops']:>10}{m['patch_bytes']:>12}")  # fmt: skip

    results = ROOT / "bench/results"
    results.mkdir(exist_ok=True)
    out = results / f"{now:%Y%m%dT%H%M%SZ}.json"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    out.write_text(json.dumps({
        "when": now.isoformat(), "commit": commit, "machine": {"cpus": CPUS, "python": platform.python_version()},
        "duration_s": args.duration, "load": [asdict(r) for r in rows], "processes": extra, "review": micro_rows,
    }, indent=2))  # fmt: skip
    print(f"\nwritten {out.relative_to(ROOT)}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
