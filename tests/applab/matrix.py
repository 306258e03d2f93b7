"""The app-lab matrix: app × delivery × without / with stsmesh, each cell a fresh lab, its expected
verdict and a bounded wait. Run by tests/applab/test_applab.py; ``python -m tests.applab.matrix``
(scripts/app-lab.sh) runs it all and prints the table the README shows."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.applab.apps import APPS, Verdict, excluded_ports, forwarder_refusals, stsmesh_pods
from tests.applab.lab import Lab, leftovers, unavailable

FORM_TIMEOUT = 35.0
"""How long a cell that must form may take (ZooKeeper's worst seen here: 10 s with these ticks)."""
NO_FORM_WAIT = 20.0
"""How long a cell that must not form is watched (twice ZooKeeper's initLimit x tickTime and more)."""


@dataclass(frozen=True)
class Cell:
    app: str
    delivery: str
    stsmesh: bool
    expect_formed: bool

    @property
    def id(self) -> str:
        return f"{self.app}-{self.delivery}-{'with' if self.stsmesh else 'without'}-stsmesh"


# Under 127.0.0.1 delivery an app bound to the pod IP only cannot form without stsmesh; with it, or
# under pod-IP delivery, or with no mesh, it must.
CELLS = [
    Cell(app, delivery, stsmesh, not (delivery == "localhost" and not stsmesh))
    for app in ("zookeeper-bitnami", "zookeeper-tutorial", "etcd-pod-ip-flags")
    for delivery in ("localhost", "pod-ip", "none")
    for stsmesh in (False, True)
]
# Redis: Bitnami binds all interfaces, so it works everywhere with or without stsmesh (which adds
# nothing to its binding). Bound to 127.0.0.1 only (Debian's default), it works only where the proxy
# delivers to 127.0.0.1 — the Istio 1.10 blog's reverse case; no bind fix can widen a loopback
# choice, so stsmesh leaves it (and says so where the catalogue knows the setting).
DELIVERIES = ("localhost", "pod-ip", "none")
CELLS += [Cell("redis-bitnami", d, s, True) for d in DELIVERIES for s in (False, True)]
CELLS += [Cell("redis-loopback", d, s, d == "localhost") for d in DELIVERIES for s in (False, True)]


@dataclass
class Result:
    cell: Cell
    verdict: Verdict
    excluded: list[int]
    refusals: int
    seconds: float


def run_cell(cell: Cell, workdir: Path) -> Result:
    started = time.monotonic()
    app = APPS[cell.app]
    pods = stsmesh_pods(app.build, cell.delivery, cell.stsmesh)
    with Lab(workdir) as lab:
        excluded = excluded_ports(pods[0])
        for pod in lab.pods:
            lab.capture(pod, cell.delivery, excluded)
        verdict = app.run(lab, pods, FORM_TIMEOUT if cell.expect_formed else NO_FORM_WAIT)
        refusals = len(forwarder_refusals(lab))
    return Result(cell, verdict, excluded, refusals, time.monotonic() - started)


def main(argv: list[str]) -> int:
    reason = unavailable()
    if reason is not None:
        print(f"app-lab: {reason}; run it as root on a machine with network namespaces", file=sys.stderr)
        return 2
    left = leftovers()
    if left:
        print(f"app-lab: namespaces of an earlier run are left ({', '.join(left)}): scripts/app-lab.sh --clean",
              file=sys.stderr)  # fmt: skip
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="stsmesh-lab-") as tmp:
        for cell in CELLS:
            result = run_cell(cell, Path(tmp) / cell.id)
            results.append(result)
            mark = "forms" if result.verdict.formed else "does not form"
            print(f"{cell.id}: {mark} ({result.verdict.seconds:.1f} s)", file=sys.stderr)
    if argv and argv[0] == "--json":
        print(json.dumps([asdict(r) for r in results], indent=2, default=str))
        return 0
    print(table(results))
    return 0 if all(r.verdict.formed == r.cell.expect_formed for r in results) else 1


def table(results: list[Result]) -> str:
    rows = {}
    for r in results:
        rows.setdefault((r.cell.app, r.cell.delivery), {})[r.cell.stsmesh] = r
    lines = ["| app | delivery | without stsmesh | with stsmesh |", "|---|---|---|---|"]
    for (app, delivery), cells in rows.items():
        def text(r: Result | None) -> str:
            if r is None:
                return "-"
            mark = "forms" if r.verdict.formed else "**does not form**"
            ok = "" if r.verdict.formed == r.cell.expect_formed else " (UNEXPECTED)"
            return f"{mark} ({r.verdict.seconds:.0f} s){ok}"

        lines.append(f"| {app} | {delivery} | {text(cells.get(False))} | {text(cells.get(True))} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
