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
from typing import Any

from webhook.core.namespaces import (
    CILIUM_SELECTOR,
    CONSUL_SELECTOR,
    ISTIO_SYSTEM,
    ISTIOD_SELECTOR,
    KUMA_SELECTOR,
    LINKERD_SELECTOR,
    MeshKnowledge,
    NamespaceFacts,
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
    """Namespaces and control planes, as the watches last saw them."""

    def __init__(self, access: ApiAccess, *, watch_seconds: int = 300, backoff_max: float = 30.0) -> None:
        self.access = access
        self.knowledge = MeshKnowledge()
        self._namespaces: dict[str, NamespaceFacts] = {}
        self._deployments: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in self.selectors}
        options: dict[str, Any] = {"watch_seconds": watch_seconds, "backoff_max": backoff_max}
        self._mesh_configs: dict[str, dict[str, Any]] = {}
        self._cilium: dict[str, dict[str, Any]] = {}
        self.reflectors = [
            Reflector(access, "/api/v1/namespaces", self._listed_namespaces, self._namespace_changed, **options),
            Reflector(
                access,
                f"/api/v1/namespaces/{ISTIO_SYSTEM}/configmaps",
                self._listed_mesh_configs,
                self._mesh_config_changed,
                optional=True,
                **options,
            ),
            *(
                Reflector(access, DEPLOYMENTS, self._lister(s), self._changer(s), selector=s, **options)
                for s in self.selectors
            ),
            Reflector(
                access, DAEMONSETS, self._listed_cilium, self._cilium_changed, selector=CILIUM_SELECTOR, **options
            ),
        ]
        self._task: asyncio.Task[None] | None = None

    selectors = (ISTIOD_SELECTOR, LINKERD_SELECTOR, KUMA_SELECTOR, CONSUL_SELECTOR)

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

    def _listed_namespaces(self, objects: list[dict[str, Any]]) -> None:
        self._namespaces = dict(namespace_facts(obj) for obj in objects)
        self._publish()

    def _namespace_changed(self, kind: str, obj: dict[str, Any]) -> None:
        name, facts = namespace_facts(obj)
        if kind == "DELETED":
            self._namespaces.pop(name, None)
        else:
            self._namespaces[name] = facts
        self._publish()

    def _listed_mesh_configs(self, objects: list[dict[str, Any]]) -> None:
        self._mesh_configs = {name_of(obj): obj for obj in objects}
        self._publish()

    def _mesh_config_changed(self, kind: str, obj: dict[str, Any]) -> None:
        if kind == "DELETED":
            self._mesh_configs.pop(name_of(obj), None)
        else:
            self._mesh_configs[name_of(obj)] = obj
        self._publish()

    def _listed_cilium(self, objects: list[dict[str, Any]]) -> None:
        self._cilium = {_key(obj): obj for obj in objects}
        self._publish()

    def _cilium_changed(self, kind: str, obj: dict[str, Any]) -> None:
        if kind == "DELETED":
            self._cilium.pop(_key(obj), None)
        else:
            self._cilium[_key(obj)] = obj
        self._publish()

    def _lister(self, selector: str) -> Any:
        def listed(objects: list[dict[str, Any]]) -> None:
            self._deployments[selector] = {_key(obj): obj for obj in objects}
            self._publish()

        return listed

    def _changer(self, selector: str) -> Any:
        def changed(kind: str, obj: dict[str, Any]) -> None:
            held = self._deployments[selector]
            if kind == "DELETED":
                held.pop(_key(obj), None)
            else:
                held[_key(obj)] = obj
            self._publish()

        return changed

    def _publish(self) -> None:
        deployments = {key: obj for held in self._deployments.values() for key, obj in held.items()}
        localhost = dict(found for found in map(istio_mesh_delivery, self._mesh_configs.values()) if found)
        planes = control_planes(deployments, localhost, cilium=bool(self._cilium))
        self.knowledge = MeshKnowledge(dict(self._namespaces), planes)


def _key(obj: dict[str, Any]) -> str:
    return f"{metadata_text(obj, 'namespace')}/{name_of(obj)}"
