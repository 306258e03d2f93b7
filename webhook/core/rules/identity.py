"""Pure rule family: per-pod identity labels.

The StatefulSet controller labels its pods ``statefulset.kubernetes.io/pod-name`` and, from
Kubernetes 1.28, ``apps.kubernetes.io/pod-index``. Per-pod Services and mesh policies select on
them, so pods from older clusters (or created by hand from a template) get the missing ones.
Existing values are never changed.
"""

from __future__ import annotations

from typing import Final

from webhook.core.patch import PodEditor
from webhook.core.rules import Report, Rule, RuleContext
from webhook.core.shapes import POD_INDEX_LABEL, POD_NAME_LABEL

FIX = "identity-labels"


def add_identity_labels(editor: PodEditor, ctx: RuleContext, report: Report) -> None:
    if not ctx.allows(FIX, "identity"):
        report.note(FIX, "skipped: the pod opts out of this fix")
        return
    metadata = editor.pod.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    labels = editor.meta_map("labels")
    start = editor.checkpoint()
    added = []
    if isinstance(name, str) and name and POD_NAME_LABEL not in labels:
        editor.set_meta("labels", POD_NAME_LABEL, name)
        added.append(f"{POD_NAME_LABEL}={name}")
    if ctx.ordinal is not None and POD_INDEX_LABEL not in editor.meta_map("labels"):
        editor.set_meta("labels", POD_INDEX_LABEL, str(ctx.ordinal))
        added.append(f"{POD_INDEX_LABEL}={ctx.ordinal}")
    if added:
        report.record(
            editor,
            start,
            FIX,
            "added label " + ", ".join(added),
            "per-pod Services and policies select StatefulSet pods by these labels; "
            "clusters before 1.28 do not set the pod index",
        )


RULE: Final[Rule] = Rule("identity-labels", "identity", add_identity_labels)
