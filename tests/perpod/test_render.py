"""Table tests for webhook.perpod.render (which objects per mesh and version, and why) and for the
``stsmesh render per-pod`` command through webhook.perpod.command, as cli.py will wire it.

The decision table, per pod of a StatefulSet with an HTTP, a gRPC and a plain TCP port:

=================  ================================================  =================================
mesh / version     objects per pod                                   why
=================  ================================================  =================================
Istio < 1.10       Service, ServiceEntry (+ Gateway, VirtualService   the pod's DNS name needs an entry
                   with a host pattern)                              (Airy 2019; seed 001)
Istio >= 1.10      Service (+ Gateway, VirtualService)                reached without one (istio.io
                                                                     blog 2021-05-19; seed 000)
Istio, no version  Service; ServiceEntry only when forced            cannot tell which side of 1.10
Linkerd, none      Service                                           no such kinds / no mesh
unknown (auto)     Service                                           nothing says which mesh
=================  ================================================  =================================

apiVersion: networking.istio.io/v1 from Istio 1.22, v1beta1 from 1.5 (and without a version),
v1alpha3 before.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.perpod.structure import assert_consistent, assert_valid_object, kinds_per_pod
from tests.perpod.wiring import cmd_render
from webhook.core.inputs import InputError, load_documents
from webhook.core.mesh import MeshHint
from webhook.perpod.command import add_render_commands
from webhook.perpod.objects import ORDINAL_LABEL, STATEFULSET_LABEL
from webhook.perpod.options import PerPodOptions, expand_host, parse_selector
from webhook.perpod.plan import istio_api_version
from webhook.perpod.ports import PodPort
from webhook.perpod.render import render_documents, render_statefulset

JSON = dict[str, Any]
REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_MANIFESTS = (REPO_ROOT / ".." / "shared" / "manifests").resolve()

WEB_GRPC_TCP_PORTS = [
    {"name": "http-web", "port": 8080, "targetPort": 8080},
    {"name": "grpc", "port": 10901, "targetPort": 10901},
    {"name": "peer", "port": 7000, "targetPort": 7000},
]


def make_sts(
    name: str = "db",
    *,
    namespace: str | None = "data",
    replicas: Any = 2,
    service_name: str | None = "db-hs",
    container_ports: list[JSON] | None = None,
    template_labels: JSON | None = None,
    template_annotations: JSON | None = None,
    uid: str | None = None,
    **spec_extra: Any,
) -> JSON:
    metadata: JSON = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if uid is not None:
        metadata["uid"] = uid
    template_meta: JSON = {"labels": {"app": name, **(template_labels or {})}}
    if template_annotations:
        template_meta["annotations"] = template_annotations
    ports = (
        container_ports
        if container_ports is not None
        else [
            {"name": "http-web", "containerPort": 8080},
            {"name": "grpc", "containerPort": 10901},
            {"name": "peer", "containerPort": 7000},
        ]
    )
    spec: JSON = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": template_meta,
            "spec": {"containers": [{"name": "app", "image": "app:1", "ports": ports}]},
        },
        **spec_extra,
    }
    if service_name is not None:
        spec["serviceName"] = service_name
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": metadata, "spec": spec}


def make_headless(
    name: str = "db-hs",
    *,
    namespace: str | None = "data",
    ports: list[JSON] | None = None,
    publish_not_ready: bool | None = True,
    headless: bool = True,
) -> JSON:
    spec: JSON = {"selector": {"app": "db"}, "ports": copy.deepcopy(ports if ports is not None else WEB_GRPC_TCP_PORTS)}
    if headless:
        spec["clusterIP"] = "None"
    if publish_not_ready is not None:
        spec["publishNotReadyAddresses"] = publish_not_ready
    metadata: JSON = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def render(*docs: JSON, **options: Any) -> tuple[list[JSON], list[str]]:
    mesh = options.pop("mesh", None)
    version = options.pop("version", None)
    result = render_documents(list(docs), PerPodOptions(hint=MeshHint.parse(mesh, version), **options))
    for obj in result.objects:
        assert_valid_object(obj)
    assert_consistent(result.objects)
    return result.objects, result.notes


def notes_text(notes: list[str]) -> str:
    return "\n".join(notes)


# --- the decision table ---------------------------------------------------------------------------

S, SE, GW, VS = "Service", "ServiceEntry", "Gateway", "VirtualService"


@pytest.mark.parametrize(
    ("mesh", "version", "extra", "per_pod", "api_version", "because"),
    [
        pytest.param("istio", "1.4", {}, [S, SE], "networking.istio.io/v1alpha3", "before 1.10", id="istio-1.4"),
        pytest.param("istio", "1.9", {}, [S, SE], "networking.istio.io/v1beta1", "before 1.10", id="istio-1.9"),
        pytest.param("istio", "1.10", {}, [S], None, "not needed, Istio 1.10", id="istio-1.10"),
        pytest.param("istio", "1.21", {}, [S], None, "not needed, Istio 1.21", id="istio-1.21"),
        pytest.param("istio", "1.22", {}, [S], None, "not needed, Istio 1.22", id="istio-1.22"),
        pytest.param(
            "istio", "1.10", {"force_service_entry": True}, [S, SE], "networking.istio.io/v1beta1", "forced",
            id="istio-1.10-forced",
        ),
        pytest.param(
            "istio", "1.22", {"force_service_entry": True}, [S, SE], "networking.istio.io/v1", "forced",
            id="istio-1.22-forced-v1",
        ),
        pytest.param("istio", None, {}, [S], None, "the Istio version is unknown", id="istio-no-version"),
        pytest.param(
            "istio", None, {"force_service_entry": True}, [S, SE], "networking.istio.io/v1beta1", "forced",
            id="istio-no-version-forced",
        ),
        pytest.param(
            "istio", "1.9", {"host_pattern": "{pod}.example.com"}, [S, SE, GW, VS], "networking.istio.io/v1beta1",
            "north-south", id="istio-1.9-host-pattern",
        ),
        pytest.param(
            "istio", "1.10", {"host_pattern": "{pod}.example.com"}, [S, GW, VS], "networking.istio.io/v1beta1",
            "north-south", id="istio-1.10-host-pattern",
        ),
        pytest.param(
            "istio", "1.22", {"host_pattern": "db-{ordinal}.example.com"}, [S, GW, VS], "networking.istio.io/v1",
            "north-south", id="istio-1.22-host-pattern",
        ),
        pytest.param("linkerd", "2.10", {}, [S], None, "Linkerd has no ServiceEntry", id="linkerd-2.10"),
        pytest.param("linkerd", "2.11", {}, [S], None, "Linkerd has no ServiceEntry", id="linkerd-2.11"),
        pytest.param("none", None, {}, [S], None, "no mesh", id="no-mesh"),
        pytest.param("auto", None, {}, [S], None, "mesh unknown", id="auto-without-evidence"),
    ],
)  # fmt: skip
def test_which_objects_per_mesh_and_version(
    mesh: str, version: str | None, extra: JSON, per_pod: list[str], api_version: str | None, because: str
) -> None:
    objects, notes = render(make_sts(), make_headless(), mesh=mesh, version=version, **extra)
    assert kinds_per_pod(objects) == {"db-0": per_pod, "db-1": per_pod}
    assert because in notes_text(notes)
    istio = {o["apiVersion"] for o in objects if o["kind"] != "Service"}
    assert istio == ({api_version} if api_version else set())


@pytest.mark.parametrize(
    ("version", "api_version"),
    [
        pytest.param(None, "networking.istio.io/v1beta1", id="unknown"),
        pytest.param((1, 4), "networking.istio.io/v1alpha3", id="1.4"),
        pytest.param((1, 5), "networking.istio.io/v1beta1", id="1.5"),
        pytest.param((1, 21), "networking.istio.io/v1beta1", id="1.21"),
        pytest.param((1, 22), "networking.istio.io/v1", id="1.22"),
        pytest.param((1, 27), "networking.istio.io/v1", id="1.27"),
    ],
)
def test_istio_api_version(version: tuple[int, int] | None, api_version: str) -> None:
    assert istio_api_version(version) == api_version


@pytest.mark.parametrize(
    ("template", "version", "mesh_flag", "per_pod", "because"),
    [
        pytest.param(
            {"template_labels": {"sidecar.istio.io/inject": "true"}}, "1.9", "auto", [S, SE],
            "pod asks for Istio injection", id="auto-istio-inject-label",
        ),
        pytest.param(
            {"template_labels": {"istio.io/rev": "1-9-5"}}, None, "auto", [S, SE], "istio.io/rev=1-9-5",
            id="auto-istio-revision-gives-version",
        ),
        pytest.param(
            {"template_annotations": {"linkerd.io/inject": "enabled"}}, "2.11", "auto", [S], "Linkerd 2.11",
            id="auto-linkerd-annotation",
        ),
        pytest.param(
            {"template_labels": {"sidecar.istio.io/inject": "false"}}, "1.9", "istio", [S], "opts out",
            id="template-opts-out-of-istio",
        ),
    ],
)  # fmt: skip
def test_mesh_is_read_from_the_pod_template(
    template: JSON, version: str | None, mesh_flag: str, per_pod: list[str], because: str
) -> None:
    objects, notes = render(make_sts(**template), make_headless(), mesh=mesh_flag, version=version)
    assert kinds_per_pod(objects)["db-0"] == per_pod
    assert because in notes_text(notes)


# --- ServiceEntry ports and protocols -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "app_protocol", "protocol", "istio"),
    [
        pytest.param("http", None, "TCP", "HTTP", id="http"),
        pytest.param("http-web", None, "TCP", "HTTP", id="http-suffix"),
        pytest.param("http2", None, "TCP", "HTTP2", id="http2"),
        pytest.param("grpc", None, "TCP", "GRPC", id="grpc"),
        pytest.param("grpc-store", None, "TCP", "GRPC", id="grpc-suffix"),
        pytest.param("grpc-web", None, "TCP", "GRPC-Web", id="grpc-web-is-not-grpc"),
        pytest.param("https", None, "TCP", "HTTPS", id="https"),
        pytest.param("tls-peer", None, "TCP", "TLS", id="tls"),
        pytest.param("tcp-client", None, "TCP", "TCP", id="tcp"),
        pytest.param("web", None, "TCP", "TCP", id="no-protocol-in-name"),
        pytest.param("httpx", None, "TCP", "TCP", id="prefix-needs-a-dash"),
        pytest.param("redis", None, "TCP", "TCP", id="redis-is-opaque"),
        pytest.param("web", "http", "TCP", "HTTP", id="appProtocol"),
        pytest.param("tcp-web", "HTTP", "TCP", "HTTP", id="appProtocol-wins-over-name"),
        pytest.param("http-web", "kubernetes.io/ws", "TCP", "HTTP", id="unknown-appProtocol-falls-back-to-name"),
        pytest.param("dns", None, "UDP", "UDP", id="udp"),
    ],
)
def test_istio_protocol_of_a_port(name: str, app_protocol: str | None, protocol: str, istio: str) -> None:
    assert PodPort(name, 80, 80, 80, protocol, app_protocol).istio_protocol == istio


def test_service_entry_is_the_pods_dns_name_with_the_pods_ports() -> None:
    ports = [
        {"name": "http", "port": 80, "targetPort": "http-api"},  # named targetPort → the container's 8080
        {"name": "grpc", "port": 10901},
        {"name": "peer", "port": 7000},
        {"name": "dns", "port": 53, "protocol": "UDP"},
    ]
    container_ports = [
        {"name": "http-api", "containerPort": 8080},
        {"name": "grpc", "containerPort": 10901},
        {"name": "peer", "containerPort": 7000},
        {"name": "dns", "containerPort": 53, "protocol": "UDP"},
    ]
    objects, notes = render(
        make_sts(container_ports=container_ports), make_headless(ports=ports), mesh="istio", version="1.9"
    )
    entry = next(o for o in objects if o["kind"] == "ServiceEntry" and o["metadata"]["name"] == "db-1")
    assert entry["spec"] == {
        "hosts": ["db-1.db-hs.data.svc.cluster.local"],
        "location": "MESH_INTERNAL",
        "resolution": "DNS",
        "ports": [
            {"number": 8080, "name": "http", "protocol": "HTTP"},
            {"number": 10901, "name": "grpc", "protocol": "GRPC"},
        ],
    }
    text = notes_text(notes)
    assert "plain TCP peer 7000/TCP left out" in text and "must not be shared by any other service" in text
    assert "dns 53/UDP left out, Istio does not proxy UDP" in text
    service = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "db-1")
    assert [p["name"] for p in service["spec"]["ports"]] == ["http", "grpc", "peer", "dns"]


def test_two_service_ports_to_one_pod_port_give_one_entry_port() -> None:
    ports = [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "http-alt", "port": 8080}]
    objects, _ = render(make_sts(), make_headless(ports=ports), mesh="istio", version="1.9")
    assert objects[1]["spec"]["ports"] == [{"number": 8080, "name": "http", "protocol": "HTTP"}]


def test_only_tcp_ports_means_no_service_entry_even_when_needed() -> None:
    tcp_only = [{"name": "server", "port": 2888}, {"name": "leader-election", "port": 3888}]
    objects, notes = render(make_sts(), make_headless(ports=tcp_only), mesh="istio", version="1.9")
    assert kinds_per_pod(objects) == {"db-0": [S], "db-1": [S]}
    assert "no port Istio can route by name" in notes_text(notes)


def test_cluster_domain_goes_into_the_pod_dns_name() -> None:
    objects, _ = render(make_sts(), make_headless(), mesh="istio", version="1.9", cluster_domain="corp.internal")
    assert objects[1]["spec"]["hosts"] == ["db-0.db-hs.data.svc.corp.internal"]


def test_not_headless_governing_service_gives_no_service_entry() -> None:
    objects, notes = render(make_sts(), make_headless(headless=False), mesh="istio", version="1.9")
    assert kinds_per_pod(objects)["db-0"] == [S]
    assert "is not headless" in notes_text(notes)


# --- Services: types, ports, names ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("service_type", "headless_publishes", "expect_policy", "expect_publish"),
    [
        pytest.param("ClusterIP", True, None, True, id="clusterip-copies-publishNotReady"),
        pytest.param("ClusterIP", False, None, None, id="clusterip-headless-does-not-publish"),
        pytest.param("ClusterIP", None, None, None, id="clusterip-headless-unset"),
        pytest.param("LoadBalancer", True, "Local", None, id="loadbalancer-local-and-ready-only"),
        pytest.param("NodePort", True, "Local", None, id="nodeport-local-and-ready-only"),
    ],
)
def test_service_types(
    service_type: str, headless_publishes: bool | None, expect_policy: str | None, expect_publish: bool | None
) -> None:
    objects, notes = render(
        make_sts(), make_headless(publish_not_ready=headless_publishes), mesh="none", service_type=service_type
    )
    service = objects[0]
    assert service["metadata"]["name"] == "db-0"
    assert service["spec"]["type"] == service_type
    assert service["spec"]["selector"] == {"statefulset.kubernetes.io/pod-name": "db-0"}
    assert service["spec"].get("externalTrafficPolicy") == expect_policy
    assert service["spec"].get("publishNotReadyAddresses") == expect_publish
    assert f"Service per pod: {service_type}" in notes_text(notes)


def test_outside_service_types_on_istio_warn_about_strict_mtls() -> None:
    _, notes = render(make_sts(), make_headless(), mesh="istio", version="1.22", service_type="LoadBalancer")
    assert "STRICT PeerAuthentication refuses them" in notes_text(notes)


def test_ports_from_containers_when_the_input_has_no_service() -> None:
    containers = [
        {
            "name": "app",
            "image": "app:1",
            "ports": [{"containerPort": 8080}, {"name": "metrics", "containerPort": 9100}],
        },
        {
            "name": "sidecar",
            "image": "s:1",
            "ports": [{"containerPort": 8080}, {"name": "metrics", "containerPort": 9101}],
        },
    ]
    native_sidecar = {"name": "proxy", "image": "p:1", "restartPolicy": "Always", "ports": [{"containerPort": 15000}]}
    plain_init = {"name": "init", "image": "i:1", "ports": [{"containerPort": 1234}]}
    sts = make_sts()
    sts["spec"]["template"]["spec"]["containers"] = containers
    sts["spec"]["template"]["spec"]["initContainers"] = [plain_init, native_sidecar]
    objects, notes = render(sts, mesh="none")
    ports = objects[0]["spec"]["ports"]
    assert [(p["name"], p["port"], p["targetPort"]) for p in ports] == [
        ("tcp-8080", 8080, 8080),  # unnamed: a generated name; the sidecar's duplicate 8080 is dropped
        ("metrics", 9100, 9100),
        ("tcp-9101", 9101, 9101),  # a second "metrics" would clash: a generated name
        ("tcp-15000", 15000, 15000),  # native sidecar; the plain init container's port is not served
    ]
    assert "but the input has no Service 'db-hs'" in notes_text(notes)


def test_service_port_names_follow_the_apiservers_rule() -> None:
    ports = [
        {"name": "http-metrics-endpoint", "port": 9100},  # 21 characters: a valid Service port name, kept
        {"name": "Bad_Name", "port": 7000},  # not a DNS-1123 label: a generated name
        {"name": "dup", "port": 7001},
        {"name": "dup", "port": 7002},  # a clash: a generated name
    ]
    objects, _ = render(make_sts(), make_headless(ports=ports), mesh="istio", version="1.9")
    assert [p["name"] for p in objects[0]["spec"]["ports"]] == ["http-metrics-endpoint", "tcp-7000", "dup", "tcp-7002"]
    entry = objects[1]
    assert entry["spec"]["ports"] == [{"number": 9100, "name": "http-metrics-endpoint", "protocol": "HTTP"}]


def test_ports_the_headless_service_lacks_are_named_in_a_note() -> None:
    _, notes = render(make_sts(), make_headless(ports=[{"name": "peer", "port": 7000}]), mesh="none")
    assert "the containers also declare http-web 8080/TCP, grpc 10901/TCP" in notes_text(notes)


def test_statefulset_without_service_name_has_no_dns_names() -> None:
    objects, notes = render(make_sts(service_name=None), mesh="istio", version="1.9", force_service_entry=True)
    assert kinds_per_pod(objects)["db-0"] == [S]
    assert "names no serviceName" in notes_text(notes)


def test_governing_service_in_another_namespace_is_not_the_governing_service() -> None:
    objects, notes = render(make_sts(), make_headless(namespace="elsewhere"), mesh="none")
    assert "the input has no Service 'db-hs'" in notes_text(notes)
    assert "ignored from input: Service db-hs" in notes_text(notes)
    assert objects[0]["spec"].get("publishNotReadyAddresses") is None


# --- Quarkus: the tutorial's serviceName mismatch -------------------------------------------------


def shared_manifest(name: str) -> list[JSON]:
    path = SHARED_MANIFESTS / name
    if not path.is_file():
        pytest.skip(f"{path} not found (a checkout with ../shared beside it is needed)")
    return load_documents(path.read_text(encoding="utf-8"), name)


def test_quarkus_0d579c7_service_name_mismatch_falls_back_to_container_ports() -> None:
    docs = shared_manifest("quarkus-statefulset-0d579c7.yaml")
    objects, notes = render(*docs, mesh="istio", version="1.9", force_service_entry=True)
    assert kinds_per_pod(objects) == {"quarkus-statefulset-0": [S]}  # replicas 1; port "web" is not HTTP
    assert objects[0]["metadata"]["namespace"] == "default"
    assert objects[0]["spec"]["ports"] == [{"name": "web", "port": 8080, "targetPort": 8080, "protocol": "TCP"}]
    text = notes_text(notes)
    assert "names serviceName 'quarkus', but the input has no Service 'quarkus'" in text
    assert "quarkus-statefulset, which is not the governing Service" in text
    assert "ports from the containers: web 8080/TCP" in text


def test_quarkus_7508b22_uses_its_governing_service() -> None:
    docs = shared_manifest("quarkus-statefulset-7508b22.yaml")
    objects, notes = render(*docs, mesh="linkerd", version="2.11", service_type="LoadBalancer")
    assert kinds_per_pod(objects) == {"quarkus-statefulset-0": [S]}
    assert "ports from the headless Service quarkus: web 8080/TCP" in notes_text(notes)
    assert objects[0]["spec"]["externalTrafficPolicy"] == "Local"


def test_quarkus_mismatch_with_an_http_port_still_renders_a_service_entry_and_says_it_may_not_resolve() -> None:
    sts = make_sts("quarkus-statefulset", namespace=None, service_name="quarkus", replicas=1)
    sts["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"name": "http-web", "containerPort": 8080}]
    other = make_headless("quarkus-statefulset", namespace=None, ports=[{"name": "web", "port": 8080}])
    objects, notes = render(sts, other, mesh="istio", version="1.9")
    assert kinds_per_pod(objects) == {"quarkus-statefulset-0": [S, SE]}
    assert objects[1]["spec"]["hosts"] == ["quarkus-statefulset-0.quarkus.default.svc.cluster.local"]
    assert "resolve only once that headless Service exists" in notes_text(notes)


# --- north-south: Gateway and VirtualService ------------------------------------------------------


def test_gateway_routes_http_and_grpc_by_host_and_leaves_tcp_out_without_a_base() -> None:
    objects, notes = render(make_sts(), make_headless(), mesh="istio", version="1.22", host_pattern="{pod}.example.com")
    gateway = next(o for o in objects if o["kind"] == GW and o["metadata"]["name"] == "db-1")
    assert gateway["spec"] == {
        "selector": {"istio": "ingressgateway"},
        "servers": [
            {"port": {"number": 8080, "name": "http-8080", "protocol": "HTTP"}, "hosts": ["db-1.example.com"]},
            {"port": {"number": 10901, "name": "grpc-10901", "protocol": "GRPC"}, "hosts": ["db-1.example.com"]},
        ],
    }
    vs = next(o for o in objects if o["kind"] == VS and o["metadata"]["name"] == "db-1")
    assert vs["spec"]["hosts"] == ["db-1.example.com"] and vs["spec"]["gateways"] == ["db-1"]
    assert [r["route"][0]["destination"] for r in vs["spec"]["http"]] == [
        {"host": "db-1.data.svc.cluster.local", "port": {"number": 8080}},
        {"host": "db-1.data.svc.cluster.local", "port": {"number": 10901}},
    ]
    assert "tcp" not in vs["spec"]
    assert "gateway: plain TCP peer 7000/TCP left out" in notes_text(notes)


def test_tls_ports_pass_through_by_sni() -> None:
    ports = [{"name": "https", "port": 8443}, {"name": "peer", "port": 7000, "appProtocol": "tls"}]
    container_ports = [{"name": "https", "containerPort": 8443}, {"name": "peer", "containerPort": 7000}]
    objects, _ = render(
        make_sts(container_ports=container_ports),
        make_headless(ports=ports),
        mesh="istio",
        version="1.9",
        host_pattern="{pod}.db.example.com",
    )
    gateway = next(o for o in objects if o["kind"] == GW and o["metadata"]["name"] == "db-0")
    assert [(s["port"]["protocol"], s.get("tls")) for s in gateway["spec"]["servers"]] == [
        ("TLS", {"mode": "PASSTHROUGH"}),
        ("TLS", {"mode": "PASSTHROUGH"}),
    ]
    vs = next(o for o in objects if o["kind"] == VS and o["metadata"]["name"] == "db-0")
    assert [r["match"] for r in vs["spec"]["tls"]] == [
        [{"port": 8443, "sniHosts": ["db-0.db.example.com"]}],
        [{"port": 7000, "sniHosts": ["db-0.db.example.com"]}],
    ]
    entry = next(o for o in objects if o["kind"] == SE)
    assert [p["protocol"] for p in entry["spec"]["ports"]] == ["HTTPS", "TLS"]


def test_tcp_gets_a_gateway_port_per_pod_and_port() -> None:
    ports = [{"name": "client", "port": 2181}, {"name": "server", "port": 2888}, {"name": "http", "port": 8080}]
    container_ports = [{"containerPort": p["port"], "name": p["name"]} for p in ports]
    objects, notes = render(
        make_sts(replicas=3, container_ports=container_ports),
        make_headless(ports=ports),
        mesh="istio",
        version="1.22",
        host_pattern="zk-{ordinal}.example.com",
        tcp_gateway_port_base=31400,
    )
    tcp_matches = {
        o["metadata"]["name"]: [
            (r["match"][0]["port"], r["route"][0]["destination"]["port"]["number"]) for r in o["spec"]["tcp"]
        ]
        for o in objects
        if o["kind"] == VS
    }
    assert tcp_matches == {
        "db-0": [(31400, 2181), (31401, 2888)],
        "db-1": [(31402, 2181), (31403, 2888)],
        "db-2": [(31404, 2181), (31405, 2888)],
    }
    http = [o["spec"]["http"][0]["match"][0]["port"] for o in objects if o["kind"] == VS]
    assert http == [8080, 8080, 8080]  # HTTP shares one gateway port: the Host tells pods apart
    assert "gateway ports 31400-31405" in notes_text(notes)


def test_udp_never_goes_through_the_gateway() -> None:
    ports = [{"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]
    objects, notes = render(
        make_sts(container_ports=[{"containerPort": 80}]),
        make_headless(ports=ports),
        mesh="istio",
        version="1.10",
        host_pattern="{pod}.example.com",
    )
    gateway = next(o for o in objects if o["kind"] == GW)
    assert [s["port"]["number"] for s in gateway["spec"]["servers"]] == [80]
    assert "gateway: dns 53/UDP left out" in notes_text(notes)


def test_no_gateway_when_no_port_can_pass_the_gateway() -> None:
    tcp_only = [{"name": "server", "port": 2888}]
    objects, notes = render(
        make_sts(), make_headless(ports=tcp_only), mesh="istio", version="1.22", host_pattern="{pod}.x.io"
    )
    assert kinds_per_pod(objects) == {"db-0": [S], "db-1": [S]}
    assert "Gateway + VirtualService: not rendered" in notes_text(notes)


def test_gateway_selector() -> None:
    objects, _ = render(
        make_sts(), make_headless(), mesh="istio", version="1.22", host_pattern="{pod}.example.com",
        gateway_selector={"app": "edge", "istio": "ingressgateway-internal"},
    )  # fmt: skip
    assert next(o for o in objects if o["kind"] == GW)["spec"]["selector"] == {
        "app": "edge",
        "istio": "ingressgateway-internal",
    }


@pytest.mark.parametrize(
    ("pattern", "host"),
    [
        pytest.param("{pod}.example.com", "db-1.example.com", id="pod"),
        pytest.param("zk-{ordinal}.example.com", "zk-1.example.com", id="ordinal"),
        pytest.param("{statefulset}-{ordinal}.{namespace}.example.com", "db-1.data.example.com", id="all-placeholders"),
        pytest.param("cluster-a-{pod}.example.com", "cluster-a-db-1.example.com", id="airy-style"),
    ],
)
def test_host_patterns(pattern: str, host: str) -> None:
    assert expand_host(pattern, pod="db-1", ordinal=1, statefulset="db", namespace="data") == host


# --- labels, owner, order -------------------------------------------------------------------------


def test_every_object_is_labelled_for_the_reconcile_controller() -> None:
    objects, _ = render(make_sts(), make_headless(), mesh="istio", version="1.9", host_pattern="{pod}.example.com")
    assert len(objects) == 8
    for obj in objects:
        ordinal = obj["metadata"]["name"].rsplit("-", 1)[1]
        assert obj["metadata"]["labels"] == {
            "app.kubernetes.io/managed-by": "stsmesh",
            STATEFULSET_LABEL: "db",
            ORDINAL_LABEL: ordinal,
        }
        assert "ownerReferences" not in obj["metadata"]


def test_owner_reference_only_with_a_uid() -> None:
    objects, notes = render(
        make_sts(uid="6c1b1a52-0000-4000-8000-000000000001"), make_headless(), mesh="istio", version="1.9"
    )
    for obj in objects:
        assert obj["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "name": "db",
                "uid": "6c1b1a52-0000-4000-8000-000000000001",
            }
        ]
    assert "no ownerReference" not in notes_text(notes)


def test_order_and_names_are_deterministic() -> None:
    first, first_notes = render(
        make_sts(replicas=3), make_headless(), mesh="istio", version="1.9", host_pattern="{pod}.x.io"
    )
    again, again_notes = render(
        make_sts(replicas=3), make_headless(), mesh="istio", version="1.9", host_pattern="{pod}.x.io"
    )
    assert first == again and first_notes == again_notes
    assert [(o["kind"], o["metadata"]["name"]) for o in first][:4] == [
        (S, "db-0"),
        (SE, "db-0"),
        (GW, "db-0"),
        (VS, "db-0"),
    ]
    assert [o["metadata"]["name"] for o in first if o["kind"] == S] == ["db-0", "db-1", "db-2"]


def test_ordinals_start_and_namespace_override() -> None:
    objects, notes = render(
        make_sts(replicas=2, ordinals={"start": 5}), make_headless(), mesh="none", namespace="other"
    )
    assert [(o["metadata"]["name"], o["metadata"]["namespace"]) for o in objects] == [
        ("db-5", "other"),
        ("db-6", "other"),
    ]
    assert objects[0]["metadata"]["labels"][ORDINAL_LABEL] == "5"
    assert "stsmesh.io/ordinal notin (5,6)" in notes_text(notes)


def test_zero_replicas_renders_nothing_and_says_so() -> None:
    objects, notes = render(make_sts(replicas=0), make_headless(), mesh="none")
    assert objects == [] and "0 replicas: nothing to render" in notes_text(notes)


def test_default_replicas_is_one() -> None:
    sts = make_sts()
    del sts["spec"]["replicas"]
    objects, _ = render(sts, make_headless(), mesh="none")
    assert [o["metadata"]["name"] for o in objects] == ["db-0"]


def test_every_statefulset_in_the_input_is_rendered() -> None:
    second = make_sts("cache", service_name="cache-hs")
    objects, _ = render(make_sts(), make_headless(), second, mesh="none")
    assert [o["metadata"]["name"] for o in objects] == ["db-0", "db-1", "cache-0", "cache-1"]


def test_per_pod_services_rendered_earlier_are_not_in_the_way() -> None:
    """`kubectl get sts,svc -o yaml | stsmesh render per-pod -` after a first apply: same output again."""
    first, _ = render(make_sts(), make_headless(), mesh="none")
    again, notes = render(make_sts(), make_headless(), *first, mesh="none")
    assert again == first
    assert "2 Service(s) stsmesh rendered earlier for db are in input" in notes_text(notes)
    assert "ignored from" not in notes_text(notes)


def test_input_is_not_mutated() -> None:
    sts, svc = make_sts(), make_headless()
    before = copy.deepcopy([sts, svc])
    render(sts, svc, mesh="istio", version="1.9", host_pattern="{pod}.example.com")
    assert [sts, svc] == before


# --- invalid options and input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"service_type": "ExternalName"}, "unknown service type 'ExternalName'", id="service-type"),
        pytest.param({"host_pattern": "db.example.com"}, "include {pod} or {ordinal}", id="pattern-same-host"),
        pytest.param({"host_pattern": "{name}.example.com"}, "unknown placeholder {name}", id="pattern-placeholder"),
        pytest.param({"host_pattern": "*.{pod}.example.com"}, "not a DNS name", id="pattern-wildcard"),
        pytest.param({"host_pattern": "{pod}.Example.com"}, "not a DNS name", id="pattern-uppercase"),
        pytest.param({"gateway_selector": {"istio": "x"}}, "only applies with --host-pattern", id="selector-alone"),
        pytest.param({"tcp_gateway_port_base": 31400}, "only applies with --host-pattern", id="tcp-base-alone"),
        pytest.param(
            {"host_pattern": "{pod}.x.io", "tcp_gateway_port_base": 70000}, "must be a port number", id="tcp-base-range"
        ),
        pytest.param({"host_pattern": "{pod}.x.io", "gateway_selector": {}}, "selector is empty", id="selector-empty"),
        pytest.param({"namespace": "Bad_NS"}, "not a valid namespace name", id="namespace"),
        pytest.param({"cluster_domain": "-bad"}, "not a DNS name", id="cluster-domain"),
        pytest.param({"mesh": "linkerd", "host_pattern": "{pod}.x.io"}, "the mesh is linkerd", id="linkerd-gateway"),
        pytest.param({"mesh": "none", "force_service_entry": True}, "the mesh is none", id="none-service-entry"),
        pytest.param(
            {"mesh": "auto", "host_pattern": "{pod}.x.io"}, "but the mesh is unknown", id="auto-unknown-gateway"
        ),
        pytest.param(
            {"mesh": "istio", "version": "1.22", "host_pattern": "{pod}.x.io", "tcp_gateway_port_base": 65535},
            "past 65535",
            id="tcp-base-overflow",
        ),
        pytest.param(
            {"mesh": "istio", "version": "1.22", "host_pattern": "{pod}.x.io", "tcp_gateway_port_base": 8079},
            "include 8080",
            id="tcp-base-clashes-with-http",
        ),
    ],
)
def test_invalid_options_say_what_to_do(options: JSON, message: str) -> None:
    options = {"mesh": "istio", "version": "1.9", **options}
    with pytest.raises(ValueError, match=message) as raised:
        render(make_sts(), make_headless(), **options)
    assert not isinstance(raised.value, InputError)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("istio", "is not KEY=VALUE", id="no-equals"),
        pytest.param(",", "is empty", id="empty"),
        pytest.param("bad key=x", "not a valid label key", id="bad-key"),
        pytest.param("istio=in gress", "not a valid label value", id="bad-value"),
    ],
)
def test_parse_selector_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_selector(text)


def test_parse_selector() -> None:
    assert parse_selector("istio=ingressgateway, app.kubernetes.io/name=edge") == {
        "istio": "ingressgateway",
        "app.kubernetes.io/name": "edge",
    }


@pytest.mark.parametrize(
    ("docs", "message"),
    [
        pytest.param([make_headless()], "found no StatefulSet \\(only: Service db-hs\\)", id="no-statefulset"),
        pytest.param([make_sts(replicas=-1)], "spec.replicas must be a whole number", id="negative-replicas"),
        pytest.param([make_sts(replicas="3")], "spec.replicas must be a whole number", id="string-replicas"),
        pytest.param([make_sts(ordinals={"start": -1})], "ordinals.start must be a whole number", id="ordinals"),
        pytest.param([make_sts("9lives")], "cannot name a Service", id="name-starts-with-digit"),
        pytest.param([make_sts(container_ports=[])], "no ports to expose", id="no-ports"),
        pytest.param([make_sts(), make_headless("db-0")], "already has a Service named 'db-0'", id="name-taken"),
        pytest.param(
            [make_sts(), make_headless(ports=[{"name": "x", "port": 0}])], "is not a port number", id="bad-port"
        ),
    ],
)
def test_invalid_input(docs: list[JSON], message: str) -> None:
    with pytest.raises(InputError, match=message):
        render_documents(docs, PerPodOptions(hint=MeshHint.parse("none")))


def test_a_missing_name_is_an_input_error() -> None:
    sts = make_sts()
    del sts["metadata"]["name"]
    with pytest.raises(InputError, match=r"no metadata\.name"):
        render_statefulset(sts, None, PerPodOptions())


# --- through the command line ---------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    """The parser cli.py will build: ``add_render_commands`` on a fresh subparsers object."""
    top = argparse.ArgumentParser(prog="stsmesh")
    add_render_commands(top.add_subparsers(dest="command"))
    return top


def run_cli(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    args = parser().parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    code = cmd_render(args, out, err, io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


def write_input(tmp_path: Path, *docs: JSON) -> str:
    path = tmp_path / "input.yaml"
    path.write_text(yaml.safe_dump_all(list(docs)), encoding="utf-8")
    return str(path)


def test_cli_yaml_has_the_notes_on_top_and_the_objects_below(tmp_path: Path) -> None:
    path = write_input(tmp_path, make_sts(), make_headless())
    code, out, err = run_cli(["render", "per-pod", path, "--mesh", "istio", "--mesh-version", "1.9"])
    assert code == 0 and err == ""
    head = out.split("---\n", 1)[0]
    assert head.startswith(f"# stsmesh render per-pod {path}: 4 object(s)\n")
    assert all(line.startswith("#") for line in head.splitlines())
    assert "ServiceEntry per pod: Istio 1.9 is before 1.10" in head
    docs = [d for d in yaml.safe_load_all(out) if d is not None]
    expected = render_documents(
        [make_sts(), make_headless()], PerPodOptions(hint=MeshHint.parse("istio", "1.9"))
    ).objects
    assert docs == expected


def test_cli_json_is_a_list_and_the_notes_go_to_stderr(tmp_path: Path) -> None:
    path = write_input(tmp_path, make_sts(), make_headless())
    code, out, err = run_cli(["render", "per-pod", path, "--mesh", "linkerd", "-o", "json"])
    assert code == 0
    listed = json.loads(out)
    assert listed["apiVersion"] == "v1" and listed["kind"] == "List"
    assert [o["metadata"]["name"] for o in listed["items"]] == ["db-0", "db-1"]
    assert err.startswith("# stsmesh render per-pod") and "Linkerd has no ServiceEntry" in err


def test_cli_reads_stdin() -> None:
    text = yaml.safe_dump_all([make_sts(), make_headless()])
    code, out, _ = run_cli(
        ["render", "per-pod", "-", "--mesh", "istio", "--mesh-version", "1.22", "--host-pattern", "{pod}.example.com",
         "--gateway-selector", "istio=edge", "--service-type", "NodePort", "--namespace", "prod"],
        stdin=text,
    )  # fmt: skip
    assert code == 0
    docs = [d for d in yaml.safe_load_all(out) if d]
    assert {d["metadata"]["namespace"] for d in docs} == {"prod"}
    assert next(d for d in docs if d["kind"] == GW)["spec"]["selector"] == {"istio": "edge"}
    assert docs[0]["spec"]["type"] == "NodePort"
    assert out.startswith("# stsmesh render per-pod <stdin>:")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--mesh", "istio", "--mesh-version", "latest"], "cannot read a version", id="bad-version"),
        pytest.param(["--host-pattern", "same.example.com", "--mesh", "istio"], "include {pod}", id="bad-pattern"),
        pytest.param(
            ["--mesh", "linkerd", "--host-pattern", "{pod}.x.io"], "the mesh is linkerd", id="linkerd-pattern"
        ),
        pytest.param(["--gateway-selector", "nolabel", "--host-pattern", "{pod}.x.io"], "KEY=VALUE", id="selector"),
        pytest.param(["--tcp-gateway-port-base", "31400"], "only applies with --host-pattern", id="tcp-base"),
        pytest.param(["--host-pattern", "{pod}.x.io"], "the mesh is unknown", id="auto-unknown-with-pattern"),
    ],
)
def test_cli_bad_options_exit_2(tmp_path: Path, argv: list[str], message: str) -> None:
    path = write_input(tmp_path, make_sts(), make_headless())
    code, out, err = run_cli(["render", "per-pod", path, *argv])
    assert code == 2 and out == ""
    assert err.startswith("stsmesh: ") and message in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(yaml.safe_dump(make_headless()), "found no StatefulSet", id="no-statefulset"),
        pytest.param("kind: [", "not valid YAML", id="bad-yaml"),
        pytest.param("", "no document found", id="empty"),
    ],
)
def test_cli_unreadable_input_exits_3(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "input.yaml"
    path.write_text(content, encoding="utf-8")
    code, out, err = run_cli(["render", "per-pod", str(path), "--mesh", "none"])
    assert code == 3 and out == "" and message in err


def test_cli_missing_file_exits_3(tmp_path: Path) -> None:
    code, _, err = run_cli(["render", "per-pod", str(tmp_path / "absent.yaml")])
    assert code == 3 and "cannot read" in err


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["render", "per-pod", "x.yaml", "--service-type", "ExternalName"], id="service-type-choice"),
        pytest.param(["render", "per-pod", "x.yaml", "--mesh", "maesh"], id="mesh-choice"),
        pytest.param(["render", "per-pod", "x.yaml", "-o", "text"], id="output-choice"),
        pytest.param(["render"], id="what-is-required"),
    ],
)
def test_cli_argparse_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        parser().parse_args(argv)
    assert raised.value.code == 2


def test_cli_help_teaches_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        parser().parse_args(["render", "per-pod", "--help"])
    assert raised.value.code == 0
    text = capsys.readouterr().out
    for expected in ("examples:", "--host-pattern", "Istio before 1.10", "exit codes:", "kubectl apply -f -"):
        assert expected in text, expected
