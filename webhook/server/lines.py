"""Edge: the text of a log line, in either format — the formatters and the per-request
:class:`~webhook.server.logs.LineWriter` both call these, so both make the same line. Compiled with
mypyc with the core (pyproject.toml), as it runs once per request.

``text``: ``2024-05-01T12:00:00.123Z INFO webhook.server.app: message uid=... outcome=...``, values
quoted (JSON string syntax) when empty or holding space, ``=`` or ``"``; ``json``: one object with
``time``, ``level``, ``logger``, ``message``, then the fields, then ``exception``/``stack``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson


def text_line(time: str, level: str, logger: str, message: str, fields: dict[str, Any]) -> str:
    line = f"{time} {level} {logger}: {message}"
    if not fields:
        return line
    return line + " " + " ".join([f"{key}={_text_value(value)}" for key, value in fields.items()])


def json_line(time: str, level: str, logger: str, message: str, fields: dict[str, Any],
              exception: str | None = None, stack: str | None = None) -> str:  # fmt: skip
    entry: dict[str, Any] = {"time": time, "level": level, "logger": logger, "message": message}
    for key, value in fields.items():
        entry.setdefault(key, value)
    if exception is not None:
        entry["exception"] = exception
    if stack is not None:
        entry["stack"] = stack
    return orjson.dumps(entry, default=str).decode("utf-8")


class Clock:
    """``2024-05-01T12:00:00.123Z`` for a Unix time; the part up to the second is formatted once per
    second, not once per line."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.")
            self._second = second
        return f"{self._prefix}{int((created - second) * 1000):03d}Z"


timestamp = Clock()
"""``timestamp(created)``: the line's time, UTC, milliseconds."""

_search_quotable = re.compile(r'[\s="]').search


def _text_value(value: object) -> str:
    if value.__class__ is str:
        text: str = value
    elif isinstance(value, (list, tuple)):
        text = ",".join(map(str, value))
    else:
        text = str(value)
    if not text or _search_quotable(text):
        return orjson.dumps(text).decode("utf-8")
    return text
