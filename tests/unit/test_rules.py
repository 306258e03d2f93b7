"""Table-driven tests for rule details the golden cases do not pin down: listen-URL rewriting,
loopback listeners, port ranges, mesh-scoped fixes, flag forms and version hints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from webhook.core.catalogue import App, AppMatch, Fix, Match
from webhook.core.catalogue.load import builtin_catalogue
from webhook.core.commalist import merged_ports, without_ports
from webhook.core.mesh import MeshHint, detect
from webhook.core.patch import PodEditor
from webhook.core.rules import FixKind, Report, RuleContext, family_rule
from webhook.core.rules.app_config import _rewrite_urls
from webhook.core.rules.registry import FIX_KINDS
from webhook.core.shapes import ContainerRef


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("http://$(POD_IP):2380", "http://0.0.0.0:2380", id="pod-ip-variable"),
        pytest.param("http://10.0.0.5:2380", "http://0.0.0.0:2380", id="literal-ip"),
        pytest.param("http://0.0.0.0:2380", "http://0.0.0.0:2380", id="wildcard-kept"),
        pytest.param("INTERNAL://:9093,CLIENT://:9092", "INTERNAL://:9093,CLIENT://:9092", id="empty-host-binds-all"),
        pytest.param("http://[fd00::5]:2380", "http://[::]:2380", id="ipv6-gets-ipv6-wildcard"),
        pytest.param("'http://$(POD_IP):2380'", "'http://0.0.0.0:2380'", id="quotes-kept"),
        pytest.param("http://127.0.0.1:2379", "http://127.0.0.1:2379", id="loopback-never-widened"),
        pytest.param(
            "http://$(POD_IP):2379,http://127.0.0.1:2379", "http://0.0.0.0:2379", id="loopback-covered-by-wildcard"
        ),
        pytest.param(
            "http://$(POD_IP):2379,http://127.0.0.1:4001",
            "http://0.0.0.0:2379,http://127.0.0.1:4001",
            id="loopback-on-another-port-kept",
        ),
        pytest.param("http://a:1,http://b:1", "http://0.0.0.0:1", id="duplicates-dropped"),
    ],
)
def test_rewrite_listen_urls(value: str, expected: str) -> None:
    assert _rewrite_urls(value) == expected


@pytest.mark.parametrize(
    ("items", "ports", "expected"),
    [
        pytest.param(["7000-7010", "9042"], [7000, 7001], ["7002-7010", "9042"], id="range-head"),
        pytest.param(["7000-7002"], [7001], ["7000", "7002"], id="range-split"),
        pytest.param(["7000"], [7000], [], id="single"),
        pytest.param(["*"], [7000], ["*"], id="not-a-port"),
        pytest.param(["9042"], [7000], ["9042"], id="untouched"),
    ],
)
def test_without_ports(items: list[str], ports: list[int], expected: list[str]) -> None:
    assert without_ports(items, ports) == expected


@pytest.mark.parametrize(
    ("existing", "ports", "expected"),
    [
        pytest.param(None, [7000, 7001], "7000,7001", id="new"),
        pytest.param("7199", [7000], "7199,7000", id="appended"),
        pytest.param("7000-7010", [7001], "7000-7010", id="covered-by-range"),
        pytest.param(" 15020 , 7000", [7000], "15020,7000", id="spaces-normalised"),
    ],
)
def test_merged_ports(existing: str | None, ports: list[int], expected: str) -> None:
    assert merged_ports(existing, ports) == expected


def _etcd(command: list[str]) -> list[dict[str, Any]]:
    return [{"name": "etcd", "image": "quay.io/coreos/etcd:v3.4.13", "command": command}]


def test_loopback_only_listener_is_kept_with_a_warning(
    make_sts_pod: Callable[..., Any], make_review: Callable[..., Any], run_review: Callable[..., Any]
) -> None:
    pod = make_sts_pod("etcd", containers=_etcd(["etcd", "--listen-client-urls=http://127.0.0.1:2379"]))
    result, ops = run_review(make_review(pod), "istio", "1.22")
    assert not any("command" in op["path"] for op in ops)
    assert any("loopback only" in w for w in result.mutation.warnings)


def test_rabbitmq_loopback_node_address_is_kept(
    make_sts_pod: Callable[..., Any], make_review: Callable[..., Any], run_review: Callable[..., Any]
) -> None:
    env = [{"name": "RABBITMQ_NODE_IP_ADDRESS", "value": "127.0.0.1"}]
    pod = make_sts_pod("mq", containers=[{"name": "mq", "image": "bitnami/rabbitmq:3.11", "env": env}])
    result, ops = run_review(make_review(pod), "istio", "1.22")
    assert not any("/env" in op["path"] for op in ops)
    assert any("RABBITMQ_NODE_IP_ADDRESS listens on loopback only" in w for w in result.mutation.warnings)


def test_istio_only_advice_stays_off_linkerd(
    make_sts_pod: Callable[..., Any], make_review: Callable[..., Any], run_review: Callable[..., Any]
) -> None:
    pod = make_sts_pod("thanos", containers=[{"name": "sidecar", "image": "quay.io/thanos/thanos:v0.32.0"}])
    istio, _ = run_review(make_review(pod), "istio", "1.9")
    linkerd, _ = run_review(make_review(pod), "linkerd", "2.10")
    assert any("ServiceEntry" in w for w in istio.mutation.warnings)
    assert not any("ServiceEntry" in w for w in linkerd.mutation.warnings)


@pytest.mark.parametrize("args", [["--bind_ip", "10.0.0.1"], ["--bind_ip=10.0.0.1"]], ids=["separate", "equals"])
def test_mongo_bind_ip_advice_both_flag_forms(
    args: list[str],
    make_sts_pod: Callable[..., Any],
    make_review: Callable[..., Any],
    run_review: Callable[..., Any],
) -> None:
    pod = make_sts_pod("mongo", containers=[{"name": "mongo", "image": "mongo:6.0", "args": args}])
    result, _ = run_review(make_review(pod), "istio", "1.9")
    assert any("--bind_ip_all" in w for w in result.mutation.warnings)


def test_bind_ip_all_gets_no_advice(
    make_sts_pod: Callable[..., Any], make_review: Callable[..., Any], run_review: Callable[..., Any]
) -> None:
    pod = make_sts_pod("mongo", containers=[{"name": "mongo", "image": "mongo:6.0", "args": ["--bind_ip_all"]}])
    result, _ = run_review(make_review(pod), "istio", "1.9")
    assert not any("--bind_ip" in w for w in result.mutation.warnings)


def test_include_inbound_range_is_split_not_dropped(
    make_sts_pod: Callable[..., Any], make_review: Callable[..., Any], run_review: Callable[..., Any]
) -> None:
    pod = make_sts_pod(
        "cassandra",
        containers=[{"name": "cassandra", "image": "bitnami/cassandra:4.1.2"}],
        annotations={"traffic.sidecar.istio.io/includeInboundPorts": "7000-7010,9042"},
    )
    _, ops = run_review(make_review(pod), "istio", "1.9")
    include = [op for op in ops if op["path"].endswith("includeInboundPorts")]
    assert include == [
        {
            "op": "replace",
            "path": "/metadata/annotations/traffic.sidecar.istio.io~1includeInboundPorts",
            "value": "7002-7010,9042",
        }
    ]


def test_version_with_auto_mesh_applies_to_the_mesh_the_pod_names(
    make_sts_pod: Callable[..., Any], make_review: Callable[..., Any], run_review: Callable[..., Any]
) -> None:
    pod = make_sts_pod(
        "redis",
        containers=[{"name": "redis", "image": "redis:7.0", "ports": [{"containerPort": 6379}]}],
        annotations={"linkerd.io/inject": "enabled"},
    )
    result, _ = run_review(make_review(pod), "auto", "2.10")
    assert result.mutation.mesh.mesh == "linkerd"
    assert result.mutation.mesh.version == (2, 10)


@pytest.mark.parametrize("mesh", ["auto", "istio", "linkerd"])
def test_unreadable_versions_are_refused(mesh: str) -> None:
    with pytest.raises(ValueError, match="cannot read a version"):
        MeshHint.parse(mesh, "garbage")


def _bare_pod_for(app: App, make_sts_pod: Callable[..., Any]) -> Any:
    """A StatefulSet pod whose one container the catalogue recognises as ``app``, with nothing else set."""
    container: dict[str, Any] = {"name": "app", "image": f"{app.match.images[0]}:1" if app.match.images else "x:1"}
    if app.match.env_any:
        container["env"] = [{"name": app.match.env_any[0], "value": "1"}]
    if app.match.ports_any:
        container["ports"] = [{"containerPort": app.match.ports_any[0]}]
    return make_sts_pod("app", containers=[container])


@pytest.mark.parametrize(("mesh", "version"), [("istio", "1.9"), ("istio", "1.22"), ("linkerd", "2.10")])
def test_no_recognised_app_passes_in_silence(
    mesh: str,
    version: str,
    make_sts_pod: Callable[..., Any],
    make_review: Callable[..., Any],
    run_review: Callable[..., Any],
) -> None:
    """Every fix of a recognised app that concerns the pod's mesh changes the pod, or says why not
    (a fix of another mesh's kind, such as Linkerd's opaque ports under Istio, concerns it not)."""
    silent = []
    for app in builtin_catalogue().apps:
        result, _ = run_review(make_review(_bare_pod_for(app, make_sts_pod)), mesh, version)
        mutation = result.mutation
        assert mutation is not None and app in [m.app for m in mutation.apps], app.id
        said = {c.fix for c in mutation.changes} | {n.fix for n in mutation.notes}
        said |= {fix.id for fix in app.fixes for w in mutation.warnings if w.startswith(f"{fix.id}:")}
        ctx = RuleContext("data", "app", 0, mutation.mesh, mutation.apps)
        concerned = [fix for fix in app.fixes if FIX_KINDS[fix.kind].relevant(ctx, fix)]
        silent += [f"{app.id}/{fix.id}" for fix in concerned if fix.id not in said]
    assert silent == []


def test_a_handler_that_says_nothing_gets_a_note() -> None:
    """The family rule's own guarantee, shown with a handler that does nothing at all."""
    quiet = FixKind("env_set", "bind", lambda params, where: None, lambda ctx, fix: True, apply=lambda *args: None)
    rule = family_rule("quiet", "bind", [quiet])
    fix = Fix(id="quiet-fix", kind="env_set", why="w", params={}, inbound=("localhost",))
    app = App(id="q", app="Q", flavour="", source="s", match=Match(images=("acme/q",)), fixes=(fix,))
    matches = [AppMatch(app, ContainerRef("containers", 0), "q")]
    ctx = RuleContext("data", "q", 0, detect({}, MeshHint("istio", (1, 9))), matches)
    report = Report()
    rule.apply(PodEditor({"spec": {"containers": [{"name": "q"}]}}), ctx, report)
    assert [(n.fix, n.message) for n in report.notes] == [("quiet-fix", "q: nothing to change in this pod")]


def test_loopback_only_listener_in_ambient_names_the_opt_out(
    make_sts_pod: Callable[..., Any], make_review: Callable[..., Any], run_review: Callable[..., Any]
) -> None:
    pod = make_sts_pod(
        "etcd",
        containers=_etcd(["etcd", "--listen-client-urls=http://127.0.0.1:2379"]),
        labels={"istio.io/dataplane-mode": "ambient"},
    )
    result, ops = run_review(make_review(pod), "istio", "1.24")
    assert not any("traffic.sidecar.istio.io" in op["path"] for op in ops)
    (warning,) = [w for w in result.mutation.warnings if "loopback only" in w]
    assert "no per-port bypass" in warning and 'istio.io/dataplane-mode: "none"' in warning


def _zookeeper_tutorial(make_sts_pod: Callable[..., Any]) -> Any:
    command = ["sh", "-c", "start-zookeeper --servers=3 --election_port=3888 --server_port=2888"]
    image = "registry.k8s.io/kubernetes-zookeeper:1.0-3.4.10"
    return make_sts_pod("zk", containers=[{"name": "zk", "image": image, "command": command}])


def test_newer_kuma_init_gets_its_exclusions_as_flag_value_items(
    make_sts_pod: Callable[..., Any],
    make_review: Callable[..., Any],
    run_review: Callable[..., Any],
    apply_ops: Callable[..., Any],
) -> None:
    """kuma-init as newer injectors write it (``--flag=value``, empty lists left out), under Kuma 1.7's
    127.0.0.1 delivery: the flags are added in the same form."""
    pod = _zookeeper_tutorial(make_sts_pod)
    pod["spec"]["containers"].insert(0, {"name": "kuma-sidecar", "image": "kumahq/kuma-dp:1.7.1"})
    args = ["--redirect-outbound-port=15001", "--redirect-inbound-port=15006", "--kuma-dp-user=5678"]
    pod["spec"]["initContainers"] = [{"name": "kuma-init", "args": list(args)}]
    pod["metadata"]["annotations"] = {"kuma.io/sidecar-injected": "true"}
    _, ops = run_review(make_review(pod), None, None)
    added = [op["value"] for op in ops if op["path"] == "/spec/initContainers/0/args/-"]
    assert added == ["--exclude-inbound-ports=2888,3888", "--exclude-outbound-ports=2888,3888"]
    _, again = run_review(make_review(apply_ops(pod, ops)), None, None)
    assert again == [], "idempotent: the second review finds the flags in place"


def test_consul_cni_config_annotation_gets_the_exclusions(
    make_sts_pod: Callable[..., Any], make_review: Callable[..., Any], run_review: Callable[..., Any]
) -> None:
    """consul-k8s with its CNI plugin: no init container; the injector wrote the redirection config as JSON
    in consul.hashicorp.com/redirect-traffic-config, which the plugin reads at sandbox set-up."""
    pod = _zookeeper_tutorial(make_sts_pod)
    pod["spec"]["containers"].append({"name": "consul-dataplane", "image": "hashicorp/consul-dataplane:1.6.1"})
    config = '{"ProxyInboundPort":20000,"ExcludeInboundPorts":["20200"],"ExcludeOutboundPorts":null}'
    pod["metadata"]["annotations"] = {
        "consul.hashicorp.com/connect-inject-status": "injected",
        "consul.hashicorp.com/redirect-traffic-config": config,
    }
    _, ops = run_review(make_review(pod), None, None)
    (op,) = [op for op in ops if op["path"].endswith("redirect-traffic-config")]
    assert op["value"] == (
        '{"ProxyInboundPort":20000,"ExcludeInboundPorts":["20200","2888","3888"],"ExcludeOutboundPorts":["2888","3888"]}'
    )
