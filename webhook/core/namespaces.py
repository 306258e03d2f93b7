"""Pure: what a namespace's labels and the cluster's control planes say about the mesh of a new pod.

On the first call the apiserver sends the pod, not its namespace, and the mesh's injector has not
run yet, so the pod usually carries no evidence of its mesh. In a normal cluster the namespace
chooses it: ``istio-injection=enabled``, ``istio.io/rev=<revision>``, ``istio.io/dataplane-mode=ambient``,
Linkerd's ``linkerd.io/inject: enabled`` annotation, Kuma's ``kuma.io/sidecar-injection=enabled``.
:class:`MeshKnowledge` holds those namespace facts and the control planes installed (their
versions; Istio's inbound policy per revision), as the server's watch keeps them or the dry-run is
told; :meth:`MeshKnowledge.hint_for` turns them into the :class:`~webhook.core.mesh.MeshHint` the
data-plane model reads. A lookup in plain dicts: nothing here calls the API.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from webhook.core.mesh import (
    AMBIENT_LABEL,
    FACTS,
    InboundMode,
    MeshHint,
    Version,
    format_version,
    image_tag,
    parse_version,
)
from webhook.core.shapes import items, mapping, metadata_map, name_of, text

ISTIO_INJECTION_LABEL = "istio-injection"
ISTIO_REVISION_LABEL = "istio.io/rev"
LINKERD_INJECT_ANNOTATION = "linkerd.io/inject"
KUMA_INJECTION_LABEL = "kuma.io/sidecar-injection"
DEFAULT_REVISION = "default"


@dataclass(frozen=True)
class IstioRevision:
    """One installed Istio control plane: its version, where its sidecars deliver inbound traffic
    (``localhost`` under ``meshConfig.inboundTrafficPolicy.mode: LOCALHOST``), whether it injects
    native sidecars."""

    version: Version | None = None
    delivery: InboundMode | None = None
    native: bool | None = None


@dataclass(frozen=True)
class ConsulInjector:
    """consul-k8s's connect injector as its Deployment configures it (charts/consul/templates/
    connect-inject-deployment.yaml: ``-default-inject``, ``-allow-k8s-namespace``, ``-deny-k8s-namespace``,
    each list flag repeated per entry; control-plane/connect-inject/common ShouldIgnore: kube-system,
    kube-public and local-path-storage never, deny wins, ``*`` allows all)."""

    default_inject: bool = False
    allow: frozenset[str] = frozenset({"*"})
    deny: frozenset[str] = frozenset()
    version: Version | None = None

    def injects_into(self, namespace: str) -> bool:
        if not self.default_inject or namespace in ("kube-system", "kube-public", "local-path-storage"):
            return False
        return namespace not in self.deny and ("*" in self.allow or namespace in self.allow)


@dataclass(frozen=True)
class ControlPlanes:
    """The meshes installed in the cluster, as far as known (None: not seen)."""

    istio: Mapping[str, IstioRevision] = field(default_factory=dict)
    """Istio revisions (and revision tags) by name; ``default`` is what ``istio-injection=enabled`` uses."""
    linkerd: Version | None = None
    kuma: Version | None = None
    cilium: bool = False
    consul: ConsulInjector | None = None


@dataclass(frozen=True)
class NamespaceFacts:
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MeshKnowledge:
    """Namespaces and control planes: a snapshot, replaced whole when the cluster changes."""

    namespaces: Mapping[str, NamespaceFacts] = field(default_factory=dict)
    planes: ControlPlanes = field(default_factory=ControlPlanes)
    _hints: dict[str, MeshHint | None] = field(init=False, repr=False, compare=False)
    """Each namespace's hint, worked out once per snapshot: a review only looks it up."""

    def __post_init__(self) -> None:
        hints = {
            name: namespace_hint(name, facts.labels, facts.annotations, self.planes)
            for name, facts in self.namespaces.items()
        }
        object.__setattr__(self, "_hints", hints)

    def hint_for(self, namespace: str) -> MeshHint | None:
        """What the namespace and the control planes say about a new pod there; None when nothing."""
        return self._hints.get(namespace)

    def with_namespace(self, namespace: str, facts: NamespaceFacts) -> MeshKnowledge:
        return MeshKnowledge({**self.namespaces, namespace: facts}, self.planes)


def namespace_hint(
    namespace: str, labels: Mapping[str, str], annotations: Mapping[str, str], planes: ControlPlanes
) -> MeshHint | None:
    """The mesh that injects into (or captures) new pods of ``namespace``. Istio's own precedence:
    ``istio-injection`` over ``istio.io/rev``; a sidecar over ambient."""
    where = f"namespace {namespace}"
    injection = labels.get(ISTIO_INJECTION_LABEL)
    revision = labels.get(ISTIO_REVISION_LABEL)
    if injection == "enabled" or (injection is None and revision):
        name = DEFAULT_REVISION if injection == "enabled" else str(revision)
        known = planes.istio.get(name, IstioRevision())
        label = f"{ISTIO_INJECTION_LABEL}=enabled" if injection == "enabled" else f"{ISTIO_REVISION_LABEL}={name}"
        source = f"{where} label {label}" + _version_source("Istio", known.version, f"revision {name}")
        if known.delivery == "localhost":
            source += ", inboundTrafficPolicy LOCALHOST"
        return MeshHint("istio", known.version, "sidecar", known.delivery, known.native, source)
    if labels.get(AMBIENT_LABEL) == "ambient":
        known = planes.istio.get(DEFAULT_REVISION, IstioRevision())
        source = f"{where} label {AMBIENT_LABEL}=ambient" + _version_source("Istio", known.version, "default")
        # ztunnel delivers to the pod IP (the model says so for ambient pods); a pod there that asks
        # for a sidecar gets the revision's own delivery
        return MeshHint("istio", known.version, "ambient", known.delivery, known.native, source)
    if annotations.get(LINKERD_INJECT_ANNOTATION) == "enabled":
        source = f"{where} annotation {LINKERD_INJECT_ANNOTATION}=enabled" + _version_source("Linkerd", planes.linkerd)
        return MeshHint("linkerd", planes.linkerd, "sidecar", None, None, source)
    if text(labels.get(KUMA_INJECTION_LABEL)).lower() in FACTS["kuma"].inject_values:
        source = f"{where} label {KUMA_INJECTION_LABEL}=enabled" + _version_source("Kuma", planes.kuma)
        return MeshHint("kuma", planes.kuma, "sidecar", None, None, source)
    if planes.consul is not None and planes.consul.injects_into(namespace):
        source = f"{where}: consul-k8s injects by default (-default-inject=true)" + _version_source(
            "Consul", planes.consul.version
        )
        return MeshHint("consul", planes.consul.version, "sidecar", None, None, source)
    if injection == "disabled" or annotations.get(LINKERD_INJECT_ANNOTATION) == "disabled":
        return MeshHint("none", source=f"{where} opts out of injection")
    if planes.cilium:
        return MeshHint("cilium", source=f"{where}: no sidecar mesh; the cluster runs Cilium")
    return None


def _version_source(title: str, version: Version | None, control_plane: str = "") -> str:
    of = f" {control_plane}" if control_plane else ""
    if version is None:
        return f" ({title}{of} version not known)"
    return f" ({title}{of} {format_version(version)})"


def namespace_facts(namespace: Mapping[str, Any]) -> tuple[str, NamespaceFacts]:
    """The name and facts of a ``v1`` Namespace object (as a watch lists it, or a dry-run input holds it)."""
    labels = {k: v for k, v in metadata_map(namespace, "labels").items() if isinstance(v, str)}
    annotations = {k: v for k, v in metadata_map(namespace, "annotations").items() if isinstance(v, str)}
    return name_of(namespace), NamespaceFacts(labels, annotations)


# --- control planes from the cluster's Deployments -------------------------------------------------

ISTIOD_SELECTOR = "app=istiod"
"""istiod{-<revision>} Deployments (istio/istio manifests/charts/istio-control/istio-discovery)."""
LINKERD_SELECTOR = "linkerd.io/control-plane-component=destination"
KUMA_SELECTOR = "app=kuma-control-plane"
CONSUL_SELECTOR = "component=connect-injector"
CILIUM_SELECTOR = "k8s-app=cilium"
"""The cilium agent DaemonSet (cilium/cilium install/kubernetes/cilium/templates/cilium-agent)."""
CONTROL_PLANE_SELECTORS = (ISTIOD_SELECTOR, LINKERD_SELECTOR, KUMA_SELECTOR, CONSUL_SELECTOR)
"""The control-plane Deployments, one list each (a label selector cannot OR across keys)."""


def control_planes(
    deployments: Mapping[str, Mapping[str, Any]],
    mesh_configs: Mapping[str, InboundMode] | None = None,
    cilium: bool = False,
) -> ControlPlanes:
    """The meshes' control planes as their Deployments show them: Istio revisions (label
    ``istio.io/rev``, none meaning ``default``) with the version of the ``discovery`` image and the
    delivery their mesh config sets (``mesh_configs``, by revision: :func:`istio_mesh_delivery`);
    Linkerd's destination controller; Kuma's control plane. ``deployments`` is keyed by namespace/name."""
    deliveries = mesh_configs or {}
    istio: dict[str, IstioRevision] = {}
    linkerd: Version | None = None
    kuma: Version | None = None
    consul: ConsulInjector | None = None
    for deployment in deployments.values():
        labels = metadata_map(deployment, "labels")
        version = _image_version(deployment)
        if labels.get("app") == "istiod":
            revision = text(labels.get(ISTIO_REVISION_LABEL)) or DEFAULT_REVISION
            istio[revision] = IstioRevision(version, deliveries.get(revision), _native_sidecars(deployment))
        elif labels.get("linkerd.io/control-plane-component") == "destination":
            linkerd = version
        elif labels.get("app") == "kuma-control-plane":
            kuma = version
        elif labels.get("component") == "connect-injector":
            consul = _consul_injector(deployment, version)
    if DEFAULT_REVISION not in istio and len(istio) == 1:
        istio[DEFAULT_REVISION] = next(iter(istio.values()))  # one control plane: istio-injection uses it
    return ControlPlanes(istio, linkerd, kuma, cilium, consul)


_FLAG = re.compile(r"-(default-inject|allow-k8s-namespace|deny-k8s-namespace)=\"?([^\"\s\\]+)\"?")


def _consul_injector(deployment: Mapping[str, Any], version: Version | None) -> ConsulInjector:
    template = mapping(mapping(deployment.get("spec")).get("template"))
    words = []
    for container in items(mapping(template.get("spec")).get("containers")):
        for field_name in ("command", "args"):
            words += [w for w in items(mapping(container).get(field_name)) if isinstance(w, str)]
    found = _FLAG.findall(" ".join(words))
    default = [value for name, value in found if name == "default-inject"]
    allow = frozenset(value for name, value in found if name == "allow-k8s-namespace")
    deny = frozenset(value for name, value in found if name == "deny-k8s-namespace")
    # inject-connect's own default is true; the chart always passes connectInject.default (false)
    return ConsulInjector(default[-1] == "true" if default else True, allow or frozenset({"*"}), deny, version)


def _native_sidecars(deployment: Mapping[str, Any]) -> bool | None:
    """Whether istiod injects native sidecars, where its Deployment says so: env ENABLE_NATIVE_SIDECARS
    ``true``/``false`` (pilot/pkg/features). Not set: None — from 1.27 the default depends on every
    node's kubelet being 1.33 or newer, which stsmesh does not read, so it keeps the hold (harmless)."""
    template = mapping(mapping(deployment.get("spec")).get("template"))
    for container in items(mapping(template.get("spec")).get("containers")):
        for entry in items(mapping(container).get("env")):
            if isinstance(entry, dict) and entry.get("name") == "ENABLE_NATIVE_SIDECARS":
                value = text(entry.get("value")).lower()
                return True if value == "true" else False if value == "false" else None
    return None


def _image_version(deployment: Mapping[str, Any]) -> Version | None:
    template = mapping(mapping(deployment.get("spec")).get("template"))
    for container in items(mapping(template.get("spec")).get("containers")):
        if isinstance(container, dict):
            version = parse_version(image_tag(container.get("image")))
            if version is not None:
                return version
    return None


ISTIO_SYSTEM = "istio-system"
MESH_CONFIG_KEY = "mesh"


def istio_mesh_delivery(config_map: Mapping[str, Any]) -> tuple[str, InboundMode] | None:
    """The revision whose mesh config makes its sidecars deliver to 127.0.0.1: an Istio mesh
    ConfigMap (``istio``, revision ``default``, or ``istio-<revision>`` in istio-system; key ``mesh``
    holding meshConfig YAML) with ``inboundTrafficPolicy.mode: LOCALHOST`` (istio/api
    mesh/v1alpha1/config.proto, Istio 1.22+). None otherwise: then the version decides."""
    name = name_of(config_map)
    if name == "istio":
        revision = DEFAULT_REVISION
    elif name.startswith("istio-") and name not in ("istio-ca-root-cert", "istio-sidecar-injector"):
        revision = name[len("istio-") :]
    else:
        return None
    text_value = mapping(config_map.get("data")).get(MESH_CONFIG_KEY)
    if not isinstance(text_value, str):
        return None
    try:
        mesh = yaml.safe_load(text_value)
    except (yaml.YAMLError, RecursionError, ValueError):
        return None
    policy = mapping(mapping(mesh).get("inboundTrafficPolicy")).get("mode")
    return (revision, "localhost") if text(policy).upper() == "LOCALHOST" else None
