"""Pure: the per-pod plan — which Istio objects the pods of one StatefulSet need, for the mesh and its version.

:func:`plan_for` says whether each pod gets a ServiceEntry (Istio before 1.10, or forced) and a
Gateway + VirtualService (Istio with a host pattern), and which ``networking.istio.io`` apiVersion
to write them in; Linkerd, "no mesh" and an unknown mesh get per-pod Services only. Every choice
comes with a note saying why; an impossible ask (Istio objects for another mesh) is a ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from webhook.core.mesh import ISTIO_POD_IP_SINCE, MeshContext, MeshHint, Version, format_version
from webhook.perpod.options import PerPodOptions

# The release that forwards inbound traffic to the pod IP is also the one that reaches StatefulSet
# pods by their headless DNS names without a ServiceEntry (istio.io blog, 2021-05-19).
ISTIO_POD_DNS_SINCE: Version = ISTIO_POD_IP_SINCE
# networking.istio.io/v1beta1 is served from Istio 1.5 (istio/api#1232), v1 from 1.22 (istio.io blog
# "Introducing Istio v1 APIs", 2024); earlier releases serve v1alpha3 only. Old versions stay served,
# so the newest version the mesh knows is the one to write.
ISTIO_V1BETA1_SINCE: Version = (1, 5)
ISTIO_V1_SINCE: Version = (1, 22)


@dataclass(frozen=True)
class PerPodPlan:
    """Which Istio objects the pods of one StatefulSet get, and the notes that say why."""

    service_entries: bool
    gateways: bool
    istio_api_version: str | None
    notes: tuple[str, ...]


def istio_api_version(version: Version | None) -> str:
    if version is None:
        return "networking.istio.io/v1beta1"  # served by every release from 1.5 on: the safe guess
    if version >= ISTIO_V1_SINCE:
        return "networking.istio.io/v1"
    if version >= ISTIO_V1BETA1_SINCE:
        return "networking.istio.io/v1beta1"
    return "networking.istio.io/v1alpha3"


def plan_for(mesh: MeshContext, options: PerPodOptions) -> PerPodPlan:
    """Per mesh and version: ServiceEntries? Gateways? Which apiVersion? ValueError for impossible asks."""
    label = mesh.label if mesh.mesh in ("istio", "linkerd") else mesh.mesh  # "none", "unknown"
    evidence = mesh_evidence(mesh, options.hint)
    if mesh.mesh != "istio":
        if options.host_pattern is not None:
            raise ValueError(
                f"--host-pattern renders an Istio Gateway and VirtualService, but the mesh is {label}"
                f" ({evidence}): pass --mesh istio, or use --service-type LoadBalancer instead"
            )
        if options.force_service_entry:
            raise ValueError(
                f"--force-service-entry renders an Istio ServiceEntry, but the mesh is {label} ({evidence})"
            )
        if mesh.mesh == "linkerd":
            note = (
                "per-pod Services only: Linkerd has no ServiceEntry, Gateway or VirtualService, and needs none;"
                " a per-pod Service has one endpoint, so Linkerd's load balancing cannot move a client to another pod"
            )
        elif mesh.mesh == "none":
            note = f"no mesh ({evidence}): per-pod Services only"
        else:
            note = (
                f"mesh unknown ({evidence}): per-pod Services only; pass --mesh istio --mesh-version V"
                " for the Istio objects the version needs"
            )
        return PerPodPlan(False, False, None, (note,))

    api_version = istio_api_version(mesh.version)
    notes = [
        f"Istio objects use {api_version}"
        + (" (served from Istio 1.5 on; pass --mesh-version to choose)" if mesh.version is None else "")
    ]
    if options.force_service_entry:
        service_entries = True
        notes.append("ServiceEntry per pod: forced (--force-service-entry)")
    elif mesh.version is None:
        service_entries = False
        notes.append(
            "ServiceEntry per pod: not rendered, the Istio version is unknown. Istio before 1.10 needs one to"
            " route by a pod's DNS name, 1.10 and later do not: pass --mesh-version, or --force-service-entry"
        )
    elif mesh.version < ISTIO_POD_DNS_SINCE:
        service_entries = True
        notes.append(
            f"ServiceEntry per pod: Istio {format_version(mesh.version)} is before 1.10, where a pod's stable DNS"
            " name needs one to be routed (MESH_INTERNAL, resolution DNS, as Airy 2019 wrote them by hand)"
        )
    else:
        service_entries = False
        notes.append(
            f"ServiceEntry per pod: not needed, Istio {format_version(mesh.version)} reaches each pod by its"
            " headless DNS name without one since 1.10 (istio.io blog 'StatefulSets Made Easier With Istio"
            " 1.10'); --force-service-entry renders them anyway"
        )
    gateways = options.host_pattern is not None
    if gateways:
        notes.append(
            f"Gateway + VirtualService per pod for host {options.host_pattern!r} through gateway pods"
            f" {_selector_text(options.selector)} (north-south)"
        )
    return PerPodPlan(service_entries, gateways, api_version, tuple(notes))


def mesh_evidence(mesh: MeshContext, hint: MeshHint) -> str:
    """Where the mesh came from, in this command's words (detect() words it for the webhook)."""
    if mesh.mesh == hint.mesh and not mesh.evidence.startswith(("pod ", "istio-proxy", "linkerd-proxy")):
        return f"--mesh {hint.mesh}"
    return mesh.evidence


def _selector_text(selector: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in selector.items())
