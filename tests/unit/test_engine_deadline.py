"""The core's deadline: :class:`webhook.core.engine.Deadline` against an injected clock, and what
:func:`webhook.core.admission.review` does when it passes between rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from webhook.core.admission import review
from webhook.core.deadline import Deadline, never
from webhook.core.inputs import pod_review
from webhook.core.mesh import MeshHint
from webhook.core.settings import Settings


@pytest.mark.parametrize(
    ("now", "expired"),
    [
        pytest.param(9.999, False, id="before"),
        pytest.param(10.0, True, id="at"),
        pytest.param(10.5, True, id="after"),
    ],
)
def test_deadline_reads_the_clock_it_is_given(now: float, expired: bool) -> None:
    assert Deadline(10.0, lambda: now)() is expired


def test_never_expires() -> None:
    assert never() is False


ZK_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "zk-0",
        "namespace": "data",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "zk", "controller": True}],
    },
    "spec": {"containers": [{"name": "zookeeper", "image": "docker.io/bitnami/zookeeper:3.7.0"}]},
}


@pytest.mark.parametrize(
    ("checks_before_expiry", "outcome"),
    [
        pytest.param(0, "deadline", id="passed before the first rule"),
        pytest.param(2, "deadline", id="passed between rules"),
        pytest.param(1000, "patched", id="never reached"),
    ],
)
def test_review_stops_between_rules_when_the_deadline_passes(checks_before_expiry: int, outcome: str) -> None:
    ticks = iter(range(10_000))
    expired = Deadline(float(checks_before_expiry), lambda: float(next(ticks)))
    settings = Settings(default_hint=MeshHint.parse("istio", "1.9"))
    result = review(pod_review(copy.deepcopy(ZK_POD)), settings, expired=expired)
    assert result.outcome == outcome
    if outcome == "deadline":
        assert "patch" not in result.response["response"]
        assert any("deadline" in warning for warning in result.response["response"]["warnings"])
