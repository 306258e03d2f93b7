"""Pure: which mesh will inject (or already did) into a pod, its version and its inbound mode.

Inputs are what the request carries plus configuration, never an API call:

1. **The pod's own evidence** wins. An injected proxy (``istio-proxy`` / ``linkerd-proxy`` in
   ``containers`` or, for native sidecars, ``initContainers``), ``sidecar.istio.io/status``,
   ``linkerd.io/proxy-version``; then injection requests on the pod (``sidecar.istio.io/inject``,
   ``istio.io/rev``, ``linkerd.io/inject``). A pod-level opt-out (``sidecar.istio.io/inject: "false"``,
   ``linkerd.io/inject: disabled``) means that mesh will not inject.
2. **A hint**: the webhook URL path (``/mutate/istio/1.9``), else the namespace default, else the
   global default from settings (namespace labels are not in the review, so the operator tells us
   through per-mesh webhook entries or configuration).
3. Otherwise the mesh is ``unknown``: only fixes that are safe for every mesh apply.

Inbound mode: Istio < 1.10 and Linkerd < 2.11 forward inbound traffic to 127.0.0.1 (``localhost``);
later versions forward to the pod IP (``pod-ip``); with no version it is ``unknown``.

What differs between meshes (container and annotation names, where the version is read, the
release that moved inbound delivery) is one :class:`MeshFacts` row per mesh in :data:`MESHES`;
:func:`detect` reads the rows in order and names no mesh itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal

from webhook.core.shapes import ContainerRef, find_container, metadata_map, text

MeshName = Literal["istio", "linkerd", "none", "unknown"]
InboundMode = Literal["localhost", "pod-ip", "unknown"]
Version = tuple[int, int]

MESH_CHOICES = ("istio", "linkerd", "none", "auto")

# Linkerd edge releases are named edge-YY.M.N; edge-21.9.x became stable-2.11.
LINKERD_EDGE_211 = (21, 9)


def parse_version(text: str | None) -> Version | None:
    """``"1.9.5"``, ``"1-9-5"`` (a revision), ``"stable-2.10.2"``, ``"edge-21.9.3"``, ``"1.20.0-distroless"``."""
    if not text:
        return None
    # Read from a proxy image tag or an annotation on every injected pod, and a cluster has few of
    # them: remembered (measured: 12.9k of 129k instructions in review() of an injected pod).
    return _cached_version(text)


_EDGE_VERSION = re.compile(r"edge-(\d+)\.(\d+)")
_MAJOR_MINOR = re.compile(r"(\d+)[.-](\d+)")


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


def _istio_version(annotations: Mapping[str, Any], proxy: Mapping[str, Any] | None) -> Version | None:
    """The proxy image's tag, else the revision recorded in ``sidecar.istio.io/status``."""
    version = parse_version(image_tag(proxy.get("image")) if proxy else None)
    return version if version is not None else _istio_status_revision(annotations.get("sidecar.istio.io/status"))


def _linkerd_version(annotations: Mapping[str, Any], proxy: Mapping[str, Any] | None) -> Version | None:
    """``linkerd.io/proxy-version``, else the proxy image's tag."""
    version = parse_version(text(annotations.get("linkerd.io/proxy-version")))
    return version if version is not None or proxy is None else parse_version(image_tag(proxy.get("image")))


def _istio_status_revision(status: object) -> Version | None:
    if not isinstance(status, str):
        return None
    try:
        decoded = json.loads(status)
    except ValueError:
        return None
    revision = decoded.get("revision") if isinstance(decoded, dict) else None
    return parse_version(revision) if isinstance(revision, str) else None


@dataclass(frozen=True)
class MeshFacts:
    """One mesh's injection as stsmesh needs to know it."""

    name: MeshName
    title: str
    proxy: str
    """The injected proxy container."""
    redirect_init: str
    """The injected init container that sets up traffic redirection (absent with the mesh's CNI)."""
    injected_annotation: str
    """An annotation the injector writes: its presence means the pod is injected."""
    read_version: VersionReader
    pod_ip_since: Version
    """The first release that delivers inbound traffic to the pod IP rather than 127.0.0.1."""
    inject_key: str
    """The pod annotation (and, where ``inject_in_labels``, label) that asks for or refuses injection."""
    inject_in_labels: bool
    inject_values: frozenset[str]
    opt_out_values: frozenset[str]
    values_any_case: bool
    revision_label: str
    """A label that selects a control-plane revision (and so asks for injection); "" for none."""
    inject_evidence: str
    """How the explanation names an injection request; ``{value}`` is the value found."""

    def inject_request(self, labels: Mapping[str, Any], annotations: Mapping[str, Any]) -> str:
        in_labels = labels.get(self.inject_key) if self.inject_in_labels else None
        value = text(in_labels or annotations.get(self.inject_key))
        return value.lower() if self.values_any_case else value


ISTIO: Final = MeshFacts(
    name="istio",
    title="Istio",
    proxy="istio-proxy",
    redirect_init="istio-init",
    injected_annotation="sidecar.istio.io/status",
    read_version=_istio_version,
    pod_ip_since=(1, 10),
    inject_key="sidecar.istio.io/inject",
    inject_in_labels=True,
    inject_values=frozenset({"true"}),
    opt_out_values=frozenset({"false"}),
    values_any_case=True,
    revision_label="istio.io/rev",
    inject_evidence="pod asks for Istio injection",
)

LINKERD: Final = MeshFacts(
    name="linkerd",
    title="Linkerd",
    proxy="linkerd-proxy",
    redirect_init="linkerd-init",
    injected_annotation="linkerd.io/proxy-version",
    read_version=_linkerd_version,
    pod_ip_since=(2, 11),
    inject_key="linkerd.io/inject",
    inject_in_labels=False,
    inject_values=frozenset({"enabled", "ingress"}),
    opt_out_values=frozenset({"disabled"}),
    values_any_case=False,
    revision_label="",
    inject_evidence="pod annotation linkerd.io/inject={value}",
)

MESHES: Final[tuple[MeshFacts, ...]] = (ISTIO, LINKERD)
"""Every mesh stsmesh knows, in the order evidence is looked for."""

FACTS: Final[Mapping[str, MeshFacts]] = {facts.name: facts for facts in MESHES}

ISTIO_POD_IP_SINCE: Final = ISTIO.pod_ip_since


@dataclass(frozen=True)
class MeshHint:
    """What configuration or the URL says about the mesh: ``mesh`` None means "no opinion".

    A version with no mesh applies to whichever mesh the pod itself names."""

    mesh: MeshName | None = None
    version: Version | None = None

    def version_for(self, mesh: MeshName) -> Version | None:
        return self.version if self.mesh in (None, mesh) else None

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
    """The mesh the pod lives in, as far as we can tell, and how we know (``evidence``).
    ``redirect_init``: where the injected redirection init container sits, when there is one."""

    def __init__(
        self,
        mesh: MeshName,
        version: Version | None,
        inbound: InboundMode,
        injected: bool,
        cni: bool,
        redirect_init: ContainerRef | None,
        evidence: str,
    ) -> None:
        self.mesh: Final = mesh
        self.version: Final = version
        self.inbound: Final = inbound
        self.injected: Final = injected
        self.cni: Final = cni
        self.redirect_init: Final = redirect_init
        self.evidence: Final = evidence

    @property
    def label(self) -> str:
        facts = FACTS.get(self.mesh)
        if facts is None:
            return f"mesh {self.mesh}"
        return f"{facts.title} {format_version(self.version)}"


def inbound_mode(mesh: MeshName, version: Version | None) -> InboundMode:
    facts = FACTS.get(mesh)
    if version is None or facts is None:
        return "unknown"
    return "pod-ip" if version >= facts.pod_ip_since else "localhost"


def detect(pod: Mapping[str, Any], hint: MeshHint = MeshHint()) -> MeshContext:
    """The mesh context for ``pod``; see the module docstring for the precedence."""
    labels = metadata_map(pod, "labels")
    annotations = metadata_map(pod, "annotations")

    for facts in MESHES:
        proxy = find_container(pod, facts.proxy)
        if proxy is not None or facts.injected_annotation in annotations:
            return _injected(pod, facts, annotations, proxy[1] if proxy else None, hint)

    opted_out: set[str] = set()
    for facts in MESHES:
        request = facts.inject_request(labels, annotations)
        if request in facts.opt_out_values:
            opted_out.add(facts.name)
        revision = text(labels.get(facts.revision_label)) if facts.revision_label else ""
        if request in facts.inject_values or revision:
            version = parse_version(revision) if revision else None
            if version is None:
                version = hint.version_for(facts.name)
            if revision:
                why = f"pod label {facts.revision_label}={revision}"
            else:
                why = facts.inject_evidence.format(value=request)
            return _pending(facts.name, version, why)

    if hint.mesh is not None and hint.mesh in FACTS:
        if hint.mesh in opted_out:
            return _pending("none", None, f"pod opts out of {hint.mesh} injection")
        return _pending(hint.mesh, hint.version, "configured: --mesh, namespace default or webhook path")
    if hint.mesh == "none":
        return _pending("none", None, "configured: no mesh")
    return _pending("unknown", None, "no mesh evidence on the pod and no mesh configured")


def _injected(
    pod: Mapping[str, Any],
    facts: MeshFacts,
    annotations: Mapping[str, Any],
    proxy: Mapping[str, Any] | None,
    hint: MeshHint,
) -> MeshContext:
    version = facts.read_version(annotations, proxy)
    if version is None:
        version = hint.version_for(facts.name)
    init = find_container(pod, facts.redirect_init)
    how = f"({facts.redirect_init})" if init else f"({facts.title} CNI: no {facts.redirect_init} container)"
    return MeshContext(
        mesh=facts.name,
        version=version,
        inbound=inbound_mode(facts.name, version),
        injected=True,
        cni=init is None,
        redirect_init=init[0] if init else None,
        evidence=f"{facts.proxy} already injected {how}",
    )


def _pending(mesh: MeshName, version: Version | None, evidence: str) -> MeshContext:
    return MeshContext(
        mesh=mesh,
        version=version,
        inbound=inbound_mode(mesh, version),
        injected=False,
        cni=False,
        redirect_init=None,
        evidence=evidence,
    )
