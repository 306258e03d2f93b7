"""Peer: the webhook people write by hand with aiohttp and the standard json module — check the
content type, parse the review, echo the uid, answer one targeted patch op (base64). Same TLS and
port handling as bench/baseline_server.py (which parses with orjson instead).

    python -m bench.peers.aiohttp_stdlib PORT CERT KEY
"""

from __future__ import annotations

import base64
import json
import ssl
import sys

from aiohttp import web

PATCH = base64.b64encode(
    json.dumps([{"op": "add", "path": "/metadata/annotations/peer", "value": "true"}]).encode()
).decode()


async def mutate(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        return web.json_response({"error": "content type"}, status=415)
    body = json.loads(await request.read())
    answer = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": body["request"]["uid"], "allowed": True, "patchType": "JSONPatch", "patch": PATCH},
    }
    return web.Response(text=json.dumps(answer), content_type="application/json")


def main() -> None:
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = web.Application(client_max_size=7 * 1024 * 1024)
    app.router.add_post("/mutate", mutate)
    web.run_app(app, host="127.0.0.1", port=port, ssl_context=context, access_log=None, print=None)


if __name__ == "__main__":
    main()
