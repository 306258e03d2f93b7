"""Edge: reading the files users hand the CLI (a path, or - for standard input)."""

from __future__ import annotations

from typing import TextIO

from webhook.core.inputs import InputError


def read_source(path: str, stdin: TextIO) -> str:
    """The text of ``path``, or of standard input for ``-``; InputError says what to give instead."""
    try:
        if path == "-":
            return stdin.read()
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}; give a YAML/JSON file path or - for stdin") from exc
    except UnicodeDecodeError as exc:
        where = "standard input" if path == "-" else path
        raise InputError(
            f"cannot read {where}: not UTF-8 text (byte {exc.start}); give the YAML or JSON as UTF-8"
        ) from exc
