"""Property tests: review() on generated StatefulSet pods and on arbitrary JSON.

Generated pods mix images from the shipped catalogue (with registries, mirrors, tags and digests)
and unrelated ones, env lists with duplicates, references and odd values, mesh annotations with odd
values, already-injected shapes (istio-init, Istio CNI, native sidecar, linkerd-init, Linkerd CNI,
mangled init args) and every mesh hint. Properties:

* review() never raises; the response honours the contract; the pod is never unreadable and no
  rule ever fails on such a pod;
* the patch applies with jsonpatch.apply_patch to the original and reproduces the in-place edits;
* reviewing the patched pod again gives an empty patch (idempotence);
* the patch length is bounded by the pod's containers and arguments and does not grow with the
  number of env vars.

For arbitrary JSON: review() raises InvalidReview exactly when the envelope is unanswerable, and
otherwise returns a well-formed response whatever ``request.object`` holds.

And the catalogue's image-name index picks the same app as a full scan of the catalogue.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import jsonpatch
import orjson
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.support import envelope_ok
from webhook.core.admission import review
from webhook.core.catalogue import App, Catalogue, Match, _score, image_repository
from webhook.core.catalogue.load import builtin_catalogue
from webhook.core.inputs import pod_from_statefulset, pod_review
from webhook.core.mesh import MeshHint
from webhook.core.review import InvalidReview, decode_patch
from webhook.core.settings import Settings

# --- building blocks --------------------------------------------------------------------------------

CATALOGUE_IMAGES = sorted({pattern for app in builtin_catalogue().apps for pattern in app.match.images})
OTHER_IMAGES = [
    "busybox:1.36",
    "nginx",
    "quay.io/rhdevelopers/quarkus-demo:v1",
    "docker.io/bitnami/bitnami-shell:11-debian-11-r119",
    "bitnami/zookeeper-exporter:0.1",
    "",
]
REGISTRIES = ["", "docker.io/", "registry.example.com:5000/", "mirror.local/proxy/", "localhost/"]
TAGS = ["", ":latest", ":3.7.0-debian-10-r27", "@sha256:" + "ab" * 32, ":7.0@sha256:" + "cd" * 32]

images = st.one_of(
    st.builds(
        lambda r, i, t: f"{r}{i}{t}",
        st.sampled_from(REGISTRIES),
        st.sampled_from(CATALOGUE_IMAGES),
        st.sampled_from(TAGS),
    ),
    st.sampled_from(OTHER_IMAGES),
    st.text(max_size=20),
)

INTERESTING_ENV = [
    "ZOO_LISTEN_ALLIPS_ENABLED",
    "ZOO_CFG_EXTRA",
    "ELASTICSEARCH_BIND_ADDRESS",
    "network.host",
    "network.bind_host",
    "KAFKA_CFG_LISTENERS",
    "KAFKA_LISTENERS",
    "RABBITMQ_NODE_IP_ADDRESS",
    "ETCD_LISTEN_PEER_URLS",
    "ETCD_LISTEN_CLIENT_URLS",
    "NIFI_CLUSTER_NODE_PROTOCOL_PORT",
    "POD_IP",
]
ODD_VALUES = [
    "",
    " ",
    "no",
    "yes",
    "true",
    "0.0.0.0",
    "::",
    "[::]",
    "127.0.0.1",
    "$(POD_IP)",
    "8082",
    " 7 ",
    "99999",
    "-1",
    "quorumListenOnAllIPs=false a=b",
    "quorumListenOnAllIPs=true",
    "INTERNAL://:9093,CLIENT://kafka-0.kafka:9092",
    "PLAINTEXT://[::1]:9092,",
    "http://$(POD_IP):2380,http://127.0.0.1:2380",
    "http://0.0.0.0:2379",
    "unix:///tmp/s",
    ",,,",
]
env_values = st.one_of(st.sampled_from(ODD_VALUES), st.text(max_size=15))
env_entries = st.one_of(
    st.builds(lambda n, v: {"name": n, "value": v}, st.sampled_from(INTERESTING_ENV), env_values),
    st.builds(lambda n: {"name": n}, st.sampled_from(INTERESTING_ENV)),
    st.builds(
        lambda n: {"name": n, "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        st.sampled_from(INTERESTING_ENV),
    ),
    st.builds(lambda n, v: {"name": n, "value": v}, st.text(min_size=1, max_size=8), env_values),
)

ARG_WORDS = [
    "--listen-peer-urls",
    "--listen-client-urls",
    "--listen-peer-urls=http://$(POD_IP):2380",
    "--listen-client-urls=http://10.0.0.1:2379,http://127.0.0.1:2379",
    "http://$(POD_IP):2380",
    "--bind_ip",
    "--bind_ip_all",
    "localhost,$(POD_IP)",
    "sh",
    "-c",
    "etcd --listen-peer-urls http://$(POD_IP):2380 --listen-client-urls=http://x:2379",
    "",
]
arg_lists = st.lists(st.one_of(st.sampled_from(ARG_WORDS), st.text(max_size=10)), max_size=6)
CATALOGUE_PORTS = [2181, 2888, 3888, 3306, 3307, 4444, 6342, 6379, 7000, 7001, 8082, 9042, 9092, 9300, 11211, 16379]
port_lists = st.lists(
    st.builds(lambda p: {"containerPort": p}, st.one_of(st.sampled_from(CATALOGUE_PORTS), st.integers(1, 65535))),
    max_size=4,
)


@st.composite
def containers(draw: st.DrawFn, name: str) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": draw(images)}
    if draw(st.booleans()):
        container["env"] = draw(st.lists(env_entries, max_size=8))
    if draw(st.booleans()):
        container["args"] = draw(arg_lists)
    if draw(st.booleans()):
        container["command"] = draw(arg_lists)
    if draw(st.booleans()):
        container["ports"] = draw(port_lists)
    return container


MESH_ANNOTATIONS = [
    "traffic.sidecar.istio.io/excludeInboundPorts",
    "traffic.sidecar.istio.io/includeInboundPorts",
    "traffic.sidecar.istio.io/excludeOutboundPorts",
    "config.linkerd.io/skip-inbound-ports",
    "config.linkerd.io/skip-outbound-ports",
    "config.linkerd.io/opaque-ports",
    "config.linkerd.io/proxy-await",
    "proxy.istio.io/config",
    "sidecar.istio.io/inject",
    "linkerd.io/inject",
    "stsmesh.io/applied",
    "stsmesh.io/skip-fixes",
]
ODD_ANNOTATION_VALUES = [
    "",
    "*",
    " * ",
    "7000",
    "7000,7001",
    "6379-6380",
    " 2888 , ,3888",
    "abc,7000",
    "-",
    "1-2-3",
    ",",
    "{}",
    "{ }",
    "concurrency: 2\n",
    '{"concurrency": 2}',
    "{concurrency: 2, holdApplicationUntilProxyStarts: false}",
    "holdApplicationUntilProxyStarts: true",
    "holdApplicationUntilProxyStarts: false",
    "- a\n- b",
    "{unclosed",
    "{proxyMetadata: {BUILD_DATE: 2021-05-19}}",
    "buildDate: 2021-05-19\nconcurrency: 2",
    "{}\n# trailing comment",
    "enabled",
    "disabled",
    "ingress",
    "true",
    "false",
    "all",
    "bind,ports",
    "hold",
    "identity",
    "zookeeper-listen-all-ips,zookeeper-hold-until-proxy-ready",
]
annotation_maps = st.dictionaries(
    st.one_of(st.sampled_from(MESH_ANNOTATIONS), st.text(min_size=1, max_size=10)),
    st.one_of(st.sampled_from(ODD_ANNOTATION_VALUES), st.text(max_size=12)),
    max_size=5,
)
HINTS = [
    ("istio", "1.9"),
    ("istio", "1.10"),
    ("istio", None),
    ("linkerd", "2.10"),
    ("linkerd", "2.11"),
    ("linkerd", None),
    ("consul", None),
    ("kuma", "1.7"),
    ("kuma", "2.9"),
    ("cilium", None),
    ("none", None),
    ("auto", None),
]
hints = st.sampled_from(HINTS)

ISTIO_ARGS = ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", ""]
INIT_ARG_VARIANTS = {
    "istio": [
        [*ISTIO_ARGS, "-b", "*", "-d", "15090,15021,15020"],
        [*ISTIO_ARGS, "-b", "7000,9042", "-d", "15090,15021,15020"],
        [*ISTIO_ARGS, "-b", "", "-d", "15090"],
        [*ISTIO_ARGS, "-b", "*", "-d", "15090", "-o", "7000-7010"],
        [*ISTIO_ARGS, "-b=*", "-d=15090,15021"],
        [*ISTIO_ARGS, "-b", "*", "-d"],
        [*ISTIO_ARGS, "-d", "-b", "*"],
        [],
    ],
    "linkerd": [
        [
            "--incoming-proxy-port",
            "4143",
            "--inbound-ports-to-ignore",
            "4190,4191",
            "--outbound-ports-to-ignore",
            "443",
        ],
        ["--inbound-ports-to-ignore=4190,4191"],
        ["--outbound-ports-to-ignore", '"443"'],
        ["--inbound-ports-to-ignore"],
        ["--outbound-ports-to-ignore", "--inbound-ports-to-ignore", "4190"],
        [],
    ],
    "kuma": [
        ["--redirect-inbound-port", "15006", "--exclude-inbound-ports", "", "--exclude-outbound-ports", ""],
        ["--redirect-inbound-port=15006", "--kuma-dp-user=5678"],
        ["--redirect-inbound-port=15006", "--exclude-inbound-ports=9901"],
        ["--exclude-inbound-ports"],
        [],
    ],
}
CONSUL_CONFIGS = [
    '{"ProxyInboundPort":20000,"ExcludeInboundPorts":["20200"],"ExcludeOutboundPorts":null}',
    '{"ExcludeInboundPorts":["7000-7010"]}',
    "{}",
    "[]",
    "not json",
]


@st.composite
def injected(draw: st.DrawFn, pod: dict[str, Any]) -> None:
    """Make ``pod`` look as if a mesh injector already ran (or leave it alone)."""
    shapes = ["none", "istio-init", "istio-cni", "istio-native", "linkerd-init", "linkerd-cni", "consul-init",
              "consul-cni", "kuma-init", "kuma-cni", "ambient"]  # fmt: skip
    shape = draw(st.sampled_from(shapes))
    if shape == "none":
        return
    spec, meta = pod["spec"], pod["metadata"]
    if shape == "ambient":
        meta.setdefault("labels", {})["istio.io/dataplane-mode"] = draw(st.sampled_from(["ambient", "none"]))
        return
    if shape.startswith(("consul", "kuma")):
        _inject_consul_or_kuma(draw, pod, shape)
        return
    inits = spec.setdefault("initContainers", [])
    mesh = shape.split("-")[0]
    if mesh == "istio":
        tag = draw(st.sampled_from(["1.9.5", "1.10.3", "1.22.0-distroless", "", "@sha256:" + "ef" * 32]))
        image = "docker.io/istio/proxyv2" + ((":" + tag) if tag and not tag.startswith("@") else tag)
        proxy: dict[str, Any] = {"name": "istio-proxy", "image": image}
        if draw(st.booleans()):
            flag = draw(st.sampled_from(["true", "false", ""]))
            proxy["env"] = [{"name": "REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION", "value": flag}]
        if draw(st.booleans()):
            meta.setdefault("annotations", {})["sidecar.istio.io/status"] = draw(
                st.sampled_from(['{"revision":"1-9-5"}', '{"revision":"default"}', "{}", "not json"])
            )
    else:
        tag = draw(st.sampled_from(["stable-2.10.2", "stable-2.11.1", "edge-21.9.3", ""]))
        proxy = {"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy" + (f":{tag}" if tag else "")}
        if draw(st.booleans()):
            meta.setdefault("annotations", {})["linkerd.io/proxy-version"] = tag or "dev-undefined"
    if shape in ("istio-init", "istio-native", "linkerd-init"):
        field = draw(st.sampled_from(["args", "command", "neither"]))
        init: dict[str, Any] = {"name": f"{mesh}-init", "image": proxy["image"]}
        if field != "neither":
            init[field] = list(draw(st.sampled_from(INIT_ARG_VARIANTS[mesh])))
        inits.append(init)
    elif shape == "istio-cni":
        inits.append(
            {"name": "istio-validation", "image": proxy["image"], "args": ["istio-iptables", "--run-validation"]}
        )
    if shape == "istio-native":
        inits.append({**proxy, "restartPolicy": "Always"})
    elif draw(st.booleans()):
        spec["containers"].insert(
            0, {**proxy, "lifecycle": {"postStart": {"exec": {"command": ["pilot-agent", "wait"]}}}}
        )
    else:
        spec["containers"].append(proxy)


def _inject_consul_or_kuma(draw: st.DrawFn, pod: dict[str, Any], shape: str) -> None:
    spec, meta = pod["spec"], pod["metadata"]
    annotations = meta.setdefault("annotations", {})
    inits = spec.setdefault("initContainers", [])
    if shape.startswith("consul"):
        spec["containers"].append({"name": draw(st.sampled_from(["consul-dataplane", "consul-dataplane-web"]))})
        annotations["consul.hashicorp.com/connect-inject-status"] = "injected"
        config = draw(st.sampled_from(CONSUL_CONFIGS))
        if shape == "consul-init":
            env = [{"name": "CONSUL_REDIRECT_TRAFFIC_CONFIG", "value": config}] if draw(st.booleans()) else []
            inits.append({"name": "consul-connect-inject-init", "env": env})
        elif draw(st.booleans()):
            annotations["consul.hashicorp.com/redirect-traffic-config"] = config
        return
    tag = draw(st.sampled_from(["1.7.1", "2.9.2", ""]))
    spec["containers"].insert(0, {"name": "kuma-sidecar", "image": "kumahq/kuma-dp" + (f":{tag}" if tag else "")})
    annotations["kuma.io/sidecar-injected"] = "true"
    if shape == "kuma-init":
        inits.append({"name": "kuma-init", "args": list(draw(st.sampled_from(INIT_ARG_VARIANTS["kuma"])))})


@st.composite
def statefulset_pods(draw: st.DrawFn) -> dict[str, Any]:
    n_containers = draw(st.integers(1, 3))
    n_inits = draw(st.integers(0, 2))
    template_meta: dict[str, Any] = {"labels": {"app": "db"}}
    annotations = draw(annotation_maps)
    if annotations:
        template_meta["annotations"] = annotations
    labels = draw(
        st.dictionaries(
            st.sampled_from(["sidecar.istio.io/inject", "istio.io/rev"]),
            st.sampled_from(["true", "false", "1-9", "1-10-2", "canary"]),
            max_size=1,
        )
    )
    template_meta["labels"].update(labels)
    spec = {
        "containers": [draw(containers(f"c{i}")) for i in range(n_containers)],
        "initContainers": [draw(containers(f"i{i}")) for i in range(n_inits)],
    }
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "data"},
        "spec": {"replicas": 3, "serviceName": "db-hl", "template": {"metadata": template_meta, "spec": spec}},
    }
    pod = pod_from_statefulset(sts, draw(st.integers(0, 2)))
    if draw(st.booleans()):  # a cluster before 1.28 sets no pod-index label
        del pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"]
    draw(injected(pod))
    return pod


def settings_for(hint: tuple[str, str | None]) -> Settings:
    return Settings(default_hint=MeshHint.parse(*hint))


def check_contract(body: dict[str, Any], response: dict[str, Any]) -> list[dict[str, Any]]:
    assert response["apiVersion"] == body["apiVersion"]
    assert response["kind"] == "AdmissionReview"
    inner = response["response"]
    assert inner["uid"] == body["request"]["uid"]
    assert isinstance(inner["allowed"], bool)
    assert ("patch" in inner) == ("patchType" in inner)
    if "patch" not in inner:
        return []
    assert inner["patchType"] == "JSONPatch"
    ops = orjson.loads(base64.b64decode(inner["patch"], validate=True))
    assert isinstance(ops, list) and ops
    assert all(isinstance(op, dict) and op.get("op") in ("add", "replace") for op in ops)
    return ops


def pad_env(pod: dict[str, Any], count: int) -> dict[str, Any]:
    """The same pod with ``count`` unrelated env vars in front of every container's env."""
    padded = copy.deepcopy(pod)
    for list_name in ("initContainers", "containers"):
        for container in padded["spec"].get(list_name) or []:
            extra = [{"name": f"STSMESH_TEST_PAD_{i}", "value": str(i)} for i in range(count)]
            container["env"] = extra + list(container.get("env") or [])
    return padded


def op_bound(pod: dict[str, Any]) -> int:
    """A generous upper bound on the ops for ``pod``: per container a handful of env/annotation/init
    edits plus one per args/command item; nothing proportional to the env length."""
    total = 4
    for list_name in ("initContainers", "containers"):
        for container in pod["spec"].get(list_name) or []:
            total += 16 + len(container.get("args") or []) + len(container.get("command") or [])
    return total


# --- properties on StatefulSet pods -----------------------------------------------------------------


@given(pod=statefulset_pods(), hint=hints)
def test_review_of_statefulset_pods(pod: dict[str, Any], hint: tuple[str, str | None]) -> None:
    settings = settings_for(hint)
    body = pod_review(copy.deepcopy(pod))
    result = review(body, settings)  # never raises
    ops = check_contract(pod_review(copy.deepcopy(pod)), result.response)
    assert result.response["response"]["allowed"] is True
    assert result.decision.mutate, result.decision.detail
    assert result.outcome in ("patched", "unchanged"), (result.outcome, result.error)

    patched = jsonpatch.apply_patch(copy.deepcopy(pod), ops)
    assert patched == body["request"]["object"], "the ops replay the in-place edits"
    assert len(ops) <= op_bound(pod), ops

    again = review(pod_review(copy.deepcopy(patched)), settings)
    assert decode_patch(again.response) == [], "a second pass must change nothing"
    assert again.outcome == "unchanged"


@given(pod=statefulset_pods(), hint=hints, padding=st.integers(1, 60))
def test_patch_does_not_grow_with_env_vars(pod: dict[str, Any], hint: tuple[str, str | None], padding: int) -> None:
    settings = settings_for(hint)
    plain = decode_patch(review(pod_review(copy.deepcopy(pod)), settings).response)
    padded_pod = pad_env(pod, padding)
    padded = decode_patch(review(pod_review(copy.deepcopy(padded_pod)), settings).response)
    assert len(padded) == len(plain)
    assert [op["op"] for op in padded] == [op["op"] for op in plain]
    assert len(padded) <= op_bound(padded_pod)


# --- properties on arbitrary JSON -------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)
POD_KEYS = [
    "metadata", "spec", "labels", "annotations", "containers", "initContainers", "env", "ports", "args", "command",
    "name", "image", "value", "valueFrom", "ownerReferences", "containerPort", "restartPolicy", "lifecycle",
]  # fmt: skip


@st.composite
def pod_like(draw: st.DrawFn) -> dict[str, Any]:
    """A StatefulSet pod with random JSON spliced in at random places, so the rules see odd shapes."""
    pod = draw(statefulset_pods())
    for _ in range(draw(st.integers(1, 4))):
        node: Any = pod
        for _depth in range(draw(st.integers(0, 4))):
            if isinstance(node, dict) and node:
                node = node[draw(st.sampled_from(sorted(node)))]
            elif isinstance(node, list) and node:
                node = node[draw(st.integers(0, len(node) - 1))]
            else:
                break
        if isinstance(node, dict):
            node[draw(st.one_of(st.sampled_from(POD_KEYS), st.text(max_size=6)))] = draw(json_values)
        elif isinstance(node, list):
            node.append(draw(json_values))
    return pod


objects = st.one_of(json_values, pod_like())


@given(obj=objects, hint=hints)
def test_any_request_object_gets_a_well_formed_answer(obj: Any, hint: tuple[str, str | None]) -> None:
    body = pod_review({"metadata": {"name": "db-0", "namespace": "data"}})
    body["request"]["object"] = obj
    sent = copy.deepcopy(body)
    result = review(body, settings_for(hint))  # the envelope is fine: this must not raise
    ops = check_contract(sent, result.response)
    assert result.response["response"]["allowed"] is True
    if ops:
        patched = jsonpatch.apply_patch(copy.deepcopy(obj), ops)
        again = copy.deepcopy(sent)
        again["request"]["object"] = patched
        assert decode_patch(review(again, settings_for(hint)).response) == []


@given(obj=pod_like(), hint=hints)
def test_rules_never_fail_on_readable_pods(obj: dict[str, Any], hint: tuple[str, str | None]) -> None:
    result = review(pod_review(copy.deepcopy(obj)), settings_for(hint))
    assume(result.outcome != "unreadable")
    assert result.outcome != "rule-error", result.error


ENVELOPE_EDITS: list[Callable[[dict[str, Any], Any], None]] = [
    lambda b, v: b.__setitem__("apiVersion", v),
    lambda b, v: b.__setitem__("kind", v),
    lambda b, v: b.__setitem__("request", v),
    lambda b, v: b["request"].__setitem__("uid", v) if isinstance(b.get("request"), dict) else None,
    lambda b, v: b.pop("apiVersion", None),
    lambda b, v: b["request"].pop("uid", None) if isinstance(b.get("request"), dict) else None,
    lambda b, v: b.__setitem__("apiVersion", "admission.k8s.io/v1beta1"),
    lambda b, v: b["request"].__setitem__("operation", v) if isinstance(b.get("request"), dict) else None,
    lambda b, v: b["request"].__setitem__("kind", v) if isinstance(b.get("request"), dict) else None,
]


@st.composite
def bodies(draw: st.DrawFn) -> Any:
    if draw(st.booleans()):
        return draw(json_values)
    body = pod_review(draw(statefulset_pods()))
    for index in draw(st.lists(st.integers(0, len(ENVELOPE_EDITS) - 1), max_size=3)):
        value = draw(st.one_of(json_values, st.sampled_from(["", "AdmissionReview", "admission.k8s.io/v1", "u-1"])))
        ENVELOPE_EDITS[index](body, value)
    return body


@given(body=bodies())
def test_invalid_review_only_for_envelope_problems(body: Any) -> None:
    sent = copy.deepcopy(body)
    try:
        result = review(body, Settings())
    except InvalidReview:
        assert not envelope_ok(sent), "InvalidReview raised for an answerable envelope"
        return
    assert envelope_ok(sent), "an unanswerable envelope was answered"
    check_contract(sent, result.response)


# --- the catalogue's image index agrees with a full scan ------------------------------------------

PATTERNS = ["zookeeper", "bitnami/zookeeper", "mirror/bitnami/zookeeper", "acme/db", "db", "redis", "bitnami/redis"]
user_apps = st.lists(
    st.builds(
        lambda images, env_any, ports_any: Match(tuple(images), tuple(env_any), tuple(ports_any)),
        st.lists(st.sampled_from(PATTERNS), max_size=2, unique=True),
        st.lists(st.sampled_from(["SEEDS", "POD_IP"]), max_size=1),
        st.lists(st.sampled_from([7777, 6379]), max_size=1),
    ).filter(lambda m: bool(m.images or m.env_any or m.ports_any)),
    max_size=5,
)


def full_scan(catalogue: Catalogue, container: dict[str, Any]) -> str | None:
    """The reference: every app in order, the first with the highest score wins."""
    repository = image_repository(container.get("image"))
    best: tuple[int, str] | None = None
    for app in catalogue.apps:
        score = _score(app.match, repository, container)
        if score > 0 and (best is None or score > best[0]):
            best = (score, app.id)
    return best[1] if best else None


@given(
    matches=user_apps,
    container=containers("c0"),
    image=st.sampled_from([*PATTERNS, "acme/other"]),
    registry=st.sampled_from(REGISTRIES),
)
def test_catalogue_index_agrees_with_a_full_scan(
    matches: list[Match], container: dict[str, Any], image: str, registry: str
) -> None:
    user = Catalogue(tuple(App(f"user-{i}", "U", "", "s", m, ()) for i, m in enumerate(matches)))
    catalogue = builtin_catalogue().merged(user)
    for candidate in (container, {**container, "image": registry + image + ":1"}):
        found = [m.app.id for m in catalogue.match({"spec": {"containers": [candidate]}})]
        expected = full_scan(catalogue, candidate)
        assert found == ([expected] if expected else [])
