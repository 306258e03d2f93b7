"""Pure: the per-pod objects as plain dicts — Service, ServiceEntry, Gateway and VirtualService of one pod.

Every object is named after its pod and carries :func:`object_labels` (``app.kubernetes.io/managed-by:
stsmesh``, ``stsmesh.io/statefulset``, ``stsmesh.io/ordinal``: how the reconcile controller finds,
re-renders and prunes them) and, when given one, an ownerReference to the StatefulSet. The builders
decide nothing: :mod:`webhook.perpod.render` says which objects each pod gets, with which ports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webhook.core.shapes import POD_NAME_LABEL
from webhook.perpod.options import OUTSIDE_SERVICE_TYPES
from webhook.perpod.ports import PodPort

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "stsmesh"
STATEFULSET_LABEL = "stsmesh.io/statefulset"
ORDINAL_LABEL = "stsmesh.io/ordinal"

# Gateway ports accept HTTP|HTTPS|GRPC|HTTP2|MONGO|TCP|TLS (istio/api networking/v1beta1/gateway.proto,
# Port.protocol); gRPC-Web rides on HTTP. SNI-routed ports are passed through as TLS.
_GATEWAY_PROTOCOL = {"HTTP": "HTTP", "HTTP2": "HTTP2", "GRPC": "GRPC", "GRPC-Web": "HTTP", "HTTPS": "TLS", "TLS": "TLS"}


def object_labels(statefulset: str, ordinal: int) -> dict[str, str]:
    """What every rendered object carries: who manages it, for which StatefulSet and ordinal."""
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, STATEFULSET_LABEL: statefulset, ORDINAL_LABEL: str(ordinal)}


def _metadata(
    name: str, namespace: str, statefulset: str, ordinal: int, owner: Mapping[str, Any] | None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": object_labels(statefulset, ordinal)}
    if owner is not None:
        metadata["ownerReferences"] = [dict(owner)]
    return metadata


def per_pod_service(
    pod: str,
    namespace: str,
    statefulset: str,
    ordinal: int,
    ports: Sequence[PodPort],
    *,
    service_type: str,
    publish_not_ready: bool,
    owner: Mapping[str, Any] | None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": service_type,
        "selector": {POD_NAME_LABEL: pod},
        "ports": [p.service_port() for p in ports],
    }
    if service_type in OUTSIDE_SERVICE_TYPES:
        spec["externalTrafficPolicy"] = "Local"
    if publish_not_ready:
        spec["publishNotReadyAddresses"] = True
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(pod, namespace, statefulset, ordinal, owner),
        "spec": spec,
    }


def service_entry(
    pod: str,
    namespace: str,
    statefulset: str,
    ordinal: int,
    *,
    host: str,
    ports: Sequence[PodPort],
    api_version: str,
    owner: Mapping[str, Any] | None,
) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "ServiceEntry",
        "metadata": _metadata(pod, namespace, statefulset, ordinal, owner),
        "spec": {
            "hosts": [host],
            "location": "MESH_INTERNAL",
            "resolution": "DNS",
            # Clients of the pod's DNS name connect to the pod IP, so the entry's ports are the pod's.
            "ports": [{"number": p.pod_port, "name": p.name, "protocol": p.istio_protocol} for p in ports],
        },
    }


@dataclass(frozen=True)
class GatewayRoute:
    """One port of one pod through the ingress gateway."""

    gateway_port: int
    port: PodPort


def gateway(
    pod: str,
    namespace: str,
    statefulset: str,
    ordinal: int,
    *,
    host: str,
    routes: Sequence[GatewayRoute],
    selector: Mapping[str, str],
    api_version: str,
    owner: Mapping[str, Any] | None,
) -> dict[str, Any]:
    servers: list[dict[str, Any]] = []
    for route in routes:
        protocol = _GATEWAY_PROTOCOL.get(route.port.istio_protocol, "TCP")
        server: dict[str, Any] = {
            "port": {
                "number": route.gateway_port,
                # The same name for the same port on every pod's Gateway: Istio merges their servers.
                "name": f"{protocol.lower()}-{route.gateway_port}",
                "protocol": protocol,
            },
            "hosts": [host],
        }
        if route.port.routing == "sni":
            server["tls"] = {"mode": "PASSTHROUGH"}
        servers.append(server)
    return {
        "apiVersion": api_version,
        "kind": "Gateway",
        "metadata": _metadata(pod, namespace, statefulset, ordinal, owner),
        "spec": {"selector": dict(selector), "servers": servers},
    }


def virtual_service(
    pod: str,
    namespace: str,
    statefulset: str,
    ordinal: int,
    *,
    host: str,
    destination_host: str,
    routes: Sequence[GatewayRoute],
    api_version: str,
    owner: Mapping[str, Any] | None,
) -> dict[str, Any]:
    by_routing: dict[str, list[dict[str, Any]]] = {"http": [], "tls": [], "tcp": []}
    for route in routes:
        destination = {"destination": {"host": destination_host, "port": {"number": route.port.port}}}
        if route.port.routing == "host":
            by_routing["http"].append({"match": [{"port": route.gateway_port}], "route": [destination]})
        elif route.port.routing == "sni":
            by_routing["tls"].append(
                {"match": [{"port": route.gateway_port, "sniHosts": [host]}], "route": [destination]}
            )
        else:
            by_routing["tcp"].append({"match": [{"port": route.gateway_port}], "route": [destination]})
    spec: dict[str, Any] = {"hosts": [host], "gateways": [pod]}
    spec.update({kind: rules for kind, rules in by_routing.items() if rules})
    return {
        "apiVersion": api_version,
        "kind": "VirtualService",
        "metadata": _metadata(pod, namespace, statefulset, ordinal, owner),
        "spec": spec,
    }
