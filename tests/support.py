"""Small helpers shared by more than one test package."""

from __future__ import annotations

import asyncio


async def refused(port: int) -> bool:
    """Whether 127.0.0.1:``port`` refuses connections (the listener is closed)."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    await writer.wait_closed()
    return False
