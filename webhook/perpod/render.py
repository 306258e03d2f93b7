"""Pure: per-pod addressing for a StatefulSet — the objects that let a client reach *one* pod.

StatefulSet pods have stable names, but only the governing headless Service gives them DNS records,
and only inside the cluster. Clients that must talk to a particular member (a Thanos querier to each
Prometheus, a ZooKeeper client to one server, anything outside the cluster) need more. This module
renders, for the mesh and its version, the objects each pod needs (:func:`render_documents`,
:func:`render_statefulset`):

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

The parts live beside this module: the options in :mod:`webhook.perpod.options`, the ports and
Istio's protocol selection in :mod:`webhook.perpod.ports`, which Istio objects a mesh version needs
in :mod:`webhook.perpod.plan`, and the object builders in :mod:`webhook.perpod.objects`. The
command-line edge is :mod:`webhook.perpod.command`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webhook.core.inputs import InputError, ordinals_of, pod_from_statefulset
from webhook.core.mesh import MeshContext, detect
from webhook.core.shapes import POD_NAME_LABEL, expand_lists, mapping, metadata_map, metadata_text, name_of
from webhook.perpod.objects import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    ORDINAL_LABEL,
    STATEFULSET_LABEL,
    GatewayRoute,
    gateway,
    per_pod_service,
    service_entry,
    virtual_service,
)
from webhook.perpod.options import OUTSIDE_SERVICE_TYPES, PerPodOptions, expand_host, is_dns1035_label
from webhook.perpod.plan import mesh_evidence, plan_for
from webhook.perpod.ports import PodPort, container_ports, istio_protocol_of, service_ports

# A note that starts with this is a command to run as is (printers must not wrap it).
COMMAND_PREFIX = "$ "


@dataclass(frozen=True)
class Rendered:
    """The objects, in a stable order (per ordinal: Service, ServiceEntry, Gateway, VirtualService),
    and the notes saying what was rendered or skipped and why."""

    objects: list[dict[str, Any]]
    notes: list[str]


def render_documents(docs: Sequence[Mapping[str, Any]], options: PerPodOptions, origin: str = "input") -> Rendered:
    """Every StatefulSet in ``docs`` (Lists expanded), each with its governing Service from ``docs``."""
    options.validate()
    items = list(expand_lists(docs))
    sets = [d for d in items if d.get("kind") == "StatefulSet"]
    services = [d for d in items if d.get("kind") == "Service"]
    if not sets:
        kinds = ", ".join(f"{d.get('kind') or 'document without kind'} {name_of(d)}".strip() for d in items)
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
        ours = [s for s in services if _same_namespace(s, sts) and _rendered_for(s, name_of(sts))]
        used.update(id(s) for s in ours)
        theirs = [name_of(s) for s in services if _same_namespace(s, sts) and not _rendered_for(s, name_of(sts))]
        rendered = render_statefulset(sts, governing, options, services_in_input=theirs)
        objects.extend(rendered.objects)
        notes.extend(rendered.notes)
        if ours:
            notes.append(
                f"{len(ours)} Service(s) stsmesh rendered earlier for {name_of(sts)} are in {origin}: read as"
                " earlier output, not as input"
            )
    ignored = [d for d in items if d.get("kind") != "StatefulSet" and id(d) not in used]
    if ignored:
        listed = ", ".join(f"{d.get('kind') or 'document without kind'} {name_of(d)}".strip() for d in ignored)
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
    set_name = name_of(sts)
    if not set_name:
        raise InputError("the StatefulSet has no metadata.name")
    spec = mapping(sts.get("spec"))
    namespace = options.namespace or metadata_text(sts, "namespace") or "default"
    ordinals = ordinals_of(spec, set_name)
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
    pod_spec = mapping(mapping(spec.get("template")).get("spec"))
    service_name = spec.get("serviceName") if isinstance(spec.get("serviceName"), str) else None

    notes: list[str] = []
    mesh = detect(pod_from_statefulset(sts, None, namespace), options.hint)
    plan = plan_for(mesh, options)
    first_last = f"{pods[0][1]}..{pods[-1][1]}" if len(pods) > 1 else (pods[0][1] if pods else "none")
    notes.append(
        f"StatefulSet {namespace}/{set_name}: {len(pods)} pod(s) ({first_last}); {mesh.label}"
        f" ({mesh_evidence(mesh, options.hint)})"
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
        and mapping(governing.get("spec")).get("publishNotReadyAddresses") is True
    )
    notes.append(_service_note(options.service_type, publish_not_ready, governing is not None, mesh))
    notes.extend(plan.notes)

    entry_ports: list[PodPort] = []
    if plan.service_entries:
        entry_ports, entry_notes = _service_entry_ports(ports, pod_dns)
        notes.extend(entry_notes)
    gateway_routes: dict[int, list[GatewayRoute]] = {}
    if plan.gateways:
        gateway_routes, gateway_notes = _gateway_routes(ports, ordinals, options.tcp_gateway_port_base)
        notes.extend(gateway_notes)

    owner = _owner_reference(sts, set_name)
    if owner is None:
        notes.append(
            "no ownerReference: the StatefulSet has no metadata.uid (a local file). The objects are found by their"
            f" labels ({STATEFULSET_LABEL}={set_name}); render `kubectl get statefulset {set_name} -o yaml`"
            " to have them deleted with the StatefulSet"
        )

    api_version = plan.istio_api_version or ""
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
        ports = service_ports(governing, pod_spec, service_name)
        if ports:
            notes.append(f"ports from the headless Service {service_name}: {_port_list(ports)}")
            unresolved = [p for p in ports if p.container_port is None]
            if unresolved:
                notes.append(
                    f"targetPort of {_port_list(unresolved)} names no containerPort: the pod's own number is"
                    " unknown, the Service port is used for it"
                )
        else:
            ports = container_ports(pod_spec)
            notes.append(f"the headless Service {service_name} declares no ports: ports from the containers")
        exposed = {p.container_port for p in ports}
        unexposed = [p for p in container_ports(pod_spec) if p.container_port not in exposed]
        if unexposed:
            notes.append(
                f"the containers also declare {_port_list(unexposed)}, which the headless Service {service_name}"
                " does not: not exposed per pod (add them to that Service to expose them)"
            )
        headless = mapping(governing.get("spec")).get("clusterIP") == "None"
        if not headless:
            notes.append(
                f"Service {service_name} governs the StatefulSet but is not headless (spec.clusterIP is not None):"
                " its pods get no DNS records of their own"
            )
        return ports, ("yes" if headless else "no"), notes

    ports = container_ports(pod_spec)
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
    if port.app_protocol and istio_protocol_of(port.app_protocol.lower(), exact=True):
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


def _owner_reference(sts: Mapping[str, Any], set_name: str) -> dict[str, Any] | None:
    uid = metadata_text(sts, "uid")
    if not uid:
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
    name = mapping(sts.get("spec")).get("serviceName")
    if not isinstance(name, str) or not name:
        return None
    for service in services:
        if name_of(service) == name and _same_namespace(service, sts):
            return service
    return None


def _rendered_for(doc: Mapping[str, Any], statefulset: str) -> bool:
    labels = metadata_map(doc, "labels")
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE and labels.get(STATEFULSET_LABEL) == statefulset


def _same_namespace(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    def namespace(doc: Mapping[str, Any]) -> str:
        return metadata_text(doc, "namespace") or "default"

    return namespace(a) == namespace(b)
