"""Log formats: text and one JSON object per line, with the request's identity on every line."""

from __future__ import annotations

import io
import logging
from typing import Any

import orjson
import pytest

from webhook.core.settings import Settings
from webhook.server.app import make_app
from webhook.server.logs import configure, request_identity

pytestmark = pytest.mark.usefixtures("restore_logging")

APP_LOGGER = "webhook.server.app"


def lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line]


def test_json_lines_carry_time_level_logger_message_and_identity() -> None:
    stream = io.StringIO()
    configure("INFO", "json", stream)
    logger = logging.getLogger(APP_LOGGER)
    identity = request_identity("uid-1", "data", "zk-0", "CREATE")
    logger.info("patched in %.1f ms", 1.25, extra={**identity, "outcome": "patched", "fixes": ["a", "b"]})
    logger.debug("not shown at INFO", extra=identity)
    [line] = lines(stream)
    entry = orjson.loads(line)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "webhook.server.app"
    assert entry["message"] == "patched in 1.2 ms"
    assert entry["time"].endswith("Z") and "T" in entry["time"]
    assert (entry["uid"], entry["namespace"], entry["pod"], entry["operation"]) == ("uid-1", "data", "zk-0", "CREATE")
    assert entry["outcome"] == "patched"
    assert entry["fixes"] == ["a", "b"]


def test_json_exception_is_one_line_with_the_traceback() -> None:
    stream = io.StringIO()
    configure("INFO", "json", stream)
    try:
        raise ValueError("bad pod")
    except ValueError:
        logging.getLogger(APP_LOGGER).exception(
            "unexpected error", extra=request_identity("uid-2", "data", "zk-1", "CREATE")
        )
    [line] = lines(stream)
    entry = orjson.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["uid"] == "uid-2"
    assert "ValueError: bad pod" in entry["exception"]


def test_text_lines_carry_the_identity_as_key_value_pairs() -> None:
    stream = io.StringIO()
    configure("debug", "text", stream)
    identity = request_identity("uid-3", "data", "zk-2", "CREATE")
    logging.getLogger(APP_LOGGER).info("skipped", extra={**identity, "reason": "not create", "fixes": []})
    [line] = lines(stream)
    assert " INFO webhook.server.app: skipped " in line
    assert "uid=uid-3 namespace=data pod=zk-2 operation=CREATE" in line
    assert 'reason="not create"' in line
    assert 'fixes=""' in line


def test_configure_twice_keeps_one_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure("INFO", "text", first)
    configure("WARNING", "json", second)
    logging.getLogger("stsmesh").warning("once")
    logging.getLogger("stsmesh").info("filtered")
    assert first.getvalue() == ""
    assert [orjson.loads(line)["message"] for line in lines(second)] == ["once"]


def test_bad_level_or_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log level"):
        configure("LOUD", "text")
    with pytest.raises(ValueError, match="log format"):
        configure("INFO", "xml")  # type: ignore[arg-type]


async def test_server_request_line_in_json(aiohttp_client: Any, settings: Settings, zk_review: dict[str, Any]) -> None:
    stream = io.StringIO()
    configure("INFO", "json", stream)
    client = await aiohttp_client(make_app(settings))
    async with client.post("/mutate", data=orjson.dumps(zk_review), headers={"Content-Type": "application/json"}):
        pass
    entries = [orjson.loads(line) for line in lines(stream)]
    [entry] = [e for e in entries if e["logger"] == "webhook.server.app"]
    assert entry["uid"] == zk_review["request"]["uid"]
    assert entry["outcome"] == "patched"
    assert entry["pod"] == "zk-0"
    assert isinstance(entry["duration_ms"], float)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_fast_request_line_is_the_formatters_line(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-request line the server writes without a LogRecord (logs.LineWriter) is, byte for
    byte, the line the configured formatter makes of the same record: same fields, same order."""
    import io
    import logging

    from webhook.server import logs

    stream = io.StringIO()
    logs.configure("INFO", fmt, stream)  # type: ignore[arg-type]
    try:
        writer = logs._writer
        assert writer is not None
        fields = {
            **logs.request_identity("u-1", "data", "zk-0", "CREATE"),
            "outcome": "patched",
            "reason": "statefulset-pod",
            "fixes": ("zookeeper-listen-all-ips", "identity-labels"),
            "duration_ms": 1.23,
            "mesh": "Istio 1.9",
            "error": 'a "quoted" value',
        }
        moment = 1_790_000_000.987654
        monkeypatch.setattr(logs.time, "time", lambda: moment)
        writer.write("WARNING", "webhook.server.app", "patched in 1.2 ms", fields)
        record = logging.LogRecord(
            "webhook.server.app", logging.WARNING, __file__, 1, "%s", ("patched in 1.2 ms",), None
        )
        record.created = moment
        record.__dict__.update(fields)
        expected = writer.handler.format(record)
    finally:
        logs.configure("INFO", "text")
    assert stream.getvalue() == expected + "\n"
    line = stream.getvalue()
    for name in ("uid", "namespace", "pod", "outcome", "fixes", "duration_ms"):
        assert name in line
    assert ("2026-09-21T" in line) and (".987Z" in line)


async def test_request_lines_of_one_loop_turn_go_out_together_and_in_order() -> None:
    """Inside the loop, request lines are written at the end of the loop's turn, in one write; a
    record logged meanwhile writes them first, so the stream keeps the order they were made in."""
    import asyncio
    import io
    import logging

    from webhook.server import logs

    class Counting(io.StringIO):
        writes = 0

        def write(self, text: str) -> int:
            Counting.writes += 1
            return super().write(text)

    stream = Counting()
    logs.configure("INFO", "text", stream)
    try:
        writer = logs._writer
        assert writer is not None
        for n in range(3):
            writer.write("INFO", "webhook.server.app", f"line {n}", {})
        assert stream.getvalue() == "", "pending until the loop's turn ends"
        await asyncio.sleep(0)
        assert [line.split(": ", 1)[1] for line in stream.getvalue().splitlines()] == ["line 0", "line 1", "line 2"]
        assert Counting.writes == 1, "one write for the turn's lines"
        writer.write("INFO", "webhook.server.app", "line 3", {})
        logging.getLogger("webhook.test").warning("a warning after line 3")
        tail = [line.split(": ", 1)[1] for line in stream.getvalue().splitlines()[3:]]
        assert tail == ["line 3", "a warning after line 3"]
    finally:
        logs.configure("INFO", "text")
