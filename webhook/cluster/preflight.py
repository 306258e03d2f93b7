"""Pure: the judgements of ``stsmesh check`` (and ``stsmesh status``), each a :class:`Check` made
from objects already read from the cluster — so every verdict and its hint is tested on plain dicts.

A check is ``ok`` (✓) or not (×); every × carries the hint that says what to do. Facts about the
meshes (the injector webhook names, the control-plane selectors) come from their one place in the
core.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from webhook.cluster import manifests
from webhook.core import certs
from webhook.core.mesh import MESHES, format_version
from webhook.core.namespaces import DEFAULT_REVISION, ControlPlanes
from webhook.core.shapes import items, mapping, metadata_text, name_of

JSON = Mapping[str, Any]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    hint: str = ""
    """What to do when not ok."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def our_webhook(configuration: JSON | None) -> JSON | None:
    if configuration is None:
        return None
    return next((w for w in items(configuration.get("webhooks")) if w.get("name") == manifests.WEBHOOK_NAME), None)


def registration(configuration: JSON | None) -> Check:
    webhook = our_webhook(configuration)
    if configuration is None or webhook is None:
        return Check(
            "registration",
            False,
            "MutatingWebhookConfiguration 00-stsmesh not found",
            "stsmesh register --service NS/NAME --ca-file certs/ca.crt",
        )
    client_config = mapping(webhook.get("clientConfig"))
    service = mapping(client_config.get("service"))
    where = (
        client_config.get("url")
        or f"service {service.get('namespace')}/{service.get('name')}:{service.get('port', 443)}"
    )
    detail = (
        f"{name_of(configuration)} → {where} (failurePolicy {webhook.get('failurePolicy')}, "
        f"timeout {webhook.get('timeoutSeconds')}s, reinvocation {webhook.get('reinvocationPolicy', 'Never')})"
    )
    if webhook.get("reinvocationPolicy") != "IfNeeded":
        return Check("registration", False, detail, "stsmesh register again: reinvocationPolicy must be IfNeeded")
    return Check("registration", True, detail)


def ordering(configurations: Iterable[JSON]) -> Check:
    """The apiserver calls mutating webhook configurations in name order: ours must come before
    every mesh injector's, so its annotations are on the pod when the injector reads them."""
    ours = manifests.WEBHOOK_CONFIGURATION_NAME
    injectors: list[tuple[str, str]] = []
    for configuration in configurations:
        for webhook in items(configuration.get("webhooks")):
            entry = str(webhook.get("name") or "")
            mesh = next((f.title for f in MESHES if f.injector_webhook and entry.endswith(f.injector_webhook)), None)
            if mesh is not None:
                injectors.append((name_of(configuration), mesh))
                break
    if not injectors:
        return Check("ordering", True, "no mesh injector webhook found")
    late = [f"{name} ({mesh})" for name, mesh in injectors if name < ours]
    found = ", ".join(sorted({f"{name} ({mesh})" for name, mesh in injectors}))
    if late:
        return Check(
            "ordering",
            False,
            f"{', '.join(late)} runs before {ours}",
            f"the apiserver runs configurations in name order: rename {ours} (stsmesh register) to sort first",
        )
    return Check("ordering", True, f"{ours} runs before {found}")


def trust(configuration: JSON | None, served: bytes | None, where: str) -> Check:
    """Whether the registered caBundle verifies the certificate the webhook serves (``served``, read
    from its Secret or its port; None when it could not be read)."""
    ca = manifests.ca_bundle_of(dict(configuration)) if configuration else b""
    if not ca:
        return Check(
            "caBundle",
            False,
            "empty: the apiserver would verify the server against its system roots",
            "stsmesh register --ca-file certs/ca.crt, or the cert-manager overlay",
        )
    if served is None:
        return Check(
            "caBundle",
            False,
            f"cannot read the serving certificate ({where})",
            "make it with `stsmesh certs -o secret | kubectl apply -f -` (or cert-manager)",
        )
    if certs.signed_by(served, ca):
        return Check("caBundle", True, f"verifies the serving certificate ({where})")
    return Check(
        "caBundle",
        False,
        f"does NOT verify the serving certificate ({where}): the apiserver cannot call it",
        "stsmesh register --ca-file with the CA that signed it (certs/ca.crt)",
    )


def endpoints(service: str, found: JSON | None) -> Check:
    ready = [a.get("ip") for s in items(mapping(found).get("subsets")) for a in items(s.get("addresses"))]
    if ready:
        return Check("endpoints", True, f"{service}: {len(ready)} ready ({', '.join(map(str, ready))})")
    return Check(
        "endpoints",
        False,
        f"{service}: no ready endpoint",
        "kubectl -n stsmesh get pods,events: is the stsmesh Deployment running and ready?",
    )


def server_version(metrics_text: str | None, cli_version: str, where: str) -> Check:
    """The running server's ``stsmesh_build_info`` version, beside this command's."""
    if metrics_text is None:
        return Check("server", False, f"no answer from {where}/metrics", "is `stsmesh serve` running and ready?")
    for line in metrics_text.splitlines():
        if line.startswith("stsmesh_build_info{"):
            labels = dict(part.split("=", 1) for part in line[line.index("{") + 1 : line.index("}")].split(","))
            version = labels.get("version", "?").strip('"')
            compiled = labels.get("compiled", "").strip('"') == "true"
            same = "" if version == cli_version else f"; this command is {cli_version}"
            return Check("server", True, f"stsmesh {version}{' (compiled core)' if compiled else ''} answers{same}")
    return Check("server", False, f"{where}/metrics has no stsmesh_build_info", "is that an stsmesh server?")


SERVER_NEEDS = (
    ("list", "", "namespaces"),
    ("watch", "", "namespaces"),
    ("list", "apps", "deployments"),
    ("watch", "apps", "deployments"),
    ("list", "apps", "daemonsets"),
    ("watch", "apps", "daemonsets"),
)
CONTROLLER_NEEDS = (("watch", "apps", "statefulsets"), ("create", "", "services"), ("delete", "", "services"))
"""The rights each component needs (deploy/base/rbac.yaml and the per-pod-controller overlay grant them)."""


def rbac(who: str, allowed: Mapping[tuple[str, str, str], bool]) -> Check:
    missing = [
        f"{verb} {group + '/' if group else ''}{resource}" for (verb, group, resource), ok in allowed.items() if not ok
    ]
    if missing:
        return Check(
            f"rbac {who}",
            False,
            f"cannot {', '.join(missing)}",
            "apply deploy/base/rbac.yaml (or the chart), which grants them",
        )
    return Check(f"rbac {who}", True, f"{len(allowed)} rights present")


def namespaces(enabled: Sequence[str]) -> Check:
    if enabled:
        return Check("namespaces", True, ", ".join(enabled))
    return Check("namespaces", False, "none enabled", "stsmesh enable NAMESPACE")


def control_planes(planes: ControlPlanes) -> Check:
    found = [
        f"Istio {'' if rev == DEFAULT_REVISION else rev + ' '}{format_version(r.version) if r.version else '?'}"
        for rev, r in sorted(planes.istio.items())
    ]
    if planes.linkerd is not None:
        found.append(f"Linkerd {format_version(planes.linkerd)}")
    if planes.kuma is not None:
        found.append(f"Kuma {format_version(planes.kuma)}")
    if planes.consul is not None:
        found.append("Consul connect injector")
    if planes.cilium:
        found.append("Cilium (per node)")
    return Check("meshes", True, ", ".join(found) if found else "no mesh control plane found (pods: no mesh)")


def per_pod_controller(deployment: JSON | None) -> Check:
    if deployment is None:
        return Check("per-pod controller", True, "not installed (optional: deploy/overlays/per-pod-controller)")
    status = mapping(deployment.get("status"))
    ready, wanted = int(status.get("readyReplicas") or 0), int(mapping(deployment.get("spec")).get("replicas", 1))
    where = f"{metadata_text(deployment, 'namespace')}/{name_of(deployment)}"
    if ready >= 1:
        return Check("per-pod controller", True, f"{where}: {ready}/{wanted} ready")
    return Check(
        "per-pod controller",
        False,
        f"{where}: {ready}/{wanted} ready",
        f"kubectl -n {metadata_text(deployment, 'namespace')} logs deploy/{name_of(deployment)}",
    )
