"""Pure: per-pod addressing for a StatefulSet — the objects that let a client reach *one* pod.

StatefulSet pods have stable names, but only the governing headless Service gives them DNS records,
and only inside the cluster. Clients that must talk to a particular member (a Thanos querier to each
Prometheus, a ZooKeeper client to one server, anything outside the cluster) need more. This module
decides, for the mesh and its version, which objects each pod needs, and builds them as plain dicts:

* a **Service per pod**, named after the pod and selecting ``statefulset.kubernetes.io/pod-name``
  (the label the StatefulSet controller puts on every pod), always. ``LoadBalancer`` and
  ``NodePort`` Services get ``externalTrafficPolicy: Local`` (no second hop, client IP kept).
* an Istio **ServiceEntry** per pod (``MESH_INTERNAL``, ``resolution: DNS``, host = the pod's stable
  DNS name ``<pod>.<governing svc>.<ns>.svc.<cluster domain>``) only before Istio 1.10, which reaches
  pods by those names without one, or when forced. Airy (2019) wrote these by hand; the istio.io blog
  "StatefulSets Made Easier With Istio 1.10" (2021-05-19) shows they are no longer needed.
* an Istio **Gateway** and **VirtualService** per pod only when a host pattern asks for north-south
  access through the ingress gateway: HTTP and gRPC routed by Host, TLS passed through by SNI, plain
  TCP only on a gateway port of its own per pod (TCP carries no name to route by).

Linkerd and "no mesh" get per-pod Services only. Every object carries ``app.kubernetes.io/managed-by:
stsmesh``, ``stsmesh.io/statefulset`` and ``stsmesh.io/ordinal`` (how the reconcile controller finds,
re-renders and prunes them) and, when the StatefulSet came from the cluster (``metadata.uid`` is set),
an ownerReference so that they are deleted with it. Every choice comes back as a note saying why.
Option errors are ``ValueError`` (a usage problem); input errors are :class:`webhook.core.inputs.InputError`.
The command-line edge is :mod:`webhook.perpod.command`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

from webhook.core.inputs import InputError, pod_from_statefulset
from webhook.core.mesh import ISTIO_POD_IP_SINCE, MeshContext, MeshHint, Version, detect, format_version

SERVICE_TYPES = ("ClusterIP", "LoadBalancer", "NodePort")
OUTSIDE_SERVICE_TYPES = ("LoadBalancer", "NodePort")

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "stsmesh"
STATEFULSET_LABEL = "stsmesh.io/statefulset"
ORDINAL_LABEL = "stsmesh.io/ordinal"

DEFAULT_CLUSTER_DOMAIN = "cluster.local"
# The label Istio's default ingress gateway pods carry (the Gateway examples in istio/api use it).
DEFAULT_GATEWAY_SELECTOR: Mapping[str, str] = {"istio": "ingressgateway"}
HOST_PLACEHOLDERS = ("pod", "ordinal", "statefulset", "namespace")
# A note that starts with this is a command to run as is (printers must not wrap it).
COMMAND_PREFIX = "$ "

# The release that forwards inbound traffic to the pod IP is also the one that reaches StatefulSet
# pods by their headless DNS names without a ServiceEntry (istio.io blog, 2021-05-19).
ISTIO_POD_DNS_SINCE: Version = ISTIO_POD_IP_SINCE
# networking.istio.io/v1beta1 is served from Istio 1.5 (istio/api#1232), v1 from 1.22 (istio.io blog
# "Introducing Istio v1 APIs", 2024); earlier releases serve v1alpha3 only. Old versions stay served,
# so the newest version the mesh knows is the one to write.
ISTIO_V1BETA1_SINCE: Version = (1, 5)
ISTIO_V1_SINCE: Version = (1, 22)

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
# Gateway ports accept HTTP|HTTPS|GRPC|HTTP2|MONGO|TCP|TLS (istio/api networking/v1beta1/gateway.proto,
# Port.protocol); gRPC-Web rides on HTTP. SNI-routed ports are passed through as TLS.
_GATEWAY_PROTOCOL = {"HTTP": "HTTP", "HTTP2": "HTTP2", "GRPC": "GRPC", "GRPC-Web": "HTTP", "HTTPS": "TLS", "TLS": "TLS"}

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


# --- options --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PerPodOptions:
    """What the user asked for. ``validate()`` raises ValueError with a message saying what to do."""

    hint: MeshHint = field(default_factory=MeshHint)
    service_type: str = "ClusterIP"
    host_pattern: str | None = None
    gateway_selector: Mapping[str, str] | None = None
    tcp_gateway_port_base: int | None = None
    force_service_entry: bool = False
    namespace: str | None = None
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN

    def validate(self) -> None:
        if self.service_type not in SERVICE_TYPES:
            raise ValueError(f"unknown service type {self.service_type!r}; use one of {', '.join(SERVICE_TYPES)}")
        if self.namespace is not None and not is_dns1123_label(self.namespace):
            raise ValueError(
                f"--namespace {self.namespace!r} is not a valid namespace name (lowercase letters, digits and '-')"
            )
        if not is_dns1123_subdomain(self.cluster_domain):
            raise ValueError(
                f"--cluster-domain {self.cluster_domain!r} is not a DNS name; the default is cluster.local"
            )
        if self.hint.mesh in ("linkerd", "none") and self.force_service_entry:
            raise ValueError(f"--force-service-entry renders an Istio ServiceEntry; the mesh is {self.hint.mesh}")
        if self.host_pattern is None:
            if self.gateway_selector is not None:
                raise ValueError("--gateway-selector only applies with --host-pattern (the Gateway it selects for)")
            if self.tcp_gateway_port_base is not None:
                raise ValueError("--tcp-gateway-port-base only applies with --host-pattern (north-south TCP)")
            return
        if self.hint.mesh in ("linkerd", "none"):
            raise ValueError(
                f"--host-pattern renders an Istio Gateway and VirtualService; the mesh is {self.hint.mesh}:"
                " use --service-type LoadBalancer (or NodePort) to reach each pod from outside instead"
            )
        validate_host_pattern(self.host_pattern)
        if self.gateway_selector is not None:
            validate_selector(self.gateway_selector)
        if self.tcp_gateway_port_base is not None and not 1 <= self.tcp_gateway_port_base <= 65535:
            raise ValueError(
                f"--tcp-gateway-port-base must be a port number (1-65535), got {self.tcp_gateway_port_base}"
            )

    @property
    def selector(self) -> Mapping[str, str]:
        return self.gateway_selector if self.gateway_selector is not None else DEFAULT_GATEWAY_SELECTOR


def is_dns1123_label(text: str) -> bool:
    return len(text) <= 63 and bool(_DNS1123_LABEL.match(text))


def is_dns1035_label(text: str) -> bool:
    return len(text) <= 63 and bool(_DNS1035_LABEL.match(text))


def is_dns1123_subdomain(text: str) -> bool:
    return 0 < len(text) <= 253 and all(is_dns1123_label(part) for part in text.split("."))


def validate_host_pattern(pattern: str) -> None:
    """A pattern must name each pod apart ({pod} or {ordinal}) and expand to a DNS name."""
    keys = _PLACEHOLDER.findall(pattern)
    unknown = [k for k in keys if k not in HOST_PLACEHOLDERS]
    if unknown:
        raise ValueError(
            f"--host-pattern {pattern!r}: unknown placeholder {{{unknown[0]}}}; use"
            f" {', '.join('{' + k + '}' for k in HOST_PLACEHOLDERS)}"
        )
    if "pod" not in keys and "ordinal" not in keys:
        raise ValueError(
            f"--host-pattern {pattern!r} gives every pod the same host; include {{pod}} or {{ordinal}},"
            " e.g. '{pod}.example.com' or 'zk-{ordinal}.example.com'"
        )
    expand_host(pattern, pod="web-0", ordinal=0, statefulset="web", namespace="default")


def expand_host(pattern: str, *, pod: str, ordinal: int, statefulset: str, namespace: str) -> str:
    values = {"pod": pod, "ordinal": str(ordinal), "statefulset": statefulset, "namespace": namespace}

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ValueError(f"--host-pattern {pattern!r}: unknown placeholder {{{key}}}")
        return values[key]

    host = _PLACEHOLDER.sub(substitute, pattern)
    if not is_dns1123_subdomain(host):
        raise ValueError(
            f"--host-pattern {pattern!r} gives {host!r}, not a DNS name (lowercase letters, digits, '-' and"
            " '.'; no wildcard: each pod needs a host of its own)"
        )
    return host


def parse_selector(text: str) -> dict[str, str]:
    """``"istio=ingressgateway,app=edge"`` → labels; ValueError saying what is wrong."""
    selector: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--gateway-selector {text!r}: {item!r} is not KEY=VALUE (e.g. istio=ingressgateway)")
        selector[key.strip()] = value.strip()
    if not selector:
        raise ValueError("--gateway-selector is empty; give KEY=VALUE[,KEY=VALUE], e.g. istio=ingressgateway")
    validate_selector(selector)
    return selector


def validate_selector(selector: Mapping[str, str]) -> None:
    if not selector:
        raise ValueError("the gateway selector is empty: a Gateway must select its gateway pods")
    for key, value in selector.items():
        prefix, _, name = key.rpartition("/")
        if (prefix and not is_dns1123_subdomain(prefix)) or len(name) > 63 or not _LABEL_NAME.match(name):
            raise ValueError(f"gateway selector key {key!r} is not a valid label key")
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            raise ValueError(f"gateway selector value {value!r} (key {key}) is not a valid label value")


# --- ports ----------------------------------------------------------------------------------------


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
            from_app_protocol = _istio_protocol_of(self.app_protocol.lower(), exact=True)
            if from_app_protocol:
                return from_app_protocol
        return _istio_protocol_of(self.name, exact=False) or "TCP"

    @property
    def routing(self) -> Routing:
        return _ROUTING.get(self.istio_protocol, "none")

    @property
    def pod_port(self) -> int:
        return self.container_port if self.container_port is not None else self.port

    def describe(self) -> str:
        return f"{self.name} {self.port}/{self.protocol}"


def _istio_protocol_of(text: str, *, exact: bool) -> str | None:
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
    for container in _list(pod_spec.get("containers")):
        yield container
    # Native sidecars (init containers that keep running) serve ports too.
    for container in _list(pod_spec.get("initContainers")):
        if container.get("restartPolicy") == "Always":
            yield container


def _container_ports(pod_spec: Mapping[str, Any]) -> list[PodPort]:
    ports: list[PodPort] = []
    seen: set[tuple[int, str]] = set()
    for container in _containers(pod_spec):
        for item in _list(container.get("ports")):
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
        for item in _list(container.get("ports")):
            if isinstance(item.get("name"), str) and _is_port_number(item.get("containerPort")):
                named.setdefault(item["name"], item["containerPort"])
    return named


def _service_ports(service: Mapping[str, Any], pod_spec: Mapping[str, Any], service_name: str) -> list[PodPort]:
    named = _named_container_ports(pod_spec)
    ports: list[PodPort] = []
    for item in _list(_mapping(service.get("spec")).get("ports")):
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


def _is_port_number(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


# --- the decision ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
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


def decide(mesh: MeshContext, options: PerPodOptions) -> Decision:
    """Per mesh and version: ServiceEntries? Gateways? Which apiVersion? ValueError for impossible asks."""
    label = mesh.label if mesh.mesh in ("istio", "linkerd") else mesh.mesh  # "none", "unknown"
    evidence = _mesh_evidence(mesh, options.hint)
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
        return Decision(False, False, None, (note,))

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
    return Decision(service_entries, gateways, api_version, tuple(notes))


def _mesh_evidence(mesh: MeshContext, hint: MeshHint) -> str:
    """Where the mesh came from, in this command's words (detect() words it for the webhook)."""
    if mesh.mesh == hint.mesh and not mesh.evidence.startswith(("pod ", "istio-proxy", "linkerd-proxy")):
        return f"--mesh {hint.mesh}"
    return mesh.evidence


def _selector_text(selector: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in selector.items())


# --- the objects ----------------------------------------------------------------------------------


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


# --- rendering ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """The objects, in a stable order (per ordinal: Service, ServiceEntry, Gateway, VirtualService),
    and the notes saying what was rendered or skipped and why."""

    objects: list[dict[str, Any]]
    notes: list[str]


def render_documents(docs: Sequence[Mapping[str, Any]], options: PerPodOptions, origin: str = "input") -> Rendered:
    """Every StatefulSet in ``docs`` (Lists expanded), each with its governing Service from ``docs``."""
    options.validate()
    items = list(_expand_lists(docs))
    sets = [d for d in items if d.get("kind") == "StatefulSet"]
    services = [d for d in items if d.get("kind") == "Service"]
    if not sets:
        kinds = ", ".join(f"{d.get('kind') or 'document without kind'} {_name(d)}".strip() for d in items)
        raise InputError(f"{origin}: found no StatefulSet" + (f" (only: {kinds})" if kinds else ""))
    objects: list[dict[str, Any]] = []
    notes: list[str] = []
    used: set[int] = set()
    for sts in sets:
        governing = _governing_service(sts, services)
        if governing is not None:
            used.add(id(governing))
        # `kubectl get sts,svc -o yaml` after an earlier apply brings our own per-pod Services along:
        # they are what we render again, not Services of the user's to keep clear of.
        ours = [s for s in services if _same_namespace(s, sts) and _rendered_for(s, _name(sts))]
        used.update(id(s) for s in ours)
        theirs = [_name(s) for s in services if _same_namespace(s, sts) and not _rendered_for(s, _name(sts))]
        rendered = render_statefulset(sts, governing, options, services_in_input=theirs)
        objects.extend(rendered.objects)
        notes.extend(rendered.notes)
        if ours:
            notes.append(
                f"{len(ours)} Service(s) stsmesh rendered earlier for {_name(sts)} are in {origin}: read as"
                " earlier output, not as input"
            )
    ignored = [d for d in items if d.get("kind") != "StatefulSet" and id(d) not in used]
    if ignored:
        listed = ", ".join(f"{d.get('kind') or 'document without kind'} {_name(d)}".strip() for d in ignored)
        notes.append(f"ignored from {origin}: {listed} (only StatefulSets and their governing Services are read)")
    return Rendered(objects, notes)


def render_statefulset(
    sts: Mapping[str, Any],
    governing: Mapping[str, Any] | None,
    options: PerPodOptions,
    *,
    services_in_input: Sequence[str] = (),
) -> Rendered:
    """The per-pod objects of one StatefulSet; ``governing`` is its headless Service if the input has it."""
    options.validate()
    metadata = _mapping(sts.get("metadata"))
    set_name = metadata.get("name")
    if not isinstance(set_name, str) or not set_name:
        raise InputError("the StatefulSet has no metadata.name")
    spec = _mapping(sts.get("spec"))
    namespace = options.namespace or str(metadata.get("namespace") or "default")
    ordinals = _ordinals(spec, set_name)
    pods = [(ordinal, f"{set_name}-{ordinal}") for ordinal in ordinals]
    for _, pod in pods:
        if not is_dns1035_label(pod):
            raise InputError(
                f"StatefulSet {set_name}: pod {pod!r} cannot name a Service (a Service name starts with a letter,"
                " has only lowercase letters, digits and '-', at most 63 characters)"
            )
        if pod in services_in_input:
            raise InputError(
                f"the input already has a Service named {pod!r}: the per-pod Service of pod {pod} would replace it"
            )
    pod_spec = _mapping(_mapping(spec.get("template")).get("spec"))
    service_name = spec.get("serviceName") if isinstance(spec.get("serviceName"), str) else None

    notes: list[str] = []
    mesh = detect(pod_from_statefulset(sts, 0, namespace), options.hint)
    decision = decide(mesh, options)
    first_last = f"{pods[0][1]}..{pods[-1][1]}" if len(pods) > 1 else (pods[0][1] if pods else "none")
    notes.append(
        f"StatefulSet {namespace}/{set_name}: {len(pods)} pod(s) ({first_last}); {mesh.label}"
        f" ({_mesh_evidence(mesh, options.hint)})"
    )
    if not pods:
        notes.append(f"StatefulSet {set_name} has 0 replicas: nothing to render")
        return Rendered([], notes)

    ports, pod_dns, port_notes = _ports_and_dns(set_name, service_name, governing, pod_spec, services_in_input)
    notes.extend(port_notes)
    if not ports:
        raise InputError(
            f"StatefulSet {set_name}: no ports to expose (no governing Service with ports, no containerPort);"
            " declare the pod's ports"
        )
    publish_not_ready = (
        options.service_type == "ClusterIP"
        and governing is not None
        and _mapping(governing.get("spec")).get("publishNotReadyAddresses") is True
    )
    notes.append(_service_note(options.service_type, publish_not_ready, governing is not None, mesh))
    notes.extend(decision.notes)

    entry_ports: list[PodPort] = []
    if decision.service_entries:
        entry_ports, entry_notes = _service_entry_ports(ports, pod_dns)
        notes.extend(entry_notes)
    gateway_routes: dict[int, list[GatewayRoute]] = {}
    if decision.gateways:
        gateway_routes, gateway_notes = _gateway_routes(ports, ordinals, options.tcp_gateway_port_base)
        notes.extend(gateway_notes)

    owner = _owner_reference(metadata, set_name)
    if owner is None:
        notes.append(
            "no ownerReference: the StatefulSet has no metadata.uid (a local file). The objects are found by their"
            f" labels ({STATEFULSET_LABEL}={set_name}); render `kubectl get statefulset {set_name} -o yaml`"
            " to have them deleted with the StatefulSet"
        )

    api_version = decision.istio_api_version or ""
    objects: list[dict[str, Any]] = []
    for ordinal, pod in pods:
        objects.append(
            per_pod_service(
                pod,
                namespace,
                set_name,
                ordinal,
                ports,
                service_type=options.service_type,
                publish_not_ready=publish_not_ready,
                owner=owner,
            )
        )
        if entry_ports and service_name:
            host = f"{pod}.{service_name}.{namespace}.svc.{options.cluster_domain}"
            objects.append(
                service_entry(
                    pod,
                    namespace,
                    set_name,
                    ordinal,
                    host=host,
                    ports=entry_ports,
                    api_version=api_version,
                    owner=owner,
                )
            )
        routes = gateway_routes.get(ordinal, [])
        if routes and options.host_pattern is not None:
            host = expand_host(
                options.host_pattern, pod=pod, ordinal=ordinal, statefulset=set_name, namespace=namespace
            )
            common: dict[str, Any] = {"host": host, "routes": routes, "api_version": api_version, "owner": owner}
            objects.append(gateway(pod, namespace, set_name, ordinal, selector=options.selector, **common))
            objects.append(
                virtual_service(
                    pod,
                    namespace,
                    set_name,
                    ordinal,
                    destination_host=f"{pod}.{namespace}.svc.{options.cluster_domain}",
                    **common,
                )
            )
    notes.extend(_scale_notes(set_name, namespace, ordinals, objects))
    return Rendered(objects, notes)


def _ordinals(spec: Mapping[str, Any], set_name: str) -> list[int]:
    replicas = spec.get("replicas", 1)  # the apiserver's default
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise InputError(f"StatefulSet {set_name}: spec.replicas must be a whole number, got {replicas!r}")
    # spec.ordinals.start (Kubernetes 1.27+) moves the first ordinal; pods are <name>-<start>...
    start = _mapping(spec.get("ordinals")).get("start", 0)
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise InputError(f"StatefulSet {set_name}: spec.ordinals.start must be a whole number, got {start!r}")
    return list(range(start, start + replicas))


def _ports_and_dns(
    set_name: str,
    service_name: str | None,
    governing: Mapping[str, Any] | None,
    pod_spec: Mapping[str, Any],
    services_in_input: Sequence[str],
) -> tuple[list[PodPort], str, list[str]]:
    """The ports, whether pod DNS names exist ("yes", "maybe", "no"), and the notes saying why."""
    notes: list[str] = []
    if governing is not None and service_name:
        ports = _service_ports(governing, pod_spec, service_name)
        if ports:
            notes.append(f"ports from the headless Service {service_name}: {_port_list(ports)}")
            unresolved = [p for p in ports if p.container_port is None]
            if unresolved:
                notes.append(
                    f"targetPort of {_port_list(unresolved)} names no containerPort: the pod's own number is"
                    " unknown, the Service port is used for it"
                )
        else:
            ports = _container_ports(pod_spec)
            notes.append(f"the headless Service {service_name} declares no ports: ports from the containers")
        exposed = {p.container_port for p in ports}
        unexposed = [p for p in _container_ports(pod_spec) if p.container_port not in exposed]
        if unexposed:
            notes.append(
                f"the containers also declare {_port_list(unexposed)}, which the headless Service {service_name}"
                " does not: not exposed per pod (add them to that Service to expose them)"
            )
        headless = _mapping(governing.get("spec")).get("clusterIP") == "None"
        if not headless:
            notes.append(
                f"Service {service_name} governs the StatefulSet but is not headless (spec.clusterIP is not None):"
                " its pods get no DNS records of their own"
            )
        return ports, ("yes" if headless else "no"), notes

    ports = _container_ports(pod_spec)
    listed = _port_list(ports) or "none"
    if not service_name:
        notes.append(
            f"StatefulSet {set_name} names no serviceName: its pods have no DNS names; ports from the containers:"
            f" {listed}"
        )
        return ports, "no", notes
    others = [s for s in services_in_input if s != service_name]
    found = f" (it has: {', '.join(others)}, which is not the governing Service)" if others else ""
    notes.append(
        f"StatefulSet {set_name} names serviceName {service_name!r}, but the input has no Service {service_name!r}"
        f"{found}: ports from the containers: {listed}. The pods' DNS names <pod>.{service_name}.<ns>.svc exist"
        f" only once a headless Service {service_name!r} does"
    )
    return ports, "maybe", notes


def _port_list(ports: Sequence[PodPort]) -> str:
    return ", ".join(p.describe() for p in ports)


def _service_note(service_type: str, publish_not_ready: bool, has_governing: bool, mesh: MeshContext) -> str:
    text = f"Service per pod: {service_type}, selector {POD_NAME_LABEL}=<pod>"
    if service_type in OUTSIDE_SERVICE_TYPES:
        text += (
            "; externalTrafficPolicy Local: only the node running the pod answers, without a second hop, and"
            " the pod sees the client's address"
        )
        text += "; publishNotReadyAddresses left unset: clients outside reach only Ready pods"
        if mesh.mesh == "istio":
            text += (
                ". Istio: outside clients reach the pod's sidecar directly, without mTLS, so a STRICT"
                " PeerAuthentication refuses them (use --host-pattern for the ingress gateway instead)"
            )
    elif publish_not_ready:
        text += "; publishNotReadyAddresses true, as on the headless Service (peers must meet before they are Ready)"
    elif not has_governing:
        text += "; publishNotReadyAddresses left unset (no headless Service in the input to copy it from)"
    return text


def _service_entry_ports(ports: Sequence[PodPort], pod_dns: str) -> tuple[list[PodPort], list[str]]:
    notes: list[str] = []
    if pod_dns == "no":
        notes.append("ServiceEntry per pod: not rendered after all, the pods have no DNS names for it to name")
        return [], notes
    named: list[PodPort] = []
    for port in ports:  # two Service ports may lead to one pod port; an entry lists each pod port once
        if port.routing in ("host", "sni") and port.pod_port not in {p.pod_port for p in named}:
            named.append(port)
    tcp = [p for p in ports if p.routing == "port"]
    other = [p for p in ports if p.routing == "none"]
    if tcp:
        notes.append(
            f"ServiceEntry ports: plain TCP {_port_list(tcp)} left out. An entry without addresses matches TCP by"
            " port alone (Istio ServiceEntry reference: such a port 'must not be shared by any other service in the"
            " mesh'), so one entry per pod on the same port would take every pod's traffic; TCP to a pod's DNS"
            " name is addressed to the pod IP already. Name the port http-*/grpc-*/tls-* (or set appProtocol)"
            " if it speaks one of those"
        )
    if other:
        notes.append(f"ServiceEntry ports: {_port_list(other)} left out, Istio does not proxy UDP or SCTP")
    if not named:
        notes.append("ServiceEntry per pod: not rendered, no port Istio can route by name (HTTP, gRPC or TLS)")
        return [], notes
    protocols = ", ".join(f"{p.name} {p.pod_port} {p.istio_protocol} ({_protocol_evidence(p)})" for p in named)
    notes.append(f"ServiceEntry ports: {protocols}")
    if pod_dns == "maybe":
        notes.append(
            "ServiceEntry hosts name the governing Service from serviceName, which is not in the input: they"
            " resolve only once that headless Service exists"
        )
    return named, notes


def _protocol_evidence(port: PodPort) -> str:
    if port.app_protocol and _istio_protocol_of(port.app_protocol.lower(), exact=True):
        return f"appProtocol {port.app_protocol}"
    return f"port name {port.name}"


def _gateway_routes(
    ports: Sequence[PodPort], ordinals: Sequence[int], tcp_base: int | None
) -> tuple[dict[int, list[GatewayRoute]], list[str]]:
    notes: list[str] = []
    shared = [p for p in ports if p.routing in ("host", "sni")]
    tcp = [p for p in ports if p.routing == "port"]
    other = [p for p in ports if p.routing == "none"]
    routes: dict[int, list[GatewayRoute]] = {ordinal: [GatewayRoute(p.port, p) for p in shared] for ordinal in ordinals}
    if shared:
        notes.append(
            f"gateway ports {', '.join(str(p.port) for p in shared)} are shared by all pods (HTTP and gRPC routed by"
            " Host, TLS passed through by SNI): the ingress gateway's Service must expose them"
        )
    if tcp and tcp_base is None:
        notes.append(
            f"gateway: plain TCP {_port_list(tcp)} left out. TCP carries no host name, so one gateway port reaches"
            " one pod only: pass --tcp-gateway-port-base N to give every pod's TCP port a gateway port of its own"
        )
    elif tcp and tcp_base is not None:
        last = tcp_base + len(ordinals) * len(tcp) - 1
        if last > 65535:
            raise ValueError(
                f"--tcp-gateway-port-base {tcp_base}: {len(ordinals)} pods x {len(tcp)} TCP ports need gateway ports"
                f" up to {last}, past 65535; choose a lower base"
            )
        clash = sorted({p.port for p in shared} & set(range(tcp_base, last + 1)))
        if clash:
            raise ValueError(
                f"--tcp-gateway-port-base {tcp_base}: gateway ports {tcp_base}-{last} include {clash[0]}, which the"
                " HTTP/gRPC/TLS ports use already; choose a base outside that range"
            )
        for index, ordinal in enumerate(ordinals):
            for k, port in enumerate(tcp):
                routes[ordinal].append(GatewayRoute(tcp_base + index * len(tcp) + k, port))
        notes.append(
            f"gateway: plain TCP {_port_list(tcp)} on gateway ports {tcp_base}-{last}, one per pod and port (pod i,"
            f" port k: {tcp_base} + {len(tcp)}*i + k): the ingress gateway's Service must expose them"
        )
    if other:
        notes.append(f"gateway: {_port_list(other)} left out, Istio gateways do not proxy UDP or SCTP")
    if not any(routes.values()):
        notes.append("Gateway + VirtualService: not rendered, no port can go through the ingress gateway")
    return routes, notes


def _owner_reference(metadata: Mapping[str, Any], set_name: str) -> dict[str, Any] | None:
    uid = metadata.get("uid")
    if not isinstance(uid, str) or not uid:
        return None
    # Not a controller reference and no blockOwnerDeletion: the StatefulSet controller does not manage
    # these objects, and blockOwnerDeletion needs rights on statefulsets/finalizers.
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": set_name, "uid": uid}


def _scale_notes(
    set_name: str, namespace: str, ordinals: Sequence[int], objects: Sequence[Mapping[str, Any]]
) -> list[str]:
    # Fully qualified: a bare "gateways" may mean the Kubernetes Gateway API's kind.
    resource_of = {
        "Service": "services",
        "ServiceEntry": "serviceentries.networking.istio.io",
        "Gateway": "gateways.networking.istio.io",
        "VirtualService": "virtualservices.networking.istio.io",
    }
    resources = [resource_of[o["kind"]] for o in objects]
    unique = ",".join(dict.fromkeys(resources))
    kept = ",".join(str(o) for o in ordinals)
    return [
        f"scaling: these objects cover ordinals {ordinals[0]}-{ordinals[-1]}. After scaling down, the objects of"
        " removed pods stay and lead nowhere (a per-pod Service without its pod refuses connections): render"
        " again, and delete the leftovers with",
        f"{COMMAND_PREFIX}kubectl delete {unique} -n {namespace}"
        f" -l '{STATEFULSET_LABEL}={set_name},{ORDINAL_LABEL} notin ({kept})'",
    ]


# --- input helpers --------------------------------------------------------------------------------


def _governing_service(sts: Mapping[str, Any], services: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    name = _mapping(sts.get("spec")).get("serviceName")
    if not isinstance(name, str) or not name:
        return None
    for service in services:
        if _name(service) == name and _same_namespace(service, sts):
            return service
    return None


def _rendered_for(doc: Mapping[str, Any], statefulset: str) -> bool:
    labels = _mapping(_mapping(doc.get("metadata")).get("labels"))
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE and labels.get(STATEFULSET_LABEL) == statefulset


def _same_namespace(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    def namespace(doc: Mapping[str, Any]) -> str:
        return str(_mapping(doc.get("metadata")).get("namespace") or "default")

    return namespace(a) == namespace(b)


def _expand_lists(docs: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for doc in docs:
        kind = doc.get("kind")
        if isinstance(kind, str) and kind.endswith("List"):
            yield from _list(doc.get("items"))
        else:
            yield doc


def _name(doc: Mapping[str, Any]) -> str:
    name = _mapping(doc.get("metadata")).get("name")
    return name if isinstance(name, str) else ""


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []
