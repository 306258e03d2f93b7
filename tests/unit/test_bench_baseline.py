"""The baseline server's extra-work modes (bench/ablation.py) answer as stsmesh's core does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bench.baseline_server import EXTRA_MODES, mutate, with_extra_work
from bench.reviews import bodies
from webhook.core.review import decode_patch

Client = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


def app_for(handler: Callable[[web.Request], Awaitable[web.Response]]) -> web.Application:
    app = web.Application()
    app.router.add_post("/mutate", handler)
    return app


@pytest.mark.parametrize("extra", EXTRA_MODES)
async def test_extra_work_answers_with_the_core_review(aiohttp_client: Client, extra: str) -> None:
    client = await aiohttp_client(app_for(with_extra_work(extra)))
    body = bodies()["typical"]
    response = await client.post("/mutate", json=body)
    assert response.status == 200
    review = await response.json()
    assert review["response"]["uid"] == body["request"]["uid"]
    paths = [op["path"] for op in decode_patch(review)]
    assert "/metadata/annotations/stsmesh.io~1applied" in paths


async def test_plain_baseline_answers_its_fixed_patch(aiohttp_client: Client) -> None:
    client = await aiohttp_client(app_for(mutate))
    response = await client.post("/mutate", json=bodies()["typical"])
    assert decode_patch(await response.json()) == [
        {"op": "add", "path": "/metadata/annotations/baseline", "value": "true"}
    ]
