"""Edge: logging setup. One handler on the root logger writing to stderr, as text or one JSON object
per line, and :func:`request_identity`, the fields (uid, namespace, pod, operation) that identify an
admission request on every line about it.

Fields passed through ``extra=`` appear in both formats: as ``key=value`` pairs after the message in
text, and as top-level keys in JSON. ``name`` is taken by :class:`logging.LogRecord`, so the pod
name travels as ``pod``.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import orjson

LogFormat = Literal["text", "json"]

# The loggers stsmesh's own modules write to: ``webhook.*`` (``getLogger(__name__)``) and ``stsmesh``.
OWN_LOGGERS = ("webhook", "stsmesh")

# Every attribute a bare LogRecord carries; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a record got through ``extra=``, in the order they were added."""
    return {key: value for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES}


class TextFormatter(logging.Formatter):
    """``2024-05-01T12:00:00.123Z INFO webhook.server.app: message uid=... outcome=...``"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _timestamp(record)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = extra_fields(record)
        if not fields:
            return line
        pairs = " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())
        head, newline, traceback = line.partition("\n")
        return f"{head} {pairs}{newline}{traceback}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, the extra fields, and
    ``exception`` (the formatted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode("utf-8")


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _text_value(value: object) -> str:
    if isinstance(value, (list, tuple)):
        value = ",".join(str(item) for item in value)
    text = str(value)
    if text == "" or any(ch.isspace() or ch in '="' for ch in text):
        return orjson.dumps(text).decode("utf-8")
    return text


def make_formatter(fmt: LogFormat) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter()
    if fmt == "text":
        return TextFormatter()
    raise ValueError(f"log format must be 'text' or 'json', got {fmt!r}")


class _StsmeshHandler(logging.StreamHandler[TextIO]):
    """Marks the handler :func:`configure` installed, so calling it again replaces it."""


def configure(level: str, fmt: LogFormat, stream: TextIO | None = None) -> None:
    """Send every log record at ``level`` or above to stderr (or ``stream``) in ``fmt``.

    The handler sits on the root logger, so aiohttp's own errors are formatted the same way. The
    root logger and stsmesh's loggers get ``level``; calling again replaces the earlier setup.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    handler = _StsmeshHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(make_formatter(fmt))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StsmeshHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(numeric)


def request_identity(uid: str, namespace: str, name: str, operation: str) -> dict[str, str]:
    """The fields that identify an admission request on every log line about it."""
    return {"uid": uid, "namespace": namespace, "pod": name, "operation": operation}
