"""Pure: the ports of a StatefulSet's pods as the per-pod objects expose them.

:class:`PodPort` (Service port, container port, L4 protocol, appProtocol) and Istio's protocol
selection on it (appProtocol, else the port name ``<protocol>[-<suffix>]``), which decides how a
port can be routed: by Host, by SNI, by port alone, or not at all. The ports come from the governing
Service (:func:`service_ports`) or, without one, from the containers (:func:`container_ports`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from webhook.core.inputs import InputError
from webhook.core.shapes import items, mapping
from webhook.perpod.options import is_dns1123_label

Routing = Literal["host", "sni", "port", "none"]

# Istio's explicit protocol selection: appProtocol, else the port name `<protocol>[-<suffix>]`;
# appProtocol wins when both are set (istio.io docs/ops/configuration/traffic-management/protocol-
# selection). Only protocols that change routing matter here; everything else, mongo/mysql/redis
# included (off by default in Istio), is opaque TCP. grpc-web is listed before grpc: it is a prefix.
_ISTIO_PROTOCOLS = (
    ("grpc-web", "GRPC-Web"),
    ("grpc", "GRPC"),
    ("http2", "HTTP2"),
    ("https", "HTTPS"),
    ("http", "HTTP"),
    ("tls", "TLS"),
    ("tcp", "TCP"),
)
_ROUTING: Mapping[str, Routing] = {
    "HTTP": "host",
    "HTTP2": "host",
    "GRPC": "host",
    "GRPC-Web": "host",
    "HTTPS": "sni",
    "TLS": "sni",
    "TCP": "port",
}


@dataclass(frozen=True)
class PodPort:
    """One port of a pod as the per-pod objects expose it."""

    name: str
    port: int  # the Service port: what clients of the per-pod Service connect to
    target_port: int | str
    container_port: int | None  # the number on the pod: what clients of the pod's DNS name connect to
    protocol: str  # Kubernetes L4 protocol: TCP, UDP or SCTP
    app_protocol: str | None = None

    def service_port(self) -> dict[str, Any]:
        port: dict[str, Any] = {"name": self.name, "port": self.port, "targetPort": self.target_port}
        port["protocol"] = self.protocol
        if self.app_protocol:
            port["appProtocol"] = self.app_protocol
        return port

    @property
    def istio_protocol(self) -> str:
        if self.protocol != "TCP":
            return self.protocol  # UDP/SCTP: Istio does not proxy them
        if self.app_protocol:
            from_app_protocol = istio_protocol_of(self.app_protocol.lower(), exact=True)
            if from_app_protocol:
                return from_app_protocol
        return istio_protocol_of(self.name, exact=False) or "TCP"

    @property
    def routing(self) -> Routing:
        return _ROUTING.get(self.istio_protocol, "none")

    @property
    def pod_port(self) -> int:
        return self.container_port if self.container_port is not None else self.port

    def describe(self) -> str:
        return f"{self.name} {self.port}/{self.protocol}"


def istio_protocol_of(text: str, *, exact: bool) -> str | None:
    for prefix, protocol in _ISTIO_PROTOCOLS:
        if text == prefix or (not exact and text.startswith(prefix + "-")):
            return protocol
    return None


def _generated_port_name(protocol: str, number: int) -> str:
    return f"{protocol.lower()}-{number}"


def _with_unique_names(ports: list[PodPort]) -> list[PodPort]:
    """Service port names must be unique DNS-1123 labels (the apiserver's rule for Service ports; the
    15-character IANA_SVC_NAME rule is for container ports); a clash or a bad name gets ``<proto>-<port>``."""
    result: list[PodPort] = []
    taken: set[str] = set()
    for port in ports:
        name = port.name
        if not is_dns1123_label(name) or name in taken:
            name = _generated_port_name(port.protocol, port.port)
        result.append(PodPort(name, port.port, port.target_port, port.container_port, port.protocol, port.app_protocol))
        taken.add(name)
    return result


def _containers(pod_spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for container in items(pod_spec.get("containers")):
        if isinstance(container, dict):
            yield container
    # Native sidecars (init containers that keep running) serve ports too.
    for container in items(pod_spec.get("initContainers")):
        if isinstance(container, dict) and container.get("restartPolicy") == "Always":
            yield container


def container_ports(pod_spec: Mapping[str, Any]) -> list[PodPort]:
    ports: list[PodPort] = []
    seen: set[tuple[int, str]] = set()
    for container in _containers(pod_spec):
        for item in _port_entries(container):
            number = item.get("containerPort")
            if not _is_port_number(number):
                continue
            protocol = str(item.get("protocol") or "TCP")
            if (number, protocol) in seen:
                continue
            seen.add((number, protocol))
            name = item.get("name")
            name = name if isinstance(name, str) and name else _generated_port_name(protocol, number)
            ports.append(PodPort(name, number, number, number, protocol))
    return _with_unique_names(ports)


def _named_container_ports(pod_spec: Mapping[str, Any]) -> dict[str, int]:
    named: dict[str, int] = {}
    for container in _containers(pod_spec):
        for item in _port_entries(container):
            if isinstance(item.get("name"), str) and _is_port_number(item.get("containerPort")):
                named.setdefault(item["name"], item["containerPort"])
    return named


def service_ports(service: Mapping[str, Any], pod_spec: Mapping[str, Any], service_name: str) -> list[PodPort]:
    named = _named_container_ports(pod_spec)
    ports: list[PodPort] = []
    for item in _port_entries(mapping(service.get("spec"))):
        number = item.get("port")
        if not _is_port_number(number):
            raise InputError(f"Service {service_name}: port {number!r} is not a port number (1-65535)")
        protocol = str(item.get("protocol") or "TCP")
        target = item.get("targetPort", number)
        if isinstance(target, int):
            container_port: int | None = target
        elif isinstance(target, str) and target.isdigit():
            target = int(target)
            container_port = target
        elif isinstance(target, str):
            container_port = named.get(target)
        else:
            raise InputError(f"Service {service_name}: targetPort {target!r} of port {number} is not a number or name")
        name = item.get("name")
        name = name if isinstance(name, str) and name else _generated_port_name(protocol, number)
        app_protocol = item.get("appProtocol") if isinstance(item.get("appProtocol"), str) else None
        ports.append(PodPort(name, number, target, container_port, protocol, app_protocol))
    return _with_unique_names(ports)


def _port_entries(owner: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The entries of ``owner.ports`` (a container's or a Service spec's) that are objects."""
    return [item for item in items(owner.get("ports")) if isinstance(item, dict)]


def _is_port_number(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535
