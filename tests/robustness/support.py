"""Helpers for the robustness tests (plain functions and types; the fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webhook.core.settings import Settings
from webhook.server.app import METRICS_KEY
from webhook.server.lifecycle import RunningServer, drain_and_stop, start_server
from webhook.server.selfsigned import CertificateBundle

LARGE = os.environ.get("STSMESH_FUZZ_LARGE") == "1"
"""``STSMESH_FUZZ_LARGE=1``: the long fuzz run (>= 100k cases against review())."""

Figure = Callable[..., None]
"""The ``figure`` fixture: ``figure("label", key=value, ...)`` records measured values."""

TrustOnly = Callable[[bytes], ssl.SSLContext]
SerialOf = Callable[[bytes], int]
Contract = Callable[..., list[dict[str, Any]]]
"""The root conftest's ``assert_response_contract``: checks a response review, returns its patch."""


def write_pair(directory: Path, bundle: CertificateBundle) -> tuple[Path, Path]:
    """The bundle's serving certificate and key as ``tls.crt``/``tls.key`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    cert_file.write_bytes(bundle.cert)
    key_file.write_bytes(bundle.key)
    return cert_file, key_file


@dataclass
class ThreadedServer:
    """``start_server`` over TLS on 127.0.0.1, in a thread with its own event loop, so synchronous
    (Hypothesis) tests can talk to it with a plain HTTPS client."""

    running: RunningServer

    @property
    def port(self) -> int:
        return self.running.port

    def sample(self, name: str, **labels: str) -> float:
        """A metric's current value (0 when it has no sample yet)."""
        value = self.running.app[METRICS_KEY].registry.get_sample_value(name, labels or None)
        return 0.0 if value is None else value


@contextlib.contextmanager
def serve_in_thread(settings: Settings, context: ssl.SSLContext, lifetime: float) -> Iterator[ThreadedServer]:
    """Run the server until the block ends, or for ``lifetime`` seconds at most (it stops by itself)."""
    started = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        try:
            running = await start_server(settings, context)
        except BaseException as exc:
            box["error"] = exc
            started.set()
            raise
        stop = asyncio.Event()
        box.update(running=running, loop=asyncio.get_running_loop(), stop=stop)
        started.set()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), lifetime)
        finally:
            await drain_and_stop(running, 0.0, grace_seconds=2.0)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="stsmesh-test-server", daemon=True)
    thread.start()
    if not started.wait(10.0) or "error" in box:
        raise RuntimeError(f"the test server did not start: {box.get('error')!r}")
    try:
        yield ThreadedServer(box["running"])
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(10.0)
        assert not thread.is_alive(), "the test server did not stop"
