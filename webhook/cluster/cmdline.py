r"""Edge: what the cluster commands share — the kubeconfig, scope and mesh flags, and the
Kubernetes client, imported on first use, whose errors become one-line :class:`CommandError`\ s."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any, TextIO

from webhook.core.exits import EXIT_CLUSTER, CommandError
from webhook.core.mesh import MESH_CHOICES


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def scope_flags(parser: argparse.ArgumentParser, all_help: str) -> None:
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", dest="namespaces", metavar="NS", help="repeatable")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help=all_help)


def mesh_flags(parser: argparse.ArgumentParser, version_help: str) -> None:
    parser.add_argument("--mesh", choices=MESH_CHOICES, default=None)
    parser.add_argument("--mesh-version", default=None, help=version_help)


OUTPUTS = ("text", "json", "yaml")
"""The output formats of every command that prints a result: text for people, json/yaml for tools."""


def output_flag(parser: argparse.ArgumentParser, *extra: str) -> None:
    parser.add_argument(
        "-o", "--output", choices=(*OUTPUTS, *extra), default="text", help="text (default), json or yaml"
    )


def write_data(data: Any, output: str, out: TextIO) -> None:
    """``data`` as JSON or YAML (``output``), the same document either way."""
    if output == "yaml":
        import yaml

        out.write(yaml.safe_dump(data, sort_keys=False, width=100))
    else:
        out.write(json.dumps(data, indent=2) + "\n")


def kube_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--context", default=None, help="kubeconfig context")


def api_for(args: argparse.Namespace) -> Any:
    kube = kube_module()
    return call(lambda: kube.api_client(args.kubeconfig, args.context))


def kube_module() -> Any:
    # Imported on first use: the kubernetes client costs ~30 MiB and ~0.3 s, and `serve` and
    # `dry-run` never need it.
    from webhook.cluster import kube

    return kube


def call(fn: Any) -> Any:
    kube = kube_module()
    try:
        return fn()
    except kube.KubeError as exc:
        raise CommandError(str(exc), EXIT_CLUSTER) from exc
