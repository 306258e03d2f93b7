"""Pure: the dry-run's human explanation of a review — each operation and why.

Plain text, no colour, stable line layout so that people can diff two runs.
"""

from __future__ import annotations

import json

from webhook.core.admission import ReviewResult
from webhook.core.mesh import MeshContext

INBOUND_TEXT = {
    "localhost": "delivers inbound traffic to 127.0.0.1",
    "pod-ip": "delivers inbound traffic to the pod IP",
    "unknown": "inbound delivery unknown (no version): only fixes that work both ways",
}
EXCLUSION_TEXT = {
    "annotations": "exclusions go into annotations the injector reads",
    "init-container": "exclusions go into the injected init container",
    "cni": "exclusions go into annotations the CNI plugin reads at sandbox set-up",
    "not-per-port": "no per-port exclusion exists",
    "none": "nothing to exclude from",
}


def mesh_line(mesh: MeshContext) -> str:
    """The data plane stsmesh assumed, the delivery and why."""
    if mesh.mesh == "none":
        return f"none ({mesh.evidence}): nothing to fix"
    if mesh.mesh == "unknown":
        return f"unknown ({mesh.evidence}): only fixes safe for every mesh"
    injected = ", already injected" if mesh.injected else ""
    delivery = f"{INBOUND_TEXT[mesh.inbound]}" + (f" [{mesh.delivery_evidence}]" if mesh.delivery_evidence else "")
    return f"{mesh.label} {mesh.dataplane}{injected}; {delivery}; {EXCLUSION_TEXT[mesh.exclusion]} ({mesh.evidence})"


def explain(source: str, result: ReviewResult) -> str:
    lines = [f"{source}", f"  request uid: {result.request.uid}"]
    decision = result.decision
    if not decision.mutate:
        lines.append(f"  skipped: {decision.detail} [{decision.reason}]")
        lines.append("  result: admitted unchanged")
        return "\n".join(lines)
    lines.append(f"  decision: mutate ({decision.detail})")
    mutation = result.mutation
    if mutation is None:
        response = result.response.get("response")
        warnings = response.get("warnings", []) if isinstance(response, dict) else []
        lines.append(f"  result: {result.outcome}: {result.error}")
        lines.extend(f"  warning: {w}" for w in warnings)
        return "\n".join(lines)
    lines.append(f"  mesh: {mesh_line(mutation.mesh)}")
    if mutation.apps:
        apps = "; ".join(f"{m.app.app} ({m.app.id}) in {m.ref.list_name}/{m.container_name}" for m in mutation.apps)
        lines.append(f"  apps: {apps}")
        for match in mutation.apps:
            if match.app.binds_all:
                lines.append(f"  note: {match.app.app}: {match.app.binds_all}")
    else:
        lines.append("  apps: none recognised by the catalogue (see `stsmesh catalogue`)")
    if mutation.changes:
        lines.append("  changes:")
        number = 0
        for change in mutation.changes:
            lines.append(f"    [{change.fix}] {change.summary}")
            lines.append(f"      why: {change.why}")
            for op in change.ops:
                number += 1
                value = json.dumps(op.get("value"), separators=(",", ":"))
                lines.append(f"      {number}. {op['op']} {op['path']} = {value}")
    for note in mutation.notes:
        lines.append(f"  unchanged: [{note.fix}] {note.message}")
    for warning in mutation.warnings:
        lines.append(f"  warning: {warning}")
    count = len(mutation.patch)
    lines.append(
        f"  result: {count} patch operation{'s' if count != 1 else ''}" if count else "  result: no change needed"
    )
    return "\n".join(lines)
