"""Dry-run inputs: the pod a StatefulSet's controller creates, with ``spec.ordinals.start``."""

from __future__ import annotations

import io
from typing import Any

import pytest
import yaml

from webhook.cli.main import main
from webhook.core.inputs import InputError, ordinals_of, pod_from_statefulset


def _sts(replicas: int = 3, start: int | None = None) -> dict[str, Any]:
    containers = [{"name": "zk", "image": "zookeeper:3.8"}]
    template = {"metadata": {"labels": {"app": "zk"}}, "spec": {"containers": containers}}
    spec = {"replicas": replicas, "serviceName": "zk-headless", "selector": {"matchLabels": {"app": "zk"}}}
    sts: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "zk", "namespace": "data"},
        "spec": {**spec, "template": template},
    }
    if start is not None:
        sts["spec"]["ordinals"] = {"start": start}
    return sts


ORDINALS = [
    pytest.param({}, range(0, 1), id="defaults"),
    pytest.param({"replicas": 3}, range(0, 3), id="replicas"),
    pytest.param({"replicas": 3, "ordinals": {"start": 5}}, range(5, 8), id="start-5"),
    pytest.param({"replicas": 0, "ordinals": {"start": 5}}, range(5, 5), id="scaled-to-zero"),
]


@pytest.mark.parametrize(("spec", "expected"), ORDINALS)
def test_ordinals_of(spec: dict[str, Any], expected: range) -> None:
    assert ordinals_of(spec, "zk") == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param({"replicas": "3"}, "spec.replicas must be a whole number", id="replicas-string"),
        pytest.param({"ordinals": {"start": -1}}, "spec.ordinals.start must be a whole number", id="negative-start"),
    ],
)
def test_ordinals_of_refuses_what_the_apiserver_would(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        ordinals_of(spec, "zk")


def test_the_default_pod_is_the_first_ordinal() -> None:
    pod = pod_from_statefulset(_sts(start=5))
    assert pod["metadata"]["name"] == "zk-5"
    assert pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "5"
    assert pod_from_statefulset(_sts())["metadata"]["name"] == "zk-0"


@pytest.mark.parametrize(("start", "ordinal", "ok"), [(5, 5, True), (5, 7, True), (5, 8, False), (5, 0, False)])
def test_the_ordinal_must_be_one_of_the_pods(start: int, ordinal: int, ok: bool) -> None:
    if ok:
        assert pod_from_statefulset(_sts(start=start), ordinal)["metadata"]["name"] == f"zk-{ordinal}"
    else:
        with pytest.raises(InputError, match=r"is not one of the StatefulSet's pods \(ordinals 5 to 7"):
            pod_from_statefulset(_sts(start=start), ordinal)


def test_dry_run_builds_the_first_pod_of_a_set_that_starts_at_5(tmp_path: Any) -> None:
    path = tmp_path / "sts.yaml"
    path.write_text(yaml.safe_dump(_sts(start=5)))
    out, err = io.StringIO(), io.StringIO()
    assert main(["dry-run", str(path)], out=out, err=err, environ={}) == 0
    assert out.getvalue().startswith("StatefulSet zk → pod zk-5\n")
    assert main(["dry-run", str(path), "--ordinal", "6"], out=out, err=err, environ={}) == 0
    assert main(["dry-run", str(path), "--ordinal", "0"], out=io.StringIO(), err=err, environ={}) == 2
    assert "--ordinal 0 is not one of the StatefulSet's pods" in err.getvalue()


def _tutorial_zookeeper() -> dict[str, Any]:
    sts = _sts()
    sts["spec"]["template"]["spec"]["containers"] = [
        {
            "name": "zk",
            "image": "registry.k8s.io/kubernetes-zookeeper:1.0-3.4.10",
            "command": ["sh", "-c", "start-zookeeper --servers=3"],
        }
    ]
    return sts


def test_namespace_labels_give_the_first_call_its_mesh(tmp_path: Any) -> None:
    """No evidence on the pod: the namespace's istio-injection label (and the flags' version) is what
    the server's cache would know on the first call, before Istio's injector runs."""
    path = tmp_path / "sts.yaml"
    path.write_text(yaml.safe_dump(_tutorial_zookeeper()))
    out = io.StringIO()
    assert main(["dry-run", str(path), "-o", "patched"], out=out, environ={}) == 0
    assert "traffic.sidecar.istio.io/excludeInboundPorts" not in out.getvalue(), "mesh unknown without the labels"
    out = io.StringIO()
    argv = ["dry-run", str(path), "--namespace-labels", "istio-injection=enabled", "--mesh-version", "1.9"]
    assert main([*argv, "-o", "patched"], out=out, environ={}) == 0
    annotations = yaml.safe_load(out.getvalue())["spec"]["template"]["metadata"]["annotations"]
    assert annotations["traffic.sidecar.istio.io/excludeInboundPorts"] == "2888,3888"
    text = io.StringIO()
    assert main(argv, out=text, environ={}) == 0
    assert "namespace data label istio-injection=enabled" in text.getvalue()


def test_a_namespace_document_in_the_input_does_the_same(tmp_path: Any) -> None:
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "data", "labels": {"istio.io/dataplane-mode": "ambient"}},
    }
    path = tmp_path / "all.yaml"
    path.write_text(yaml.safe_dump_all([namespace, _tutorial_zookeeper()]))
    out, err = io.StringIO(), io.StringIO()
    assert main(["dry-run", str(path)], out=out, err=err, environ={}) == 0
    assert "Istio ambient" in out.getvalue() and "no per-port exclusion exists" in out.getvalue()
    assert "skipped" not in err.getvalue(), "the Namespace is read, not skipped"


def test_namespace_labels_must_be_key_value(tmp_path: Any) -> None:
    path = tmp_path / "sts.yaml"
    path.write_text(yaml.safe_dump(_sts()))
    err = io.StringIO()
    assert main(["dry-run", str(path), "--namespace-labels", "istio-injection"], err=err, environ={}) == 2
    assert err.getvalue() == "stsmesh: --namespace-labels: 'istio-injection' is not KEY=VALUE\n"
