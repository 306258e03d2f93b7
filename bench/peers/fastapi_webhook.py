"""Peer: a tutorial-style FastAPI + uvicorn mutating webhook — a pydantic model of the review,
echo the uid, one targeted patch op (base64). uvicorn with its defaults and access log off.

    python -m bench.peers.fastapi_webhook PORT CERT KEY
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

PATCH = base64.b64encode(
    json.dumps([{"op": "add", "path": "/metadata/annotations/peer", "value": "true"}]).encode()
).decode()

app = FastAPI()


class Request(BaseModel):
    uid: str
    object: dict[str, Any] | None = None


class Review(BaseModel):
    apiVersion: str
    kind: str
    request: Request


@app.post("/mutate")
def mutate(review: Review) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": review.request.uid, "allowed": True, "patchType": "JSONPatch", "patch": PATCH},
    }


def main() -> None:
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    uvicorn.run(app, host="127.0.0.1", port=port, ssl_certfile=cert, ssl_keyfile=key, access_log=False,
                log_level="warning")  # fmt: skip


if __name__ == "__main__":
    main()
