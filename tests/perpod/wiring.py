"""``cmd_render`` as webhook.cli.main wires it: files (or ``-`` for standard input) read by
:func:`webhook.cli.files.read_source`, which webhook.perpod itself must not import."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from webhook.cli.files import read_source
from webhook.perpod import command


def cmd_render(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO | None = None) -> int:
    return command.cmd_render(args, out, err, lambda path: read_source(path, stdin or sys.stdin))
