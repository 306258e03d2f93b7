"""The baseline: a minimal aiohttp mutating webhook over the same TLS, answering a fixed patch.

It does what ../shared/reference (b.3) measured: check the content type, orjson-parse the body,
read request.uid, build a small targeted patch, base64 it, orjson-dump the response. stsmesh is
reported as a ratio to this server, run in the same benchmark on the same machine.

    python bench/baseline_server.py PORT CERT KEY
"""

from __future__ import annotations

import base64
import ssl
import sys

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


async def ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    app = web.Application(client_max_size=7 * 1024 * 1024)
    app.router.add_post("/mutate", mutate)
    app.router.add_get("/readyz", ok)
    web.run_app(
        app, host="127.0.0.1", port=port, ssl_context=context, keepalive_timeout=120, access_log=None, print=None
    )


if __name__ == "__main__":
    main()
