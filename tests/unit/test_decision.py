"""Table tests for webhook.core.decision: should_mutate (and its precedence), pod_problem, ordinal_of,
statefulset_owner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from webhook.core.decision import ordinal_of, pod_problem, should_mutate, statefulset_owner
from webhook.core.review import parse_review
from webhook.core.settings import DEFAULT_EXCLUDED_NAMESPACES

Edit = Callable[[dict[str, Any]], None]

STS_OWNER = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "u-1", "controller": True}


def _set(path: str, value: Any) -> Edit:
    """An edit setting ``value`` at a dotted path of the review body (``request.object.metadata.name``)."""

    def edit(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = body
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    return edit


def _drop(path: str) -> Edit:
    def edit(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = body
        for key in parents:
            node = node[key]
        node.pop(last, None)

    return edit


def _meta(field: str, values: dict[str, Any]) -> Edit:
    return _set(f"request.object.metadata.{field}", values)


def _owners(*refs: dict[str, Any]) -> Edit:
    return _set("request.object.metadata.ownerReferences", list(refs))


def _all(*edits: Edit) -> Edit:
    def edit(body: dict[str, Any]) -> None:
        for e in edits:
            e(body)

    return edit


SHOULD_MUTATE = [
    pytest.param([], True, "statefulset-pod", id="statefulset-pod-create"),
    # 1. operation
    pytest.param([_set("request.operation", "UPDATE")], False, "not-create", id="update"),
    pytest.param([_set("request.operation", "DELETE")], False, "not-create", id="delete"),
    pytest.param([_set("request.operation", "CONNECT")], False, "not-create", id="connect"),
    pytest.param([_set("request.operation", "create")], False, "not-create", id="operation-lowercase"),
    pytest.param([_drop("request.operation")], False, "not-create", id="operation-missing"),
    # 2. kind / resource / subresource
    pytest.param(
        [_set("request.kind", {"group": "apps", "version": "v1", "kind": "StatefulSet"})],
        False,
        "not-pod",
        id="kind-statefulset",
    ),
    pytest.param([_set("request.kind.group", "example.com")], False, "not-pod", id="kind-pod-in-other-group"),
    pytest.param([_drop("request.kind")], False, "not-pod", id="kind-missing"),
    pytest.param([_set("request.resource.resource", "configmaps")], False, "not-pod", id="resource-not-pods"),
    pytest.param([_drop("request.resource")], True, "statefulset-pod", id="resource-missing-assumes-pods"),
    pytest.param([_set("request.subResource", "ephemeralcontainers")], False, "subresource", id="subresource"),
    pytest.param([_set("request.subResource", "")], True, "statefulset-pod", id="empty-subresource"),
    # 3. object
    pytest.param([_set("request.object", None)], False, "no-object", id="object-null"),
    pytest.param([_set("request.object", ["a", "list"])], False, "no-object", id="object-list"),
    pytest.param([_set("request.object", "pod")], False, "no-object", id="object-string"),
    # 4. namespace
    pytest.param([_set("request.namespace", "kube-system")], False, "excluded-namespace", id="kube-system"),
    pytest.param([_set("request.namespace", "kube-node-lease")], False, "excluded-namespace", id="kube-node-lease"),
    pytest.param(
        [_set("request.namespace", ""), _set("request.object.metadata.namespace", "kube-system")],
        False,
        "excluded-namespace",
        id="namespace-from-pod-when-request-has-none",
    ),
    pytest.param([_set("request.namespace", "kube-public")], True, "statefulset-pod", id="kube-public-not-excluded"),
    # 5. opt-out
    pytest.param([_meta("annotations", {"stsmesh.io/skip": "true"})], False, "opted-out", id="skip-annotation"),
    pytest.param([_meta("labels", {"stsmesh.io/skip": "true"})], False, "opted-out", id="skip-label"),
    pytest.param([_meta("annotations", {"stsmesh.io/skip": " TRUE "})], False, "opted-out", id="skip-true-any-case"),
    pytest.param([_meta("annotations", {"stsmesh.io/skip": "yes"})], False, "opted-out", id="skip-yes"),
    pytest.param([_meta("annotations", {"stsmesh.io/skip": "1"})], False, "opted-out", id="skip-1"),
    pytest.param([_meta("annotations", {"stsmesh.io/skip": "on"})], False, "opted-out", id="skip-on"),
    pytest.param([_meta("annotations", {"stsmesh.io/skip": "false"})], True, "statefulset-pod", id="skip-false"),
    pytest.param([_meta("annotations", {"stsmesh.io/skip": ""})], True, "statefulset-pod", id="skip-empty"),
    pytest.param([_meta("annotations", {"stsmesh.io/skip": True})], True, "statefulset-pod", id="skip-non-string"),
    pytest.param(
        [_meta("annotations", {"stsmesh.io/skip-fixes": "all"})], True, "statefulset-pod", id="skip-fixes-only"
    ),
    # 6. owner
    pytest.param([_owners()], False, "not-statefulset", id="no-owner"),
    pytest.param([_drop("request.object.metadata.ownerReferences")], False, "not-statefulset", id="owners-missing"),
    pytest.param(
        [_set("request.object.metadata.ownerReferences", {"kind": "StatefulSet"})],
        False,
        "not-statefulset",
        id="owners-not-a-list",
    ),
    pytest.param(
        [_owners({**STS_OWNER, "kind": "ReplicaSet", "name": "web-5d8f"})], False, "not-statefulset", id="replicaset"
    ),
    pytest.param([_owners({**STS_OWNER, "controller": False})], False, "not-statefulset", id="sts-not-controller"),
    pytest.param([_owners({**STS_OWNER, "controller": "true"})], False, "not-statefulset", id="controller-string"),
    pytest.param(
        [_owners({**STS_OWNER, "apiVersion": "apps/v1beta2"})], False, "not-statefulset", id="old-api-version"
    ),
    pytest.param([_owners({**STS_OWNER, "name": ""})], False, "not-statefulset", id="owner-name-empty"),
    pytest.param(
        [_owners({"apiVersion": "v1", "kind": "Node", "name": "n1", "controller": False}, STS_OWNER)],
        True,
        "statefulset-pod",
        id="second-owner-controls",
    ),
    # precedence: the first failing check decides
    pytest.param(
        [_set("request.operation", "UPDATE"), _meta("annotations", {"stsmesh.io/skip": "true"}), _owners()],
        False,
        "not-create",
        id="precedence-operation-first",
    ),
    pytest.param(
        [_set("request.namespace", "kube-system"), _meta("annotations", {"stsmesh.io/skip": "true"})],
        False,
        "excluded-namespace",
        id="precedence-namespace-before-opt-out",
    ),
    pytest.param(
        [_meta("labels", {"stsmesh.io/skip": "true"}), _owners()],
        False,
        "opted-out",
        id="precedence-opt-out-before-owner",
    ),
]


@pytest.mark.parametrize(("edits", "mutate", "reason"), SHOULD_MUTATE)
def test_should_mutate(
    edits: list[Edit], mutate: bool, reason: str, make_sts_pod: Callable[..., Any], make_review: Callable[..., Any]
) -> None:
    body = make_review(make_sts_pod("web", ordinal=2))
    _all(*edits)(body)
    decision = should_mutate(parse_review(body), DEFAULT_EXCLUDED_NAMESPACES)
    assert (decision.mutate, decision.reason) == (mutate, reason), decision.detail
    assert decision.detail
    if mutate:
        assert (decision.statefulset, decision.ordinal) == ("web", 2)
    else:
        assert (decision.statefulset, decision.ordinal) == ("", None)


def test_should_mutate_honours_the_configured_namespaces(
    make_sts_pod: Callable[..., Any], make_review: Callable[..., Any]
) -> None:
    request = parse_review(make_review(make_sts_pod(namespace="stsmesh-system")))
    assert should_mutate(request, ("stsmesh-system",)).reason == "excluded-namespace"
    assert should_mutate(request, ()).reason == "statefulset-pod"
    assert should_mutate(request, DEFAULT_EXCLUDED_NAMESPACES).reason == "statefulset-pod"


@pytest.mark.parametrize(
    ("pod_name", "request_name", "ordinal"),
    [
        pytest.param("web-4", "", 4, id="from-pod-name"),
        pytest.param(None, "web-7", 7, id="from-request-name-when-pod-has-none"),
        pytest.param("web-abc", "web-7", None, id="pod-name-wins-even-without-ordinal"),
    ],
)
def test_should_mutate_reads_the_ordinal(
    pod_name: str | None,
    request_name: str,
    ordinal: int | None,
    make_sts_pod: Callable[..., Any],
    make_review: Callable[..., Any],
) -> None:
    body = make_review(make_sts_pod("web"))
    body["request"]["name"] = request_name
    if pod_name is None:
        del body["request"]["object"]["metadata"]["name"]
    else:
        body["request"]["object"]["metadata"]["name"] = pod_name
    decision = should_mutate(parse_review(body), ())
    assert decision.mutate and decision.ordinal == ordinal


GOOD_CONTAINER = {
    "name": "app",
    "image": "x",
    "env": [{"name": "A", "value": "1"}],
    "ports": [],
    "args": [],
    "command": [],
}

POD_PROBLEMS = [
    pytest.param({"metadata": {"name": "p"}, "spec": {"containers": [GOOD_CONTAINER]}}, None, id="good-pod"),
    pytest.param({"spec": {"containers": []}}, None, id="no-metadata"),
    pytest.param(
        {"metadata": {"labels": None, "annotations": None}, "spec": {}}, None, id="null-maps-and-no-containers"
    ),
    pytest.param({"metadata": [], "spec": {}}, "metadata is not an object", id="metadata-list"),
    pytest.param({"metadata": None, "spec": {}}, "metadata is not an object", id="metadata-null"),
    pytest.param(
        {"metadata": {"labels": {"a": 1}}, "spec": {}}, "metadata.labels is not a map of strings", id="label-int-value"
    ),
    pytest.param(
        {"metadata": {"labels": {1: "a"}}, "spec": {}}, "metadata.labels is not a map of strings", id="label-int-key"
    ),
    pytest.param(
        {"metadata": {"annotations": ["a"]}, "spec": {}},
        "metadata.annotations is not a map of strings",
        id="annotations-list",
    ),
    pytest.param(
        {"metadata": {"annotations": {"a": None}}, "spec": {}},
        "metadata.annotations is not a map of strings",
        id="annotation-null-value",
    ),
    pytest.param({"metadata": {}}, "spec is missing or not an object", id="no-spec"),
    pytest.param({"metadata": {}, "spec": "x"}, "spec is missing or not an object", id="spec-string"),
    pytest.param({"spec": {"containers": None, "initContainers": None}}, None, id="null-container-lists"),
    pytest.param({"spec": {"containers": {"name": "app"}}}, "spec.containers is not a list", id="containers-map"),
    pytest.param({"spec": {"initContainers": "x"}}, "spec.initContainers is not a list", id="init-containers-string"),
    pytest.param(
        {"spec": {"containers": [GOOD_CONTAINER, 3]}}, "spec.containers[1] is not an object", id="container-int"
    ),
    pytest.param(
        {"spec": {"initContainers": [None]}}, "spec.initContainers[0] is not an object", id="init-container-null"
    ),
    *[
        pytest.param(
            {"spec": {"containers": [{**GOOD_CONTAINER, field: {"not": "a list"}}]}},
            f"spec.containers[0].{field} is not a list",
            id=f"{field}-map",
        )
        for field in ("env", "ports", "args", "command")
    ],
    pytest.param(
        {"spec": {"containers": [{**GOOD_CONTAINER, "env": None, "ports": None}]}}, None, id="null-env-and-ports"
    ),
    # Env entries are left to their readers (which skip malformed ones) and the apiserver's validation.
    pytest.param(
        {
            "spec": {
                "containers": [{**GOOD_CONTAINER, "env": [{"name": "A"}, {"value": "x"}, None, "A=1", {"name": 5}]}]
            }
        },
        None,
        id="malformed-env-entries-are-not-a-shape-problem",
    ),
]


@pytest.mark.parametrize(("pod", "problem"), POD_PROBLEMS)
def test_pod_problem(pod: dict[str, Any], problem: str | None) -> None:
    assert pod_problem(pod) == problem


@pytest.mark.parametrize(
    ("pod_name", "statefulset", "ordinal"),
    [
        pytest.param("web-0", "web", 0, id="zero"),
        pytest.param("web-12", "web", 12, id="two-digits"),
        pytest.param("my-release-zookeeper-2", "my-release-zookeeper", 2, id="dashes-in-set-name"),
        pytest.param("web-1-2", "web-1", 2, id="set-name-ending-in-digit"),
        pytest.param("web-1-2", "web", None, id="not-this-set"),
        pytest.param("db.v2-3", "db.v2", 3, id="dot-in-set-name"),
        pytest.param("dbxv2-3", "db.v2", None, id="set-name-is-not-a-regex"),
        pytest.param("web", "web", None, id="no-suffix"),
        pytest.param("web-", "web", None, id="empty-suffix"),
        pytest.param("web-x", "web", None, id="letters"),
        pytest.param("web--1", "web", None, id="negative"),
        pytest.param("web-3\n", "web", None, id="trailing-newline"),
        pytest.param("other-0", "web", None, id="other-set"),
        pytest.param("", "web", None, id="empty-name"),
    ],
)
def test_ordinal_of(pod_name: str, statefulset: str, ordinal: int | None) -> None:
    assert ordinal_of(pod_name, statefulset) == ordinal


@pytest.mark.parametrize(
    ("pod", "owner"),
    [
        pytest.param({"metadata": {"ownerReferences": [STS_OWNER]}}, "web", id="controlling-statefulset"),
        pytest.param({}, None, id="no-metadata"),
        pytest.param({"metadata": "x"}, None, id="metadata-string"),
        pytest.param({"metadata": {}}, None, id="no-owner-references"),
        pytest.param({"metadata": {"ownerReferences": None}}, None, id="owner-references-null"),
        pytest.param({"metadata": {"ownerReferences": [None, "x", 3]}}, None, id="junk-references"),
        pytest.param(
            {"metadata": {"ownerReferences": [{**STS_OWNER, "controller": None}]}}, None, id="controller-unset"
        ),
        pytest.param({"metadata": {"ownerReferences": [{**STS_OWNER, "name": 7}]}}, None, id="name-not-string"),
        pytest.param({"metadata": {"ownerReferences": [{**STS_OWNER, "kind": "statefulset"}]}}, None, id="kind-case"),
        pytest.param(
            {
                "metadata": {
                    "ownerReferences": [{**STS_OWNER, "controller": False, "name": "a"}, {**STS_OWNER, "name": "b"}]
                }
            },
            "b",
            id="the-controlling-one-of-two",
        ),
    ],
)
def test_statefulset_owner(pod: dict[str, Any], owner: str | None) -> None:
    assert statefulset_owner(pod) == owner
