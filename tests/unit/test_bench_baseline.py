"""The baseline server's extra-work modes (bench/ablation.py) answer as stsmesh's core does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bench.baseline_server import EXTRA_MODES, mutate, with_extra_work
from bench.reviews import bodies
from webhook.core.review import decode_patch

ROOT = Path(__file__).resolve().parents[2]

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


def test_the_bench_runs_stsmesh_as_deploy_base_does(tmp_path: Path) -> None:
    """bench.run's stsmesh is deploy/base's Deployment's arguments (certificate paths aside), plus
    only the host, port and the mesh the review bodies do not carry: they cannot drift apart."""
    import yaml

    from bench.run import BENCH_ONLY, server_commands

    deployment = yaml.safe_load((ROOT / "deploy/base/deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    argv = server_commands(ROOT, tmp_path)["stsmesh"][1](4321)
    serve_args = argv[argv.index("serve") + 1 :]
    expected = [a.replace("/etc/stsmesh/tls/", f"{tmp_path}/") for a in container["args"]]
    assert serve_args == ["--host", "127.0.0.1", "--port", "4321", *expected, *BENCH_ONLY]
    assert "--log-format=json" in expected and not any(a.startswith("--log-level") for a in serve_args)
    defaults = server_commands(ROOT, tmp_path)["stsmesh-text"][1](4321)
    assert not any(a.startswith(("--log-format", "--log-level")) for a in defaults), "the command's defaults"
