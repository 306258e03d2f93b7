"""The app-lab matrix: app × data plane (127.0.0.1, pod IP, none; per mesh where the fix is) ×
without / with stsmesh, before injection or reinvoked after it; each cell a fresh lab, its expected
verdict and a bounded wait. Run by tests/applab/test_applab.py; ``python -m tests.applab.matrix``
(scripts/app-lab.sh) runs it all and prints the table the README shows."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.applab.apps import APPS, DEFAULT_MESH, LAB_MESHES, Verdict, excluded_ports, forwarder_refusals, stsmesh_pods
from tests.applab.lab import Lab, leftovers, unavailable
from webhook.core.catalogue import Catalogue

FORM_TIMEOUT = 35.0
"""How long a cell that must form may take (ZooKeeper's worst seen here: 10 s with these ticks)."""
NO_FORM_WAIT = 20.0
"""How long a cell that must not form is watched (twice ZooKeeper's initLimit x tickTime and more)."""
DELIVERIES = ("localhost", "pod-ip", "none")


@dataclass(frozen=True)
class Cell:
    app: str
    mesh: str
    """A :data:`~tests.applab.apps.LAB_MESHES` key: the data plane emulated and what stsmesh is told."""
    stsmesh: bool
    expect_formed: bool
    injected: bool = False
    """The mesh's injection is emulated after stsmesh's first answer, then stsmesh is reinvoked."""

    @property
    def delivery(self) -> str:
        return LAB_MESHES[self.mesh].delivery

    @property
    def id(self) -> str:
        path = "-injected" if self.injected else ""
        return f"{self.app}-{self.mesh}{path}-{'with' if self.stsmesh else 'without'}-stsmesh"


def _forms(mesh: str, stsmesh: bool) -> bool:
    """An app bound to the pod IP only cannot form under 127.0.0.1 delivery without stsmesh; with it,
    under pod-IP delivery, or with no mesh, it must."""
    return not (LAB_MESHES[mesh].delivery == "localhost" and not stsmesh)


POD_IP_BOUND = ("zookeeper-bitnami", "zookeeper-official", "zookeeper-tutorial", "etcd-pod-ip-flags")
CELLS = [
    Cell(app, DEFAULT_MESH[delivery], stsmesh, _forms(DEFAULT_MESH[delivery], stsmesh))
    for app in POD_IP_BOUND
    for delivery in DELIVERIES
    for stsmesh in (False, True)
]
# Bitnami etcd listens on 0.0.0.0 already: it forms everywhere, and stsmesh must not break it.
CELLS += [Cell("etcd-bitnami", DEFAULT_MESH[d], s, True) for d in DELIVERIES for s in (False, True)]
# Redis: Bitnami binds all interfaces, so it works everywhere with or without stsmesh (which adds
# nothing to its binding). Bound to 127.0.0.1 only (Debian's default), it works only where the proxy
# delivers to 127.0.0.1 — the Istio 1.10 blog's reverse case; no bind fix can widen a loopback
# choice, so stsmesh leaves it (and says so where the catalogue knows the setting).
CELLS += [Cell("redis-bitnami", DEFAULT_MESH[d], s, True) for d in DELIVERIES for s in (False, True)]
CELLS += [Cell("redis-loopback", DEFAULT_MESH[d], s, d == "localhost") for d in DELIVERIES for s in (False, True)]
# The tutorial image cannot bind all interfaces, so only exclusions help it, and they are per mesh:
# each 127.0.0.1 mesh's annotation before injection, and its init container's arguments once
# injected (stsmesh's reinvocation pass puts them there).
LOCALHOST_MESHES = ("istio-1.9", "linkerd-2.10", "consul", "kuma-1.7")
CELLS += [Cell("zookeeper-tutorial", m, True, True) for m in LOCALHOST_MESHES if m != DEFAULT_MESH["localhost"]]
CELLS += [Cell("zookeeper-tutorial", m, True, True, injected=True) for m in LOCALHOST_MESHES]
CELLS += [Cell("zookeeper-tutorial", "istio-1.9", False, False, injected=True)]
# A bind fix survives the injection and the reinvocation.
CELLS += [Cell("zookeeper-bitnami", "istio-1.9", True, True, injected=True)]


@dataclass
class Result:
    cell: Cell
    verdict: Verdict
    excluded: list[int]
    refusals: int
    seconds: float


def run_cell(cell: Cell, workdir: Path, catalogue: Catalogue | None = None) -> Result:
    started = time.monotonic()
    app, mesh = APPS[cell.app], LAB_MESHES[cell.mesh]
    pods = stsmesh_pods(app.build, mesh, cell.stsmesh, injected=cell.injected, catalogue=catalogue)
    with Lab(workdir) as lab:
        excluded = excluded_ports(pods[0], mesh)
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
    rows: dict[tuple[str, str, bool], dict[bool, Result]] = {}
    for r in results:
        rows.setdefault((r.cell.app, r.cell.mesh, r.cell.injected), {})[r.cell.stsmesh] = r
    lines = [
        "| app | data plane (delivers to) | capture read from | without stsmesh | with stsmesh |",
        "|---|---|---|---|---|",
    ]
    for (app, mesh, injected), cells in rows.items():
        delivery = {"localhost": "127.0.0.1", "pod-ip": "pod IP", "none": "no mesh"}[LAB_MESHES[mesh].delivery]
        answers = "injected init container (stsmesh reinvoked)" if injected else "annotations at injection"
        without, with_ = _text(cells.get(False)), _text(cells.get(True))
        lines.append(f"| {app} | {mesh} ({delivery}) | {answers} | {without} | {with_} |")
    return "\n".join(lines)


def _text(result: Result | None) -> str:
    if result is None:
        return "-"
    mark = "forms" if result.verdict.formed else "**does not form**"
    unexpected = "" if result.verdict.formed == result.cell.expect_formed else " (UNEXPECTED)"
    return f"{mark} ({result.verdict.seconds:.0f} s){unexpected}"


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
