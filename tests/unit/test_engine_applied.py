"""``Mutation.applied_fixes``: the fixes that changed the pod, as the server's metrics and logs and
the audit report them, and as the ``stsmesh.io/applied`` annotation records them."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

from bench.reviews import bodies
from webhook.core.admission import review
from webhook.core.engine import EXPLANATION_FIX
from webhook.core.mesh import MeshHint
from webhook.core.review import decode_patch
from webhook.core.rules import APPLIED_ANNOTATION
from webhook.core.settings import Settings

SETTINGS = Settings(default_hint=MeshHint.parse("istio", "1.9"))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            "typical",
            ("identity-labels", "zookeeper-listen-all-ips", "zookeeper-hold-until-proxy-ready"),
            id="typical",
        ),
        pytest.param(
            "3-containers",
            ("identity-labels", "zookeeper-listen-all-ips", "zookeeper-hold-until-proxy-ready"),
            id="one id for a fix applied to three containers",
        ),
        pytest.param("injected-istio", ("identity-labels", "zookeeper-listen-all-ips"), id="injected: no hold"),
    ],
)
def test_applied_fixes_are_the_changes_without_the_explanation(body: str, expected: tuple[str, ...]) -> None:
    mutation = review(copy.deepcopy(bodies()[body]), SETTINGS).mutation
    assert mutation is not None
    assert mutation.applied_fixes == expected
    assert EXPLANATION_FIX in mutation.fixes
    assert mutation.fixes == (*expected, EXPLANATION_FIX)


def test_applied_annotation_lists_the_applied_fixes_and_reinvocation_applies_none() -> None:
    body: dict[str, Any] = copy.deepcopy(bodies()["typical"])
    first = review(copy.deepcopy(body), SETTINGS)
    assert first.mutation is not None
    patched_pod = jsonpatch.apply_patch(body["request"]["object"], decode_patch(first.response))
    assert patched_pod["metadata"]["annotations"][APPLIED_ANNOTATION] == ",".join(first.mutation.applied_fixes)

    body["request"]["object"] = patched_pod
    again = review(body, SETTINGS)
    assert again.outcome == "unchanged"
    assert again.mutation is not None
    assert again.mutation.applied_fixes == ()
    assert again.mutation.fixes == ()
