"""Structural checks for rendered per-pod objects, independent of webhook.perpod.render's own code.

Kubernetes: every object has apiVersion, kind and metadata.name/namespace; Service names are DNS-1035
labels; Service ports are 1-65535 with unique names that are DNS-1123 labels (the apiserver's rule
for Service port names: the real 1.20 apiserver accepts a 20-character one) and unique (port,
protocol); a named targetPort is an IANA_SVC_NAME (at most 15 characters, a-z0-9 and '-', at least
one letter, no '--', the rule for container port names); externalTrafficPolicy only on
LoadBalancer/NodePort.

Istio: the fields istio/api marks ``[(google.api.field_behavior) = REQUIRED]`` in
``networking/v1beta1`` (the v1 and v1alpha3 messages are copies of it, ``+istio.io/sync-from``):

* service_entry.proto — ``ServiceEntry.hosts``, ``ServiceEntry.ports``, ``ServiceEntry.resolution``;
* gateway.proto — ``Gateway.servers``, ``Gateway.selector``, ``Server.port``, ``Server.hosts``,
  ``Port.number``, ``Port.protocol`` (one of HTTP|HTTPS|GRPC|HTTP2|MONGO|TCP|TLS). ``Port.name`` is
  optional in the current proto but required by older schemas, so we require it too;
* virtual_service.proto — ``Destination.host``, ``RouteDestination.destination``,
  ``HTTPRouteDestination.destination``, ``TLSRoute.match``, ``TLSMatchAttributes.sniHosts``.
  ``VirtualService.hosts`` is not marked REQUIRED (a delegate VirtualService leaves it empty), but one
  bound to a Gateway needs hosts that match the Gateway server's hosts (gateway.proto, Server.hosts),
  so we require that.

``assert_consistent`` checks the rendered set as a whole: each VirtualService names a rendered Gateway,
its hosts are that Gateway's, each route's match port is a server of that Gateway of the same kind
(http ↔ HTTP/HTTP2/GRPC, tls ↔ TLS passthrough, tcp ↔ TCP), and each destination is a rendered
per-pod Service port.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
ISTIO_GROUP_VERSIONS = ("networking.istio.io/v1alpha3", "networking.istio.io/v1beta1", "networking.istio.io/v1")
GATEWAY_PROTOCOLS = ("HTTP", "HTTPS", "GRPC", "HTTP2", "MONGO", "TCP", "TLS")
SERVICE_ENTRY_PROTOCOLS = ("HTTP", "HTTPS", "GRPC", "GRPC-Web", "HTTP2", "MONGO", "TCP", "TLS")
ROUTE_KIND_OF_PROTOCOL = {"HTTP": "http", "HTTP2": "http", "GRPC": "http", "TLS": "tls", "TCP": "tcp"}


def is_service_port_name(name: object) -> bool:
    return isinstance(name, str) and len(name) <= 63 and bool(DNS1123_LABEL.match(name))


def is_container_port_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and len(name) <= 15
        and bool(IANA_SVC_NAME.match(name))
        and "--" not in name
        and any(c.isalpha() for c in name)
    )


def is_port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def assert_valid_object(obj: Mapping[str, Any]) -> None:
    where = f"{obj.get('kind')} {obj.get('metadata', {}).get('name')}"
    assert isinstance(obj.get("apiVersion"), str) and obj["apiVersion"], f"{where}: apiVersion"
    assert isinstance(obj.get("kind"), str) and obj["kind"], f"{where}: kind"
    metadata = obj.get("metadata")
    assert isinstance(metadata, dict), f"{where}: metadata"
    assert isinstance(metadata.get("name"), str) and metadata["name"], f"{where}: metadata.name"
    assert isinstance(metadata.get("namespace"), str) and DNS1123_LABEL.match(metadata["namespace"]), where
    for key, value in (metadata.get("labels") or {}).items():
        assert isinstance(value, str) and len(value) <= 63, f"{where}: label {key}={value!r} must be a short string"
    kind = obj["kind"]
    if kind == "Service":
        assert obj["apiVersion"] == "v1", where
        assert_valid_service(obj)
    elif kind in ("ServiceEntry", "Gateway", "VirtualService"):
        assert obj["apiVersion"] in ISTIO_GROUP_VERSIONS, f"{where}: {obj['apiVersion']}"
        {"ServiceEntry": assert_valid_service_entry, "Gateway": assert_valid_gateway}.get(
            kind, assert_valid_virtual_service
        )(obj)
    else:
        raise AssertionError(f"unexpected kind {kind}")


def assert_valid_service(svc: Mapping[str, Any]) -> None:
    name = svc["metadata"]["name"]
    assert len(name) <= 63 and DNS1035_LABEL.match(name), f"Service name {name!r} is not a DNS-1035 label"
    spec = svc["spec"]
    assert spec.get("type", "ClusterIP") in ("ClusterIP", "LoadBalancer", "NodePort"), name
    assert spec.get("selector"), f"Service {name}: a per-pod Service selects its pod"
    ports = spec.get("ports")
    assert isinstance(ports, list) and ports, f"Service {name}: ports"
    names = [p.get("name") for p in ports]
    assert all(is_service_port_name(n) for n in names), f"Service {name}: port names {names}"
    assert len(set(names)) == len(names), f"Service {name}: duplicate port names {names}"
    keys = [(p.get("port"), p.get("protocol", "TCP")) for p in ports]
    assert len(set(keys)) == len(keys), f"Service {name}: duplicate ports {keys}"
    for port in ports:
        assert is_port(port.get("port")), f"Service {name}: port {port}"
        assert port.get("protocol", "TCP") in ("TCP", "UDP", "SCTP"), f"Service {name}: {port}"
        target = port.get("targetPort", port.get("port"))
        assert is_port(target) or is_container_port_name(target), f"Service {name}: targetPort {target!r}"
        assert "nodePort" not in port, f"Service {name}: a rendered nodePort would collide between pods"
    if "externalTrafficPolicy" in spec:
        assert spec["type"] in ("LoadBalancer", "NodePort"), f"Service {name}: externalTrafficPolicy on {spec['type']}"
        assert spec["externalTrafficPolicy"] in ("Local", "Cluster"), name


def assert_valid_service_entry(entry: Mapping[str, Any]) -> None:
    spec = entry["spec"]
    name = entry["metadata"]["name"]
    assert _non_empty_strings(spec.get("hosts")), f"ServiceEntry {name}: hosts is REQUIRED"
    assert spec.get("resolution") in ("NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN"), f"ServiceEntry {name}: resolution"
    assert spec.get("location", "MESH_EXTERNAL") in ("MESH_EXTERNAL", "MESH_INTERNAL"), name
    ports = spec.get("ports")
    assert isinstance(ports, list) and ports, f"ServiceEntry {name}: ports is REQUIRED"
    for port in ports:
        assert is_port(port.get("number")), f"ServiceEntry {name}: port.number {port}"
        assert port.get("protocol") in SERVICE_ENTRY_PROTOCOLS, f"ServiceEntry {name}: port.protocol {port}"
        assert isinstance(port.get("name"), str) and port["name"], f"ServiceEntry {name}: port.name {port}"
    numbers = [p["number"] for p in ports]
    assert len(set(numbers)) == len(numbers), f"ServiceEntry {name}: duplicate port numbers {numbers}"


def assert_valid_gateway(gateway: Mapping[str, Any]) -> None:
    spec = gateway["spec"]
    name = gateway["metadata"]["name"]
    selector = spec.get("selector")
    assert isinstance(selector, dict) and selector, f"Gateway {name}: selector is REQUIRED"
    servers = spec.get("servers")
    assert isinstance(servers, list) and servers, f"Gateway {name}: servers is REQUIRED"
    for server in servers:
        port = server.get("port")
        assert isinstance(port, dict), f"Gateway {name}: server.port is REQUIRED"
        assert is_port(port.get("number")), f"Gateway {name}: port.number {port}"
        assert port.get("protocol") in GATEWAY_PROTOCOLS, f"Gateway {name}: port.protocol {port}"
        assert isinstance(port.get("name"), str) and port["name"], f"Gateway {name}: port.name {port}"
        assert _non_empty_strings(server.get("hosts")), f"Gateway {name}: server.hosts is REQUIRED"
        if port["protocol"] == "TLS":
            assert server.get("tls", {}).get("mode") == "PASSTHROUGH", (
                f"Gateway {name}: TLS without a cert passes through"
            )


def assert_valid_virtual_service(vs: Mapping[str, Any]) -> None:
    spec = vs["spec"]
    name = vs["metadata"]["name"]
    assert _non_empty_strings(spec.get("hosts")), f"VirtualService {name}: hosts (bound to a Gateway)"
    rules = [(kind, rule) for kind in ("http", "tls", "tcp") for rule in spec.get(kind) or []]
    assert rules, f"VirtualService {name}: no routes"
    for kind, rule in rules:
        destinations = rule.get("route")
        assert isinstance(destinations, list) and destinations, f"VirtualService {name}: {kind} route"
        for item in destinations:
            destination = item.get("destination")
            assert isinstance(destination, dict), f"VirtualService {name}: destination is REQUIRED"
            assert isinstance(destination.get("host"), str) and destination["host"], f"VirtualService {name}: host"
        if kind == "tls":
            matches = rule.get("match")
            assert isinstance(matches, list) and matches, f"VirtualService {name}: TLSRoute.match is REQUIRED"
            assert all(_non_empty_strings(m.get("sniHosts")) for m in matches), f"VirtualService {name}: sniHosts"


def assert_consistent(objects: Sequence[Mapping[str, Any]]) -> None:
    """The rendered set refers only to itself: VirtualService → Gateway servers → Service ports."""
    names = [(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects]
    assert len(set(names)) == len(names), f"duplicate objects: {names}"
    gateways = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects if o["kind"] == "Gateway"}
    services = {
        f"{o['metadata']['name']}.{o['metadata']['namespace']}.svc.cluster.local": {
            p["port"] for p in o["spec"]["ports"]
        }
        for o in objects
        if o["kind"] == "Service"
    }
    bound: set[tuple[str, str]] = set()
    for vs in (o for o in objects if o["kind"] == "VirtualService"):
        namespace = vs["metadata"]["namespace"]
        for gateway_name in vs["spec"]["gateways"]:
            gateway = gateways.get((namespace, gateway_name))
            assert gateway is not None, f"VirtualService {vs['metadata']['name']} names a Gateway not rendered"
            bound.add((namespace, gateway_name))
            servers = {s["port"]["number"]: s for s in gateway["spec"]["servers"]}
            for server in servers.values():
                assert set(vs["spec"]["hosts"]) <= set(server["hosts"]), "VirtualService hosts must be the Gateway's"
            for kind in ("http", "tls", "tcp"):
                for rule in vs["spec"].get(kind) or []:
                    for match in rule["match"]:
                        server = servers.get(match["port"])
                        assert server is not None, f"{kind} route on port {match['port']}: no Gateway server"
                        protocol = server["port"]["protocol"]
                        assert ROUTE_KIND_OF_PROTOCOL[protocol] == kind, f"{kind} route on a {protocol} server"
                    for item in rule["route"]:
                        destination = item["destination"]
                        assert destination["host"] in services, f"destination {destination['host']} not rendered"
                        assert destination["port"]["number"] in services[destination["host"]], destination
    assert bound == set(gateways), f"Gateways without a VirtualService: {set(gateways) - bound}"


def kinds_per_pod(objects: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """``{"zk-0": ["Service", "ServiceEntry"], ...}`` in rendered order."""
    result: dict[str, list[str]] = {}
    for obj in objects:
        result.setdefault(obj["metadata"]["name"], []).append(obj["kind"])
    return result


def _non_empty_strings(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)
