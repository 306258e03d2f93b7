"""Small helpers shared by more than one test package."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

from webhook.core.review import SUPPORTED_API_VERSIONS

TOOLS = Path(os.environ.get("STSMESH_TOOLS_DIR", Path.home() / ".cache/stsmesh/tools"))
"""Where scripts/fetch-tools.sh puts the pinned helm and kubectl (CI runs it)."""


def tool(name: str) -> str | None:
    """The pinned ``helm`` / ``kubectl`` from :data:`TOOLS`, else one on PATH, else None."""
    pinned = TOOLS / name
    return str(pinned) if pinned.exists() else shutil.which(name)


KUBECTL = tool("kubectl")
HELM = tool("helm")
MISSING_TOOL = "{} is missing: run scripts/fetch-tools.sh (CI does)"


async def refused(port: int) -> bool:
    """Whether 127.0.0.1:``port`` refuses connections (the listener is closed)."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


def envelope_ok(body: Any) -> bool:
    """Independent statement (test oracle) of an answerable AdmissionReview envelope."""
    if not isinstance(body, dict) or body.get("kind") != "AdmissionReview":
        return False
    if body.get("apiVersion") not in SUPPORTED_API_VERSIONS or not isinstance(body.get("request"), dict):
        return False
    uid = body["request"].get("uid")
    return isinstance(uid, str) and uid != ""
