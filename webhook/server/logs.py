"""Edge: logging setup. One handler on the root logger writing to stderr, as text or one JSON object
per line, and :func:`request_identity`, the fields (uid, namespace, pod, operation) that identify an
admission request on every line about it.

Fields passed through ``extra=`` appear in both formats: as ``key=value`` pairs after the message in
text, and as top-level keys in JSON. ``name`` is taken by :class:`logging.LogRecord`, so the pod
name travels as ``pod``.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
import time
from typing import Any, Literal, TextIO

from webhook.server.lines import json_line, text_line, timestamp

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

    def format(self, record: logging.LogRecord) -> str:
        line = text_line(timestamp(record.created), record.levelname, record.name, record.getMessage(),
                         extra_fields(record))  # fmt: skip
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        tail = [text for text in (record.exc_text, record.stack_info and self.formatStack(record.stack_info)) if text]
        return "\n".join([line, *tail])


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, the extra fields, and
    ``exception`` (the formatted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        exception = None
        if record.exc_info:
            exception = self.formatException(record.exc_info)
        elif record.exc_text:
            exception = record.exc_text
        stack = self.formatStack(record.stack_info) if record.stack_info else None
        return json_line(timestamp(record.created), record.levelname, record.name, record.getMessage(),
                         extra_fields(record), exception, stack)  # fmt: skip


class LineWriter:
    """The per-request line written straight to the stream of the handler :func:`configure`
    installed: the same line its formatter would make, without a LogRecord, the handler's lock and
    the formatter's walk over the record. Callers check the level first, as ``isEnabledFor`` would.

    Inside the event loop, the lines of one loop iteration go out in one write at its end (the
    stream is line-buffered: a write per line was a system call per request, most of what the
    line cost); any other record the handler emits writes them first, so the order holds. At most
    one iteration's lines are pending; outside a loop each line is written at once.
    Measured in bench/RESULTS.md ("The request line")."""

    def __init__(self, fmt: LogFormat, handler: logging.StreamHandler[TextIO]) -> None:
        self.handler = handler
        self._line = json_line if fmt == "json" else text_line
        self._pending: list[str] = []

    def write(self, level: str, logger: str, message: str, fields: dict[str, Any]) -> None:
        line = self._line(timestamp(time.time()), level, logger, message, fields) + "\n"
        if self._pending:
            self._pending.append(line)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.handler.stream.write(line)
            return
        self._pending.append(line)
        loop.call_soon(self.flush)

    def flush(self) -> None:
        if self._pending:
            lines, self._pending = "".join(self._pending), []
            self.handler.stream.write(lines)


_writer: LineWriter | None = None


@atexit.register
def _flush_at_exit() -> None:
    if _writer is not None:
        _writer.flush()


def line_writer() -> LineWriter | None:
    """The :class:`LineWriter`, while the handler :func:`configure` installed is the root logger's
    only one (with any other handler, or none, callers log records so every handler sees them)."""
    writer = _writer
    if writer is None or logging.getLogger().handlers != [writer.handler]:
        return None
    return writer


def make_formatter(fmt: LogFormat) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter()
    if fmt == "text":
        return TextFormatter()
    raise ValueError(f"log format must be 'text' or 'json', got {fmt!r}")


class _StsmeshHandler(logging.StreamHandler[TextIO]):
    """Marks the handler :func:`configure` installed, so calling it again replaces it; writes the
    :class:`LineWriter`'s pending lines before a record of its own, so lines keep their order."""

    writer: LineWriter | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.writer is not None:
            self.writer.flush()
        super().emit(record)


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
    global _writer
    if _writer is not None:
        _writer.flush()
    _writer = handler.writer = LineWriter(fmt, handler)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(numeric)


def request_identity(uid: str, namespace: str, name: str, operation: str) -> dict[str, str]:
    """The fields that identify an admission request on every log line about it."""
    return {"uid": uid, "namespace": namespace, "pod": name, "operation": operation}
