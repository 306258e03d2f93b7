"""Instructions per request for stsmesh and the baseline, counted by valgrind (callgrind).

    bash bench/setup.sh && .venv/bin/python -m bench.instructions [--body typical] [--seconds 10]

Each server runs under ``valgrind --tool=callgrind`` with counting off; after a warm-up, counting
is switched on (``callgrind_control -i on``) for a wrk window of 8 kept-alive connections, then
off, and the count is divided by the requests answered in that window. Unlike CPU time, the count
does not move when a shared VM's speed drifts, and unlike ``perf stat`` it needs no hardware
counters (many VMs expose none). It counts work, not time: cache misses and a lower IPC make the
time ratio larger than the instruction ratio on some machines (see the README).

Prints one line per server and the ratio; ``--json`` prints the figures as JSON instead. With
``--keep DIR`` callgrind's files stay in DIR, to see where the instructions go:
``callgrind_annotate --inclusive=yes DIR/callgrind.stsmesh.out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

from bench.run import ROOT, Server, ServerCommand, _free_port, compiled_tree, prepare_workdir, server_commands, wrk

WARM_UP_SECONDS = 3
CONNECTIONS = 8


def count(
    name: str, argv: ServerCommand, cwd: Path, ca_file: Path, body_file: Path, seconds: float, out_dir: Path
) -> dict[str, float]:
    """Instructions per request of one server under callgrind, over a ``seconds`` wrk window."""
    out_file = out_dir / f"callgrind.{name}.out"
    port = _free_port()
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_file}"]
    server = Server(name, [*valgrind, *argv(port)], port, ca_file, cwd)
    server.start(body_file.read_bytes())
    try:
        wrk(port, body_file, CONNECTIONS, WARM_UP_SECONDS)
        _control("-i", "on", server.pid)
        result = wrk(port, body_file, CONNECTIONS, seconds)
        _control("-i", "off", server.pid)
    finally:
        server.stop()  # callgrind writes the counts when the process exits
    instructions = _total_instructions(out_file)
    return {
        "requests": result["requests"],
        "instructions": instructions,
        "kinstructions_per_request": round(instructions / max(result["requests"], 1) / 1000, 1),
    }


def _control(flag: str, value: str, pid: int) -> None:
    subprocess.run(["callgrind_control", flag, value, str(pid)], capture_output=True, check=True)


def _total_instructions(out_file: Path) -> int:
    """The ``totals:`` line callgrind writes at the end of its output file."""
    for line in reversed(out_file.read_text().splitlines()):
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {out_file}: did callgrind run?")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--body", default="typical", help="review body from bench/reviews.py (default typical)")
    parser.add_argument("--seconds", type=float, default=10.0, help="counted wrk window per server (default 10)")
    parser.add_argument("--build", choices=("compiled", "pure"), default="compiled", help="stsmesh build to count")
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    parser.add_argument("--keep", type=Path, help="keep callgrind's output files in this directory")
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
        figures = {
            name: count(name, argv, cwd, workdir / "ca.crt", files[args.body], args.seconds, out_dir)
            for name, (cwd, argv) in server_commands(tree, workdir).items()
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ratio = figures["stsmesh"]["kinstructions_per_request"] / figures["baseline"]["kinstructions_per_request"]
    if args.json:
        print(json.dumps({"body": args.body, "build": args.build, "servers": figures, "ratio": round(ratio, 2)}))
        return 0
    for name, figure in figures.items():
        print(f"{name:<9} {args.body}: {figure['kinstructions_per_request']:.0f}k instructions/request "
              f"({figure['requests']:.0f} requests counted)")  # fmt: skip
    print(f"ratio stsmesh/baseline: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
