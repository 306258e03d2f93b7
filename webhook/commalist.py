"""Pure: comma-separated lists as meshes write them in annotations and flags ("7000,7001", "4190-4191").

Merging keeps the existing order, appends what is missing and never drops or rewrites an entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def split_list(value: object) -> list[str]:
    if not isinstance(value, str):
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


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
