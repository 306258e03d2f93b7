"""Fixtures for the robustness tests: the server tests' certificate fixtures, a TLS server running in
a thread of its own, and ``figure`` to report measured values.

The certificate fixtures are the ones in ``tests/server/conftest.py``, imported so both folders share
one definition. Figures are recorded as junit properties and printed in a "stsmesh robustness
figures" section at the end of the run (also without ``-s``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.robustness.support import LARGE, Figure, ThreadedServer, serve_in_thread, write_pair
from tests.server.conftest import (  # noqa: F401 - fixtures shared with the server tests
    issue,
    secret_volume,
    serial_of,
    test_ca,
    trust_only,
    zk_review,
)
from webhook.core.settings import Settings
from webhook.server.selfsigned import CertificateBundle
from webhook.server.tls import server_context

_FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def figure(request: pytest.FixtureRequest, record_property: Callable[[str, object], None]) -> Figure:
    """``figure("label", key=value, ...)``: record measured values (junit properties, printed at the end)."""

    def note(label: str, **values: object) -> None:
        for key, value in values.items():
            record_property(f"{label}.{key}", value)
        shown = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        line = f"{label}: {shown}"
        print(line)
        request.config.stash.setdefault(_FIGURES, []).append(line)

    return note


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    lines = config.stash.get(_FIGURES, [])
    if lines:
        terminalreporter.section("stsmesh robustness figures")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def threaded_server(
    tmp_path_factory: pytest.TempPathFactory,
    test_ca: CertificateBundle,  # noqa: F811 - the fixture imported above
) -> Iterator[ThreadedServer]:
    """Default settings (7 MiB body cap, 100-level nesting cap) on 127.0.0.1 over TLS with the test
    CA's certificate, in a thread; up for the whole module, 5 minutes at most (an hour when large)."""
    cert_file, key_file = write_pair(tmp_path_factory.mktemp("tls"), test_ca)
    settings = Settings(host="127.0.0.1", port=0, shutdown_drain_seconds=0.0)
    with serve_in_thread(settings, server_context(cert_file, key_file), 3600.0 if LARGE else 300.0) as server:
        yield server
