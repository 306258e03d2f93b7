"""Edge: ``stsmesh audit`` — list the cluster's StatefulSet pods and review each with
:mod:`webhook.cluster.audit`, under the same settings as ``serve``."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from webhook.cluster.cmdline import (
    api_for,
    call,
    kube_flags,
    kube_module,
    mesh_flags,
    output_flag,
    scope_flags,
    write_data,
)
from webhook.core.exits import EXIT_ATTENTION, EXIT_OK, EXIT_USAGE, CommandError
from webhook.core.settings import Settings


def add_parser(commands: Any) -> None:
    a = commands.add_parser(
        "audit",
        help="report StatefulSet pods that need a restart, would break across Istio 1.10 / Linkerd 2.11, or conflict",
        description=(
            "Review every StatefulSet pod as the webhook would now. Reports pods missing fixes (restart them),"
            " apps that listen on the pod IP only or on 127.0.0.1 only (so they break on one side of Istio"
            " 1.10 / Linkerd 2.11), and mesh annotations that conflict with each other or with the injected"
            " proxy. Exit 1 when anything needs attention and 5 when the cluster could not be checked, so a CI"
            " gate can tell the two apart."
        ),
    )
    scope_flags(a, "every namespace (default: the enabled ones)")
    mesh_flags(a, "assumed when pods and namespaces do not say")
    output_flag(a, "table")  # table: the text output's old name
    a.add_argument("--catalogue", default=None, metavar="FILE", help="extra app catalogue, as for serve")
    kube_flags(a)


def cmd_audit(args: argparse.Namespace, out: TextIO, settings: Settings) -> int:
    """Review the cluster's StatefulSet pods with ``settings``, assembled as for ``serve``."""
    from webhook.cluster import audit

    default_hint = settings.default_hint
    api = api_for(args)
    kube = kube_module()
    namespaces_meta = call(lambda: kube.namespace_metadata(api))
    if args.all_namespaces:
        scope = None
    elif args.namespaces:
        scope = list(args.namespaces)
    else:
        scope = call(lambda: kube.enabled_namespaces(api))
        if not scope:
            raise CommandError("no namespace is enabled: pass -n NAMESPACE or -A (all namespaces)", EXIT_USAGE)
    pods = call(lambda: kube.statefulset_pods(api, scope))
    audits = []
    for pod in sorted(pods, key=lambda p: (p["metadata"].get("namespace", ""), p["metadata"].get("name", ""))):
        meta = namespaces_meta.get(pod["metadata"].get("namespace", ""), {})
        hint = audit.namespace_hint(meta.get("labels") or {}, meta.get("annotations") or {})
        if hint.mesh is None or (hint.version is None and default_hint.mesh == hint.mesh):
            hint = default_hint  # the namespace says nothing (or less than the flags)
        result = audit.audit_pod(pod, settings, hint)
        if result is not None:
            audits.append(result)
    if args.output in ("json", "yaml"):
        write_data({"pods": [a.as_dict() for a in audits]}, args.output, out)
    else:
        out.write(audit.table(audits))
    return EXIT_ATTENTION if any(a.broken for a in audits) else EXIT_OK
