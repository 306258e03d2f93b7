"""The user catalogue file is reloaded in place when it changes (as a kubelet ConfigMap volume
changes it, through a ``..data`` symlink swap): the next review uses it; a file that does not parse
leaves the catalogue in use, and both outcomes are counted."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jsonpatch

from webhook.core.catalogue.load import builtin_catalogue, with_user_catalogue
from webhook.core.review import decode_patch
from webhook.core.settings import Settings
from webhook.server.app import CATALOGUE_RELOADER_KEY, make_app

DISABLED = "version: 1\ndisable: [zookeeper-bitnami]\n"
EMPTY = "version: 1\napps: []\n"


def publish(volume: Path, text: str, version: int) -> None:
    """What the kubelet does for a ConfigMap volume: a new dated dir, then ``..data`` swapped to it."""
    target = volume / f"..v{version}"
    target.mkdir()
    (target / "catalogue.yaml").write_text(text)
    (volume / "..data_tmp").symlink_to(target.name)
    os.replace(volume / "..data_tmp", volume / "..data")
    if not (volume / "catalogue.yaml").is_symlink():
        (volume / "catalogue.yaml").symlink_to("..data/catalogue.yaml")


async def applied(client: Any, review: dict[str, Any]) -> str:
    """The fixes the server's answer applies to the review's pod (its stsmesh.io/applied annotation)."""
    response = await client.post("/mutate", json=review)
    assert response.status == 200
    ops = decode_patch(await response.json())
    pod = jsonpatch.apply_patch(review["request"]["object"], ops) if ops else review["request"]["object"]
    return str((pod["metadata"].get("annotations") or {}).get("stsmesh.io/applied", ""))


async def test_a_changed_catalogue_is_used_by_the_next_review(
    aiohttp_client: Any, settings: Settings, zk_review: dict[str, Any], tmp_path: Path
) -> None:
    publish(tmp_path, DISABLED, 1)
    path = str(tmp_path / "catalogue.yaml")
    start = settings.with_overrides(
        catalogue=with_user_catalogue(builtin_catalogue(), DISABLED, path), catalogue_file=path
    )
    app = make_app(start)
    client = await aiohttp_client(app)
    reloader = app[CATALOGUE_RELOADER_KEY]
    before = await applied(client, zk_review)
    assert "identity-labels" in before and "zookeeper-listen-all-ips" not in before, "disabled by the user file"

    assert reloader.check_now() == "unchanged"
    publish(tmp_path, EMPTY, 2)
    assert reloader.check_now() == "reloaded"
    assert "zookeeper-listen-all-ips" in await applied(client, zk_review), "the shipped entry is back"

    publish(tmp_path, "version: 1\napps: [{id: broken}]\n", 3)
    assert reloader.check_now() == "failed"
    assert "zookeeper-listen-all-ips" in await applied(client, zk_review), "the catalogue in use stays"
    metrics = await (await client.get("/metrics")).text()
    assert 'stsmesh_catalogue_reloads_total{result="ok"} 1.0' in metrics
    assert 'stsmesh_catalogue_reloads_total{result="error"} 1.0' in metrics


async def test_no_catalogue_file_no_reloader(aiohttp_client: Any, settings: Settings) -> None:
    assert CATALOGUE_RELOADER_KEY not in make_app(settings)
