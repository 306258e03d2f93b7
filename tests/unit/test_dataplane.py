"""The data-plane model: mesh, data-plane kind, inbound delivery and exclusion route, from evidence.

Each row is a pod shaped like an injector's output (or a request for one) and a hint (what the
URL path, the namespace or configuration say); the expected columns are what every fix decides
from. The namespace rows check what the labels of a namespace say before any injector ran.
"""

from __future__ import annotations

from typing import Any

import pytest

from webhook.core.mesh import MeshHint, detect
from webhook.core.namespaces import (
    ControlPlanes,
    IstioRevision,
    MeshKnowledge,
    NamespaceFacts,
    control_planes,
    istio_mesh_delivery,
    namespace_hint,
)

APP = {"name": "app", "image": "bitnami/cassandra:4.1"}


def pod(
    containers: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": containers or [APP]}
    if init is not None:
        spec["initContainers"] = init
    return {"metadata": {"name": "db-0", "labels": labels or {}, "annotations": annotations or {}}, "spec": spec}


def istio_proxy(version: str = "1.24.2", localhost: bool = False, **extra: Any) -> dict[str, Any]:
    env = [{"name": "REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION", "value": "true"}] if localhost else []
    return {"name": "istio-proxy", "image": f"docker.io/istio/proxyv2:{version}", "env": env, **extra}


ISTIO_INIT = {"name": "istio-init", "args": ["istio-iptables", "-d", "15090,15021,15020"]}
CONSUL_INIT = {"name": "consul-connect-inject-init", "env": [{"name": "CONSUL_REDIRECT_TRAFFIC_CONFIG", "value": "{}"}]}
NO_HINT = MeshHint()

# expected: (mesh, version, dataplane, delivery, exclusion route, injected)
DETECT = [
    pytest.param(
        pod([APP, istio_proxy()], [ISTIO_INIT]),
        NO_HINT,
        ("istio", (1, 24), "sidecar", "pod-ip", "init-container", True),
        id="istio-1.24-sidecar",
    ),
    pytest.param(
        pod([APP, istio_proxy(localhost=True)], [ISTIO_INIT]),
        NO_HINT,
        ("istio", (1, 24), "sidecar", "localhost", "init-container", True),
        id="istio-1.24-localhost-policy",
    ),
    pytest.param(
        pod([APP], [ISTIO_INIT, istio_proxy("1.27.0", restartPolicy="Always")]),
        NO_HINT,
        ("istio", (1, 27), "native-sidecar", "pod-ip", "init-container", True),
        id="istio-1.27-native",
    ),
    pytest.param(
        pod([APP, istio_proxy()]),
        NO_HINT,
        ("istio", (1, 24), "sidecar", "pod-ip", "cni", True),
        id="istio-cni",
    ),
    pytest.param(
        pod(annotations={"sidecar.istio.io/nativeSidecar": "true"}),
        MeshHint("istio", (1, 27)),
        ("istio", (1, 27), "native-sidecar", "pod-ip", "annotations", False),
        id="istio-native-asked-before-injection",
    ),
    pytest.param(
        pod(labels={"istio.io/dataplane-mode": "ambient"}),
        MeshHint("istio", (1, 24)),
        ("istio", (1, 24), "ambient", "pod-ip", "not-per-port", False),
        id="ambient-pod-label",
    ),
    pytest.param(
        pod(annotations={"ambient.istio.io/redirection": "enabled"}),
        NO_HINT,
        ("istio", None, "ambient", "pod-ip", "not-per-port", False),
        id="ambient-captured",
    ),
    pytest.param(
        pod(labels={"istio.io/dataplane-mode": "ambient", "sidecar.istio.io/inject": "true"}),
        MeshHint("istio", (1, 24)),
        ("istio", (1, 24), "sidecar", "pod-ip", "annotations", False),
        id="sidecar-wins-over-ambient",
    ),
    pytest.param(
        pod(labels={"istio.io/dataplane-mode": "none"}),
        MeshHint("istio", (1, 24), dataplane="ambient"),
        ("none", None, "none", "unknown", "none", False),
        id="ambient-namespace-pod-opts-out",
    ),
    pytest.param(
        pod(
            init=[{"name": "linkerd-init"}, {"name": "linkerd-proxy", "restartPolicy": "Always"}],
            annotations={"linkerd.io/proxy-version": "edge-25.4.4"},
        ),
        NO_HINT,
        ("linkerd", (2, 11), "native-sidecar", "pod-ip", "init-container", True),
        id="linkerd-native",
    ),
    pytest.param(
        pod(
            [APP, {"name": "consul-dataplane", "image": "hashicorp/consul-dataplane:1.6.1"}],
            [CONSUL_INIT],
            annotations={"consul.hashicorp.com/connect-inject-status": "injected"},
        ),
        NO_HINT,
        ("consul", (1, 6), "sidecar", "localhost", "init-container", True),
        id="consul-injected",
    ),
    pytest.param(
        pod([APP, {"name": "consul-dataplane-web", "image": "hashicorp/consul-dataplane:1.6.1"}]),
        NO_HINT,
        ("consul", (1, 6), "sidecar", "localhost", "cni", True),
        id="consul-multiport-cni",
    ),
    pytest.param(
        pod(annotations={"consul.hashicorp.com/connect-inject": "True"}),
        NO_HINT,
        ("consul", None, "sidecar", "localhost", "annotations", False),
        id="consul-requested",
    ),
    pytest.param(
        pod([{"name": "kuma-sidecar", "image": "kumahq/kuma-dp:1.7.1"}, APP], [{"name": "kuma-init"}]),
        NO_HINT,
        ("kuma", (1, 7), "sidecar", "localhost", "init-container", True),
        id="kuma-1.7",
    ),
    pytest.param(
        pod([{"name": "kuma-sidecar", "image": "kumahq/kuma-dp:2.9.2"}, APP], [{"name": "kuma-init"}]),
        NO_HINT,
        ("kuma", (2, 9), "sidecar", "pod-ip", "init-container", True),
        id="kuma-2.9",
    ),
    pytest.param(pod(), MeshHint("cilium"), ("cilium", None, "node-proxy", "pod-ip", "none", False), id="cilium"),
    pytest.param(pod(), MeshHint("none"), ("none", None, "none", "unknown", "none", False), id="none"),
    pytest.param(pod(), NO_HINT, ("unknown", None, "unknown", "unknown", "none", False), id="unknown"),
    pytest.param(
        pod(),
        MeshHint("istio", (1, 24), "sidecar", "localhost", source="namespace x"),
        ("istio", (1, 24), "sidecar", "localhost", "annotations", False),
        id="istio-localhost-policy-from-the-control-plane",
    ),
]


@pytest.mark.parametrize(("body", "hint", "expected"), DETECT)
def test_detect(body: dict[str, Any], hint: MeshHint, expected: tuple[Any, ...]) -> None:
    ctx = detect(body, hint)
    assert (ctx.mesh, ctx.version, ctx.dataplane, ctx.inbound, ctx.exclusion, ctx.injected) == expected
    assert ctx.evidence


PLANES = ControlPlanes(
    istio={
        "default": IstioRevision((1, 24)),
        "canary": IstioRevision((1, 27), delivery="localhost", native=True),
    },
    linkerd=(2, 18),
    kuma=(1, 7),
)

# expected: (mesh, version, dataplane, delivery, native) or None
NAMESPACES = [
    pytest.param({"istio-injection": "enabled"}, {}, ("istio", (1, 24), "sidecar", None, None), id="istio-injection"),
    pytest.param({"istio.io/rev": "canary"}, {}, ("istio", (1, 27), "sidecar", "localhost", True), id="istio-revision"),
    pytest.param(
        {"istio-injection": "enabled", "istio.io/rev": "canary"},
        {},
        ("istio", (1, 24), "sidecar", None, None),
        id="istio-injection-wins-over-rev",
    ),
    pytest.param({"istio.io/rev": "gone"}, {}, ("istio", None, "sidecar", None, None), id="unknown-revision"),
    pytest.param({"istio.io/dataplane-mode": "ambient"}, {}, ("istio", (1, 24), "ambient", None, None), id="ambient"),
    pytest.param({}, {"linkerd.io/inject": "enabled"}, ("linkerd", (2, 18), "sidecar", None, None), id="linkerd"),
    pytest.param({"kuma.io/sidecar-injection": "enabled"}, {}, ("kuma", (1, 7), "sidecar", None, None), id="kuma"),
    pytest.param({"istio-injection": "disabled"}, {}, ("none", None, None, None, None), id="istio-opt-out"),
    pytest.param({}, {}, None, id="nothing"),
]


@pytest.mark.parametrize(("labels", "annotations", "expected"), NAMESPACES)
def test_namespace_hint(labels: dict[str, str], annotations: dict[str, str], expected: tuple[Any, ...] | None) -> None:
    hint = namespace_hint("data", labels, annotations, PLANES)
    if expected is None:
        assert hint is None
        return
    assert hint is not None
    assert (hint.mesh, hint.version, hint.dataplane, hint.delivery, hint.native) == expected
    assert hint.source.startswith("namespace data")


def test_knowledge_knows_only_the_namespaces_it_holds() -> None:
    knowledge = MeshKnowledge({"data": NamespaceFacts({"istio-injection": "enabled"})}, PLANES)
    assert knowledge.hint_for("other") is None
    hint = knowledge.hint_for("data")
    assert hint is not None and hint.mesh == "istio"
    cilium = MeshKnowledge({"plain": NamespaceFacts()}, ControlPlanes(cilium=True))
    assert (cilium.hint_for("plain") or MeshHint()).mesh == "cilium"


def _deployment(labels: dict[str, str], image: str, namespace: str = "istio-system") -> dict[str, Any]:
    containers = [{"name": "discovery", "image": image}]
    return {"metadata": {"name": "x", "namespace": namespace, "labels": labels},
            "spec": {"template": {"spec": {"containers": containers}}}}  # fmt: skip


def test_control_planes_from_deployments_and_mesh_configs() -> None:
    deployments = {
        "istio-system/istiod": _deployment({"app": "istiod"}, "docker.io/istio/pilot:1.24.2"),
        "istio-system/istiod-canary": _deployment({"app": "istiod", "istio.io/rev": "canary"}, "istio/pilot:1.27.0"),
        "linkerd/linkerd-destination": _deployment(
            {"linkerd.io/control-plane-component": "destination"}, "cr.l5d.io/linkerd/controller:stable-2.14.10"
        ),
    }
    canary = deployments["istio-system/istiod-canary"]["spec"]["template"]["spec"]["containers"][0]
    canary["env"] = [{"name": "ENABLE_NATIVE_SIDECARS", "value": "true"}]
    planes = control_planes(deployments, {"canary": "localhost"})
    assert planes.istio == {"default": IstioRevision((1, 24)), "canary": IstioRevision((1, 27), "localhost", True)}
    assert planes.linkerd == (2, 14) and planes.kuma is None
    revision = _deployment({"app": "istiod", "istio.io/rev": "1-24"}, "p:1.24.1")
    only = control_planes({"istio-system/istiod-1-24": revision})
    assert only.istio["default"] == only.istio["1-24"], "one control plane: istio-injection=enabled uses it"


@pytest.mark.parametrize(
    ("name", "mesh", "expected"),
    [
        pytest.param("istio", "inboundTrafficPolicy:\n  mode: LOCALHOST\n", ("default", "localhost"), id="default"),
        pytest.param("istio-canary", "inboundTrafficPolicy: {mode: localhost}", ("canary", "localhost"), id="rev"),
        pytest.param("istio", "inboundTrafficPolicy:\n  mode: PASSTHROUGH\n", None, id="passthrough"),
        pytest.param("istio", "defaultConfig: {}\n", None, id="not-set"),
        pytest.param("istio-ca-root-cert", "inboundTrafficPolicy: {mode: LOCALHOST}", None, id="other-configmap"),
        pytest.param("istio", ": not yaml [", None, id="unreadable"),
    ],
)
def test_istio_mesh_delivery(name: str, mesh: str, expected: tuple[str, str] | None) -> None:
    assert istio_mesh_delivery({"metadata": {"name": name}, "data": {"mesh": mesh}}) == expected


CONSUL_COMMAND = (
    "consul-k8s-control-plane inject-connect \\\n  -log-level=info \\\n  -default-inject=true \\\n"
    '  -default-enable-transparent-proxy=true \\\n  -allow-k8s-namespace="*" \\\n  -deny-k8s-namespace="legacy" \\\n'
)


def test_consul_injector_from_its_deployment() -> None:
    """consul-k8s's connect-inject Deployment (charts/consul connect-inject-deployment.yaml) decides which
    namespaces it injects into by default: there is no namespace label to read."""
    deployment = {
        "metadata": {"labels": {"app": "consul", "component": "connect-injector"}},
        "spec": {"template": {"spec": {"containers": [{
            "name": "sidecar-injector",
            "image": "hashicorp/consul-k8s-control-plane:1.6.1",
            "command": ["/bin/sh", "-ec", CONSUL_COMMAND],
        }]}}},
    }  # fmt: skip
    planes = control_planes({"consul/consul-connect-injector": deployment})
    assert planes.consul is not None and planes.consul.version == (1, 6)
    hint = namespace_hint("data", {}, {}, planes)
    assert hint is not None and (hint.mesh, hint.version) == ("consul", (1, 6))
    assert namespace_hint("legacy", {}, {}, planes) is None, "deny wins"
    assert namespace_hint("kube-system", {}, {}, planes) is None
    container = deployment["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    container["command"] = ["/bin/sh", "-ec", CONSUL_COMMAND.replace("-default-inject=true", "-default-inject=false")]
    assert namespace_hint("data", {}, {}, control_planes({"c": deployment})) is None, "pods opt in by annotation then"
