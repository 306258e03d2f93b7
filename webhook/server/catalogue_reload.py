"""Edge: the user catalogue file (``--catalogue`` / ``STSMESH_CATALOGUE``, a ConfigMap in the
chart) reloaded in place when it changes, as the certificates are — so ``helm upgrade --set
catalogue=...`` takes effect without a restart.

The file's bytes are polled (through symlinks, so a kubelet ConfigMap volume swapping ``..data``
counts); a changed file is parsed over the shipped catalogue with the same checks as at start
(:func:`~webhook.core.catalogue.load.with_user_catalogue`). A file that does not parse leaves the
catalogue in use as it was, logged and counted as ``error``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from webhook.core.catalogue import Catalogue
from webhook.core.catalogue.load import builtin_catalogue, with_user_catalogue
from webhook.core.catalogue.schema import CatalogueError
from webhook.server.periodic import PeriodicCheck

log = logging.getLogger(__name__)

CatalogueOutcome = Literal["unchanged", "reloaded", "failed"]


class CatalogueReloader(PeriodicCheck):
    """Calls ``apply(catalogue)`` with the new effective catalogue whenever ``path`` changes."""

    def __init__(
        self,
        path: str,
        apply: Callable[[Catalogue], None],
        *,
        interval_seconds: float,
        on_result: Callable[[str], None] = lambda result: None,
    ) -> None:
        super().__init__(
            interval_seconds,
            interval_name="catalogue reload",
            task_name="stsmesh-catalogue-reload",
            logger=log,
            failure_message="catalogue reload check failed",
        )
        self.path = path
        self._apply = apply
        self._on_result = on_result
        self._digest = self._read_digest()

    def _read_digest(self) -> str | None:
        try:
            return hashlib.sha256(Path(self.path).read_bytes()).hexdigest()
        except OSError:
            return None

    def check_now(self) -> CatalogueOutcome:
        try:
            data = Path(self.path).read_bytes()
        except OSError as exc:
            log.warning("cannot read the catalogue %s (%s): keeping the one in use", self.path, exc.strerror)
            return "unchanged"
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._digest:
            return "unchanged"
        self._digest = digest
        try:
            catalogue = with_user_catalogue(builtin_catalogue(), data.decode("utf-8"), self.path)
        except (CatalogueError, UnicodeDecodeError) as exc:
            log.error("catalogue %s changed but cannot be used (%s): keeping the one in use", self.path, exc)
            self._on_result("error")
            return "failed"
        self._apply(catalogue)
        log.info("catalogue %s reloaded: %d apps", self.path, len(catalogue.apps))
        self._on_result("ok")
        return "reloaded"
