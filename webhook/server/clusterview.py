"""Edge: the server's view of the cluster — each namespace's labels and the meshes' control planes —
kept by watches (:mod:`webhook.server.reflector`), so the first call for a pod already knows its
mesh, version and data plane before the mesh's injector runs. Never an API call on the request
path: the handler reads :attr:`ClusterView.knowledge`, a snapshot replaced whole on every change.

RBAC: list and watch ``namespaces``, ``deployments`` and ``daemonsets`` (deploy/ and the chart grant
exactly that),
and, where Istio is installed, ``configmaps`` in istio-system for its mesh config's inbound policy
(the ``istio-mesh-config`` overlay, the chart's ``istioMeshConfig`` value; without it that watch
is skipped, said once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from webhook.core.namespaces import (
    CILIUM_SELECTOR,
    CONTROL_PLANE_SELECTORS,
    ISTIO_SYSTEM,
    MeshKnowledge,
    control_planes,
    istio_mesh_delivery,
    namespace_facts,
)
from webhook.core.shapes import metadata_text, name_of
from webhook.server.apiaccess import ApiAccess
from webhook.server.reflector import Reflector, run_all

log = logging.getLogger(__name__)

DEPLOYMENTS = "/apis/apps/v1/deployments"
DAEMONSETS = "/apis/apps/v1/daemonsets"


class ClusterView:
    """Namespaces and control planes, as the watches last saw them: each watch keeps the objects it
    sees in a store of its own (by namespace/name), and every change publishes a new snapshot."""

    def __init__(self, access: ApiAccess, *, watch_seconds: int = 300, backoff_max: float = 30.0) -> None:
        self.access = access
        self.knowledge = MeshKnowledge()
        self._held: dict[str, dict[str, dict[str, Any]]] = {}
        options: dict[str, Any] = {"watch_seconds": watch_seconds, "backoff_max": backoff_max}
        watched = [
            ("namespaces", "/api/v1/namespaces", "", False),
            ("mesh-configs", f"/api/v1/namespaces/{ISTIO_SYSTEM}/configmaps", "", True),
            *((selector, DEPLOYMENTS, selector, False) for selector in self.selectors),
            ("cilium", DAEMONSETS, CILIUM_SELECTOR, False),
        ]
        self.reflectors = []
        for store, path, selector, optional in watched:
            self._held[store] = {}
            listed, changed = self._lister(store), self._changer(store)
            self.reflectors.append(
                Reflector(access, path, listed, changed, selector=selector, optional=optional, **options)
            )
        self._task: asyncio.Task[None] | None = None

    selectors = CONTROL_PLANE_SELECTORS
    """The control-plane Deployments, one watch each."""

    @property
    def synced(self) -> bool:
        return all(r.synced for r in self.reflectors)

    def start(self) -> None:
        access = self.access
        log.info("watching namespaces and mesh control planes through %s (%s)", access.base_url, access.origin)
        self._task = asyncio.create_task(run_all(self.access, self.reflectors), name="cluster view")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # --- what the watches report -----------------------------------------------------------------

    def _lister(self, store: str) -> Callable[[list[dict[str, Any]]], None]:
        def listed(objects: list[dict[str, Any]]) -> None:
            self._held[store] = {_key(obj): obj for obj in objects}
            self._publish()

        return listed

    def _changer(self, store: str) -> Callable[[str, dict[str, Any]], None]:
        def changed(kind: str, obj: dict[str, Any]) -> None:
            held = self._held[store]
            if kind == "DELETED":
                held.pop(_key(obj), None)
            else:
                held[_key(obj)] = obj
            self._publish()

        return changed

    def _publish(self) -> None:
        held = self._held
        namespaces = dict(namespace_facts(obj) for obj in held["namespaces"].values())
        deployments = {key: obj for selector in self.selectors for key, obj in held[selector].items()}
        localhost = dict(found for found in map(istio_mesh_delivery, held["mesh-configs"].values()) if found)
        planes = control_planes(deployments, localhost, cilium=bool(held["cilium"]))
        self.knowledge = MeshKnowledge(namespaces, planes)


def _key(obj: dict[str, Any]) -> str:
    return f"{metadata_text(obj, 'namespace')}/{name_of(obj)}"
