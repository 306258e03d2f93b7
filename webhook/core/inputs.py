"""Pure: turn what a user hands the dry-run (AdmissionReview, Pod or StatefulSet; YAML or JSON) into
AdmissionReviews, exactly as the apiserver would send them for the pods a StatefulSet creates.

For a StatefulSet the pod is built as its controller builds it (``pkg/controller/statefulset``
``newVersionedStatefulSetPod``): name ``<set>-<ordinal>``, the template's labels plus
``statefulset.kubernetes.io/pod-name``, ``apps.kubernetes.io/pod-index`` and
``controller-revision-hash``, a controlling ownerReference, ``hostname`` and ``subdomain``
(the governing Service), and one PVC volume per volumeClaimTemplate.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from webhook.core.shapes import POD_INDEX_LABEL, POD_NAME_LABEL, REVISION_LABEL, expand_lists, mapping, name_of

REVIEW_API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
UID_NAMESPACE = uuid.UUID("6f1c1a52-3c5e-4c1e-9d87-5a1b8a0e3b11")


class InputError(ValueError):
    """The file is not something the dry-run can read; the message says what it accepts."""


class FlagMismatch(InputError):
    """The input is fine but a flag does not fit it (an ``--ordinal`` the StatefulSet has no pod for)."""


@dataclass(frozen=True)
class Item:
    """One review to run, and where it came from (for the explanation)."""

    source: str
    review: dict[str, Any]
    statefulset: dict[str, Any] | None = None
    """The StatefulSet the reviewed pod was built from, when it was."""


def load_documents(text: str, origin: str) -> list[dict[str, Any]]:
    """Every non-empty document in a YAML or JSON stream."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise InputError(f"{origin}: not valid YAML or JSON: {exc}") from exc
    if not docs:
        raise InputError(f"{origin}: no document found; give an AdmissionReview, a Pod or a StatefulSet")
    for doc in docs:
        if not isinstance(doc, dict):
            raise InputError(f"{origin}: every document must be an object, found {type(doc).__name__}")
    return docs


def reviews_from(
    docs: list[dict[str, Any]], origin: str, ordinal: int | None = None, namespace: str = ""
) -> tuple[list[Item], list[str]]:
    """The reviews to run and the kinds that were skipped (e.g. the headless Service)."""
    items: list[Item] = []
    skipped: list[str] = []
    for doc in expand_lists(docs):
        kind = doc.get("kind")
        name = name_of(doc)
        if kind == "AdmissionReview" and doc.get("apiVersion") in REVIEW_API_VERSIONS:
            items.append(Item(f"AdmissionReview {_review_name(doc)}", doc))
        elif kind == "Pod":
            items.append(Item(f"Pod {name}", pod_review(copy.deepcopy(doc), namespace)))
        elif kind == "StatefulSet":
            pod = pod_from_statefulset(doc, ordinal, namespace)
            source = f"StatefulSet {name} → pod {pod['metadata']['name']}"
            items.append(Item(source, pod_review(pod, namespace), statefulset=doc))
        else:
            skipped.append(f"{kind or 'document without kind'} {name}".strip())
    if not items:
        raise InputError(
            f"{origin}: found no AdmissionReview, Pod or StatefulSet"
            + (f" (only: {', '.join(skipped)})" if skipped else "")
        )
    return items, skipped


def _review_name(doc: Mapping[str, Any]) -> str:
    request = doc.get("request")
    if isinstance(request, Mapping):
        obj = request.get("object")
        if isinstance(obj, Mapping) and name_of(obj):
            return name_of(obj)
        if isinstance(request.get("name"), str):
            return str(request["name"])
    return ""


def ordinals_of(spec: Mapping[str, Any], set_name: str) -> range:
    """The ordinals of the pods a StatefulSet's controller creates: ``spec.ordinals.start``
    (Kubernetes 1.27+, default 0) up to ``start + replicas`` (default 1), exclusive."""
    replicas = spec.get("replicas", 1)  # the apiserver's default
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise InputError(f"StatefulSet {set_name}: spec.replicas must be a whole number, got {replicas!r}")
    start = mapping(spec.get("ordinals")).get("start", 0)
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise InputError(f"StatefulSet {set_name}: spec.ordinals.start must be a whole number, got {start!r}")
    return range(start, start + replicas)


def pod_from_statefulset(sts: Mapping[str, Any], ordinal: int | None = None, namespace: str = "") -> dict[str, Any]:
    """The pod the StatefulSet controller would create for ``ordinal`` (default: its first pod)."""
    if ordinal is not None and ordinal < 0:
        raise FlagMismatch("--ordinal must be 0 or more")
    metadata = mapping(sts.get("metadata"))
    set_name = metadata.get("name")
    if not isinstance(set_name, str) or not set_name:
        raise InputError("the StatefulSet has no metadata.name")
    spec = mapping(sts.get("spec"))
    template = mapping(spec.get("template"))
    ordinals = ordinals_of(spec, set_name)
    if ordinal is None:
        ordinal = ordinals.start
    elif ordinal not in ordinals and not (len(ordinals) == 0 and ordinal == ordinals.start):
        last = f"{set_name}-{ordinals[-1]}" if ordinals else "none (replicas: 0)"
        raise FlagMismatch(
            f"--ordinal {ordinal} is not one of the StatefulSet's pods (ordinals {ordinals.start} to "
            f"{ordinals.start + len(ordinals) - 1}: {set_name}-{ordinals.start} .. {last})"
        )
    tmeta = copy.deepcopy(mapping(template.get("metadata")))
    pod_spec = copy.deepcopy(mapping(template.get("spec")))
    name = f"{set_name}-{ordinal}"
    ns = namespace or metadata.get("namespace") or "default"
    labels = dict(tmeta.get("labels") or {})
    labels[POD_NAME_LABEL] = name
    labels[POD_INDEX_LABEL] = str(ordinal)
    labels.setdefault(REVISION_LABEL, f"{set_name}-dryrun")
    pod_meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels}
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    pod_meta["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "name": set_name,
            "uid": str(metadata.get("uid") or uuid.uuid5(UID_NAMESPACE, f"{ns}/{set_name}")),
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    pod_spec["hostname"] = name
    if isinstance(spec.get("serviceName"), str) and spec["serviceName"]:
        pod_spec["subdomain"] = spec["serviceName"]
    claims = spec.get("volumeClaimTemplates") or []
    if claims:
        volumes = [v for v in pod_spec.get("volumes") or [] if isinstance(v, dict)]
        taken = {v.get("name") for v in volumes}
        for claim in claims:
            claim_name = name_of(claim)
            if claim_name and claim_name not in taken:
                volumes.append({"name": claim_name, "persistentVolumeClaim": {"claimName": f"{claim_name}-{name}"}})
        pod_spec["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": pod_spec}


def pod_review(pod: dict[str, Any], namespace: str = "") -> dict[str, Any]:
    """An ``admission.k8s.io/v1`` CREATE review for ``pod``, as the apiserver sends it."""
    metadata = mapping(pod.get("metadata"))
    ns = namespace or metadata.get("namespace") or "default"
    name = metadata.get("name") or ""
    gvk = {"group": "", "version": "v1", "kind": "Pod"}
    gvr = {"group": "", "version": "v1", "resource": "pods"}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid5(UID_NAMESPACE, f"{ns}/{name}")),
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "name": name,
            "namespace": ns,
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:statefulset-controller"},
            "object": pod,
            "oldObject": None,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }
