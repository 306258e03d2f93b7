"""Pure: the request's deadline — the apiserver's ``?timeout=`` read from the request target, and the
``expired()`` check the engine calls between rules.

The apiserver sends every webhook call with ``?timeout=<Go duration>`` (its ``timeoutSeconds``); we
answer ``margin`` before it passes, admitting the pod unchanged if the rules have not finished. The
clock is the caller's (the server's ``time.monotonic`` unless it passes another), so tests can drive it.
"""

from __future__ import annotations

import functools
import re
import time
import urllib.parse
from collections.abc import Callable
from typing import Final


def never() -> bool:
    """An ``expired()`` for callers without a deadline."""
    return False


class Deadline:
    """An ``expired()`` that is true once ``clock()`` reaches ``at``.

    Being a compiled callable, checking it between rules costs a C call where a closure made in the
    server would run interpreted.
    """

    def __init__(self, at: float, clock: Callable[[], float]) -> None:
        self.at: Final = at
        self.clock: Final = clock

    def __call__(self) -> bool:
        return self.clock() >= self.at


_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_DURATION = re.compile(rf"(?:{_GO_DURATION_PART.pattern})+")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float | None:
    """Seconds in a Go duration (``10s``, ``1m30s``, ``500ms``; a bare number counts as seconds);
    None when unreadable or negative."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None
    if not _GO_DURATION.fullmatch(text):
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _GO_DURATION_PART.findall(text))


def timeout_in_target(target: str) -> float | None:
    """Seconds in the ``timeout`` query parameter of a request target (``/mutate?timeout=10s``), as
    the apiserver sends its webhook timeout; None when absent or unreadable."""
    values = urllib.parse.parse_qs(target.partition("?")[2]).get("timeout")
    return parse_go_duration(values[0]) if values else None


MAX_CACHED_TARGET = 256
"""Request targets up to this long have their timeout remembered (the apiserver sends the same one
on every call to a webhook); longer ones are parsed every time rather than kept."""

_cached_timeout = functools.lru_cache(maxsize=64)(timeout_in_target)


def deadline_check(
    target: str, started: float, margin_seconds: float, clock: Callable[[], float] = time.monotonic
) -> Callable[[], bool]:
    """``expired()`` for the engine: true once the ``timeout`` in the request ``target`` minus the
    margin has passed since ``started`` (read on ``clock``). No or unreadable ``timeout``: never
    expires."""
    seconds = _cached_timeout(target) if len(target) <= MAX_CACHED_TARGET else timeout_in_target(target)
    if seconds is None:
        return never
    return Deadline(started + seconds - margin_seconds, clock)
