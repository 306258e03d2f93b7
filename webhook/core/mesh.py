"""Pure: the data-plane model of a pod — which mesh will inject (or already did), its version,
the data-plane kind, where inbound traffic is delivered, and how a port exclusion takes effect now.

The question behind every fix is the **delivery**: does the data plane hand inbound traffic to the
app on ``127.0.0.1`` (``localhost``) or on the pod IP (``pod-ip``)? Istio < 1.10, Linkerd < 2.11,
Kuma < 1.8, Consul (always) and Istio's ``inboundTrafficPolicy: LOCALHOST`` deliver to 127.0.0.1;
later sidecars, Istio ambient (ztunnel) and Cilium's per-node proxy to the pod IP.

Inputs are what the request carries plus what the caller knows, never an API call:

1. **The pod's own evidence** wins: an injected proxy (a sidecar in ``containers``, or a native
   sidecar: an init container with ``restartPolicy: Always``), the injector's marker annotation,
   the proxy's version (image tag or annotation), ``REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION``
   on ``istio-proxy`` (what Istio's injector sets under the LOCALHOST inbound policy), Istio
   ambient's ``istio.io/dataplane-mode`` label or ``ambient.istio.io/redirection`` annotation;
   then injection requests on the pod (``sidecar.istio.io/inject``, ``istio.io/rev``,
   ``linkerd.io/inject``, ``consul.hashicorp.com/connect-inject``, ``kuma.io/sidecar-injection``).
   A pod-level opt-out means that mesh will not inject.
2. **A hint**: what the webhook URL path, the namespace (its labels, read by the server's cache or
   given to the dry-run) and the control planes installed say, else configuration.
3. Otherwise the mesh is ``unknown``: only fixes that are safe for every mesh apply.

What differs between meshes is one :class:`MeshFacts` row per mesh in :data:`MESHES`;
:func:`detect` reads the rows in order and names no mesh itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final, Literal

from webhook.core.shapes import ContainerRef, containers, find_container, metadata_map, text

MeshName = Literal["istio", "linkerd", "consul", "kuma", "cilium", "none", "unknown"]
InboundMode = Literal["localhost", "pod-ip", "unknown"]
"""Where inbound traffic reaches the app: 127.0.0.1, the pod IP, or not known."""
DataPlane = Literal["sidecar", "native-sidecar", "ambient", "node-proxy", "none", "unknown"]
"""The kind of proxy in the traffic path: a sidecar container; a native sidecar (an init container
with ``restartPolicy: Always``, started and ready before the app); a node-level proxy that captures
the pod's traffic (Istio ambient's ztunnel: ``ambient``; Cilium's per-node Envoy: ``node-proxy``)."""
ExclusionRoute = Literal["annotations", "init-container", "cni", "not-per-port", "none"]
"""How a port exclusion takes effect now: pod annotations the injector will read; the injected
init container's arguments (or its config); annotations a CNI plugin reads when it sets up the pod
sandbox; not per port at all (ambient); nothing to exclude from (no proxy)."""
Version = tuple[int, int]

MESH_CHOICES = ("istio", "linkerd", "consul", "kuma", "cilium", "none", "auto")
DELIVERY_TEXT: Final[Mapping[str, str]] = {
    "localhost": "127.0.0.1",
    "pod-ip": "the pod IP",
    "unknown": "an address not known yet",
}

# Linkerd edge releases are named edge-YY.M.N; edge-21.9.x became stable-2.11.
LINKERD_EDGE_211 = (21, 9)


def parse_version(text: str | None) -> Version | None:
    """``"1.9.5"``, ``"1-9-5"`` (a revision), ``"stable-2.10.2"``, ``"edge-21.9.3"``, ``"1.20.0-distroless"``."""
    if not text:
        return None
    # Read from a proxy image tag or an annotation on every injected pod, and a cluster has few of
    # them: remembered (measured: 12.9k of 129k instructions in review() of an injected pod).
    return _cached_version(text)


# Bounded digit runs: int() of thousands of digits raises (Python's int conversion limit).
_EDGE_VERSION = re.compile(r"edge-(\d{1,6})\.(\d{1,6})")
_MAJOR_MINOR = re.compile(r"(?<!\d)(\d{1,6})[.-](\d{1,6})(?!\d)")


def _parse_version(text: str) -> Version | None:
    text = text.strip().lower()
    edge = _EDGE_VERSION.match(text)
    if edge:
        year_month = (int(edge.group(1)), int(edge.group(2)))
        return (2, 11) if year_month >= LINKERD_EDGE_211 else (2, 10)
    found = _MAJOR_MINOR.search(text)
    if not found:
        return None
    return int(found.group(1)), int(found.group(2))


_cached_version = lru_cache(maxsize=256)(_parse_version)


def format_version(version: Version | None) -> str:
    return f"{version[0]}.{version[1]}" if version else "unknown version"


def image_tag(image: object) -> str | None:
    """``docker.io/istio/proxyv2:1.9.5@sha256:…`` → ``1.9.5``; None without a tag."""
    if not isinstance(image, str):
        return None
    image = image.split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


# --- the facts of each mesh -----------------------------------------------------------------------

VersionReader = Callable[[Mapping[str, Any], Mapping[str, Any] | None], Version | None]
"""Reads an injected mesh's version from the pod's annotations and its proxy container (if any)."""


def _tag_version(annotations: Mapping[str, Any], proxy: Mapping[str, Any] | None) -> Version | None:
    return parse_version(image_tag(proxy.get("image")) if proxy else None)


def _istio_version(annotations: Mapping[str, Any], proxy: Mapping[str, Any] | None) -> Version | None:
    """The proxy image's tag, else the revision recorded in ``sidecar.istio.io/status``."""
    version = _tag_version(annotations, proxy)
    return version if version is not None else _istio_status_revision(annotations.get("sidecar.istio.io/status"))


def _annotation_then_tag(annotation: str) -> VersionReader:
    def read(annotations: Mapping[str, Any], proxy: Mapping[str, Any] | None) -> Version | None:
        version = parse_version(text(annotations.get(annotation)))
        return version if version is not None or proxy is None else _tag_version(annotations, proxy)

    return read


def _istio_status_revision(status: object) -> Version | None:
    if not isinstance(status, str):
        return None
    try:
        decoded = json.loads(status)
    except (ValueError, RecursionError):
        return None
    revision = decoded.get("revision") if isinstance(decoded, dict) else None
    return parse_version(revision) if isinstance(revision, str) else None


@dataclass(frozen=True)
class MeshFacts:
    """One mesh's data plane as stsmesh needs to know it, each fact read from the mesh's injector at a
    named version (the sources are in the golden cases' notes and tests/golden/build_reviews.py)."""

    name: MeshName
    title: str
    proxy: str
    """The injected proxy container ("" for a mesh with no proxy in the pod)."""
    redirect_init: str
    """The injected init container that sets up traffic redirection (absent with the mesh's CNI)."""
    injected_annotation: str
    """An annotation the injector writes: its presence means the pod is injected."""
    read_version: VersionReader
    pod_ip_since: Version | None
    """The first release that delivers inbound traffic to the pod IP rather than 127.0.0.1."""
    fixed_delivery: InboundMode | None
    """The delivery whatever the version (Consul: always 127.0.0.1)."""
    inject_key: str
    """The pod annotation (and, where ``inject_in_labels``, label) that asks for or refuses injection."""
    inject_in_labels: bool
    inject_values: frozenset[str]
    opt_out_values: frozenset[str]
    values_any_case: bool
    inject_evidence: str
    """How the explanation names an injection request; ``{value}`` is the value found."""
    revision_label: str = ""
    """A label that selects a control-plane revision (and so asks for injection)."""
    proxy_prefixed: bool = False
    """Whether the proxy and init containers may carry a suffix (Consul: ``consul-dataplane-<svc>``)."""
    localhost_env: str = ""
    """An env var the injector sets to ``"true"`` on the proxy when it delivers to 127.0.0.1 whatever
    the version (Istio's LOCALHOST inbound policy)."""
    native_annotations: tuple[str, ...] = ()
    """Pod annotations that ask the injector for a native sidecar (``"true"``)."""
    exclude_inbound: str = ""
    exclude_outbound: str = ""
    include_inbound: str = ""
    """Port-exclusion annotations the injector (or CNI) reads; ``include_inbound`` is Istio's list
    of redirected ports, which makes exclusions moot when it is not ``*``."""
    init_flags: Mapping[str, str] = field(default_factory=dict)
    """The redirect init container's flags for ``in`` / ``out`` excluded and ``include`` ports."""
    init_config_env: str = ""
    """An env var of the init container holding its redirection config as JSON (Consul)."""
    cni_config_annotation: str = ""
    """An annotation holding the redirection config as JSON for the mesh's CNI plugin (Consul)."""
    node_proxy: bool = False
    """The mesh's proxy runs per node: nothing is injected into the pod (Cilium)."""
    injector_webhook: str = ""
    """How the injector's entry in its MutatingWebhookConfiguration is named (a suffix), so
    ``stsmesh check`` can tell whether ours runs first."""

    def inject_request(self, labels: Mapping[str, Any], annotations: Mapping[str, Any]) -> str:
        in_labels = labels.get(self.inject_key) if self.inject_in_labels else None
        value = text(in_labels or annotations.get(self.inject_key))
        return value.lower() if self.values_any_case else value

    def is_own(self, container_name: object, base: str) -> bool:
        """Whether ``container_name`` is this mesh's ``base`` container (the proxy or the init)."""
        if not base or not isinstance(container_name, str):
            return False
        return container_name == base or (self.proxy_prefixed and container_name.startswith(base + "-"))

    def delivery(self, version: Version | None) -> InboundMode:
        if self.fixed_delivery is not None:
            return self.fixed_delivery
        if version is None or self.pod_ip_since is None:
            return "unknown"
        return "pod-ip" if version >= self.pod_ip_since else "localhost"


ISTIO_POD_IP_SINCE: Final[Version] = (1, 10)
"""Istio 1.10 moved inbound delivery to the pod IP (also when per-pod DNS stopped needing a ServiceEntry)."""

ISTIO: Final = MeshFacts(
    name="istio",
    title="Istio",
    proxy="istio-proxy",
    redirect_init="istio-init",
    injected_annotation="sidecar.istio.io/status",
    read_version=_istio_version,
    pod_ip_since=ISTIO_POD_IP_SINCE,
    fixed_delivery=None,
    inject_key="sidecar.istio.io/inject",
    inject_in_labels=True,
    inject_values=frozenset({"true"}),
    opt_out_values=frozenset({"false"}),
    values_any_case=True,
    inject_evidence="pod asks for Istio injection",
    revision_label="istio.io/rev",
    localhost_env="REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION",
    native_annotations=("sidecar.istio.io/nativeSidecar",),
    exclude_inbound="traffic.sidecar.istio.io/excludeInboundPorts",
    exclude_outbound="traffic.sidecar.istio.io/excludeOutboundPorts",
    include_inbound="traffic.sidecar.istio.io/includeInboundPorts",
    init_flags={"in": "-d", "out": "-o", "include": "-b"},
    injector_webhook="sidecar-injector.istio.io",  # also namespace./object./rev.… (istio-discovery chart)
)

LINKERD: Final = MeshFacts(
    name="linkerd",
    title="Linkerd",
    proxy="linkerd-proxy",
    redirect_init="linkerd-init",
    injected_annotation="linkerd.io/proxy-version",
    read_version=_annotation_then_tag("linkerd.io/proxy-version"),
    pod_ip_since=(2, 11),
    fixed_delivery=None,
    inject_key="linkerd.io/inject",
    inject_in_labels=False,
    inject_values=frozenset({"enabled", "ingress"}),
    opt_out_values=frozenset({"disabled"}),
    values_any_case=False,
    inject_evidence="pod annotation linkerd.io/inject={value}",
    native_annotations=(
        "config.linkerd.io/proxy-enable-native-sidecar",
        "config.beta.linkerd.io/proxy-enable-native-sidecar",
        "config.alpha.linkerd.io/proxy-enable-native-sidecar",
    ),
    exclude_inbound="config.linkerd.io/skip-inbound-ports",
    exclude_outbound="config.linkerd.io/skip-outbound-ports",
    init_flags={"in": "--inbound-ports-to-ignore", "out": "--outbound-ports-to-ignore"},
    injector_webhook="linkerd-proxy-injector.linkerd.io",
)

CONSUL: Final = MeshFacts(
    name="consul",
    title="Consul",
    proxy="consul-dataplane",
    redirect_init="consul-connect-inject-init",
    injected_annotation="consul.hashicorp.com/connect-inject-status",
    read_version=_annotation_then_tag("consul.hashicorp.com/consul-k8s-version"),
    pod_ip_since=None,
    fixed_delivery="localhost",  # the endpoints controller registers LocalServiceAddress 127.0.0.1
    inject_key="consul.hashicorp.com/connect-inject",
    inject_in_labels=False,
    inject_values=frozenset({"true", "1", "t"}),  # Go's strconv.ParseBool
    opt_out_values=frozenset({"false", "0", "f"}),
    values_any_case=True,
    inject_evidence="pod annotation consul.hashicorp.com/connect-inject={value}",
    proxy_prefixed=True,
    exclude_inbound="consul.hashicorp.com/transparent-proxy-exclude-inbound-ports",
    exclude_outbound="consul.hashicorp.com/transparent-proxy-exclude-outbound-ports",
    init_config_env="CONSUL_REDIRECT_TRAFFIC_CONFIG",
    cni_config_annotation="consul.hashicorp.com/redirect-traffic-config",
    injector_webhook="connect-injector.consul.hashicorp.com",  # <release>-connect-injector.… (consul-k8s)
)

KUMA: Final = MeshFacts(
    name="kuma",
    title="Kuma",
    proxy="kuma-sidecar",
    redirect_init="kuma-init",
    injected_annotation="kuma.io/sidecar-injected",
    read_version=_tag_version,
    pod_ip_since=(1, 8),
    fixed_delivery=None,
    inject_key="kuma.io/sidecar-injection",
    inject_in_labels=True,
    inject_values=frozenset({"enabled", "true"}),
    opt_out_values=frozenset({"disabled", "false"}),
    values_any_case=True,
    inject_evidence="pod asks for Kuma injection (kuma.io/sidecar-injection={value})",
    exclude_inbound="traffic.kuma.io/exclude-inbound-ports",
    exclude_outbound="traffic.kuma.io/exclude-outbound-ports",
    init_flags={"in": "--exclude-inbound-ports", "out": "--exclude-outbound-ports"},
    injector_webhook="kuma-injector.kuma.io",  # pods-/namespace-kuma-injector.kuma.io
)

CILIUM: Final = MeshFacts(
    name="cilium",
    title="Cilium",
    proxy="",
    redirect_init="",
    injected_annotation="",
    read_version=_tag_version,
    pod_ip_since=None,
    fixed_delivery="pod-ip",  # the per-node Envoy forwards to the pod's own address
    inject_key="",
    inject_in_labels=False,
    inject_values=frozenset(),
    opt_out_values=frozenset(),
    values_any_case=False,
    inject_evidence="",
    node_proxy=True,
)

MESHES: Final[tuple[MeshFacts, ...]] = (ISTIO, LINKERD, CONSUL, KUMA, CILIUM)
"""Every mesh stsmesh knows, in the order evidence is looked for."""

FACTS: Final[Mapping[str, MeshFacts]] = {facts.name: facts for facts in MESHES}

AMBIENT_LABEL: Final = "istio.io/dataplane-mode"
"""Istio ambient enrolment (``ambient``) or opt-out (``none``), on the pod or its namespace."""
AMBIENT_STATUS: Final = "ambient.istio.io/redirection"
"""Written by istio-cni once it captured an ambient pod (``enabled``)."""
AMBIENT_OPT_OUT: Final = f'{AMBIENT_LABEL}: "none"'


@dataclass(frozen=True)
class MeshHint:
    """What the URL path, the namespace, the control planes or configuration say about the mesh:
    ``mesh`` None means "no opinion". A version with no mesh applies to whichever mesh the pod
    itself names. ``dataplane`` (e.g. ``ambient`` from a namespace label), ``delivery`` (e.g.
    ``localhost`` from Istio's mesh config) and ``native`` (native sidecars) say more where known;
    ``source`` says where the hint came from, for the explanation."""

    mesh: MeshName | None = None
    version: Version | None = None
    dataplane: DataPlane | None = None
    delivery: InboundMode | None = None
    native: bool | None = None
    source: str = ""

    def version_for(self, mesh: MeshName) -> Version | None:
        return self.version if self.mesh in (None, mesh) else None

    def about(self, mesh: MeshName) -> bool:
        return self.mesh == mesh

    @staticmethod
    def parse(mesh: str | None, version: str | None = None) -> MeshHint:
        if mesh not in (None, "", "auto", "none") and mesh not in FACTS:
            raise ValueError(f"unknown mesh {mesh!r}; use one of {', '.join(MESH_CHOICES)}")
        parsed = parse_version(version)
        if version and parsed is None:
            raise ValueError(f"cannot read a version from {version!r}; use e.g. 1.9 or 2.11")
        if mesh in (None, "", "auto"):
            return MeshHint(None, parsed)
        name: MeshName = mesh  # type: ignore[assignment]
        return MeshHint(name, parsed)


class MeshContext:
    """The pod's data plane as far as we can tell, and how we know (``evidence``; the delivery's own
    reason in ``delivery_evidence``). ``redirect_init``: where the injected redirection init container
    sits, when there is one. ``facts``: the mesh's row, None for ``none`` and ``unknown``."""

    def __init__(
        self,
        mesh: MeshName,
        version: Version | None,
        inbound: InboundMode,
        injected: bool,
        cni: bool,
        redirect_init: ContainerRef | None,
        evidence: str,
        dataplane: DataPlane = "unknown",
        exclusion: ExclusionRoute = "none",
        delivery_evidence: str = "",
    ) -> None:
        self.mesh: Final = mesh
        self.version: Final = version
        self.inbound: Final = inbound
        self.injected: Final = injected
        self.cni: Final = cni
        self.redirect_init: Final = redirect_init
        self.evidence: Final = evidence
        self.dataplane: Final = dataplane
        self.exclusion: Final = exclusion
        self.delivery_evidence: Final = delivery_evidence

    @property
    def facts(self) -> MeshFacts | None:
        return FACTS.get(self.mesh)

    @property
    def proxied(self) -> bool:
        """Whether a proxy may stand between the app and its peers (no for ``none`` and Cilium)."""
        return self.dataplane not in ("none", "node-proxy")

    @property
    def label(self) -> str:
        facts = FACTS.get(self.mesh)
        if facts is None:
            return f"mesh {self.mesh}"
        if facts.node_proxy:
            return facts.title
        kind = " ambient" if self.dataplane == "ambient" else ""
        return f"{facts.title}{kind} {format_version(self.version)}"


def inbound_mode(mesh: MeshName, version: Version | None) -> InboundMode:
    facts = FACTS.get(mesh)
    return facts.delivery(version) if facts is not None else "unknown"


def detect(pod: Mapping[str, Any], hint: MeshHint = MeshHint()) -> MeshContext:
    """The data plane of ``pod``; see the module docstring for the precedence."""
    labels = metadata_map(pod, "labels")
    annotations = metadata_map(pod, "annotations")

    for facts in MESHES:
        if facts.node_proxy:
            continue
        proxy = _own_container(pod, facts, facts.proxy)
        if proxy is not None or facts.injected_annotation in annotations:
            return _injected(pod, facts, annotations, proxy, hint)

    ambient = _ambient(labels, annotations, hint)
    if ambient is not None:
        return ambient

    opted_out: set[str] = set()
    for facts in MESHES:
        if not facts.inject_key:
            continue
        request = facts.inject_request(labels, annotations)
        if request in facts.opt_out_values:
            opted_out.add(facts.name)
        revision = text(labels.get(facts.revision_label)) if facts.revision_label else ""
        if request not in facts.opt_out_values and (request in facts.inject_values or revision):
            version = parse_version(revision) if revision else None
            if version is None:
                version = hint.version_for(facts.name)
            asked = facts.inject_evidence.format(value=request)
            why = f"pod label {facts.revision_label}={revision}" if revision else asked
            return _pending(facts, version, why, annotations, hint)

    if hint.mesh is not None and hint.mesh in FACTS:
        if hint.mesh in opted_out:
            return _no_mesh("none", f"pod opts out of {hint.mesh} injection")
        facts = FACTS[hint.mesh]
        why = hint.source or "configured: --mesh, namespace default or webhook path"
        if facts.node_proxy:
            return _node_proxy(facts, why)
        return _pending(facts, hint.version, why, annotations, hint)
    if hint.mesh == "none":
        return _no_mesh("none", hint.source or "configured: no mesh")
    return _no_mesh("unknown", "no mesh evidence on the pod and no mesh configured")


def _own_container(pod: Mapping[str, Any], facts: MeshFacts, base: str) -> tuple[ContainerRef, dict[str, Any]] | None:
    if not facts.proxy_prefixed:
        return find_container(pod, base) if base else None
    for ref, container in containers(pod):
        if facts.is_own(container.get("name"), base):
            return ref, container
    return None


def _injected(
    pod: Mapping[str, Any],
    facts: MeshFacts,
    annotations: Mapping[str, Any],
    proxy: tuple[ContainerRef, dict[str, Any]] | None,
    hint: MeshHint,
) -> MeshContext:
    proxy_container = proxy[1] if proxy else None
    version = facts.read_version(annotations, proxy_container)
    if version is None:
        version = hint.version_for(facts.name)
    init = _own_container(pod, facts, facts.redirect_init)
    native = proxy is not None and proxy[0].list_name == "initContainers" and proxy[1].get("restartPolicy") == "Always"
    delivery, why = _injected_delivery(facts, version, proxy_container, hint)
    how = f"({facts.redirect_init})" if init else f"({facts.title} CNI: no {facts.redirect_init} container)"
    kind = "native sidecar " if native else ""
    return MeshContext(
        mesh=facts.name,
        version=version,
        inbound=delivery,
        injected=True,
        cni=init is None,
        redirect_init=init[0] if init else None,
        evidence=f"{facts.proxy} {kind}already injected {how}",
        dataplane="native-sidecar" if native else "sidecar",
        exclusion="init-container" if init else "cni",
        delivery_evidence=why,
    )


def _injected_delivery(
    facts: MeshFacts, version: Version | None, proxy: Mapping[str, Any] | None, hint: MeshHint
) -> tuple[InboundMode, str]:
    if facts.localhost_env and proxy is not None and _env_is_true(proxy, facts.localhost_env):
        return "localhost", f"{facts.localhost_env}=true on {facts.proxy}: inbound goes to 127.0.0.1 (LOCALHOST policy)"
    delivery = facts.delivery(version)
    if delivery == "unknown" and hint.about(facts.name) and hint.delivery is not None:
        return hint.delivery, f"{hint.source or 'configured'}: delivery {hint.delivery}"
    return delivery, _delivery_reason(facts, version, delivery)


def _delivery_reason(facts: MeshFacts, version: Version | None, delivery: InboundMode) -> str:
    if facts.fixed_delivery is not None:
        return f"{facts.title} always delivers inbound traffic to {DELIVERY_TEXT[delivery]}"
    if delivery == "unknown" or facts.pod_ip_since is None:
        return f"{facts.title} version unknown"
    since = format_version(facts.pod_ip_since)
    side = "from" if delivery == "pod-ip" else "before"
    return f"{facts.title} {format_version(version)}: {side} {since} inbound goes to {DELIVERY_TEXT[delivery]}"


def _env_is_true(container: Mapping[str, Any], name: str) -> bool:
    env = container.get("env")
    if not isinstance(env, list):
        return False
    return any(isinstance(e, dict) and e.get("name") == name and text(e.get("value")).lower() == "true" for e in env)


def _ambient(labels: Mapping[str, Any], annotations: Mapping[str, Any], hint: MeshHint) -> MeshContext | None:
    """Istio ambient: the pod (or, through the hint, its namespace) is enrolled and no sidecar is
    asked for (a sidecar takes precedence over ztunnel for a pod that has both)."""
    mode = text(labels.get(AMBIENT_LABEL))
    if _asks_for_a_sidecar(labels, annotations):
        return None
    if mode == "none":
        if hint.mesh == "istio" and hint.dataplane == "ambient":
            return _no_mesh("none", f"pod label {AMBIENT_LABEL}=none: out of the namespace's ambient mesh")
        return None
    if mode == "ambient":
        why = f"pod label {AMBIENT_LABEL}=ambient"
    elif text(annotations.get(AMBIENT_STATUS)) == "enabled":
        why = f"pod annotation {AMBIENT_STATUS}=enabled (captured by istio-cni)"
    elif hint.mesh == "istio" and hint.dataplane == "ambient":
        why = hint.source or "configured: ambient"
    else:
        return None
    return MeshContext(
        mesh="istio",
        version=hint.version_for("istio"),
        inbound="pod-ip",
        injected=False,
        cni=True,
        redirect_init=None,
        evidence=why,
        dataplane="ambient",
        exclusion="not-per-port",
        delivery_evidence="ambient: ztunnel delivers inbound traffic to the pod IP",
    )


def _asks_for_a_sidecar(labels: Mapping[str, Any], annotations: Mapping[str, Any]) -> bool:
    for facts in MESHES:
        if facts.inject_key and facts.inject_request(labels, annotations) in facts.inject_values:
            return True
        if facts.revision_label and text(labels.get(facts.revision_label)):
            return True
    return False


def _pending(
    facts: MeshFacts, version: Version | None, evidence: str, annotations: Mapping[str, Any], hint: MeshHint
) -> MeshContext:
    """A pod the mesh's injector has yet to see: exclusions go into annotations it reads."""
    delivery = facts.delivery(version)
    why = _delivery_reason(facts, version, delivery)
    if hint.about(facts.name) and hint.delivery is not None and facts.fixed_delivery is None:
        delivery, why = hint.delivery, f"{hint.source or 'configured'}: delivery {hint.delivery}"
    native = any(text(annotations.get(key)).lower() == "true" for key in facts.native_annotations)
    if not native and hint.about(facts.name) and hint.native:
        native = True
    return MeshContext(
        mesh=facts.name,
        version=version,
        inbound=delivery,
        injected=False,
        cni=False,
        redirect_init=None,
        evidence=evidence,
        dataplane="native-sidecar" if native else "sidecar",
        exclusion="annotations",
        delivery_evidence=why,
    )


def _node_proxy(facts: MeshFacts, evidence: str) -> MeshContext:
    return MeshContext(
        mesh=facts.name,
        version=None,
        inbound=facts.delivery(None),
        injected=False,
        cni=False,
        redirect_init=None,
        evidence=evidence,
        dataplane="node-proxy",
        exclusion="none",
        delivery_evidence=f"{facts.title}: no proxy in the pod; the node's proxy delivers to the pod IP",
    )


def _no_mesh(mesh: MeshName, evidence: str) -> MeshContext:
    return MeshContext(
        mesh=mesh,
        version=None,
        inbound="unknown",
        injected=False,
        cni=False,
        redirect_init=None,
        evidence=evidence,
        dataplane="none" if mesh == "none" else "unknown",
        exclusion="none",
    )
