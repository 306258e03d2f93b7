"""`dry-run -o patched` of a StatefulSet: the template carries what stsmesh does to every pod, the
pods built from it need nothing more, per-pod changes stay out of it, and it round-trips."""

from __future__ import annotations

import copy
import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.golden.build_reviews import cassandra_bitnami, zookeeper_bitnami, zookeeper_k8s_tutorial
from webhook.cli.main import main
from webhook.core.admission import review
from webhook.core.inputs import ordinals_of, pod_from_statefulset, pod_review
from webhook.core.mesh import MeshHint
from webhook.core.review import PatchOp, decode_patch
from webhook.core.settings import Settings
from webhook.core.template import patched_statefulset

ISTIO_19 = Settings(default_hint=MeshHint.parse("istio", "1.9"))


def answer(pod: dict[str, Any]) -> list[PatchOp]:
    return decode_patch(review(pod_review(pod), ISTIO_19).response)


@pytest.mark.parametrize("build", [zookeeper_bitnami, zookeeper_k8s_tutorial, cassandra_bitnami])
def test_pods_of_the_patched_template_need_nothing_more(build: Any) -> None:
    sts = build()
    assert answer(pod_from_statefulset(sts)), "the case must need a fix, or it proves nothing"
    patched, per_pod = patched_statefulset(sts, "", answer)
    assert per_pod == []
    for ordinal in ordinals_of(patched["spec"], "sts"):
        assert answer(pod_from_statefulset(patched, ordinal)) == [], f"pod {ordinal} of the patched set"
    again, _ = patched_statefulset(patched, "", answer)
    assert again == patched, "patching the patched StatefulSet changes nothing"


def test_only_the_template_changes() -> None:
    sts = zookeeper_bitnami()
    patched, _ = patched_statefulset(sts, "", answer)
    assert {k: v for k, v in patched["spec"].items() if k != "template"} == {
        k: v for k, v in sts["spec"].items() if k != "template"
    }
    assert patched["metadata"] == sts["metadata"]
    template = patched["spec"]["template"]
    assert "name" not in template["metadata"] and "hostname" not in template["spec"]
    assert not {"statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index"} & set(
        template["metadata"]["labels"]
    )
    env = {e["name"]: e.get("value") for e in template["spec"]["containers"][0]["env"]}
    assert env["ZOO_LISTEN_ALLIPS_ENABLED"] == "yes"


def test_claim_volumes_the_controller_adds_stay_out_of_the_template() -> None:
    sts = cassandra_bitnami()
    assert sts["spec"].get("volumeClaimTemplates")
    patched, _ = patched_statefulset(sts, "", answer)
    claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
    volumes = {v["name"] for v in patched["spec"]["template"]["spec"].get("volumes") or []}
    assert not claims & volumes - {v["name"] for v in sts["spec"]["template"]["spec"].get("volumes") or []}


def test_an_operation_that_differs_per_pod_is_left_to_the_webhook() -> None:
    def naming_answer(pod: dict[str, Any]) -> list[PatchOp]:
        name = pod["metadata"]["name"]
        return [*answer(copy.deepcopy(pod)), {"op": "add", "path": "/metadata/labels/who", "value": name}]

    sts = zookeeper_bitnami()
    patched, per_pod = patched_statefulset(sts, "", naming_answer)
    assert per_pod == [{"op": "add", "path": "/metadata/labels/who", "value": "my-release-zookeeper-0"}]
    assert "who" not in patched["spec"]["template"]["metadata"]["labels"]
    assert patched == patched_statefulset(sts, "", answer)[0]


def test_the_cli_prints_a_statefulset_ready_to_apply(tmp_path: Path) -> None:
    source = tmp_path / "sts.yaml"
    source.write_text(yaml.safe_dump(zookeeper_bitnami()))
    out, err = io.StringIO(), io.StringIO()
    code = main(["dry-run", str(source), "--mesh", "istio", "--mesh-version", "1.9", "-o", "patched"], out=out, err=err)
    assert code == 0, err.getvalue()
    (printed,) = list(yaml.safe_load_all(out.getvalue()))
    assert printed["kind"] == "StatefulSet"
    assert printed == patched_statefulset(zookeeper_bitnami(), "", answer)[0]
