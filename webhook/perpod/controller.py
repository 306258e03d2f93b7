"""Edge: the per-pod reconcile controller — keeps per-pod objects in step with StatefulSets.

Opt in per StatefulSet with the annotation ``stsmesh.io/per-pod: "true"``; options come from
annotations too (``stsmesh.io/per-pod-service-type``, ``stsmesh.io/per-pod-host-pattern``,
``stsmesh.io/per-pod-mesh`` as ``istio:1.9``), falling back to the controller's flags. For each such
StatefulSet the desired objects are what :func:`webhook.perpod.render.render_statefulset` renders for its
current ``spec.replicas`` (the same function as ``stsmesh render per-pod``); the controller:

* creates what is missing (scale-up) and patches what drifted;
* deletes what it made for ordinals that no longer exist (scale-down) or for a StatefulSet that
  dropped the annotation;
* never touches an object it did not create (no ``app.kubernetes.io/managed-by: stsmesh`` and
  ``stsmesh.io/statefulset`` labels), and says so;
* owns what it makes through an ownerReference to the StatefulSet, so deleting the StatefulSet
  deletes them (the garbage collector does it even while the controller is down).

It is level-based: every pass reads the cluster as it is, so a restart resumes where it stopped.
It watches StatefulSets and resyncs everything every ``resync_seconds``. Istio kinds are handled
only where their CRDs are served (else one warning, and Services only).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from webhook.core.mesh import MeshHint
from webhook.core.shapes import items, mapping, metadata_map
from webhook.perpod.objects import MANAGED_BY_LABEL, MANAGED_BY_VALUE, STATEFULSET_LABEL
from webhook.perpod.options import PerPodOptions
from webhook.perpod.render import render_statefulset

log = logging.getLogger(__name__)

OPT_IN = "stsmesh.io/per-pod"
SERVICE_TYPE = "stsmesh.io/per-pod-service-type"
HOST_PATTERN = "stsmesh.io/per-pod-host-pattern"
MESH = "stsmesh.io/per-pod-mesh"
ISTIO_KINDS = {"ServiceEntry": "serviceentries", "Gateway": "gateways", "VirtualService": "virtualservices"}


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    foreign: int = 0

    def add(self, other: Counts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.deleted += other.deleted
        self.foreign += other.foreign


def opted_in(sts: dict[str, Any]) -> bool:
    annotations = metadata_map(sts, "annotations")
    return str(annotations.get(OPT_IN, "")).lower() in ("true", "yes", "1")


def options_for(sts: dict[str, Any], default_hint: MeshHint) -> PerPodOptions:
    annotations = metadata_map(sts, "annotations")
    hint = default_hint
    if annotations.get(MESH):
        mesh, _, version = str(annotations[MESH]).partition(":")
        hint = MeshHint.parse(mesh, version or None)
    return PerPodOptions(
        hint=hint,
        service_type=str(annotations.get(SERVICE_TYPE) or "ClusterIP"),
        host_pattern=annotations.get(HOST_PATTERN) or None,
    )


def _selector(statefulset: str) -> str:
    return f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{STATEFULSET_LABEL}={statefulset}"


def _raw(response: Any) -> dict[str, Any]:
    import json

    data: dict[str, Any] = json.loads(response.data)
    return data


class Reconciler:
    """One pass over one StatefulSet, or over all of them (``reconcile_all``)."""

    def __init__(self, api: client.ApiClient, default_hint: MeshHint) -> None:
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.default_hint = default_hint
        self._istio_missing_warned = False
        self._served: dict[str, bool] = {}

    # --- reading --------------------------------------------------------------------------------

    def statefulsets(self, namespaces: Iterable[str] | None) -> list[dict[str, Any]]:
        if namespaces is None:
            return list(_raw(self.apps.list_stateful_set_for_all_namespaces(_preload_content=False))["items"])
        found: list[dict[str, Any]] = []
        for namespace in namespaces:
            found += _raw(self.apps.list_namespaced_stateful_set(namespace, _preload_content=False))["items"]
        return found

    def _governing(self, sts: dict[str, Any]) -> dict[str, Any] | None:
        name = mapping(sts.get("spec")).get("serviceName")
        if not name:
            return None
        try:
            return _raw(self.core.read_namespaced_service(name, sts["metadata"]["namespace"], _preload_content=False))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _existing(
        self, namespace: str, statefulset: str, kinds: Iterable[str]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        selector = _selector(statefulset)
        found = {
            ("Service", s["metadata"]["name"]): s
            for s in _raw(
                self.core.list_namespaced_service(namespace, label_selector=selector, _preload_content=False)
            )["items"]
        }
        for kind in kinds:
            if kind == "Service":
                continue
            for version in ("v1", "v1beta1"):
                try:
                    listing: Any = self.custom.list_namespaced_custom_object(
                        "networking.istio.io", version, namespace, ISTIO_KINDS[kind], label_selector=selector
                    )
                    listed = listing["items"]
                except ApiException as exc:
                    if exc.status == 404:
                        continue
                    raise
                found.update({(kind, o["metadata"]["name"]): o for o in listed})
                break
        return found

    # --- writing (answers are not deserialised: the client models reject some Status bodies) ---

    def reconcile(self, sts: dict[str, Any]) -> Counts:
        metadata = sts["metadata"]
        namespace, name = metadata["namespace"], metadata["name"]
        counts = Counts()
        desired: list[dict[str, Any]] = []
        if opted_in(sts) and not metadata.get("deletionTimestamp"):
            try:
                options = options_for(sts, self.default_hint)
                rendered = render_statefulset(sts, self._governing(sts), options)
            except ValueError as exc:
                log.warning("StatefulSet %s/%s: per-pod options are invalid: %s", namespace, name, exc)
                return counts
            desired = [o for o in rendered.objects if self._servable(o["kind"])]
        existing = self._existing(namespace, name, {o["kind"] for o in desired} | {"Service"} | set(ISTIO_KINDS))
        for obj in desired:
            key = (obj["kind"], obj["metadata"]["name"])
            current = existing.pop(key, None)
            if current is None:
                counts.add(self._create(namespace, obj))
            elif _drifted(current, obj):
                self._patch(namespace, obj)
                counts.updated += 1
        for (kind, object_name), obj in existing.items():
            if not _ours(obj, name):
                continue
            self._delete(namespace, kind, object_name, obj)
            counts.deleted += 1
        if counts.created or counts.updated or counts.deleted:
            log.info(
                "StatefulSet %s/%s: %d created, %d updated, %d deleted",
                namespace,
                name,
                counts.created,
                counts.updated,
                counts.deleted,
                extra={"namespace": namespace, "statefulset": name},
            )
        return counts

    def reconcile_all(self, namespaces: Iterable[str] | None) -> Counts:
        self._served.clear()  # CRDs may have been installed since the last pass
        total = Counts()
        for sts in self.statefulsets(namespaces):
            total.add(self.reconcile(sts))
        return total

    def _servable(self, kind: str) -> bool:
        if kind == "Service":
            return True
        if kind not in self._served:
            try:
                self.custom.list_cluster_custom_object("networking.istio.io", "v1beta1", ISTIO_KINDS[kind], limit=1)
                self._served[kind] = True
            except ApiException as exc:
                if exc.status != 404:
                    raise
                self._served[kind] = False
        if self._served[kind]:
            return True
        if not self._istio_missing_warned:
            log.warning("Istio CRDs (networking.istio.io) are not served: rendering per-pod Services only")
            self._istio_missing_warned = True
        return False

    def _create(self, namespace: str, obj: dict[str, Any]) -> Counts:
        try:
            if obj["kind"] == "Service":
                # plain dicts go out as they are; the client's models would drop fields they do not know
                self.core.create_namespaced_service(namespace, cast(Any, obj), _preload_content=False)
            else:
                group, version = obj["apiVersion"].split("/")
                self.custom.create_namespaced_custom_object(
                    group, version, namespace, ISTIO_KINDS[obj["kind"]], obj, _preload_content=False
                )
        except ApiException as exc:
            if exc.status == 409:
                log.warning(
                    "%s %s/%s exists and was not made by stsmesh: left alone",
                    obj["kind"],
                    namespace,
                    obj["metadata"]["name"],
                )
                return Counts(foreign=1)
            raise
        return Counts(created=1)

    def _patch(self, namespace: str, obj: dict[str, Any]) -> None:
        body = {"metadata": {"labels": obj["metadata"]["labels"]}, "spec": obj["spec"]}
        if obj["kind"] == "Service":
            self.core.patch_namespaced_service(obj["metadata"]["name"], namespace, body, _preload_content=False)
        else:
            group, version = obj["apiVersion"].split("/")
            self.custom.patch_namespaced_custom_object(
                group,
                version,
                namespace,
                ISTIO_KINDS[obj["kind"]],
                obj["metadata"]["name"],
                body,
                _preload_content=False,
            )

    def _delete(self, namespace: str, kind: str, name: str, obj: dict[str, Any]) -> None:
        try:
            if kind == "Service":
                self.core.delete_namespaced_service(name, namespace, _preload_content=False)
            else:
                group, version = obj["apiVersion"].split("/")
                self.custom.delete_namespaced_custom_object(
                    group, version, namespace, ISTIO_KINDS[kind], name, _preload_content=False
                )
        except ApiException as exc:
            if exc.status != 404:
                raise


def _ours(obj: dict[str, Any], statefulset: str) -> bool:
    labels = metadata_map(obj, "labels")
    return bool(labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE and labels.get(STATEFULSET_LABEL) == statefulset)


def _drifted(current: dict[str, Any], desired: dict[str, Any]) -> bool:
    """Whether a field we set differs (fields the apiserver fills in, like clusterIP, are ignored)."""
    labels = metadata_map(current, "labels")
    if any(labels.get(k) != v for k, v in desired["metadata"]["labels"].items()):
        return True
    spec = mapping(current.get("spec"))
    for key, value in desired["spec"].items():
        if key == "ports" and desired["kind"] == "Service":
            fields = ("name", "port", "targetPort", "protocol", "appProtocol")
            have = [
                {f: p.get(f) for f in fields if f in q} for p, q in zip(items(spec.get("ports")), value, strict=False)
            ]
            want = [{f: q.get(f) for f in fields if f in q} for q in value]
            if have != want or len(items(spec.get("ports"))) != len(value):
                return True
        elif spec.get(key) != value:
            return True
    return False


BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0


def run(
    api: client.ApiClient,
    namespaces: list[str] | None,
    default_hint: MeshHint,
    *,
    resync_seconds: int = 30,
    stop: threading.Event | None = None,
    on_pass: Callable[[Counts], None] | None = None,
) -> None:
    """Reconcile everything, then follow StatefulSet changes, resyncing every ``resync_seconds``.

    Never ends on an API error: a failed pass or a broken watch (the apiserver restarting, a dropped
    connection, 410 Gone for a watch too old) is logged and retried after a capped, jittered
    backoff, and every retry starts with a full pass, so what changed meanwhile is caught up."""
    reconciler = Reconciler(api, default_hint)
    stop = stop or threading.Event()
    failures = 0
    while not stop.is_set():
        try:
            counts = reconciler.reconcile_all(namespaces)
            if on_pass is not None:
                on_pass(counts)
            if failures:
                log.info("reconciling again after %d failed attempt(s)", failures)
            failures = 0
            _follow(api, reconciler, namespaces, resync_seconds, stop)
        except (ApiException, Urllib3Error, OSError) as exc:
            failures += 1
            delay = min(BACKOFF_CAP_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (failures - 1))
            delay *= random.uniform(0.5, 1.0)  # jitter: replicas and restarts do not retry in step
            reason = f"{exc.status} {exc.reason}" if isinstance(exc, ApiException) else type(exc).__name__
            log.warning("per-pod reconcile failed (%s); retrying in %.1f s", reason, delay)
            stop.wait(delay)


def _follow(
    api: client.ApiClient,
    reconciler: Reconciler,
    namespaces: list[str] | None,
    resync_seconds: int,
    stop: threading.Event,
) -> None:
    """Reconcile each StatefulSet that changes until the watch's ``resync_seconds`` run out."""
    watcher = watch.Watch()
    if namespaces is None:
        stream = watcher.stream(reconciler.apps.list_stateful_set_for_all_namespaces, timeout_seconds=resync_seconds)
    elif len(namespaces) == 1:
        stream = watcher.stream(
            reconciler.apps.list_namespaced_stateful_set, namespaces[0], timeout_seconds=resync_seconds
        )
    else:
        stop.wait(resync_seconds)
        return
    for event in stream:
        if stop.is_set():
            watcher.stop()
            return
        if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
            obj = api.sanitize_for_serialization(event["object"])
            try:
                reconciler.reconcile(obj)
            except ApiException as exc:
                log.warning(
                    "reconcile of %s failed (%s); retried on the next pass", obj["metadata"]["name"], exc.reason
                )
