"""POST /mutate over plain HTTP: the status mapping, uid and apiVersion echo, deadlines, probes, metrics."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from webhook.core import admission
from webhook.core.admission import deadline_check, parse_go_duration, timeout_in_target
from webhook.core.deadline import MAX_CACHED_TARGET
from webhook.core.review import decode_patch
from webhook.core.rules import Rule
from webhook.core.settings import Settings
from webhook.server import app as server
from webhook.server.app import (
    MAX_JSON_DEPTH,
    METRICS_KEY,
    READINESS_KEY,
    make_app,
)

JSON = {"Content-Type": "application/json"}

Client = TestClient[Any, Any]


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> Client:
    return await aiohttp_client(make_app(settings))  # type: ignore[no-any-return]


async def post(client: Client, body: object, path: str = "/mutate") -> tuple[int, dict[str, Any]]:
    async with client.post(path, data=orjson.dumps(body), headers=JSON) as resp:
        assert resp.content_type == "application/json"
        assert "Retry-After" not in resp.headers
        return resp.status, await resp.json()


def sample(client: Client, name: str, **labels: str) -> float | None:
    value = client.app[METRICS_KEY].registry.get_sample_value(name, labels or None)  # type: ignore[index]
    return value


async def test_statefulset_pod_gets_a_patch_with_uid_echoed(client: Client, zk_review: dict[str, Any]) -> None:
    status, answer = await post(client, zk_review)
    assert status == 200
    assert answer["apiVersion"] == "admission.k8s.io/v1"
    assert answer["kind"] == "AdmissionReview"
    response = answer["response"]
    assert response["uid"] == zk_review["request"]["uid"]
    assert response["allowed"] is True
    assert response["patchType"] == "JSONPatch"
    env_ops = [op for op in decode_patch(answer) if op["path"].startswith("/spec/containers/0/env")]
    assert env_ops and {"name": "ZOO_LISTEN_ALLIPS_ENABLED", "value": "yes"} in env_ops[0]["value"]


async def test_v1beta1_review_is_answered_in_v1beta1(client: Client, zk_review: dict[str, Any]) -> None:
    zk_review["apiVersion"] = "admission.k8s.io/v1beta1"
    zk_review["request"]["uid"] = "beta-uid"
    status, answer = await post(client, zk_review)
    assert status == 200
    assert answer["apiVersion"] == "admission.k8s.io/v1beta1"
    assert answer["response"]["uid"] == "beta-uid"


async def test_pod_without_statefulset_is_admitted_unchanged(client: Client, plain_pod_review: dict[str, Any]) -> None:
    status, answer = await post(client, plain_pod_review)
    assert status == 200
    assert answer["response"]["allowed"] is True
    assert "patch" not in answer["response"]
    assert sample(client, "stsmesh_skipped_requests_total", reason="not-statefulset") == 1


@pytest.mark.parametrize(
    "path", ["/mutate/istio", "/mutate/istio/1.9", "/mutate/linkerd/stable-2.10.2", "/mutate/auto"]
)
async def test_mesh_in_path_is_accepted(client: Client, zk_review: dict[str, Any], path: str) -> None:
    status, answer = await post(client, zk_review, path)
    assert status == 200
    assert answer["response"]["uid"] == zk_review["request"]["uid"]


@pytest.mark.parametrize(
    ("path", "message"),
    [("/mutate/maesh", "unknown mesh 'maesh'"), ("/mutate/istio/latest", "cannot read a version")],
    ids=["unknown-mesh", "unreadable-version"],
)
async def test_unknown_mesh_in_path_is_404(client: Client, zk_review: dict[str, Any], path: str, message: str) -> None:
    status, answer = await post(client, zk_review, path)
    assert status == 404
    assert message in answer["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b"{not json", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}', "request is missing"),
        (b'{"apiVersion": "v1", "kind": "AdmissionReview", "request": {"uid": "u"}}', "apiVersion must be"),
        (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}}', "request.uid"),
    ],
    ids=["empty", "bad-json", "not-object", "no-request", "wrong-api-version", "no-uid"],
)
async def test_unanswerable_bodies_are_400(client: Client, body: bytes, message: str) -> None:
    async with client.post("/mutate", data=body, headers=JSON) as resp:
        assert resp.status == 400
        assert "Retry-After" not in resp.headers
        assert message in (await resp.json())["error"]
    assert sample(client, "stsmesh_admission_requests_total", outcome="invalid", code="400") == 1


async def test_deeply_nested_json_is_400(client: Client, zk_review: dict[str, Any]) -> None:
    text = orjson.dumps(zk_review).decode()
    deep = "[" * (MAX_JSON_DEPTH + 20) + '"bottom"' + "]" * (MAX_JSON_DEPTH + 20)
    body = text.replace('"metadata":{', f'"metadata":{{"deep":{deep},', 1).encode()
    assert b'"deep"' in body
    async with client.post("/mutate", data=body, headers=JSON) as resp:
        assert resp.status == 400
        assert "not valid JSON" in (await resp.json())["error"]


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/yaml", "application/json-patch+json"], ids=str
)
async def test_wrong_content_type_is_415(client: Client, zk_review: dict[str, Any], content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    async with client.post("/mutate", data=orjson.dumps(zk_review), headers=headers) as resp:
        assert resp.status == 415
        assert "application/json" in (await resp.json())["error"]


async def test_content_type_is_checked_before_the_body_is_read(aiohttp_client: Any, settings: Settings) -> None:
    client = await aiohttp_client(make_app(settings.with_overrides(max_body_bytes=1024)))
    async with client.post("/mutate", data=b"x" * 4096, headers={"Content-Type": "text/plain"}) as resp:
        assert resp.status == 415
        assert resp.headers.get("Connection", "").lower() == "close"


async def test_content_type_with_charset_is_fine(client: Client, zk_review: dict[str, Any]) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    async with client.post("/mutate", data=orjson.dumps(zk_review), headers=headers) as resp:
        assert resp.status == 200


async def test_body_over_the_limit_is_413(aiohttp_client: Any, settings: Settings, zk_review: dict[str, Any]) -> None:
    client = await aiohttp_client(make_app(settings.with_overrides(max_body_bytes=1024)))
    zk_review["request"]["object"]["metadata"]["annotations"] = {"filler": "x" * 2048}
    body = orjson.dumps(zk_review)
    async with client.post("/mutate", data=body, headers=JSON) as resp:  # with Content-Length
        assert resp.status == 413
        assert resp.headers.get("Connection", "").lower() == "close", "the unread body is not read"
        assert "1024-byte limit" in (await resp.json())["error"]

    async def chunks() -> Any:  # chunked: no Content-Length, the limit trips while reading
        for start in range(0, len(body), 512):
            yield body[start : start + 512]

    async with client.post("/mutate", data=chunks(), headers=JSON) as resp:
        assert resp.status == 413
    assert sample(client, "stsmesh_admission_requests_total", outcome="too-large", code="413") == 2


async def test_default_limit_accepts_a_large_legal_review(client: Client, zk_review: dict[str, Any]) -> None:
    # aiohttp's own default is 1 MiB; a 3 MiB object is legal in Kubernetes.
    zk_review["request"]["object"]["metadata"]["annotations"] = {"filler": "x" * (3 * 1024 * 1024)}
    status, answer = await post(client, zk_review)
    assert status == 200
    assert answer["response"]["allowed"] is True


async def test_expired_timeout_admits_unchanged_with_a_warning(client: Client, zk_review: dict[str, Any]) -> None:
    status, answer = await post(client, zk_review, "/mutate?timeout=0s")
    assert status == 200
    response = answer["response"]
    assert response["allowed"] is True
    assert "patch" not in response
    assert any("deadline" in warning for warning in response["warnings"])
    assert sample(client, "stsmesh_admission_requests_total", outcome="deadline", code="200") == 1


@pytest.mark.parametrize("timeout", ["10s", "1m0s", "garbage", ""])
async def test_ample_or_unreadable_timeout_still_patches(
    client: Client, zk_review: dict[str, Any], timeout: str
) -> None:
    status, answer = await post(client, zk_review, f"/mutate?timeout={timeout}")
    assert status == 200
    assert decode_patch(answer)


async def test_unexpected_exception_with_uid_admits_with_warning(
    client: Client, zk_review: dict[str, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(server, "review", broken)
    with caplog.at_level(logging.INFO, logger="webhook.server.app"):
        status, answer = await post(client, zk_review)
    assert status == 200
    response = answer["response"]
    assert response["uid"] == zk_review["request"]["uid"]
    assert response["allowed"] is True
    assert "patch" not in response
    assert any("internal error (RuntimeError)" in warning for warning in response["warnings"])
    logged = [r for r in caplog.records if r.exc_info and getattr(r, "uid", None) == zk_review["request"]["uid"]]
    assert logged, "the traceback is logged with the uid"
    assert sample(client, "stsmesh_internal_errors_total") == 1
    assert sample(client, "stsmesh_admission_requests_total", outcome="internal-error", code="200") == 1


async def test_unexpected_exception_without_uid_is_400(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(server, "review", broken)
    status, answer = await post(client, {"kind": "AdmissionReview", "request": {}})
    assert status == 400
    assert "RuntimeError" in answer["error"]


async def test_rule_error_is_logged_at_warning_with_uid_and_counted(
    client: Client, zk_review: dict[str, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*args: object) -> None:
        raise KeyError("spec")

    monkeypatch.setattr(admission, "RULES", (Rule("exploding", "test", explode),))
    with caplog.at_level(logging.INFO, logger="webhook.server.app"):
        status, answer = await post(client, zk_review)
    assert status == 200
    assert answer["response"]["allowed"] is True
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [getattr(r, "uid", None) for r in warnings] == [zk_review["request"]["uid"]]
    assert "rule exploding failed" in warnings[0].getMessage()
    assert sample(client, "stsmesh_rule_errors_total") == 1


async def test_one_log_line_per_request_with_identity(
    client: Client, zk_review: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="webhook.server.app"):
        await post(client, zk_review)
    records = [r for r in caplog.records if r.name == "webhook.server.app"]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.INFO
    fields = vars(record)
    assert fields["uid"] == zk_review["request"]["uid"]
    assert (fields["namespace"], fields["pod"], fields["operation"]) == ("data", "zk-0", "CREATE")
    assert fields["outcome"] == "patched"
    assert "zookeeper-listen-all-ips" in fields["fixes"]
    assert fields["duration_ms"] >= 0


async def test_probes(client: Client) -> None:
    async with client.get("/healthz") as resp:
        assert resp.status == 200
    async with client.get("/readyz") as resp:
        assert resp.status == 200
    client.app[READINESS_KEY].mark_shutting_down()  # type: ignore[index]
    async with client.get("/readyz") as resp:
        assert resp.status == 503
        assert "Retry-After" not in resp.headers
    async with client.get("/healthz") as resp:
        assert resp.status == 200


async def test_metrics_move_after_a_request(client: Client, zk_review: dict[str, Any]) -> None:
    await post(client, zk_review)
    async with client.get("/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await resp.text()
    assert 'stsmesh_admission_requests_total{code="200",outcome="patched"} 1.0' in text
    assert 'stsmesh_fixes_applied_total{fix="zookeeper-listen-all-ips"} 1.0' in text
    assert "stsmesh_admission_request_duration_seconds_count 1.0" in text
    for bound in ("0.001", "0.0025", "0.005", "0.01", "0.025", "0.1", "0.5", "1.0", "2.5"):
        assert f'stsmesh_admission_request_duration_seconds_bucket{{le="{bound}"}}' in text
    assert "stsmesh_admission_requests_in_flight 0.0" in text
    assert 'stsmesh_certificate_reloads_total{result="error"} 0.0' in text


async def test_each_app_has_its_own_registry(
    aiohttp_client: Any, settings: Settings, zk_review: dict[str, Any]
) -> None:
    first = await aiohttp_client(make_app(settings))
    second = await aiohttp_client(make_app(settings))
    await post(first, zk_review)
    assert sample(first, "stsmesh_admission_requests_total", outcome="patched", code="200") == 1
    assert sample(second, "stsmesh_admission_requests_total", outcome="patched", code="200") is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("0s", 0.0),
        ("0", 0.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        ("7", 7.0),
        ("2h", 7200.0),
        ("", None),
        ("10 s", None),
        ("-1s", None),
        ("s", None),
        ("10x", None),
    ],
)
def test_parse_go_duration(text: str, seconds: float | None) -> None:
    assert parse_go_duration(text) == seconds


@pytest.mark.parametrize(
    ("target", "seconds"),
    [
        ("/mutate?timeout=10s", 10.0),
        ("/mutate/istio/1.9?timeout=1m30s", 90.0),
        ("/mutate?other=1&timeout=500ms", 0.5),
        ("/mutate?timeout=2s&timeout=5s", 2.0),  # the first, as aiohttp's request.query.get gives
        ("/mutate?timeout=1%2E5s", 1.5),  # percent-encoded
        ("http://webhook.example:443/mutate?timeout=3s", 3.0),  # absolute-form target
        ("/mutate", None),
        ("/mutate?", None),
        ("/mutate?timeout=", None),
        ("/mutate?timeout=soon", None),
        ("/mutate?timeouts=10s", None),
    ],
)
def test_timeout_in_target(target: str, seconds: float | None) -> None:
    assert timeout_in_target(target) == seconds


@pytest.mark.parametrize("padding", [0, MAX_CACHED_TARGET])  # remembered, and parsed each time when long
def test_deadline_check_expires_after_timeout_minus_margin(padding: int) -> None:
    target = f"/mutate?pad={'x' * padding}&timeout=10s"
    assert not deadline_check(target, started=time.monotonic() - 8.9, margin_seconds=1.0)()
    assert deadline_check(target, started=time.monotonic() - 9.1, margin_seconds=1.0)()
    assert not deadline_check("/mutate?timeout=soon", started=time.monotonic() - 3600, margin_seconds=1.0)()
