"""Edge: one watch discipline for everything the server follows in the cluster.

A :class:`Reflector` lists a resource, then watches it from the list's ``resourceVersion`` with
bookmarks; on ``410 Gone`` (the version is too old) it lists again; on any other error — the
apiserver restarting, a dropped connection, a 5xx, a 403 — it backs off (doubling, capped, with
jitter) and resumes; it never exits on an API error. ``synced`` says whether the last list
succeeded and the watch since then is healthy. What it lists and sees goes to two callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import orjson

from webhook.server.apiaccess import ApiAccess

log = logging.getLogger(__name__)

Listed = Callable[[list[dict[str, Any]]], None]
"""Called with every object of a fresh list (replace what you held)."""
Changed = Callable[[str, dict[str, Any]], None]
"""Called with ``ADDED``/``MODIFIED``/``DELETED`` and the object."""


class Gone(Exception):
    """The watch's resourceVersion is too old (HTTP 410 or an ERROR event with code 410)."""


class Unavailable(Exception):
    """An optional resource answered 403 or 404: nothing there for us."""


class Reflector:
    """Keeps ``path`` (e.g. ``/api/v1/namespaces``, optionally with ``selector``) in step."""

    def __init__(
        self,
        access: ApiAccess,
        path: str,
        on_list: Listed,
        on_change: Changed,
        *,
        selector: str = "",
        watch_seconds: int = 300,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        optional: bool = False,
    ) -> None:
        self.access = access
        self.path = path
        self.selector = selector
        self.on_list = on_list
        self.on_change = on_change
        self.watch_seconds = watch_seconds
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.optional = optional
        """Something the cluster may not have or let us read (a namespace of a mesh not installed):
        403 and 404 count as "nothing there", said once, retried every ``10 * backoff_max``."""
        self.synced = False
        self.lists = 0
        self.errors = 0
        self._version = ""

    @property
    def name(self) -> str:
        return self.path + (f"?labelSelector={self.selector}" if self.selector else "")

    async def run(self, session: aiohttp.ClientSession) -> None:
        """List and watch until cancelled."""
        delay = self.backoff_initial
        while True:
            try:
                if not self._version:
                    await self._list(session)
                await self._watch(session)
                delay = self.backoff_initial  # a watch that ended normally: resume at once
            except Gone:
                log.info("watch of %s: resourceVersion %s is gone; listing again", self.name, self._version)
                self._version = ""
            except Unavailable as absent:
                if not self.synced:
                    log.info("not watching %s: %s (optional; looking again every %.0f s)", self.name, absent,
                             10 * self.backoff_max)  # fmt: skip
                self._deliver(lambda: self.on_list([]))
                self.synced = True  # nothing there is a known state
                self._version = ""
                await asyncio.sleep(10 * self.backoff_max)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the API can fail in many ways; the cache must outlive all of them
                self.errors += 1
                self.synced = False
                wait = min(delay, self.backoff_max) * random.uniform(0.5, 1.0)
                log.warning("watch of %s failed (%s: %s); retrying in %.1f s", self.name, type(exc).__name__, exc, wait)
                await asyncio.sleep(wait)
                delay = min(delay * 2, self.backoff_max)

    def _params(self, **extra: str) -> dict[str, str]:
        params = {"labelSelector": self.selector} if self.selector else {}
        params.update(extra)
        return params

    async def _list(self, session: aiohttp.ClientSession) -> None:
        url = self.access.base_url + self.path
        async with session.get(url, params=self._params(), headers=self.access.headers()) as response:
            if response.status in (403, 404) and self.optional:
                raise Unavailable(f"HTTP {response.status}")
            if response.status != 200:
                raise RuntimeError(f"list answered HTTP {response.status}: {(await response.text())[:200]}")
            body = orjson.loads(await response.read())
        items = [item for item in body.get("items") or [] if isinstance(item, dict)]
        self._deliver(lambda: self.on_list(items))
        self._version = str((body.get("metadata") or {}).get("resourceVersion") or "")
        self.lists += 1
        self.synced = True

    async def _watch(self, session: aiohttp.ClientSession) -> None:
        params = self._params(
            watch="1",
            resourceVersion=self._version,
            allowWatchBookmarks="true",
            timeoutSeconds=str(self.watch_seconds),
        )
        timeout = aiohttp.ClientTimeout(total=None, sock_read=self.watch_seconds + 30)
        url = self.access.base_url + self.path
        async with session.get(url, params=params, headers=self.access.headers(), timeout=timeout) as response:
            if response.status == 410:
                raise Gone()
            if response.status != 200:
                raise RuntimeError(f"watch answered HTTP {response.status}: {(await response.text())[:200]}")
            self.synced = True
            pending = b""
            # Split events ourselves: one object (a big ConfigMap) can exceed aiohttp's line limit.
            async for chunk in response.content.iter_any():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        self._event(orjson.loads(line))

    def _event(self, event: Mapping[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object")
        if not isinstance(obj, dict):
            return
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone()
            raise RuntimeError(f"watch error: {obj.get('message', obj)}")
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            self._deliver(lambda: self.on_change(str(kind), obj))
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if isinstance(version, str) and version:
            self._version = version

    def _deliver(self, call: Callable[[], None]) -> None:
        """Run a callback; one that fails on an odd object is logged, never stops the watch."""
        try:
            call()
        except Exception:
            log.exception("watch of %s: could not take in an object; continuing", self.name)


async def run_all(access: ApiAccess, reflectors: list[Reflector]) -> None:
    """Run the reflectors together on one session until cancelled."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=access.ssl)) as session:
        tasks = [asyncio.create_task(r.run(session), name=f"watch {r.name}") for r in reflectors]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
