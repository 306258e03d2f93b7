"""The verdicts of `stsmesh check`, each on plain objects: a table of cluster states and the ✓/×
(and hint) each must give."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

from webhook.cluster import manifests, preflight
from webhook.core import certs
from webhook.core.namespaces import control_planes

NOW = dt.datetime.now(dt.UTC)
CA = certs.make_ca(NOW)
OTHER_CA = certs.make_ca(NOW, common_name="someone-else")
SERVED = certs.make_serving_cert(CA, NOW, ["stsmesh.stsmesh.svc"], []).cert


def ours(ca: bytes = CA.cert, reinvocation: str = "IfNeeded") -> dict[str, Any]:
    configuration = manifests.webhook_configuration(manifests.Target(), ca)
    configuration["webhooks"][0]["reinvocationPolicy"] = reinvocation
    return configuration


def injector(name: str, entry: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "webhooks": [{"name": entry}]}


@pytest.mark.parametrize(
    ("configuration", "ok", "says"),
    [
        (None, False, "not found"),
        (ours(), True, "service stsmesh/stsmesh:443"),
        (ours(reinvocation="Never"), False, "reinvocation Never"),
        ({"metadata": {"name": "00-stsmesh"}, "webhooks": [{"name": "other"}]}, False, "not found"),
    ],
)
def test_registration(configuration: Any, ok: bool, says: str) -> None:
    check = preflight.registration(configuration)
    assert (check.ok, says in check.detail) == (ok, True), check
    assert check.ok or check.hint


@pytest.mark.parametrize(
    ("others", "ok", "says"),
    [
        ([], True, "no mesh injector"),
        ([injector("istio-sidecar-injector", "namespace.sidecar-injector.istio.io")], True, "runs before"),
        ([injector("istio-sidecar-injector-1-22", "rev.namespace.sidecar-injector.istio.io")], True, "Istio"),
        ([injector("linkerd-proxy-injector-webhook-config", "linkerd-proxy-injector.linkerd.io")], True, "Linkerd"),
        ([injector("consul-connect-injector", "consul-connect-injector.consul.hashicorp.com")], True, "Consul"),
        ([injector("kuma-admission-mutating-webhook-configuration", "pods-kuma-injector.kuma.io")], True, "Kuma"),
        (
            [injector("0-istio-first", "namespace.sidecar-injector.istio.io")],
            False,
            "0-istio-first (Istio) runs before",
        ),
        ([injector("00-linkerd", "linkerd-proxy-injector.linkerd.io")], False, "00-linkerd (Linkerd)"),
        ([injector("000-anything", "not-a-mesh.example.com")], True, "no mesh injector"),
    ],
)
def test_ordering(others: list[dict[str, Any]], ok: bool, says: str) -> None:
    check = preflight.ordering([ours(), *others])
    assert check.ok == ok and says in check.detail, check
    assert check.ok or "name order" in check.hint


@pytest.mark.parametrize(
    ("configuration", "served", "ok", "says"),
    [
        (ours(), SERVED, True, "verifies"),
        (ours(ca=OTHER_CA.cert), SERVED, False, "does NOT verify"),
        (ours(ca=b""), SERVED, False, "empty"),
        (ours(), None, False, "cannot read"),
        (None, SERVED, False, "empty"),
    ],
)
def test_trust(configuration: Any, served: bytes | None, ok: bool, says: str) -> None:
    check = preflight.trust(configuration, served, "Secret stsmesh/stsmesh-tls")
    assert check.ok == ok and says in check.detail, check


def test_endpoints_server_rbac_namespaces_and_controller() -> None:
    ready = {"subsets": [{"addresses": [{"ip": "10.0.0.7"}], "ports": [{"port": 8443}]}]}
    assert preflight.endpoints("stsmesh/stsmesh", ready).ok
    assert not preflight.endpoints("stsmesh/stsmesh", {"subsets": [{"notReadyAddresses": [{"ip": "10.0.0.7"}]}]}).ok
    assert not preflight.endpoints("stsmesh/stsmesh", None).ok

    metrics = '# HELP x\nstsmesh_build_info{compiled="true",python="3.11.7",version="0.1.0"} 1.0\n'
    server = preflight.server_version(metrics, "0.1.0", "svc")
    assert server.ok and "stsmesh 0.1.0 (compiled core)" in server.detail and "this command" not in server.detail
    assert "this command is 0.2.0" in preflight.server_version(metrics, "0.2.0", "svc").detail
    assert not preflight.server_version(None, "0.1.0", "svc").ok
    assert not preflight.server_version("up 1\n", "0.1.0", "svc").ok

    allowed = {need: True for need in preflight.SERVER_NEEDS}
    assert preflight.rbac("server", allowed).ok
    missing = preflight.rbac("server", {**allowed, ("watch", "apps", "deployments"): False})
    assert not missing.ok and "watch apps/deployments" in missing.detail

    assert preflight.namespaces(["data"]).ok and not preflight.namespaces([]).ok
    assert preflight.per_pod_controller(None).ok
    deployment = {"metadata": {"name": "stsmesh-per-pod", "namespace": "stsmesh"}, "spec": {"replicas": 1}}
    assert not preflight.per_pod_controller({**deployment, "status": {}}).ok
    assert preflight.per_pod_controller({**deployment, "status": {"readyReplicas": 1}}).ok


def test_control_planes_are_listed_with_their_versions() -> None:
    def deployment(labels: dict[str, str], image: str) -> dict[str, Any]:
        containers = [{"name": "discovery", "image": image}]
        return {"metadata": {"labels": labels}, "spec": {"template": {"spec": {"containers": containers}}}}

    planes = control_planes(
        {
            "istio-system/istiod": deployment({"app": "istiod"}, "docker.io/istio/pilot:1.22.3"),
            "linkerd/linkerd-destination": deployment(
                {"linkerd.io/control-plane-component": "destination"}, "cr.l5d.io/linkerd/controller:stable-2.10.2"
            ),
        },
        cilium=True,
    )
    check = preflight.control_planes(planes)
    assert check.ok and "Istio 1.22" in check.detail and "Linkerd 2.10" in check.detail and "Cilium" in check.detail
    assert "no mesh control plane" in preflight.control_planes(control_planes({})).detail


def test_ca_bundle_round_trip() -> None:
    assert manifests.ca_bundle_of(ours()) == CA.cert
    assert base64.b64decode(ours()["webhooks"][0]["clientConfig"]["caBundle"]) == CA.cert
