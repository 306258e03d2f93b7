"""Edge: the cluster-facing commands — certs, register, unregister, enable, disable, status, audit.

Each command module adds its own parser and handles its parsed arguments, returning an exit code;
the objects come from the pure :mod:`webhook.cluster.manifests` and :mod:`webhook.core.certs`, the
API calls from :mod:`webhook.cluster.kube`. Errors are one :class:`~webhook.core.exits.CommandError`
line that says what to do next.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from webhook.cluster import audit_cmd, certs_cmd, check_cmd, register_cmd, status_cmd

Command = Callable[[argparse.Namespace, TextIO], int]

COMMANDS: Mapping[str, Command] = {
    "certs": certs_cmd.cmd_certs,
    "register": register_cmd.cmd_register,
    "unregister": register_cmd.cmd_unregister,
    "enable": lambda args, out: register_cmd.cmd_enable(args, out, True),
    "disable": lambda args, out: register_cmd.cmd_enable(args, out, False),
    "status": status_cmd.cmd_status,
    "check": check_cmd.cmd_check,
}
"""The commands that need no settings; ``audit`` takes them too (:func:`audit_cmd.cmd_audit`)."""


def add_cluster_commands(commands: Any) -> None:
    """Register the cluster subcommands on the CLI's subparsers object."""
    certs_cmd.add_parser(commands)
    register_cmd.add_parsers(commands)
    audit_cmd.add_parser(commands)
    status_cmd.add_parser(commands)
    check_cmd.add_parser(commands)
