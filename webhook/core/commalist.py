"""Pure: comma-separated lists as meshes write them in annotations and flags ("7000,7001", "4190-4191").

Merging keeps the existing order, appends what is missing and never drops or rewrites an entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def split_list(value: object) -> list[str]:
    if not isinstance(value, str):
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


def key_values(value: str) -> dict[str, str]:
    """``"a=b, c=d"`` → ``{"a": "b", "c": "d"}`` (labels and selectors as flags give them);
    ValueError names the item that is not ``KEY=VALUE``."""
    pairs: dict[str, str] = {}
    for item in split_list(value):
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{item!r} is not KEY=VALUE")
        pairs[key.strip()] = text.strip()
    return pairs


def covers(items: Iterable[str], port: int) -> bool:
    """Whether a port list (items like ``7000`` or ``4190-4191``) already includes ``port``."""
    for item in items:
        low, sep, high = item.partition("-")
        try:
            if (int(low) <= port <= int(high)) if sep else int(item) == port:
                return True
        except ValueError:
            continue
    return False


def merged_ports(existing: object, ports: Sequence[int]) -> str:
    items = split_list(existing)
    for port in ports:
        if not covers(items, port):
            items.append(str(port))
    return ",".join(items)


def merged_names(existing: object, names: Sequence[str]) -> str:
    items = split_list(existing)
    for name in names:
        if name not in items:
            items.append(name)
    return ",".join(items)


def without_ports(items: Sequence[str], ports: Sequence[int]) -> list[str]:
    """``items`` with ``ports`` taken out; a range is split around them ("7000-7010" minus 7000,7001
    is "7002-7010"), entries that are not ports are kept as they are."""
    drop = set(ports)
    out: list[str] = []
    for item in items:
        low_text, sep, high_text = item.partition("-")
        try:
            low, high = (int(low_text), int(high_text)) if sep else (int(item), int(item))
        except ValueError:
            out.append(item)
            continue
        if not any(low <= p <= high for p in drop):
            out.append(item)
            continue
        start = low
        for port in [*sorted(p for p in drop if low <= p <= high), high + 1]:
            if start <= port - 1:
                out.append(str(start) if start == port - 1 else f"{start}-{port - 1}")
            start = port + 1
    return out
