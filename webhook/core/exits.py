"""Pure: the exit codes every ``stsmesh`` command documents, and the error that carries one.

Declared once here: the CLI returns them, the cluster and per-pod commands raise
:class:`CommandError` with them, and ``--help`` texts and the README quote them.
"""

from __future__ import annotations

EXIT_OK = 0
"""Done (a dry-run that changed nothing included)."""

EXIT_PROBLEM = 1
"""A check found something that needs attention, a cluster call failed, or an internal error."""

EXIT_USAGE = 2
"""A flag or setting cannot be used; the message says which and what it accepts."""

EXIT_INPUT = 3
"""The input file cannot be read or holds nothing stsmesh reviews."""

EXIT_INVALID_REVIEW = 4
"""The input is an AdmissionReview the webhook would reject with HTTP 400."""


class CommandError(Exception):
    """A user-facing failure: the message says what to do; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_PROBLEM) -> None:
        super().__init__(message)
        self.code = code
