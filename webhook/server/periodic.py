"""Edge: the background polling loop the server's housekeepers share.

:class:`PeriodicCheck` runs a subclass's :meth:`~PeriodicCheck.check_now` every ``interval_seconds``
in an asyncio task, from :meth:`~PeriodicCheck.start` until :meth:`~PeriodicCheck.stop`. A check
that raises is logged with its traceback and the loop goes on: housekeeping must never take the
server down. :class:`~webhook.server.memory.HeapTrimmer` and
:class:`~webhook.server.tls.CertReloader` are built on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging


class PeriodicCheck:
    """Calls :meth:`check_now` every ``interval_seconds`` (read before each sleep) once started.

    ``interval_name`` names the interval in the error for a non-positive one; ``task_name`` names
    the asyncio task; a check that raises is logged on ``logger`` as ``failure_message``.
    """

    def __init__(
        self,
        interval_seconds: float,
        *,
        interval_name: str,
        task_name: str,
        logger: logging.Logger,
        failure_message: str,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError(f"the {interval_name} interval must be positive")
        self.interval_seconds = interval_seconds
        self._task_name = task_name
        self._log = logger
        self._failure_message = failure_message
        self._task: asyncio.Task[None] | None = None

    def check_now(self) -> object:
        """One check; what it returns is for direct callers (the loop ignores it)."""
        raise NotImplementedError

    async def poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval_seconds)
            try:
                self.check_now()
            except Exception:  # housekeeping must never take the server down nor stop the loop
                self._log.exception(self._failure_message)

    def start(self) -> None:
        """Start polling in a task of the running loop; a no-op when already started."""
        if self._task is None:
            self._task = asyncio.create_task(self.poll_forever(), name=self._task_name)

    async def stop(self) -> None:
        """Cancel the polling task and wait for it to end; a no-op when not started."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
