"""Malformed input, Hypothesis-driven, against the pure ``review()`` and the live TLS server.

Inputs start from the realistic AdmissionReviews in ``bench/reviews.py`` and break them one way
each: a value at one JSON path replaced by a value of another JSON type, a key deleted (a missing
uid among them), a huge string, nesting up to 5000 levels; plus free-form JSON and envelopes. The
server also gets random bytes, truncated JSON (prefixes of a real review), wrong content types,
odd paths and ``?timeout=`` values, and bodies over the 7 MiB cap.

What must hold (target T11): ``review()`` either raises ``InvalidReview`` exactly when the envelope
is unanswerable, or returns a valid AdmissionReview (uid, apiVersion and kind echoed; patchType iff
patch; the patch applies with jsonpatch to ``request.object``). The server answers exactly the
status an independent oracle predicts: 200 with such a review, or a 4xx with a non-empty message;
never a 5xx, never a traceback, never ``Retry-After``; no internal error is counted; and afterwards it
still answers a valid request with 200 and the right patch.

Core problems this fuzzing found are pinned by regression tests at the end of this file.

Example counts are modest by default (derandomized, a few seconds). ``STSMESH_FUZZ_LARGE=1`` runs
100k cases against ``review()`` and 20k against the server, and reports the measured count and time.
"""

from __future__ import annotations

import base64
import copy
import http.client
import json
import ssl
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.reviews import bodies as bench_bodies
from tests.robustness.support import LARGE, Contract, Figure, ThreadedServer, TrustOnly, serve_in_thread, write_pair
from tests.support import envelope_ok
from webhook.core.admission import review
from webhook.core.review import SUPPORTED_API_VERSIONS, InvalidReview, decode_patch
from webhook.core.settings import Settings
from webhook.server.app import MAX_JSON_DEPTH
from webhook.server.tls import server_context

REVIEW_EXAMPLES = 100_000 if LARGE else 1000
SERVER_EXAMPLES = 20_000 if LARGE else 500

LIMIT = Settings().max_body_bytes
MAX_DEPTH = MAX_JSON_DEPTH  # 1024: orjson refuses deeper documents, and the server answers 400
DEEP_MARKER = "__stsmesh_deep_marker__"

BODIES: dict[str, dict[str, Any]] = bench_bodies()
RAW: dict[str, bytes] = {name: orjson.dumps(body) for name, body in BODIES.items()}
SETTINGS = Settings()

JsonPath = tuple[str | int, ...]


def json_paths(node: Any, prefix: JsonPath = ()) -> Iterator[JsonPath]:
    """Every path below the root of a JSON document (dict keys and list indices)."""
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield (*prefix, key)
        yield from json_paths(child, (*prefix, key))


PATHS: dict[str, list[JsonPath]] = {name: list(json_paths(body)) for name, body in BODIES.items()}


def lookup(node: Any, path: JsonPath) -> Any:
    for key in path:
        node = node[key]
    return node


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def nested(depth: int, leaf: Any = "bottom", shape: str = "list") -> Any:
    """``depth`` levels of arrays (or objects) around ``leaf``, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = [value] if shape == "list" else {"d": value}
    return value


def depth_of(value: Any) -> int:
    """How many objects/arrays nest at the deepest point (``{}`` is 1); an independent oracle."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


# --- cases -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One malformed AdmissionReview, as a recipe: ``build()`` makes a fresh body every time (the
    core edits the pod in place, and a 5000-level value cannot be deep-copied)."""

    family: str
    base: str | None = None
    path: JsonPath = ()
    value: Any = None
    size: int = 0
    shape: str = "list"

    def build(self, deep_as_marker: bool = False) -> Any:
        if self.base is None:
            return copy.deepcopy(self.value)
        body = orjson.loads(RAW[self.base])
        parent, key = lookup(body, self.path[:-1]), self.path[-1]
        if self.family == "deleted":
            del parent[key]
        elif self.family == "retyped":
            parent[key] = copy.deepcopy(self.value)
        elif self.family == "huge-string":
            parent[key] = self.value * self.size
        elif self.family == "deep":
            parent[key] = DEEP_MARKER if deep_as_marker else nested(self.size, shape=self.shape)
        return body

    def to_bytes(self) -> bytes:
        """The JSON text the server gets; deep values are spliced in as text (no encoder allows 5000)."""
        text = json.dumps(self.build(deep_as_marker=True), separators=(",", ":"))
        if self.family == "deep":
            opened, closed = ("[" * self.size, "]" * self.size) if self.shape == "list" else (
                '{"d":' * self.size, "}" * self.size)  # fmt: skip
            text = text.replace(json.dumps(DEEP_MARKER), f'{opened}"bottom"{closed}')
        return text.encode()


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["CREATE", "UPDATE", "Pod", "StatefulSet", "istio-proxy", "2181", "0", "true", ""]),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
base_names = st.sampled_from(sorted(BODIES))


@st.composite
def retyped(draw: st.DrawFn) -> Case:
    """One value of a real review replaced by a JSON value of another type."""
    base = draw(base_names)
    path = draw(st.sampled_from(PATHS[base]))
    kind = json_type(lookup(BODIES[base], path))
    value = draw(json_values.filter(lambda v: json_type(v) != kind))
    return Case("retyped", base, path, value)


@st.composite
def deleted(draw: st.DrawFn) -> Case:
    """One key or list item of a real review removed (uid, request, object, containers, ...)."""
    base = draw(base_names)
    return Case("deleted", base, draw(st.sampled_from(PATHS[base])))


@st.composite
def huge_string(draw: st.DrawFn, max_size: int) -> Case:
    """Any value of a real review replaced by a string of 10 kB up to ``max_size`` characters."""
    base = draw(base_names)
    path = draw(st.sampled_from(PATHS[base]))
    return Case("huge-string", base, path, draw(st.sampled_from(["x", "é", "\u2603", "\\", '"', "\x00"])),
                draw(st.integers(10_000, max_size)))  # fmt: skip


REPR_FORMATTED: list[JsonPath] = [("apiVersion",), ("kind",), ("request", "kind", "kind")]
"""Paths whose value a message names (a regression once made a value nested past ~900 levels raise
RecursionError there)."""


@st.composite
def deep(draw: st.DrawFn) -> Case:
    """Nesting anywhere in a real review: shallow, up to and past orjson's 1024 levels, and 5000."""
    base = draw(base_names)
    path = draw(st.sampled_from(PATHS[base]))
    size = draw(st.one_of(st.integers(1, 64), st.integers(64, 1100), st.sampled_from([1015, 1020, 1025, 5000])))
    return Case("deep", base, path, size=size, shape=draw(st.sampled_from(["list", "object"])))


envelopes = st.builds(
    dict,
    apiVersion=st.one_of(st.sampled_from([*SUPPORTED_API_VERSIONS, "admission.k8s.io/v2", ""]), json_values),
    kind=st.one_of(st.just("AdmissionReview"), json_values),
    request=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {},
            optional={
                "uid": st.one_of(st.text(max_size=40), json_values),
                "operation": st.one_of(st.sampled_from(["CREATE", "UPDATE", "DELETE"]), json_values),
                "kind": json_values,
                "namespace": json_values,
                "object": st.one_of(json_values, st.sampled_from([BODIES["typical"]["request"]["object"]])),
            },
        ),
    ),
)
free_form = st.builds(lambda value: Case("free-form", value=value), st.one_of(json_values, envelopes))


def review_cases(huge_max: int) -> st.SearchStrategy[Case]:
    return st.one_of(retyped(), deleted(), huge_string(huge_max), deep(), free_form)


# --- checks ----------------------------------------------------------------------------------------


def check_answer(sent: Any, answer: Any, assert_response_contract: Contract) -> None:
    """``answer`` is a valid AdmissionReview for ``sent`` whose patch applies to ``request.object``."""
    ops = assert_response_contract(sent, answer)
    if ops:
        target = sent["request"]["object"]
        assert isinstance(target, dict), "a patch for something that is not a pod"
        jsonpatch.apply_patch(target, ops, in_place=True)  # raises if any operation does not apply


def check_review(case: Case, assert_response_contract: Contract) -> str:
    """review() on the case: InvalidReview exactly for an unanswerable envelope, else a valid review
    whose patch applies, and no rule failed. Returns the outcome (``invalid`` for InvalidReview)."""
    body, pristine = case.build(), case.build()
    try:
        result = review(body, SETTINGS)
    except InvalidReview as exc:
        assert str(exc)
        assert not envelope_ok(pristine), f"a valid envelope was rejected: {exc}"
        return "invalid"
    assert envelope_ok(pristine), "an unanswerable envelope was answered"
    check_answer(pristine, result.response, assert_response_contract)
    assert result.outcome != "rule-error", result.error
    return result.outcome


def test_review_answers_or_rejects_every_broken_review(assert_response_contract: Contract, figure: Figure) -> None:
    """Hypothesis: review() never raises anything but InvalidReview, raises it exactly for an
    unanswerable envelope, and otherwise returns a valid review whose patch applies."""
    outcomes: Counter[str] = Counter()
    families: Counter[str] = Counter()

    @settings(
        max_examples=REVIEW_EXAMPLES, deadline=None, derandomize=not LARGE, database=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(case=review_cases(huge_max=2 * 1024 * 1024))
    def check(case: Case) -> None:
        outcomes[check_review(case, assert_response_contract)] += 1
        families[case.family] += 1

    started = time.perf_counter()
    check()
    elapsed = time.perf_counter() - started
    figure("fuzz review()", cases=outcomes.total(), seconds=round(elapsed, 1), outcomes=dict(outcomes),
           families=dict(families))  # fmt: skip
    assert outcomes.total() >= REVIEW_EXAMPLES
    assert {"invalid", "patched", "unreadable", "skipped"} <= set(outcomes), outcomes
    assert set(families) == {"retyped", "deleted", "huge-string", "deep", "free-form"}, families


SAMPLE_VALUES = [None, True, False, 0, -1, 1.5, 2**63, "", "x", "CREATE", [], ["x"], [{}], {}, {"x": 1}, {"name": 1}]


def every_retyping(base: str) -> Iterator[Case]:
    """Each path of a real review, its value replaced by each sample value of another JSON type."""
    for path in PATHS[base]:
        kind = json_type(lookup(BODIES[base], path))
        for value in SAMPLE_VALUES:
            if json_type(value) != kind:
                yield Case("retyped", base, path, value)


@pytest.mark.parametrize("base", ["typical", "3-containers", "injected-istio"])
def test_review_survives_every_path_retyped_to_every_other_type(
    base: str, assert_response_contract: Contract, figure: Figure
) -> None:
    """Exhaustive, not sampled: every level of a real review gets a value of every other type."""
    outcomes = Counter(check_review(case, assert_response_contract) for case in every_retyping(base))
    figure(f"retyped paths review() {base}", paths=len(PATHS[base]), cases=outcomes.total(), outcomes=dict(outcomes))
    assert outcomes["invalid"] and outcomes["unreadable"] and outcomes["patched"]


def test_review_survives_every_path_deleted(assert_response_contract: Contract) -> None:
    """Exhaustive: each key or item of a real review removed in turn (uid, request, object, ...)."""
    for base in ("typical", "injected-istio"):
        outcomes = Counter(check_review(Case("deleted", base, path), assert_response_contract) for path in PATHS[base])
        assert outcomes["invalid"] >= 4, outcomes  # apiVersion, kind, request, request.uid at least


# --- the live server -------------------------------------------------------------------------------

JSON_TYPES = ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/json;v=1"]
WRONG_TYPES = ["text/plain", "application/yaml", "application/json-patch+json", "application/x-www-form-urlencoded",
               "multipart/form-data; boundary=x", "application/jsonx", "json", "*/*", ""]  # fmt: skip
GOOD_PATHS = ["/mutate", "/mutate/istio", "/mutate/istio/1.9", "/mutate/linkerd/stable-2.10.2", "/mutate/auto",
              "/mutate/none", "/mutate?timeout=10s", "/mutate?timeout=0s", "/mutate?timeout=garbage",
              "/mutate?timeout=-1s", "/mutate?timeout=1e400", "/mutate?timeout=nan", "/mutate?timeout=%00",
              "/mutate?timeout=9999999999h", "/mutate?timeout=1h&timeout=0s"]  # fmt: skip
BAD_PATHS = {"/mutate/maesh": 404, "/mutate/istio/latest": 404, "/mutate/a/b/c": 404, "/healthz": 405}


@dataclass(frozen=True)
class Request:
    """One HTTP request to the server; ``description`` is what Hypothesis shows on failure."""

    family: str
    description: str
    body: bytes = field(repr=False)
    path: str = "/mutate"
    content_type: str | None = "application/json"


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def expected_status(request: Request) -> int:
    """The status the server must answer, decided independently of the server's code."""
    if request.path in BAD_PATHS:
        return BAD_PATHS[request.path]
    if media_type(request.content_type) != "application/json":
        return 415
    if len(request.body) > LIMIT:
        return 413
    try:
        value = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return 400  # empty, not JSON, or nested past what the parser accepts
    if depth_of(value) > MAX_DEPTH or not envelope_ok(value):
        return 400
    return 200


def from_case(case: Case, path: str) -> Request:
    return Request(case.family, f"{case!r}"[:300], case.to_bytes(), path)


truncated = st.builds(
    lambda base, fraction: Request(
        "truncated", f"{base} cut at {fraction:.4f}", RAW[base][: int(len(RAW[base]) * fraction)]
    ),
    base_names,
    st.floats(0, 1, exclude_max=True),
)
random_bytes = st.builds(lambda data: Request("random-bytes", f"{data[:60]!r}", data), st.binary(max_size=4096))


def breaks_the_stdlib_parser(content_type: str) -> bool:
    """A parameter name ending in ``*`` with no value, as in ``text/plain; a*``, makes CPython's email
    header parser (behind aiohttp's ``request.content_type``) raise IndexError (python/cpython#151857);
    the server reads the media type from the raw header instead."""
    return ";" in content_type and content_type.strip().endswith("*")


content_types = st.builds(
    lambda ct: Request("content-type", f"{ct!r}", RAW["typical"], content_type=ct),
    st.one_of(
        st.none(),
        st.sampled_from(JSON_TYPES + WRONG_TYPES),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
    ),
)
odd_paths = st.builds(
    lambda path: Request("path", path, RAW["typical"], path), st.sampled_from(GOOD_PATHS + list(BAD_PATHS))
)
http_requests = st.one_of(
    st.builds(from_case, review_cases(huge_max=1024 * 1024), st.sampled_from(GOOD_PATHS)),
    truncated,
    random_bytes,
    content_types,
    odd_paths,
)


class HttpsClient:
    """A keep-alive HTTPS client (http.client) trusting only the test CA; reconnects after a close."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        self.connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)

    def send(self, request: Request) -> tuple[int, http.client.HTTPMessage, bytes]:
        headers = {} if request.content_type is None else {"Content-Type": request.content_type}
        self.connection.request("POST", request.path, body=request.body, headers=headers)
        response = self.connection.getresponse()
        return response.status, response.headers, response.read()

    def close(self) -> None:
        self.connection.close()


def check_http_answer(
    request: Request,
    status: int,
    headers: http.client.HTTPMessage,
    data: bytes,
    assert_response_contract: Contract,
) -> None:
    expected = expected_status(request)
    assert status == expected, f"HTTP {status}, expected {expected}: {data[:300]!r}"
    assert b"Traceback" not in data
    assert "Retry-After" not in headers
    if status == 200:
        check_answer(orjson.loads(request.body), orjson.loads(data), assert_response_contract)
        return
    if headers.get_content_type() == "application/json":  # ours: {"error": "..."}
        message = orjson.loads(data)["error"]
        assert isinstance(message, str) and message.strip()
    else:  # aiohttp's own 404/405 for paths outside /mutate
        assert data.strip()


def assert_still_serving(server: ThreadedServer, client: HttpsClient) -> None:
    """A valid review gets 200 and exactly the patch review() computes, and nothing was a bug."""
    status, _, data = client.send(Request("valid", "typical", RAW["typical"]))
    assert status == 200
    answer = orjson.loads(data)
    expected = review(orjson.loads(RAW["typical"]), SETTINGS).response
    assert decode_patch(answer) == decode_patch(expected) != []
    patched = jsonpatch.apply_patch(BODIES["typical"]["request"]["object"], decode_patch(answer))
    assert patched["metadata"]["annotations"]["stsmesh.io/applied"]
    assert server.sample("stsmesh_internal_errors_total") == 0, "an exception reached the request handler"


def test_server_answers_every_malformed_request_with_a_review_or_a_4xx(
    threaded_server: ThreadedServer,
    test_ca: Any,
    trust_only: TrustOnly,
    assert_response_contract: Contract,
    figure: Figure,
) -> None:
    """Hypothesis over real TLS: each request gets exactly the oracle's status (a valid review or a
    clean 4xx), and afterwards a valid review still gets 200 and the right patch."""
    client = HttpsClient(threaded_server.port, trust_only(test_ca.ca_cert))
    statuses: Counter[int] = Counter()
    families: Counter[str] = Counter()

    @settings(
        max_examples=SERVER_EXAMPLES, deadline=None, derandomize=not LARGE, database=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(request=http_requests)
    def check(request: Request) -> None:
        status, headers, data = client.send(request)
        statuses[status] += 1
        families[request.family] += 1
        check_http_answer(request, status, headers, data, assert_response_contract)

    started = time.perf_counter()
    try:
        check()
        elapsed = time.perf_counter() - started
        assert_still_serving(threaded_server, client)
    finally:
        client.close()
    figure("fuzz server", requests=statuses.total(), seconds=round(elapsed, 1), statuses=dict(statuses),
           families=dict(families))  # fmt: skip
    assert statuses.total() >= SERVER_EXAMPLES
    assert {200, 400, 404, 405, 415} <= set(statuses), statuses


def test_server_answers_every_path_retyped(
    threaded_server: ThreadedServer, test_ca: Any, trust_only: TrustOnly, assert_response_contract: Contract
) -> None:
    """Exhaustive over HTTPS: every level of the typical review, retyped to every other type."""
    client = HttpsClient(threaded_server.port, trust_only(test_ca.ca_cert))
    try:
        statuses: Counter[int] = Counter()
        for case in every_retyping("typical"):
            request = from_case(case, "/mutate")
            status, headers, data = client.send(request)
            statuses[status] += 1
            check_http_answer(request, status, headers, data, assert_response_contract)
        assert set(statuses) == {200, 400}, statuses
        assert_still_serving(threaded_server, client)
    finally:
        client.close()


@pytest.mark.parametrize("depth", [5000, MAX_DEPTH + 1])
@pytest.mark.parametrize("where", ["whole-body", "label-value", "env-value"])
def test_nesting_past_1024_levels_is_400_and_the_server_keeps_serving(
    threaded_server: ThreadedServer, test_ca: Any, trust_only: TrustOnly, depth: int, where: str
) -> None:
    """5000 levels, and one past the 1024 orjson accepts: 400 with a message, no internal error."""
    paths = {"label-value": ("request", "object", "metadata", "labels", "app.kubernetes.io/name"),
             "env-value": ("request", "object", "spec", "containers", 0, "env", 0, "value")}  # fmt: skip
    if where == "whole-body":
        body = b"[" * depth + b"]" * depth
    else:
        body = Case("deep", "typical", paths[where], size=depth).to_bytes()
    assert expected_status(Request("deep", "", body)) == 400
    client = HttpsClient(threaded_server.port, trust_only(test_ca.ca_cert))
    try:
        status, _, data = client.send(Request("deep", f"depth {depth}", body))
        assert status == 400
        assert orjson.loads(data)["error"]
        assert_still_serving(threaded_server, client)
    finally:
        client.close()


@pytest.mark.parametrize("shape", ["list", "object"])
def test_nesting_of_exactly_1024_levels_is_answered(
    threaded_server: ThreadedServer, test_ca: Any, trust_only: TrustOnly, assert_response_contract: Contract, shape: str
) -> None:
    """The boundary of the 400 above: a review 1024 levels deep is answered and its pod patched."""
    # request.options (CreateOptions) holds the nesting: the review and the request are two levels
    raw = Case("deep", "typical", ("request", "options"), size=MAX_DEPTH - 2, shape=shape).to_bytes()
    assert depth_of(orjson.loads(raw)) == MAX_DEPTH
    client = HttpsClient(threaded_server.port, trust_only(test_ca.ca_cert))
    try:
        status, _, data = client.send(Request("deep", "depth 1024", raw))
        assert status == 200, data[:300]
        check_answer(orjson.loads(RAW["typical"]), orjson.loads(data), assert_response_contract)
        assert decode_patch(orjson.loads(data)), "the pod itself is fine: it is patched"
        assert_still_serving(threaded_server, client)
    finally:
        client.close()


def padded_review(size: int) -> bytes:
    """The typical review with an annotation padding it to exactly ``size`` bytes."""
    body = orjson.loads(RAW["typical"])
    body["request"]["object"]["metadata"]["annotations"] = {"pad": ""}
    room = size - len(orjson.dumps(body))
    body["request"]["object"]["metadata"]["annotations"]["pad"] = "x" * room
    raw = orjson.dumps(body)
    assert len(raw) == size
    return raw


def test_bodies_over_7_mib_are_413_and_exactly_7_mib_is_served(
    threaded_server: ThreadedServer,
    test_ca: Any,
    trust_only: TrustOnly,
    assert_response_contract: Contract,
) -> None:
    """A review of exactly 7 MiB is answered; one byte more is 413, whether the size is declared up
    front (answered before the body is sent) or only found while a chunked body streams in."""
    context = trust_only(test_ca.ca_cert)
    at_limit = padded_review(LIMIT)
    client = HttpsClient(threaded_server.port, context)
    try:
        status, _, data = client.send(Request("oversize", "7 MiB", at_limit))
        assert status == 200
        check_answer(orjson.loads(at_limit), orjson.loads(data), assert_response_contract)

        # declared: only the headers are sent; the server must not wait for the 7 MiB
        declared = http.client.HTTPSConnection("127.0.0.1", threaded_server.port, context=context, timeout=10)
        try:
            declared.putrequest("POST", "/mutate")
            declared.putheader("Content-Type", "application/json")
            declared.putheader("Content-Length", str(LIMIT + 1))
            declared.endheaders()
            response = declared.getresponse()
            assert response.status == 413
            assert response.getheader("Connection", "").lower() == "close"
            assert f"{LIMIT}-byte limit" in orjson.loads(response.read())["error"]
        finally:
            declared.close()

        over = padded_review(LIMIT + 1)
        chunks = (over[i : i + 256 * 1024] for i in range(0, len(over), 256 * 1024))
        streamed = http.client.HTTPSConnection("127.0.0.1", threaded_server.port, context=context, timeout=10)
        try:
            streamed.request("POST", "/mutate", body=chunks, headers={"Content-Type": "application/json"},
                             encode_chunked=True)  # fmt: skip
            response = streamed.getresponse()
            assert response.status == 413
            assert orjson.loads(response.read())["error"]
        finally:
            streamed.close()
        assert threaded_server.sample("stsmesh_admission_requests_total", outcome="too-large", code="413") >= 2
        assert_still_serving(threaded_server, client)
    finally:
        client.close()


def test_huge_legal_strings_are_served_without_copying_them_into_the_patch(
    threaded_server: ThreadedServer, test_ca: Any, trust_only: TrustOnly
) -> None:
    """A 6 MiB env value (legal: under the cap) is answered with a patch that stays small."""
    case = Case("huge-string", "typical", ("request", "object", "spec", "containers", 0, "env", 0, "value"),
                "x", 6 * 1024 * 1024)  # fmt: skip
    client = HttpsClient(threaded_server.port, trust_only(test_ca.ca_cert))
    try:
        status, _, data = client.send(Request("huge-string", "6 MiB env value", case.to_bytes()))
        assert status == 200
        answer = orjson.loads(data)
        assert decode_patch(answer)
        assert len(base64.b64decode(answer["response"]["patch"])) < 64 * 1024, "the patch holds O(changes)"
    finally:
        client.close()


# --- regressions: core problems this fuzzing found (fixed) --------------------------------------------


@pytest.fixture
def own_server(tmp_path: Any, test_ca: Any) -> Iterator[ThreadedServer]:
    """A server of its own for a test that may cause an internal error (the shared one must count none)."""
    cert_file, key_file = write_pair(tmp_path, test_ca)
    settings = Settings(host="127.0.0.1", port=0, shutdown_drain_seconds=0.0)
    with serve_in_thread(settings, server_context(cert_file, key_file), 60.0) as server:
        yield server


REPR_IDS = ["apiVersion", "kind", "request.kind.kind"]


@pytest.mark.parametrize("path", REPR_FORMATTED, ids=REPR_IDS)
def test_review_answers_a_value_nested_1000_deep_where_it_names_the_value(
    path: JsonPath, assert_response_contract: Contract
) -> None:
    """1000 levels (orjson accepts up to 1024) at apiVersion or kind must be an InvalidReview, and at
    request.kind.kind a skip ("not a core Pod"), like any other wrong value there (messages once
    formatted repr(value): RecursionError)."""
    check_review(Case("deep", "typical", path, size=1000), assert_response_contract)


@pytest.mark.parametrize("path", REPR_FORMATTED, ids=REPR_IDS)
def test_server_answers_a_value_nested_1000_deep_without_an_internal_error(
    path: JsonPath, own_server: ThreadedServer, test_ca: Any, trust_only: TrustOnly, assert_response_contract: Contract
) -> None:
    """The server's side of the same input: the oracle's answer (400 naming the field, or 200
    skipped), no internal error."""
    request = from_case(Case("deep", "typical", path, size=1000), "/mutate")
    client = HttpsClient(own_server.port, trust_only(test_ca.ca_cert))
    try:
        status, headers, data = client.send(request)
    finally:
        client.close()
    assert own_server.sample("stsmesh_internal_errors_total") == 0, data[:300]
    check_http_answer(request, status, headers, data, assert_response_contract)


@pytest.mark.parametrize(
    ("content_type", "status"),
    [(";0*", 415), ("text/plain; a*", 415), ("x=1; name *", 415), ("application/json; charset*", 200)],
)
def test_a_content_type_the_stdlib_parser_chokes_on_is_judged_by_its_media_type(
    own_server: ThreadedServer, test_ca: Any, trust_only: TrustOnly, content_type: str, status: int
) -> None:
    """Found by the large fuzz run: a parameter name ending in ``*`` makes the stdlib parser behind
    ``request.content_type`` raise. The media type alone decides: 415 unless it is application/json,
    and never an internal error."""
    assert breaks_the_stdlib_parser(content_type)
    client = HttpsClient(own_server.port, trust_only(test_ca.ca_cert))
    try:
        answer, _, data = client.send(Request("content-type", content_type, RAW["typical"], content_type=content_type))
    finally:
        client.close()
    assert answer == status, data
    assert own_server.sample("stsmesh_internal_errors_total") == 0


def test_a_rejection_message_stays_short_whatever_the_value(
    threaded_server: ThreadedServer, test_ca: Any, trust_only: TrustOnly
) -> None:
    """A 1 MiB apiVersion is rejected with a message of a few hundred bytes, not an echo of the
    value (every rejection is also logged: an unclipped echo turns 7 MiB bodies into 7 MiB log lines)."""
    body = orjson.loads(RAW["typical"])
    body["apiVersion"] = "x" * (1024 * 1024)
    client = HttpsClient(threaded_server.port, trust_only(test_ca.ca_cert))
    try:
        status, _, data = client.send(Request("huge-string", "1 MiB apiVersion", orjson.dumps(body)))
    finally:
        client.close()
    assert status == 400
    assert len(orjson.loads(data)["error"]) < 1024
