"""Instructions per request for stsmesh and the baseline, counted by valgrind (callgrind).

    bash bench/setup.sh && .venv/bin/python -m bench.instructions [--body typical] [--seconds 10]

Each server runs under ``valgrind --tool=callgrind`` with counting off; after a warm-up, counting
is switched on (``callgrind_control -i on``) for a wrk window of 8 kept-alive connections, then
off, and the count is divided by the requests answered in that window. TLS handshakes are taken
out first (the inclusive cost of OpenSSL's ``SSL_do_handshake``, read with ``callgrind_annotate``):
wrk opens its connections at the start of the window, about 2.7M instructions each, a cost per
connection rather than per request, which would otherwise weigh more on the slower server's figure
(fewer requests share it). Unlike CPU time, the count
does not move when a shared VM's speed drifts, and unlike ``perf stat`` it needs no hardware
counters (many VMs expose none). It counts work, not time: cache misses and a lower IPC make the
time ratio larger than the instruction ratio on some machines (see bench/RESULTS.md).

Prints one line per server and the ratio; ``--json`` prints the figures as JSON instead. With
``--keep DIR`` callgrind's files stay in DIR, to see where the instructions go:
``callgrind_annotate --inclusive=yes DIR/callgrind.stsmesh.out``.

``--cache-sim`` also simulates the caches (32 KiB L1i and L1d, and a last level of ``--ll-kib``,
default 1024: one core's L2 on the benchmark VM) and prints misses per request: the instructions
that wait on memory, which is where the time/instruction gap shows (see bench/RESULTS.md). The simulated
process has the caches to itself, so real misses, with neighbours on the machine, are no fewer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from bench.run import ROOT, Server, ServerCommand, _free_port, compiled_tree, prepare_workdir, server_commands, wrk

WARM_UP_SECONDS = 3
HANDSHAKE = "SSL_do_handshake"
"""OpenSSL's handshake, whose cost is per connection (see the module docstring)."""
CONNECTIONS = 8


def count(
    name: str,
    argv: ServerCommand,
    cwd: Path,
    ca_file: Path,
    body_file: Path,
    seconds: float,
    out_dir: Path,
    ll_kib: int | None = None,
) -> dict[str, float]:
    """Instructions per request of one server under callgrind, over a ``seconds`` wrk window; with
    ``ll_kib``, also simulated cache misses per request (a last level of that many KiB)."""
    out_file = out_dir / f"callgrind.{name}.out"
    port = _free_port()
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_file}"]
    if ll_kib is not None:
        valgrind += ["--cache-sim=yes", "--I1=32768,8,64", "--D1=32768,8,64", f"--LL={ll_kib * 1024},16,64"]
    server = Server(name, [*valgrind, *argv(port)], port, ca_file, cwd)
    server.start(body_file.read_bytes())
    try:
        wrk(port, body_file, CONNECTIONS, WARM_UP_SECONDS)
        _control("-i", "on", server.pid)
        result = wrk(port, body_file, CONNECTIONS, seconds)
        _control("-i", "off", server.pid)
    finally:
        server.stop()  # callgrind writes the counts when the process exits
    totals = _totals(out_file)
    handshakes = _inclusive(out_file, HANDSHAKE, list(totals))
    totals = {event: count - handshakes.get(event, 0) for event, count in totals.items()}
    requests = max(result["requests"], 1)
    figures = {
        "requests": result["requests"],
        "instructions": totals["Ir"],
        "handshake_instructions": handshakes.get("Ir", 0),
        "kinstructions_per_request": round(totals["Ir"] / requests / 1000, 1),
    }
    if ll_kib is not None:
        figures["l1_misses_per_request"] = round(sum(totals[e] for e in ("I1mr", "D1mr", "D1mw")) / requests)
        figures["ll_code_misses_per_request"] = round(totals["ILmr"] / requests)
        figures["ll_data_misses_per_request"] = round((totals["DLmr"] + totals["DLmw"]) / requests)
    return figures


def _control(flag: str, value: str, pid: int) -> None:
    subprocess.run(["callgrind_control", flag, value, str(pid)], capture_output=True, check=True)


def _inclusive(out_file: Path, function: str, events: list[str]) -> dict[str, int]:
    """Each event's inclusive count in ``function`` (summed over its entries), from
    ``callgrind_annotate``; empty when it never ran in the counted window."""
    listing = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--tree=none", "--auto=no", "--threshold=100",
         f"--show={','.join(events)}", str(out_file)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return inclusive_counts(listing, function, events)


def inclusive_counts(listing: str, function: str, events: list[str]) -> dict[str, int]:
    """The counts on ``callgrind_annotate`` lines for ``function`` (``file:function [object]``)."""
    number = r"([\d,]+)(?: \([^)]*\))?\s+"
    line_pattern = re.compile(rf"^\s*{number * len(events)}\S*:{re.escape(function)}(?:'\d+)?(?: \[|$)")
    found: dict[str, int] = {}
    for line in listing.splitlines():
        match = line_pattern.match(line)
        if match:
            for event, value in zip(events, match.groups(), strict=True):
                found[event] = found.get(event, 0) + int(value.replace(",", ""))
    return found


def _totals(out_file: Path) -> dict[str, int]:
    """Each event's total, from the ``events:`` and ``totals:`` lines callgrind writes."""
    lines = out_file.read_text().splitlines()
    events = next((line.split()[1:] for line in lines if line.startswith("events:")), ["Ir"])
    for line in reversed(lines):
        if line.startswith(("totals:", "summary:")):
            return dict(zip(events, (int(v) for v in line.split()[1:]), strict=False))
    raise SystemExit(f"no totals in {out_file}: did callgrind run?")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--body", default="typical", help="review body from bench/reviews.py (default typical)")
    parser.add_argument("--seconds", type=float, default=10.0, help="counted wrk window per server (default 10)")
    parser.add_argument("--build", choices=("compiled", "pure"), default="compiled", help="stsmesh build to count")
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    parser.add_argument("--keep", type=Path, help="keep callgrind's output files in this directory")
    parser.add_argument("--cache-sim", action="store_true", help="also count simulated cache misses per request")
    parser.add_argument("--ll-kib", type=int, default=1024, help="simulated last-level cache, KiB (default 1024)")
    args = parser.parse_args()
    for tool in ("valgrind", "callgrind_control", "wrk"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed: run `bash bench/setup.sh` first", file=sys.stderr)
            return 2
    tree = compiled_tree() if args.build == "compiled" else ROOT
    workdir, files = prepare_workdir(dt.datetime.now(dt.UTC))
    if args.body not in files:
        print(f"unknown body {args.body!r}; choose one of {', '.join(files)}", file=sys.stderr)
        return 2
    out_dir = args.keep or workdir
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        ll_kib = args.ll_kib if args.cache_sim else None
        figures = {
            name: count(name, argv, cwd, workdir / "ca.crt", files[args.body], args.seconds, out_dir, ll_kib)
            for name, (cwd, argv) in server_commands(tree, workdir).items()
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ratio = figures["stsmesh"]["kinstructions_per_request"] / figures["baseline"]["kinstructions_per_request"]
    if args.json:
        print(json.dumps({"body": args.body, "build": args.build, "servers": figures, "ratio": round(ratio, 2)}))
        return 0
    for name, figure in figures.items():
        misses = ""
        if args.cache_sim:
            code, data = figure["ll_code_misses_per_request"], figure["ll_data_misses_per_request"]
            misses = (f", misses/request: L1 {figure['l1_misses_per_request']:.0f}, "
                      f"{args.ll_kib} KiB last level {code:.0f} code + {data:.0f} data")  # fmt: skip
        print(f"{name:<9} {args.body}: {figure['kinstructions_per_request']:.0f}k instructions/request "
              f"({figure['requests']:.0f} requests counted){misses}")  # fmt: skip
    print(f"ratio stsmesh/baseline: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
