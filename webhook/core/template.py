"""Pure: a StatefulSet with its pod template patched as stsmesh patches each of its pods
(``stsmesh dry-run -o patched``, for those who would rather ``kubectl apply`` the fix than run the
webhook, as with ``istioctl kube-inject`` or ``linkerd inject``).

The patch is made for a pod, so the split is measured, not guessed: the pods of two ordinals are
reviewed, and an operation both answers share is a template change; one that differs (a value that
names the pod or its ordinal) is per-pod, left out of the template and reported, since only the
webhook can make it at admission. The template is then the patched pod less what the StatefulSet
controller adds to each pod (:func:`~webhook.core.inputs.pod_from_statefulset`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import jsonpatch

from webhook.core.inputs import InputError, ordinals_of, pod_from_statefulset
from webhook.core.review import PatchOp
from webhook.core.shapes import CONTROLLER_LABELS, mapping, name_of

JSON = dict[str, Any]
Answer = Callable[[JSON], Sequence[PatchOp]]
"""The JSONPatch operations stsmesh answers for a pod."""


def patched_statefulset(sts: JSON, namespace: str, answer: Answer) -> tuple[JSON, list[PatchOp]]:
    """``sts`` with its template patched, and the per-pod operations left to the webhook."""
    first = pod_from_statefulset(sts, None, namespace)
    start = ordinals_of(mapping(sts.get("spec")), str(name_of(sts))).start
    two_pods = copy.deepcopy(sts)
    two_pods.setdefault("spec", {})["replicas"] = 2  # a second ordinal even for a set of one
    second = pod_from_statefulset(two_pods, start + 1, namespace)
    ops_first, ops_second = answer(copy.deepcopy(first)), answer(second)
    shared = [op for op in ops_first if op in ops_second]
    per_pod = [op for op in ops_first if op not in ops_second]
    try:
        patched_pod = jsonpatch.apply_patch(first, shared)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise InputError(
            f"StatefulSet {name_of(sts)}: its template changes depend on per-pod ones ({exc}); "
            "use -o json, or let the webhook patch the pods"
        ) from exc
    result = copy.deepcopy(sts)
    result["spec"]["template"] = template_from_pod(patched_pod, sts)
    return result, per_pod


def template_from_pod(pod: JSON, sts: JSON) -> JSON:
    """The pod's labels, annotations and spec, less what the controller added to make it the pod."""
    template = mapping(mapping(sts.get("spec")).get("template"))
    template_meta, template_spec = mapping(template.get("metadata")), mapping(template.get("spec"))
    meta, spec = mapping(pod.get("metadata")), copy.deepcopy(mapping(pod.get("spec")))
    own_labels = mapping(template_meta.get("labels"))
    labels = {k: v for k, v in mapping(meta.get("labels")).items() if k not in CONTROLLER_LABELS or k in own_labels}
    new_meta = {k: copy.deepcopy(v) for k, v in template_meta.items() if k not in ("labels", "annotations")}
    if labels or "labels" in template_meta:
        new_meta["labels"] = labels
    if meta.get("annotations") or "annotations" in template_meta:
        new_meta["annotations"] = dict(mapping(meta.get("annotations")))
    for added in ("hostname", "subdomain"):
        if added not in template_spec:
            spec.pop(added, None)
    claims = {name_of(c) for c in mapping(sts.get("spec")).get("volumeClaimTemplates") or []}
    declared = {v.get("name") for v in template_spec.get("volumes") or [] if isinstance(v, dict)}
    if "volumes" in spec:
        spec["volumes"] = [v for v in spec["volumes"] if v.get("name") in declared or v.get("name") not in claims]
        if not spec["volumes"] and "volumes" not in template_spec:
            del spec["volumes"]
    return {**{k: copy.deepcopy(v) for k, v in template.items() if k not in ("metadata", "spec")},
            "metadata": new_meta, "spec": spec}  # fmt: skip
