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
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal

MeshName = Literal["istio", "linkerd", "none", "unknown"]
InboundMode = Literal["localhost", "pod-ip", "unknown"]
Version = tuple[int, int]

MESH_CHOICES = ("istio", "linkerd", "none", "auto")

ISTIO_POD_IP_SINCE: Version = (1, 10)
LINKERD_POD_IP_SINCE: Version = (2, 11)
# Linkerd edge releases are named edge-YY.M.N; edge-21.9.x became stable-2.11.
LINKERD_EDGE_211 = (21, 9)

ISTIO_PROXY = "istio-proxy"
ISTIO_INIT = "istio-init"
ISTIO_VALIDATION = "istio-validation"
LINKERD_PROXY = "linkerd-proxy"
LINKERD_INIT = "linkerd-init"


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
        if mesh in (None, "", "auto"):
            parsed = parse_version(version)
            if version and parsed is None:
                raise ValueError(f"cannot read a version from {version!r}; use e.g. 1.9 or 2.11")
            return MeshHint(None, parsed)
        if mesh not in ("istio", "linkerd", "none"):
            raise ValueError(f"unknown mesh {mesh!r}; use one of istio, linkerd, none, auto")
        parsed_version = parse_version(version)
        if version and parsed_version is None:
            raise ValueError(f"cannot read a version from {version!r}; use e.g. 1.9 or 2.11")
        name: MeshName = mesh  # type: ignore[assignment]
        return MeshHint(name, parsed_version)


class InjectedInit:
    """The init container that sets up traffic redirection, when the proxy is already injected."""

    def __init__(self, list_name: str, index: int) -> None:
        self.list_name: Final = list_name
        self.index: Final = index


class MeshContext:
    """The mesh the pod lives in, as far as we can tell, and how we know (``evidence``)."""

    def __init__(
        self,
        mesh: MeshName,
        version: Version | None,
        inbound: InboundMode,
        injected: bool,
        cni: bool,
        redirect_init: InjectedInit | None,
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
        if self.mesh in ("none", "unknown"):
            return f"mesh {self.mesh}"
        name = "Istio" if self.mesh == "istio" else "Linkerd"
        return f"{name} {format_version(self.version)}"


def inbound_mode(mesh: MeshName, version: Version | None) -> InboundMode:
    if version is None or mesh not in ("istio", "linkerd"):
        return "unknown"
    since = ISTIO_POD_IP_SINCE if mesh == "istio" else LINKERD_POD_IP_SINCE
    return "pod-ip" if version >= since else "localhost"


def _meta(pod: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    metadata = pod.get("metadata")
    value = metadata.get(field) if isinstance(metadata, dict) else None
    return value if isinstance(value, dict) else {}


def _image_tag(image: object) -> str | None:
    if not isinstance(image, str):
        return None
    image = image.split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _find(pod: Mapping[str, Any], name: str) -> tuple[str, int, Mapping[str, Any]] | None:
    """The container called ``name`` (init containers first), with its list and its index there."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return None
    for list_name in ("initContainers", "containers"):
        items = spec.get(list_name)
        if not isinstance(items, list):
            continue
        for index, container in enumerate(items):
            if isinstance(container, dict) and container.get("name") == name:
                return list_name, index, container
    return None


def detect(pod: Mapping[str, Any], hint: MeshHint = MeshHint()) -> MeshContext:
    """The mesh context for ``pod``; see the module docstring for the precedence."""
    labels = _meta(pod, "labels")
    annotations = _meta(pod, "annotations")

    istio_proxy = _find(pod, ISTIO_PROXY)
    if istio_proxy is not None or "sidecar.istio.io/status" in annotations:
        version = parse_version(_image_tag(istio_proxy[2].get("image")) if istio_proxy else None)
        if version is None:
            version = _istio_status_revision(annotations.get("sidecar.istio.io/status"))
        if version is None:
            version = hint.version_for("istio")
        init = _find(pod, ISTIO_INIT)
        return MeshContext(
            mesh="istio",
            version=version,
            inbound=inbound_mode("istio", version),
            injected=True,
            cni=init is None,
            redirect_init=InjectedInit(init[0], init[1]) if init else None,
            evidence="istio-proxy already injected"
            + (" (istio-init)" if init else " (Istio CNI: no istio-init container)"),
        )

    linkerd_proxy = _find(pod, LINKERD_PROXY)
    if linkerd_proxy is not None or "linkerd.io/proxy-version" in annotations:
        version = parse_version(_as_str(annotations.get("linkerd.io/proxy-version")))
        if version is None and linkerd_proxy is not None:
            version = parse_version(_image_tag(linkerd_proxy[2].get("image")))
        if version is None:
            version = hint.version_for("linkerd")
        init = _find(pod, LINKERD_INIT)
        return MeshContext(
            mesh="linkerd",
            version=version,
            inbound=inbound_mode("linkerd", version),
            injected=True,
            cni=init is None,
            redirect_init=InjectedInit(init[0], init[1]) if init else None,
            evidence="linkerd-proxy already injected"
            + (" (linkerd-init)" if init else " (Linkerd CNI: no linkerd-init container)"),
        )

    istio_inject = _as_str(labels.get("sidecar.istio.io/inject") or annotations.get("sidecar.istio.io/inject"))
    linkerd_inject = _as_str(annotations.get("linkerd.io/inject"))
    opted_out = set()
    if istio_inject.lower() == "false":
        opted_out.add("istio")
    if linkerd_inject == "disabled":
        opted_out.add("linkerd")

    revision = _as_str(labels.get("istio.io/rev"))
    if istio_inject.lower() == "true" or revision:
        version = parse_version(revision) if revision else None
        if version is None:
            version = hint.version_for("istio")
        why = f"pod label istio.io/rev={revision}" if revision else "pod asks for Istio injection"
        return _pending("istio", version, why)
    if linkerd_inject in ("enabled", "ingress"):
        version = hint.version_for("linkerd")
        return _pending("linkerd", version, f"pod annotation linkerd.io/inject={linkerd_inject}")

    if hint.mesh in ("istio", "linkerd"):
        if hint.mesh in opted_out:
            return _pending("none", None, f"pod opts out of {hint.mesh} injection")
        return _pending(hint.mesh, hint.version, "configured: --mesh, namespace default or webhook path")
    if hint.mesh == "none":
        return _pending("none", None, "configured: no mesh")
    return _pending("unknown", None, "no mesh evidence on the pod and no mesh configured")


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


def _as_str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _istio_status_revision(status: object) -> Version | None:
    if not isinstance(status, str):
        return None
    try:
        decoded = json.loads(status)
    except ValueError:
        return None
    revision = decoded.get("revision") if isinstance(decoded, dict) else None
    return parse_version(revision) if isinstance(revision, str) else None
