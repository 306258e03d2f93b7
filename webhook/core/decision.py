"""Pure: should stsmesh mutate this request? One predicate, a reason either way.

Precedence — the first check that fails decides, and its reason is recorded:

1. ``operation`` is ``CREATE`` (pods are fixed at creation; UPDATE/DELETE are never patched);
2. the request is for core ``v1`` ``Pod`` on resource ``pods`` with no subresource;
3. ``object`` is a JSON object (a pod we can read);
4. the namespace is not excluded in settings (kube-system, kube-node-lease, our own);
5. the pod does not opt out: annotation or label ``stsmesh.io/skip: "true"``;
6. the pod is controlled by a StatefulSet: an ownerReference ``apps/v1`` ``StatefulSet`` with
   ``controller: true``.

Per-fix opt-outs (``stsmesh.io/skip-fixes``) do not stop the mutation; the rules honour them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from webhook.core.review import AdmissionRequest, clip, describe
from webhook.core.shapes import metadata_text

SKIP_ANNOTATION = "stsmesh.io/skip"
TRUE_VALUES = frozenset({"true", "yes", "1", "on"})


class Decision:
    """Whether to mutate. ``reason`` is machine-friendly (also a metrics label): ``statefulset-pod``
    or ``not-<why>``; ``detail`` says it for people."""

    def __init__(
        self, mutate: bool, reason: str, detail: str, statefulset: str = "", ordinal: int | None = None
    ) -> None:
        self.mutate: Final = mutate
        self.reason: Final = reason
        self.detail: Final = detail
        self.statefulset: Final = statefulset
        self.ordinal: Final = ordinal


def _skip(reason: str, detail: str) -> Decision:
    return Decision(False, reason, detail)


def should_mutate(request: AdmissionRequest, excluded_namespaces: Sequence[str]) -> Decision:
    """Decide; see the module docstring for the precedence."""
    if request.operation != "CREATE":
        return _skip("not-create", f"operation {clip(request.operation) or '(none)'} is not CREATE")
    kind = request.kind
    if kind.get("kind") != "Pod" or kind.get("group", "") != "" or request.resource.get("resource", "pods") != "pods":
        shown = describe(kind.get("kind")) if kind.get("kind") else "(none)"
        return _skip("not-pod", f"kind {shown} is not a core Pod")
    if request.sub_resource:
        return _skip("subresource", f"subresource {clip(request.sub_resource)} is not the pod itself")
    pod = request.object
    if not isinstance(pod, dict):
        return _skip("no-object", "the request carries no pod object")
    namespace = request.namespace or metadata_text(pod, "namespace")
    if namespace in excluded_namespaces:
        return _skip("excluded-namespace", f"namespace {clip(namespace)} is excluded")
    if _opted_out(pod):
        return _skip("opted-out", f"the pod sets {SKIP_ANNOTATION}")
    owner = statefulset_owner(pod)
    if owner is None:
        return _skip("not-statefulset", "the pod is not controlled by a StatefulSet")
    name = metadata_text(pod, "name") or request.name
    return Decision(True, "statefulset-pod", f"pod of StatefulSet {owner}", owner, ordinal_of(name, owner))


def statefulset_owner(pod: Mapping[str, Any]) -> str | None:
    """Name of the controlling ``apps/v1`` StatefulSet, or None."""
    metadata = pod.get("metadata")
    refs = metadata.get("ownerReferences") if isinstance(metadata, dict) else None
    if not isinstance(refs, list):
        return None
    for ref in refs:
        if (
            isinstance(ref, dict)
            and ref.get("controller") is True
            and ref.get("kind") == "StatefulSet"
            and ref.get("apiVersion") == "apps/v1"
            and isinstance(ref.get("name"), str)
            and ref["name"]
        ):
            name: str = ref["name"]
            return name
    return None


def ordinal_of(pod_name: str, statefulset: str) -> int | None:
    """``web-3`` of StatefulSet ``web`` → 3; None when the name does not follow the pattern."""
    prefix = statefulset + "-"
    digits = pod_name[len(prefix) :] if pod_name and pod_name.startswith(prefix) else ""
    return int(digits) if digits.isdecimal() else None  # isdecimal: what int() reads, as regex \d


def _opted_out(pod: Mapping[str, Any]) -> bool:
    metadata = pod.get("metadata")
    if not isinstance(metadata, dict):
        return False
    for field in ("annotations", "labels"):
        values = metadata.get(field)
        if isinstance(values, dict):
            flag = values.get(SKIP_ANNOTATION)
            if isinstance(flag, str) and flag.strip().lower() in TRUE_VALUES:
                return True
    return False


def pod_problem(pod: Mapping[str, Any]) -> str | None:
    """Why the pod's shape is not one we can safely edit, or None.

    The apiserver sends typed, defaulted pods, so this only trips on hand-made or fuzzed input;
    such a pod is admitted unchanged with a warning rather than patched on a guess.
    """
    metadata = pod.get("metadata", {})
    if not isinstance(metadata, dict):
        return "metadata is not an object"
    for field in ("labels", "annotations"):
        values = metadata.get(field, {})
        if values is not None and not (
            isinstance(values, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in values.items())
        ):
            return f"metadata.{field} is not a map of strings"
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return "spec is missing or not an object"
    for list_name in ("containers", "initContainers"):
        items = spec.get(list_name, [])
        if items is None:
            continue
        if not isinstance(items, list):
            return f"spec.{list_name} is not a list"
        for index, container in enumerate(items):
            problem = _container_problem(container)
            if problem is not None:
                return f"spec.{list_name}[{index}]{problem}"
    return None


def _container_problem(container: object) -> str | None:
    """What is wrong with one container, as a suffix of its path, or None.

    Env entries themselves are not checked: every reader of env (the catalogue's detection, the
    editor's env lookups) skips an entry that is not an object with a string name, so such an entry
    cannot mislead a rule, and the apiserver's own validation, which runs after mutating webhooks,
    rejects the pod with a precise message. Checking each entry here cost a full walk of the list
    on every request (a third of ``review()`` for a pod with 1000 env vars).
    """
    if not isinstance(container, dict):
        return " is not an object"
    for field in ("env", "ports", "args", "command"):
        value = container.get(field)
        if value is not None and not isinstance(value, list):
            return f".{field} is not a list"
    return None
