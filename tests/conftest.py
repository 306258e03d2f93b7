"""Shared factories for the stsmesh tests, exposed as session-scoped fixtures.

The factories are plain functions (they hold no state), handed out through fixtures rather than
imported, so that test modules never depend on which ``conftest`` module Python last imported
(other test folders have their own). Use them as::

    def test_something(make_sts_pod, make_review, run_review):
        pod = make_sts_pod(containers=[{"name": "zk", "image": "bitnami/zookeeper:3.7.0"}])
        result, ops = run_review(make_review(pod), mesh="istio", version="1.9")
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jsonpatch
import orjson
import pytest

from webhook.core.admission import ReviewResult, review
from webhook.core.inputs import pod_from_statefulset, pod_review
from webhook.core.mesh import MeshHint
from webhook.core.review import decode_patch
from webhook.core.settings import Settings

JSON = dict[str, Any]


def make_statefulset(
    name: str = "web",
    *,
    namespace: str = "data",
    containers: Sequence[Mapping[str, Any]] | None = None,
    init_containers: Sequence[Mapping[str, Any]] | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    replicas: int = 3,
    service_name: str | None = None,
) -> JSON:
    """A minimal apps/v1 StatefulSet whose pod template holds the given containers."""
    template_meta: JSON = {"labels": {"app": name, **(labels or {})}}
    if annotations:
        template_meta["annotations"] = dict(annotations)
    pod_spec: JSON = {
        "containers": copy.deepcopy(list(containers or [{"name": "app", "image": "busybox:1.36"}])),
    }
    if init_containers:
        pod_spec["initContainers"] = copy.deepcopy(list(init_containers))
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "serviceName": service_name or f"{name}-headless",
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": template_meta, "spec": pod_spec},
        },
    }


def make_sts_pod(name: str = "web", ordinal: int = 0, **statefulset_fields: Any) -> JSON:
    """The pod the StatefulSet controller creates for ``ordinal`` (see ``make_statefulset``)."""
    return pod_from_statefulset(make_statefulset(name, **statefulset_fields), ordinal)


def make_review(pod: Any, *, operation: str = "CREATE", uid: str | None = None, api_version: str | None = None) -> JSON:
    """An AdmissionReview for ``pod`` as the apiserver sends it (``operation`` and uid overridable)."""
    body = pod_review(copy.deepcopy(pod)) if isinstance(pod, dict) else pod_review({}, "data")
    request = body["request"]
    if not isinstance(pod, dict):
        request["object"] = copy.deepcopy(pod)
    request["operation"] = operation
    if operation in ("UPDATE", "DELETE"):
        request["oldObject"] = copy.deepcopy(pod)
    if uid is not None:
        request["uid"] = uid
    if api_version is not None:
        body["apiVersion"] = api_version
    return body


def hint_settings(mesh: str | None = None, version: str | None = None, **overrides: Any) -> Settings:
    """Settings whose default mesh hint is ``mesh``/``version`` (as ``--mesh``/``--mesh-version``)."""
    return Settings(default_hint=MeshHint.parse(mesh, version), **overrides)


def run_review(
    body: JSON, mesh: str | None = None, version: str | None = None, settings: Settings | None = None
) -> tuple[ReviewResult, list[JSON]]:
    """``review()`` on a copy of ``body``; returns the result and the decoded patch."""
    result = review(copy.deepcopy(body), settings or hint_settings(mesh, version))
    return result, [dict(op) for op in decode_patch(result.response)]


def apply_ops(pod: Any, ops: Sequence[Mapping[str, Any]]) -> Any:
    """The pod after the JSON patch, applied with jsonpatch as the apiserver would (original untouched)."""
    return jsonpatch.apply_patch(copy.deepcopy(pod), [dict(op) for op in ops])


def assert_response_contract(request_body: Mapping[str, Any], response_body: Mapping[str, Any]) -> list[JSON]:
    """The AdmissionReview response contract; returns the decoded patch.

    apiVersion, kind and uid are echoed; ``patch`` and ``patchType`` appear together and only for
    a non-empty patch; the patch is base64 of a JSON array of add/replace operations.
    """
    assert response_body["apiVersion"] == request_body["apiVersion"]
    assert response_body["kind"] == "AdmissionReview"
    response = response_body["response"]
    assert response["uid"] == request_body["request"]["uid"]
    assert isinstance(response["allowed"], bool)
    assert ("patch" in response) == ("patchType" in response), response
    if "patch" not in response:
        return []
    assert response["patchType"] == "JSONPatch"
    ops = orjson.loads(base64.b64decode(response["patch"], validate=True))
    assert isinstance(ops, list)
    assert ops, "patchType is set but the patch is empty"
    for op in ops:
        assert set(op) == {"op", "path", "value"}, op
        assert op["op"] in ("add", "replace"), op
        assert op["path"].startswith("/"), op
    return [dict(op) for op in ops]


@pytest.fixture(scope="session", name="make_statefulset")
def _make_statefulset() -> Callable[..., JSON]:
    return make_statefulset


@pytest.fixture(scope="session", name="make_sts_pod")
def _make_sts_pod() -> Callable[..., JSON]:
    return make_sts_pod


@pytest.fixture(scope="session", name="make_review")
def _make_review() -> Callable[..., JSON]:
    return make_review


@pytest.fixture(scope="session", name="hint_settings")
def _hint_settings() -> Callable[..., Settings]:
    return hint_settings


@pytest.fixture(scope="session", name="run_review")
def _run_review() -> Callable[..., tuple[ReviewResult, list[JSON]]]:
    return run_review


@pytest.fixture(scope="session", name="apply_ops")
def _apply_ops() -> Callable[..., Any]:
    return apply_ops


@pytest.fixture(scope="session", name="assert_response_contract")
def _assert_response_contract() -> Callable[..., list[JSON]]:
    return assert_response_contract
