"""The proof on the apps themselves: real ZooKeeper, etcd and Redis clusters of three "pods" under an
emulated mesh capture, each configured from the pod stsmesh patched (see tests/applab/apps.py).

Each cell is a fresh lab (tests/applab/lab.py) with a bounded wait. A cell that must not form
passes only if every process is still alive and the forwarder refused connections to the app's
ports, so a crash or a typo cannot pass for the mesh's doing; and the same app with stsmesh's fix
forms under the same capture. The suite skips, with the reason, where network namespaces or
iptables are not available, and fails instead under ``CI=true``.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.applab import apps
from tests.applab.lab import leftovers, unavailable
from tests.applab.matrix import CELLS, NO_FORM_WAIT, Cell, run_cell
from webhook.core.catalogue.load import builtin_catalogue, with_user_catalogue

REASON = unavailable()


@pytest.fixture(scope="module", autouse=True)
def lab_host() -> Iterator[None]:
    if REASON is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the app lab must run in CI: {REASON}")
        pytest.skip(REASON)
    left = leftovers()
    assert not left, f"namespaces of an earlier lab are left ({', '.join(left)}): run scripts/app-lab.sh --clean"
    previous = signal.signal(signal.SIGTERM, _interrupt)  # so a killed run still deletes its namespaces
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        assert leftovers() == [], "the lab left namespaces behind"


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_cell(cell: Cell, tmp_path: Path) -> None:
    result = run_cell(cell, tmp_path)
    print(f"{cell.id}: formed={result.verdict.formed} in {result.seconds:.1f} s; {result.verdict.detail}")
    assert result.verdict.formed == cell.expect_formed, result.verdict.detail
    assert "all processes alive: True" in result.verdict.detail, "a verdict a crash could fake"
    if not result.verdict.formed and cell.delivery != "none":
        assert result.refusals > 0, "it did not form, but not because the capture refused the app's ports"
    if cell.app == "zookeeper-tutorial" and cell.delivery == "localhost" and cell.stsmesh:
        assert {2888, 3888} <= set(result.excluded), "the image cannot bind all interfaces: exclusions must do it"


def test_the_suite_fails_when_the_fix_is_disabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """stsmesh.io/skip-fixes on the pod template switches the bind fix off: the quorum must not form,
    as without stsmesh — so a passing cell above is stsmesh's doing."""
    original = apps.zookeeper_bitnami

    def opted_out() -> dict[str, Any]:
        return original(annotations={"stsmesh.io/skip-fixes": "zookeeper-listen-all-ips"})

    runner = apps.APPS["zookeeper-bitnami"].run
    monkeypatch.setitem(apps.APPS, "zookeeper-bitnami", apps.App("zookeeper-bitnami", opted_out, runner))
    result = run_cell(Cell("zookeeper-bitnami", "istio-1.9", True, False), tmp_path)
    assert not result.verdict.formed and result.refusals > 0, result.verdict.detail
    assert result.seconds >= NO_FORM_WAIT


def test_the_suite_fails_when_a_user_catalogue_disables_the_app(tmp_path: Path) -> None:
    """A user catalogue's ``disable:`` of the tutorial ZooKeeper leaves the injected pod's capture as
    the injector wrote it, and the reinvocation adds nothing: the quorum must not form."""
    catalogue = with_user_catalogue(builtin_catalogue(), "version: 1\ndisable: [zookeeper-k8s-tutorial]\n", "user")
    result = run_cell(Cell("zookeeper-tutorial", "kuma-1.7", True, False, injected=True), tmp_path, catalogue)
    assert not result.verdict.formed and result.refusals > 0, result.verdict.detail
    assert not {2888, 3888} & set(result.excluded), result.excluded
