"""Pure: the mesh audit of running StatefulSet pods — what stsmesh would fix today, what a mesh
upgrade (or downgrade) across Istio 1.10 / Linkerd 2.11 would break, and conflicting annotations.

It runs the webhook's own :func:`~webhook.core.admission.review` on each stored pod as if it were being
created now: any patch means the pod lacks fixes and needs a restart to get them. It then reviews
the pod on both sides of the inbound-forwarding line (127.0.0.1 vs pod IP) to say which side the
app breaks on, and reads the pod's mesh annotations and injected init container for conflicts
(the istioctl IST0143 "LocalhostListener" check was removed in Istio 1.21; this replaces it from
declared configuration). Input is plain pod dicts; the CLI edge lists them through the API.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from webhook.core.admission import review
from webhook.core.commalist import covers, split_list
from webhook.core.decision import statefulset_owner
from webhook.core.engine import Mutation
from webhook.core.inputs import pod_review
from webhook.core.mesh import MESHES, MeshContext, MeshHint, detect
from webhook.core.rules.mesh_ports import (
    ISTIO_EXCLUDE_IN,
    ISTIO_EXCLUDE_OUT,
    ISTIO_INCLUDE_IN,
    LINKERD_OPAQUE,
    LINKERD_SKIP_IN,
)
from webhook.core.rules.registry import FIX_KINDS
from webhook.core.settings import Settings
from webhook.core.shapes import metadata_map, name_of

SIDES = {
    "istio": (MeshHint("istio", (1, 9)), MeshHint("istio", (1, 22))),
    "linkerd": (MeshHint("linkerd", (2, 10)), MeshHint("linkerd", (2, 14))),
}
POD_IP_ONLY_KINDS = frozenset(kind.name for kind in FIX_KINDS.values() if kind.binds_pod_ip_only)
"""Fix kinds whose pending fix means the app listens on the pod IP only."""


@dataclass
class PodAudit:
    namespace: str
    pod: str
    statefulset: str
    mesh: str
    apps: list[str] = field(default_factory=list)
    missing_fixes: list[str] = field(default_factory=list)
    """Fixes the webhook would apply now: the pod needs a restart to get them."""
    breaks_on: list[str] = field(default_factory=list)
    """Sides of the forwarding line where the app, as it runs now, does not receive traffic."""
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def broken(self) -> bool:
        return bool(self.missing_fixes or self.breaks_on or self.conflicts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "pod": self.pod,
            "statefulset": self.statefulset,
            "mesh": self.mesh,
            "apps": self.apps,
            "needsRestart": bool(self.missing_fixes),
            "missingFixes": self.missing_fixes,
            "breaksOn": self.breaks_on,
            "conflicts": self.conflicts,
            "notes": self.notes,
        }


def audit_pod(pod: Mapping[str, Any], settings: Settings, hint: MeshHint | None = None) -> PodAudit | None:
    """The audit of one stored pod, or None when it is not a StatefulSet pod."""
    hint = hint or MeshHint()
    owner = statefulset_owner(pod)
    if owner is None:
        return None
    metadata = pod.get("metadata")
    namespace = str(metadata.get("namespace") or "") if isinstance(metadata, dict) else ""
    now_settings = settings.with_overrides(default_hint=hint if hint.mesh else settings.default_hint)
    result = review(pod_review(copy.deepcopy(dict(pod))), now_settings)
    mesh = result.mutation.mesh if result.mutation else detect(pod, hint)
    audit = PodAudit(namespace=namespace, pod=name_of(pod), statefulset=owner, mesh=mesh.label)
    if result.mutation is None:
        audit.notes.append(f"not reviewed: {result.decision.detail}")
        return audit
    audit.apps = sorted({f"{m.app.app} ({m.container_name})" for m in result.mutation.apps})
    audit.missing_fixes = list(result.mutation.applied_fixes)
    audit.breaks_on = _breaks_on(pod, mesh, now_settings) + _breaks_as_configured(mesh, result.mutation)
    audit.conflicts = conflicts(pod, mesh)
    audit.notes = list(result.mutation.warnings)
    return audit


def _breaks_on(pod: Mapping[str, Any], mesh: MeshContext, settings: Settings) -> list[str]:
    """Which side of the forwarding line the pod, as it is, fails on (per mesh it may meet)."""
    if mesh.mesh == "none":
        return []
    meshes = [mesh.mesh] if mesh.mesh in SIDES else list(SIDES)
    template_pod = _without_mesh_evidence(pod)  # so each side's version, not the injected one, applies
    found: list[str] = []
    for name in meshes:
        for side in SIDES[name]:
            result = review(pod_review(copy.deepcopy(template_pod)), settings.with_overrides(default_hint=side))
            if result.mutation is None:
                continue
            pending = {c.fix for c in result.mutation.changes}
            kinds = {f.kind for m in result.mutation.apps for f in m.app.fixes if f.id in pending}
            loopback = [w for w in result.mutation.warnings if "loopback only" in w]
            label = f"{'Istio' if name == 'istio' else 'Linkerd'} {side.version[0]}.{side.version[1]}"  # type: ignore[index]
            forwards_to_localhost = side.version in ((1, 9), (2, 10))
            if forwards_to_localhost and kinds & POD_IP_ONLY_KINDS:
                found.append(f"{label} and older (forwards to 127.0.0.1; the app listens on the pod IP only)")
            if not forwards_to_localhost and loopback:
                found.append(f"{label} and newer (forwards to the pod IP; the app listens on 127.0.0.1 only)")
    return found


def _breaks_as_configured(mesh: MeshContext, mutation: Mutation) -> list[str]:
    """A data plane that delivers to 127.0.0.1 although its version delivers to the pod IP (Istio's
    LOCALHOST inbound policy), where the app listens on the pod IP only and lacks its fix."""
    facts = mesh.facts
    if facts is None or mesh.inbound != "localhost" or facts.delivery(mesh.version) != "pod-ip":
        return []
    pending = set(mutation.applied_fixes)
    kinds = {f.kind for m in mutation.apps for f in m.app.fixes if f.id in pending}
    if not kinds & POD_IP_ONLY_KINDS:
        return []
    return [f"{mesh.label} as configured ({mesh.delivery_evidence}; the app listens on the pod IP only)"]


def _without_mesh_evidence(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The pod as its template made it, so another mesh's or version's view can be computed."""
    clean = copy.deepcopy(dict(pod))
    spec: dict[str, Any] = clean["spec"] if isinstance(clean.get("spec"), dict) else {}
    proxies = {"istio-validation", *(name for facts in MESHES for name in (facts.proxy, facts.redirect_init) if name)}
    for list_name in ("containers", "initContainers"):
        items = spec.get(list_name)
        if isinstance(items, list):
            spec[list_name] = [c for c in items if not (isinstance(c, dict) and c.get("name") in proxies)]
    annotations = metadata_map(clean, "annotations")
    for key in (facts.injected_annotation for facts in MESHES if facts.injected_annotation):
        annotations.pop(key, None)
    return clean


def conflicts(pod: Mapping[str, Any], mesh: MeshContext) -> list[str]:
    """Mesh annotations that contradict each other or the injected proxy."""
    annotations = metadata_map(pod, "annotations")
    labels = metadata_map(pod, "labels")
    found: list[str] = []
    include = annotations.get(ISTIO_INCLUDE_IN)
    exclude = split_list(annotations.get(ISTIO_EXCLUDE_IN))
    if isinstance(include, str) and include.strip() not in ("*", "") and exclude:
        found.append(f"{ISTIO_EXCLUDE_IN} has no effect while {ISTIO_INCLUDE_IN} is an explicit list ({include})")
    inject = labels.get("sidecar.istio.io/inject") or annotations.get("sidecar.istio.io/inject")
    if inject == "false" and labels.get("istio.io/rev"):
        found.append("sidecar.istio.io/inject=false together with istio.io/rev: the pod will not be injected")
    skipped = split_list(annotations.get(LINKERD_SKIP_IN))
    for item in split_list(annotations.get(LINKERD_OPAQUE)):
        if item.isdigit() and covers(skipped, int(item)):
            found.append(f"port {item} is both opaque and skipped: {LINKERD_SKIP_IN} wins and it bypasses the proxy")
    if mesh.mesh == "istio" and mesh.injected and mesh.redirect_init is not None:
        args = _init_args(pod, mesh)
        for key, flag in ((ISTIO_EXCLUDE_IN, "-d"), (ISTIO_EXCLUDE_OUT, "-o")):
            wanted = [p for p in split_list(annotations.get(key)) if p.isdigit()]
            injected = split_list(_flag(args, flag))
            missing = [p for p in wanted if not covers(injected, int(p))]
            if missing:
                found.append(
                    f"{key} lists {','.join(missing)} but istio-init {flag} does not: the annotation came after "
                    "injection (webhook order?); restart the pod"
                )
    return found


def _init_args(pod: Mapping[str, Any], mesh: MeshContext) -> list[str]:
    assert mesh.redirect_init is not None
    spec = pod.get("spec") if isinstance(pod.get("spec"), dict) else {}
    items = spec.get(mesh.redirect_init.list_name) if isinstance(spec, dict) else None
    container = items[mesh.redirect_init.index] if isinstance(items, list) else {}
    args = container.get("args") if isinstance(container, dict) else None
    return [a for a in args if isinstance(a, str)] if isinstance(args, list) else []


def _flag(args: Sequence[str], flag: str) -> str:
    for index, item in enumerate(args):
        if item == flag and index + 1 < len(args):
            return args[index + 1]
        if item.startswith(flag + "="):
            return item[len(flag) + 1 :]
    return ""


def namespace_hint(labels: Mapping[str, str], annotations: Mapping[str, str]) -> MeshHint:
    """What a namespace's own labels say about injection (the audit may read them; the webhook
    cannot, as they are not in the review)."""
    revision = labels.get("istio.io/rev")
    if labels.get("istio-injection") == "enabled" or revision:
        return MeshHint.parse("istio", revision if revision and any(c.isdigit() for c in revision) else None)
    if annotations.get("linkerd.io/inject") in ("enabled", "ingress"):
        return MeshHint("linkerd")
    return MeshHint()


def table(audits: Sequence[PodAudit]) -> str:
    if not audits:
        return "no StatefulSet pods found\n"
    lines = []
    for a in audits:
        status = "BROKEN" if a.broken else "ok"
        lines.append(f"{status:<7}{a.namespace}/{a.pod} ({a.statefulset}) — {a.mesh}; apps: {', '.join(a.apps) or '-'}")
        if a.missing_fixes:
            lines.append(f"         needs restart: missing {', '.join(a.missing_fixes)}")
        for side in a.breaks_on:
            lines.append(f"         breaks on {side}")
        for conflict in a.conflicts:
            lines.append(f"         conflict: {conflict}")
    broken = sum(a.broken for a in audits)
    lines.append(f"\n{len(audits)} pod(s), {broken} need attention")
    return "\n".join(lines) + "\n"
