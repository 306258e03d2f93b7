"""Pure: the exit codes every ``stsmesh`` command documents, and the error that carries one.

Declared once here: the CLI returns them, the cluster and per-pod commands raise
:class:`CommandError` with them, and ``--help`` texts and the README quote them (:data:`EXIT_CODES`).
"""

from __future__ import annotations

EXIT_OK = 0
"""Done (a dry-run that changed nothing included)."""

EXIT_ATTENTION = 1
"""The command ran, and what it checked needs attention (``audit``, ``status``, ``check``)."""

EXIT_USAGE = 2
"""A flag or setting cannot be used; the message says which and what it accepts."""

EXIT_INPUT = 3
"""The input file cannot be read or holds nothing stsmesh reviews."""

EXIT_INVALID_REVIEW = 4
"""The input is an AdmissionReview the webhook would reject with HTTP 400."""

EXIT_CLUSTER = 5
"""The cluster could not be reached, or refused or failed a call: nothing was checked or changed."""

EXIT_INTERNAL = 70
"""A bug in stsmesh (BSD's EX_SOFTWARE): the message asks for a report."""

EXIT_CODES = {
    EXIT_OK: "done",
    EXIT_ATTENTION: "something needs attention (audit, status, check)",
    EXIT_USAGE: "a flag or setting cannot be used",
    EXIT_INPUT: "the input cannot be read",
    EXIT_INVALID_REVIEW: "not a valid AdmissionReview",
    EXIT_CLUSTER: "the cluster could not be reached or refused a call",
    EXIT_INTERNAL: "internal error (please report it)",
}
"""Every code with its one-line meaning, for ``--help`` and the README."""


class CommandError(Exception):
    """A user-facing failure: the message says what to do; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_ATTENTION) -> None:
        super().__init__(message)
        self.code = code
