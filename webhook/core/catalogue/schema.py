"""Pure: the checks a catalogue's YAML values go through, and the error that names the bad key.

Shared by the loader (:mod:`webhook.core.catalogue.load`) and by every fix kind, which checks its
own parameters with these (see :class:`webhook.core.rules.FixKind`). Each check raises
:class:`CatalogueError` with ``where`` (``catalogue.yaml: apps[3] (kafka-bitnami).fixes[0].env_set``)
and what the key accepts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class CatalogueError(ValueError):
    """The catalogue YAML is invalid; the message names the entry and key."""


def only(data: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    """No keys besides ``allowed``."""
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise CatalogueError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(allowed)}")


def text_field(data: Mapping[str, Any], key: str, where: str, required: bool = True) -> str:
    """``data[key]`` as a string (non-empty when ``required``)."""
    value = data.get(key, "")
    if not isinstance(value, str) or (required and not value):
        raise CatalogueError(f"{where}: '{key}' must be a non-empty string")
    return value


def strings(value: object, where: str) -> tuple[str, ...]:
    """A list of non-empty strings (absent: empty)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CatalogueError(f"{where}: must be a list of strings")
    return tuple(value)


def ports(value: object, where: str) -> tuple[int, ...]:
    """A list of port numbers (absent: empty)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 < v < 65536 for v in value
    ):
        raise CatalogueError(f"{where}: must be a list of port numbers (1-65535)")
    return tuple(value)


def mapping_of(params: object, where: str, keys: Sequence[str], what: str) -> Mapping[str, Any]:
    """A mapping with no keys besides ``keys``; ``what`` says what it should hold."""
    if not isinstance(params, dict):
        raise CatalogueError(f"{where}: must be a mapping with {what}")
    only(params, keys, where)
    return params
