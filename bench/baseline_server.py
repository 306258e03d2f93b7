"""The baseline: a minimal aiohttp mutating webhook over the same TLS, answering a fixed patch.

It does what ../shared/reference (b.3) measured: check the content type, orjson-parse the body,
read request.uid, build a small targeted patch, base64 it, orjson-dump the response. stsmesh is
reported as a ratio to this server, run in the same benchmark on the same machine.

    python bench/baseline_server.py PORT CERT KEY [EXTRA]

EXTRA (for ``bench/ablation.py`` only) adds work to each request, to see what it costs inside a
server rather than in a hot loop: ``review`` answers with stsmesh's ``review()`` of the body (the
baseline plus the core, without stsmesh's handler), ``review-twice`` also reviews a second parse of
the same body, ``parse-twice`` only parses it a second time.
"""

from __future__ import annotations

import base64
import ssl
import sys
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

PATCH = base64.b64encode(
    orjson.dumps([{"op": "add", "path": "/metadata/annotations/baseline", "value": "true"}])
).decode()


async def mutate(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        return web.json_response({"error": "content type"}, status=415)
    body = orjson.loads(await request.read())
    uid = body["request"]["uid"]
    answer = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": True, "patchType": "JSONPatch", "patch": PATCH},
    }
    return web.Response(body=orjson.dumps(answer), content_type="application/json")


def with_extra_work(extra: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler for an EXTRA mode (see the module docstring)."""
    from webhook.core.admission import review
    from webhook.core.mesh import MeshHint
    from webhook.core.settings import Settings

    settings = Settings(default_hint=MeshHint.parse("istio", "1.9"))  # as bench.run serves stsmesh

    async def mutate_more(request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return web.json_response({"error": "content type"}, status=415)
        raw = await request.read()
        result = review(orjson.loads(raw), settings)
        if extra == "review-twice":
            review(orjson.loads(raw), settings)
        elif extra == "parse-twice":
            orjson.loads(raw)
        return web.Response(body=orjson.dumps(result.response), content_type="application/json")

    return mutate_more


EXTRA_MODES = ("review", "review-twice", "parse-twice")


async def ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    extra = sys.argv[4] if len(sys.argv) > 4 else ""
    if extra and extra not in EXTRA_MODES:
        raise SystemExit(f"unknown extra work {extra!r}; choose one of {', '.join(EXTRA_MODES)}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    app = web.Application(client_max_size=7 * 1024 * 1024)
    app.router.add_post("/mutate", with_extra_work(extra) if extra else mutate)
    app.router.add_get("/readyz", ok)
    web.run_app(
        app, host="127.0.0.1", port=port, ssl_context=context, keepalive_timeout=120, access_log=None, print=None
    )


if __name__ == "__main__":
    main()
