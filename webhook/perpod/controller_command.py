"""Edge: ``stsmesh per-pod-controller`` — run :mod:`webhook.perpod.controller` against the
cluster (or one pass with ``--once``); the caller configures logging."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from webhook.cluster.cmdline import api_for, call, kube_flags, kube_module, mesh_flags, scope_flags
from webhook.core.exits import EXIT_OK, EXIT_USAGE, CommandError

WHAT = "reconcile per-pod objects"


def add_parser(commands: Any) -> None:
    c = commands.add_parser(
        "per-pod-controller",
        help="keep per-pod Services (and Istio objects) in step with StatefulSets that opt in",
        description=(
            'Watch StatefulSets annotated stsmesh.io/per-pod: "true" and keep the objects `stsmesh render per-pod`'
            " renders for them in step with spec.replicas: created on scale-up, deleted on scale-down, owned by"
            " the StatefulSet (deleted with it), never touching objects stsmesh did not create. Options per"
            " StatefulSet: stsmesh.io/per-pod-service-type, stsmesh.io/per-pod-host-pattern, stsmesh.io/per-pod-mesh"
            " (e.g. istio:1.9)."
        ),
    )
    scope_flags(c, "every namespace (the default)")
    mesh_flags(c, "assumed when the StatefulSet does not say (stsmesh.io/per-pod-mesh)")
    c.add_argument("--resync", type=int, default=30, metavar="SECONDS", help="full pass interval (default 30)")
    c.add_argument("--once", action="store_true", help="one reconcile pass, then exit (cron, CI)")
    c.add_argument("--log-format", choices=("text", "json"), default="text")
    c.add_argument(
        "--leader-elect",
        action="store_true",
        help="run as one of several replicas: only the holder of the Lease acts (coordination.k8s.io/v1)",
    )
    c.add_argument(
        "--lease-namespace", default=None, help="the Lease's namespace (default: $POD_NAMESPACE, else stsmesh)"
    )
    c.add_argument(
        "--lease-seconds", type=float, default=15.0, help="lease duration (default 15; renew deadline 2/3 of it)"
    )
    kube_flags(c)


def cmd_per_pod_controller(args: argparse.Namespace, out: TextIO) -> int:
    import signal
    import threading

    from webhook.core.mesh import MeshHint
    from webhook.perpod import controller as perpodctl

    try:
        hint = MeshHint.parse(args.mesh, args.mesh_version)
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from exc
    api = api_for(args)
    kube = kube_module()
    namespaces = None if args.all_namespaces or not args.namespaces else list(args.namespaces)
    if args.once:
        reconcile = perpodctl.Reconciler(api, hint)
        counts = call(lambda: kube.translated(WHAT, api, lambda: reconcile.reconcile_all(namespaces)))
        out.write(f"{counts.created} created, {counts.updated} updated, {counts.deleted} deleted\n")
        return EXIT_OK
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    def follow(until: threading.Event) -> None:
        perpodctl.run(api, namespaces, hint, resync_seconds=args.resync, stop=until)

    if not args.leader_elect:
        call(lambda: kube.translated(WHAT, api, lambda: follow(stop)))
        return EXIT_OK
    if not 1 <= args.lease_seconds <= 300:
        raise CommandError("--lease-seconds must be between 1 and 300", EXIT_USAGE)
    import os
    import socket

    from webhook.perpod.leader import LeaderElector

    namespace = args.lease_namespace or os.environ.get("POD_NAMESPACE") or "stsmesh"
    identity = f"{os.environ.get('HOSTNAME') or socket.gethostname()}_{os.getpid()}"
    lease = args.lease_seconds
    elector = LeaderElector(api, namespace, identity, lease_seconds=lease, renew_deadline_seconds=lease * 2 / 3,
                            retry_seconds=lease / 7.5)  # fmt: skip
    elector.run(stop, follow)
    return EXIT_OK
