"""Table tests for webhook.core.mesh: parse_version, MeshHint.parse, inbound_mode, detect(), and the hint
precedence of webhook.core.admission.resolve_hint."""

from __future__ import annotations

import json
from typing import Any

import pytest

from webhook.core.admission import resolve_hint
from webhook.core.mesh import MeshHint, Version, detect, inbound_mode, parse_version
from webhook.core.settings import Settings


@pytest.mark.parametrize(
    ("text", "version"),
    [
        pytest.param("1.9.5", (1, 9), id="istio-release"),
        pytest.param("1.10", (1, 10), id="two-parts"),
        pytest.param(" 1.10.0 ", (1, 10), id="padded"),
        pytest.param("1-9-5", (1, 9), id="istio-revision-dashes"),
        pytest.param("1-10", (1, 10), id="istio-revision-short"),
        pytest.param("prod-1-11", (1, 11), id="revision-with-prefix"),
        pytest.param("1.20.0-distroless", (1, 20), id="distroless-tag"),
        pytest.param("V1.22.1", (1, 22), id="uppercase-v"),
        pytest.param("stable-2.10.2", (2, 10), id="linkerd-stable-2.10"),
        pytest.param("stable-2.11.0", (2, 11), id="linkerd-stable-2.11"),
        pytest.param("edge-21.8.4", (2, 10), id="linkerd-edge-before-2.11"),
        pytest.param("edge-21.9.3", (2, 11), id="linkerd-edge-that-became-2.11"),
        pytest.param("edge-21.10.1", (2, 11), id="linkerd-edge-month-10"),
        pytest.param("edge-24.2.1", (2, 11), id="linkerd-edge-later-year"),
        pytest.param("EDGE-21.9.1", (2, 11), id="linkerd-edge-uppercase"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="none"),
        pytest.param("latest", None, id="latest"),
        pytest.param("default", None, id="revision-default"),
        pytest.param("canary", None, id="revision-name"),
        pytest.param("1", None, id="major-only"),
        pytest.param("1.", None, id="dangling-dot"),
    ],
)
def test_parse_version(text: str | None, version: Version | None) -> None:
    assert parse_version(text) == version


@pytest.mark.parametrize(
    ("mesh", "version", "hint"),
    [
        pytest.param("istio", "1.9", MeshHint("istio", (1, 9)), id="istio-1.9"),
        pytest.param("linkerd", "stable-2.11.0", MeshHint("linkerd", (2, 11)), id="linkerd-stable"),
        pytest.param("istio", None, MeshHint("istio", None), id="istio-no-version"),
        pytest.param("none", None, MeshHint("none", None), id="none"),
        pytest.param("auto", None, MeshHint(None, None), id="auto"),
        pytest.param(None, None, MeshHint(None, None), id="unset"),
        pytest.param("", "", MeshHint(None, None), id="empty"),
    ],
)
def test_mesh_hint_parse(mesh: str | None, version: str | None, hint: MeshHint) -> None:
    assert MeshHint.parse(mesh, version) == hint


@pytest.mark.parametrize(
    ("mesh", "version", "message"),
    [
        pytest.param("maesh", None, "unknown mesh 'maesh'", id="unknown-mesh"),
        pytest.param("Istio", "1.9", "unknown mesh 'Istio'", id="mesh-is-case-sensitive"),
        pytest.param("istio", "latest", "cannot read a version from 'latest'", id="unreadable-version"),
    ],
)
def test_mesh_hint_parse_rejects(mesh: str, version: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MeshHint.parse(mesh, version)


@pytest.mark.parametrize(
    ("mesh", "version", "mode"),
    [
        pytest.param("istio", (1, 9), "localhost", id="istio-1.9"),
        pytest.param("istio", (1, 10), "pod-ip", id="istio-1.10"),
        pytest.param("istio", (1, 22), "pod-ip", id="istio-1.22"),
        pytest.param("istio", (0, 8), "localhost", id="istio-0.8"),
        pytest.param("linkerd", (2, 10), "localhost", id="linkerd-2.10"),
        pytest.param("linkerd", (2, 11), "pod-ip", id="linkerd-2.11"),
        pytest.param("linkerd", (1, 10), "localhost", id="linkerd-1.x"),
        pytest.param("istio", None, "unknown", id="istio-unversioned"),
        pytest.param("none", (1, 9), "unknown", id="no-mesh"),
        pytest.param("unknown", (2, 11), "unknown", id="unknown-mesh"),
    ],
)
def test_inbound_mode(mesh: Any, version: Version | None, mode: str) -> None:
    assert inbound_mode(mesh, version) == mode


# --- detect() ---------------------------------------------------------------------------------------

APP = {"name": "app", "image": "bitnami/zookeeper:3.7.0"}
ISTIO_INIT = {"name": "istio-init", "image": "docker.io/istio/proxyv2:1.9.5", "args": ["istio-iptables"]}
ISTIO_VALIDATION = {"name": "istio-validation", "image": "docker.io/istio/proxyv2:1.9.5", "args": ["istio-iptables"]}
LINKERD_INIT = {"name": "linkerd-init", "image": "cr.l5d.io/linkerd/proxy-init:v1.3.11", "args": []}


def istio_proxy(image: str = "docker.io/istio/proxyv2:1.9.5", **extra: Any) -> dict[str, Any]:
    return {"name": "istio-proxy", "image": image, **extra}


def linkerd_proxy(image: str = "cr.l5d.io/linkerd/proxy:stable-2.10.2") -> dict[str, Any]:
    return {"name": "linkerd-proxy", "image": image}


def status(revision: str | None = None) -> str:
    value: dict[str, Any] = {"initContainers": ["istio-init"], "containers": ["istio-proxy"]}
    if revision is not None:
        value["revision"] = revision
    return json.dumps(value)


def pod(
    containers: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    labels: dict[str, Any] | None = None,
    annotations: dict[str, Any] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": containers or [APP]}
    if init is not None:
        spec["initContainers"] = init
    return {"metadata": {"name": "zk-0", "labels": labels or {}, "annotations": annotations or {}}, "spec": spec}


NO_HINT = MeshHint()
ISTIO_19 = MeshHint("istio", (1, 9))
ISTIO_110 = MeshHint("istio", (1, 10))
LINKERD_210 = MeshHint("linkerd", (2, 10))
LINKERD_211 = MeshHint("linkerd", (2, 11))

# expected: (mesh, version, inbound, injected, cni, redirect init (list, index) or None)
DETECT = [
    # nothing on the pod: the hint decides
    pytest.param(pod(), NO_HINT, ("unknown", None, "unknown", False, False, None), id="no-evidence-no-hint"),
    pytest.param(pod(), ISTIO_19, ("istio", (1, 9), "localhost", False, False, None), id="hint-istio-1.9"),
    pytest.param(pod(), ISTIO_110, ("istio", (1, 10), "pod-ip", False, False, None), id="hint-istio-1.10"),
    pytest.param(pod(), MeshHint("istio"), ("istio", None, "unknown", False, False, None), id="hint-istio-no-version"),
    pytest.param(pod(), LINKERD_210, ("linkerd", (2, 10), "localhost", False, False, None), id="hint-linkerd-2.10"),
    pytest.param(pod(), LINKERD_211, ("linkerd", (2, 11), "pod-ip", False, False, None), id="hint-linkerd-2.11"),
    pytest.param(pod(), MeshHint("none"), ("none", None, "unknown", False, False, None), id="hint-none"),
    pytest.param(
        pod(), MeshHint(None, (1, 9)), ("unknown", None, "unknown", False, False, None), id="hint-auto-version"
    ),
    # already injected: Istio
    pytest.param(
        pod([APP, istio_proxy()], [ISTIO_INIT]),
        NO_HINT,
        ("istio", (1, 9), "localhost", True, False, ("initContainers", 0)),
        id="istio-injected-istio-init",
    ),
    pytest.param(
        pod([APP, istio_proxy("docker.io/istio/proxyv2:1.10.3")], [ISTIO_INIT]),
        ISTIO_19,
        ("istio", (1, 10), "pod-ip", True, False, ("initContainers", 0)),
        id="istio-proxy-tag-beats-hint",
    ),
    pytest.param(
        pod([APP, istio_proxy()], [ISTIO_VALIDATION]),
        NO_HINT,
        ("istio", (1, 9), "localhost", True, True, None),
        id="istio-cni-validation-only",
    ),
    pytest.param(
        pod([APP, istio_proxy()]), NO_HINT, ("istio", (1, 9), "localhost", True, True, None), id="istio-cni-no-init"
    ),
    pytest.param(
        pod([APP], [{"name": "setup", "image": "busybox"}, ISTIO_INIT, istio_proxy(restartPolicy="Always")]),
        NO_HINT,
        ("istio", (1, 9), "localhost", True, False, ("initContainers", 1)),
        id="istio-native-sidecar",
    ),
    pytest.param(
        pod(
            [APP, istio_proxy("docker.io/istio/proxyv2@sha256:" + "a" * 64)],
            [ISTIO_INIT],
            annotations={"sidecar.istio.io/status": status("1-10-2")},
        ),
        NO_HINT,
        ("istio", (1, 10), "pod-ip", True, False, ("initContainers", 0)),
        id="istio-digest-version-from-status-revision",
    ),
    pytest.param(
        pod(
            [APP, istio_proxy("docker.io/istio/proxyv2")],
            [ISTIO_INIT],
            annotations={"sidecar.istio.io/status": status("default")},
        ),
        ISTIO_110,
        ("istio", (1, 10), "pod-ip", True, False, ("initContainers", 0)),
        id="istio-no-tag-default-revision-falls-back-to-hint",
    ),
    pytest.param(
        pod([APP, istio_proxy("docker.io/istio/proxyv2")], [ISTIO_INIT]),
        LINKERD_210,
        ("istio", None, "unknown", True, False, ("initContainers", 0)),
        id="istio-no-tag-other-mesh-hint-ignored",
    ),
    pytest.param(
        pod(annotations={"sidecar.istio.io/status": status("1-9-5")}),
        NO_HINT,
        ("istio", (1, 9), "localhost", True, True, None),
        id="istio-status-annotation-only",
    ),
    pytest.param(
        pod(annotations={"sidecar.istio.io/status": "{not json"}),
        ISTIO_19,
        ("istio", (1, 9), "localhost", True, True, None),
        id="istio-status-not-json",
    ),
    # already injected: Linkerd
    pytest.param(
        pod([APP, linkerd_proxy()], [LINKERD_INIT], annotations={"linkerd.io/proxy-version": "stable-2.10.2"}),
        NO_HINT,
        ("linkerd", (2, 10), "localhost", True, False, ("initContainers", 0)),
        id="linkerd-injected-linkerd-init",
    ),
    pytest.param(
        pod([APP, linkerd_proxy()], annotations={"linkerd.io/proxy-version": "stable-2.10.2"}),
        NO_HINT,
        ("linkerd", (2, 10), "localhost", True, True, None),
        id="linkerd-cni-no-init",
    ),
    pytest.param(
        pod([APP, linkerd_proxy("cr.l5d.io/linkerd/proxy:edge-21.9.3")], [LINKERD_INIT]),
        NO_HINT,
        ("linkerd", (2, 11), "pod-ip", True, False, ("initContainers", 0)),
        id="linkerd-version-from-edge-image-tag",
    ),
    pytest.param(
        pod(
            [APP, linkerd_proxy("cr.l5d.io/linkerd/proxy:stable-2.11.1")],
            [LINKERD_INIT],
            annotations={"linkerd.io/proxy-version": "stable-2.10.2"},
        ),
        NO_HINT,
        ("linkerd", (2, 10), "localhost", True, False, ("initContainers", 0)),
        id="linkerd-annotation-beats-image-tag",
    ),
    pytest.param(
        pod([APP, linkerd_proxy("cr.l5d.io/linkerd/proxy")], [LINKERD_INIT]),
        LINKERD_211,
        ("linkerd", (2, 11), "pod-ip", True, False, ("initContainers", 0)),
        id="linkerd-no-version-falls-back-to-hint",
    ),
    pytest.param(
        pod(annotations={"linkerd.io/proxy-version": "stable-2.11.0"}),
        ISTIO_19,
        ("linkerd", (2, 11), "pod-ip", True, True, None),
        id="linkerd-proxy-version-annotation-only",
    ),
    pytest.param(
        pod([APP, istio_proxy(), linkerd_proxy()], [ISTIO_INIT, LINKERD_INIT]),
        NO_HINT,
        ("istio", (1, 9), "localhost", True, False, ("initContainers", 0)),
        id="both-proxies-istio-checked-first",
    ),
    # injection requested on the pod, not done yet
    pytest.param(
        pod(labels={"istio.io/rev": "1-9-5"}),
        LINKERD_211,
        ("istio", (1, 9), "localhost", False, False, None),
        id="istio-rev-label-beats-hint",
    ),
    pytest.param(
        pod(labels={"istio.io/rev": "canary"}),
        ISTIO_110,
        ("istio", (1, 10), "pod-ip", False, False, None),
        id="istio-rev-name-version-from-hint",
    ),
    pytest.param(
        pod(labels={"istio.io/rev": "canary"}),
        LINKERD_210,
        ("istio", None, "unknown", False, False, None),
        id="istio-rev-name-other-mesh-hint",
    ),
    pytest.param(
        pod(labels={"sidecar.istio.io/inject": "true"}),
        MeshHint("none"),
        ("istio", None, "unknown", False, False, None),
        id="istio-inject-label-beats-hint-none",
    ),
    pytest.param(
        pod(annotations={"sidecar.istio.io/inject": "True"}),
        ISTIO_19,
        ("istio", (1, 9), "localhost", False, False, None),
        id="istio-inject-annotation",
    ),
    pytest.param(
        pod(annotations={"linkerd.io/inject": "enabled"}),
        LINKERD_210,
        ("linkerd", (2, 10), "localhost", False, False, None),
        id="linkerd-inject-enabled",
    ),
    pytest.param(
        pod(annotations={"linkerd.io/inject": "ingress"}),
        NO_HINT,
        ("linkerd", None, "unknown", False, False, None),
        id="linkerd-inject-ingress",
    ),
    pytest.param(
        pod(annotations={"linkerd.io/inject": "enabled"}),
        ISTIO_19,
        ("linkerd", None, "unknown", False, False, None),
        id="linkerd-inject-other-mesh-hint-version-ignored",
    ),
    # opt-outs
    pytest.param(
        pod(labels={"sidecar.istio.io/inject": "false"}),
        ISTIO_19,
        ("none", None, "unknown", False, False, None),
        id="istio-opt-out-label",
    ),
    pytest.param(
        pod(annotations={"sidecar.istio.io/inject": "FALSE"}),
        ISTIO_19,
        ("none", None, "unknown", False, False, None),
        id="istio-opt-out-annotation-any-case",
    ),
    pytest.param(
        pod(annotations={"linkerd.io/inject": "disabled"}),
        LINKERD_210,
        ("none", None, "unknown", False, False, None),
        id="linkerd-opt-out",
    ),
    pytest.param(
        pod(annotations={"sidecar.istio.io/inject": "false"}),
        LINKERD_210,
        ("linkerd", (2, 10), "localhost", False, False, None),
        id="istio-opt-out-does-not-stop-linkerd",
    ),
    pytest.param(
        pod(annotations={"linkerd.io/inject": "disabled"}),
        NO_HINT,
        ("unknown", None, "unknown", False, False, None),
        id="opt-out-without-hint",
    ),
    # odd shapes never raise
    pytest.param(
        {"metadata": None, "spec": None},
        ISTIO_19,
        ("istio", (1, 9), "localhost", False, False, None),
        id="null-metadata-spec",
    ),
    pytest.param(
        pod(labels={"istio.io/rev": 5}, annotations={"linkerd.io/proxy-version": 2}),
        NO_HINT,
        ("linkerd", None, "unknown", True, True, None),
        id="non-string-values",
    ),
]


@pytest.mark.parametrize(("the_pod", "hint", "expected"), DETECT)
def test_detect(the_pod: dict[str, Any], hint: MeshHint, expected: tuple[Any, ...]) -> None:
    ctx = detect(the_pod, hint)
    redirect = (ctx.redirect_init.list_name, ctx.redirect_init.index) if ctx.redirect_init else None
    assert (ctx.mesh, ctx.version, ctx.inbound, ctx.injected, ctx.cni, redirect) == expected
    assert ctx.evidence


@pytest.mark.parametrize(
    ("hint", "label"),
    [
        pytest.param(MeshHint("istio", (1, 9)), "Istio 1.9", id="istio"),
        pytest.param(MeshHint("linkerd"), "Linkerd unknown version", id="linkerd-unversioned"),
        pytest.param(MeshHint("none"), "mesh none", id="none"),
        pytest.param(MeshHint(), "mesh unknown", id="unknown"),
    ],
)
def test_context_label(hint: MeshHint, label: str) -> None:
    assert detect(pod(), hint).label == label


# --- hint precedence: URL path, then namespace default, then the global default --------------------

SETTINGS = Settings(
    default_hint=MeshHint("istio", (1, 9)),
    namespace_hints={"data": MeshHint("linkerd", (2, 10)), "plain": MeshHint("none")},
)


@pytest.mark.parametrize(
    ("namespace", "path_hint", "expected"),
    [
        pytest.param("shop", None, MeshHint("istio", (1, 9)), id="global-default"),
        pytest.param("data", None, MeshHint("linkerd", (2, 10)), id="namespace-default"),
        pytest.param("plain", None, MeshHint("none"), id="namespace-none"),
        pytest.param("data", MeshHint("istio", (1, 12)), MeshHint("istio", (1, 12)), id="path-beats-namespace"),
        pytest.param("shop", MeshHint("linkerd", (2, 11)), MeshHint("linkerd", (2, 11)), id="path-beats-global"),
        pytest.param("data", MeshHint(None, (1, 12)), MeshHint("linkerd", (2, 10)), id="path-without-mesh-ignored"),
    ],
)
def test_resolve_hint(namespace: str, path_hint: MeshHint | None, expected: MeshHint) -> None:
    assert resolve_hint(SETTINGS, namespace, path_hint) == expected
