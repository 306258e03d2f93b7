"""What a piece of work costs inside a loaded server, where caches are cold, rather than in a loop.

    bash bench/setup.sh && .venv/bin/python -m bench.ablation [--body typical] [--connections 64]

Runs, back to back in each round, the baseline, the baseline with extra work in its handler
(``bench/baseline_server.py`` EXTRA: ``review``, ``review-twice``, ``parse-twice``) and stsmesh,
under the same wrk load as ``bench.run``; the core is the compiled build. Prints each server's
median CPU per request and ratios to the baseline in its round, then the derived costs:

* ``review()`` in a request: ``review`` minus the baseline;
* a second ``review()`` in the same request: ``review-twice`` minus ``parse-twice`` (the second
  parse is in both, so only the review's own cost is left);
* stsmesh's handler around the core: ``stsmesh`` minus ``review``.

When the second review costs much less than the first, the first pays for fetching its code and
data from memory: see "Where the time goes" in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
from pathlib import Path

from bench.run import (
    ROOT,
    Server,
    ServerCommand,
    _free_port,
    compiled_tree,
    load_row,
    prepare_workdir,
    server_commands,
    wrk,
)

VARIANTS = ("review", "review-twice", "parse-twice")
WARM_UP_SECONDS = 1


def baseline_with(extra: str, workdir: Path) -> ServerCommand:
    return lambda port: [sys.executable, str(ROOT / "bench/baseline_server.py"), str(port),
                         str(workdir / "tls.crt"), str(workdir / "tls.key"), extra]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--body", default="typical", help="review body from bench/reviews.py (default typical)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    parser.add_argument("--seconds", type=float, default=4.0, help="measured window per server (default 4)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every server (default 5)")
    args = parser.parse_args()
    tree = compiled_tree()
    os.environ["PYTHONPATH"] = str(tree)  # the extra work runs the compiled core, as stsmesh does
    workdir, files = prepare_workdir(dt.datetime.now(dt.UTC))
    if args.body not in files:
        print(f"unknown body {args.body!r}; choose one of {', '.join(files)}", file=sys.stderr)
        return 2
    commands = server_commands(tree, workdir)
    servers: dict[str, tuple[Path, ServerCommand]] = {"baseline": commands["baseline"]}
    servers.update({extra: (ROOT, baseline_with(extra, workdir)) for extra in VARIANTS})
    servers["stsmesh"] = commands["stsmesh"]
    cpu: dict[str, list[float]] = {name: [] for name in servers}
    ratios: dict[str, list[float]] = {name: [] for name in servers}
    for round_number in range(args.rounds):
        throughput: dict[str, float] = {}
        for name, (cwd, argv) in servers.items():
            port = _free_port()
            server = Server(name, argv(port), port, workdir / "ca.crt", cwd)
            server.start(files[args.body].read_bytes())
            try:
                wrk(server.port, files[args.body], args.connections, WARM_UP_SECONDS)
                row = load_row(server, args.body, files[args.body], args.connections, args.seconds, close=False)
            finally:
                server.stop()
            cpu[name].append(row.cpu_us_per_request)
            throughput[name] = row.requests_per_s
        for name in servers:
            ratios[name].append(throughput[name] / throughput["baseline"])
        print(f"round {round_number + 1}: " + ", ".join(f"{n} {cpu[n][-1]:.0f} µs" for n in servers), flush=True)
    median = {name: statistics.median(values) for name, values in cpu.items()}
    print(f"\n{args.body}, {args.connections} connections, medians of {args.rounds} rounds")
    for name in servers:
        ratio = statistics.median(ratios[name])
        print(f"{name:<14} CPU {median[name]:6.0f} µs/request   requests/s {ratio:.2f}x baseline")
    print(f"\nreview() in a request:          {median['review'] - median['baseline']:6.0f} µs")
    print(f"a second review() in it:        {median['review-twice'] - median['parse-twice']:6.0f} µs")
    print(f"stsmesh's handler around it:    {median['stsmesh'] - median['review']:6.0f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
