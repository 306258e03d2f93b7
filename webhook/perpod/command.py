"""Edge: ``stsmesh render per-pod`` — read a StatefulSet file, print the per-pod objects and why.

Parses the flags into :class:`webhook.perpod.options.PerPodOptions`, reads the file (or standard input)
through the ``read`` function the CLI hands it, calls the pure :func:`webhook.perpod.render.render_documents`
and prints the objects: YAML documents with the notes as comments on top (the default), or a JSON ``List``
with the notes on standard error. Exit codes follow ``dry-run``: 0 done, 2 bad flags or options,
3 unreadable input (e.g. no StatefulSet).
"""

from __future__ import annotations

import argparse
import json
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import yaml

from webhook.core.inputs import InputError, load_documents
from webhook.core.mesh import MESH_CHOICES, MeshHint
from webhook.perpod.options import DEFAULT_CLUSTER_DOMAIN, SERVICE_TYPES, PerPodOptions, parse_selector
from webhook.perpod.render import COMMAND_PREFIX, render_documents

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INPUT = 3

NOTE_WIDTH = 110

PER_POD_DESCRIPTION = """\
Render the objects that let clients reach each pod of a StatefulSet on its own: a Service per pod
(selecting statefulset.kubernetes.io/pod-name), plus the Istio objects the mesh version needs. Nothing
is applied: pipe the output to kubectl. Notes at the top say what was rendered or left out, and why.

what you get, per pod <set>-<n>:
  Service <pod>          always; ClusterIP, or LoadBalancer/NodePort with externalTrafficPolicy Local
  ServiceEntry <pod>     Istio before 1.10 only (1.10+ reaches pods by their headless DNS names),
                         or with --force-service-entry; HTTP, gRPC and TLS ports only
  Gateway + VirtualService <pod>
                         Istio with --host-pattern: HTTP/gRPC by Host, TLS passthrough by SNI, plain
                         TCP on a gateway port per pod (--tcp-gateway-port-base)
  Linkerd, no mesh:      Services only

Every object is labelled app.kubernetes.io/managed-by=stsmesh, stsmesh.io/statefulset=<set> and
stsmesh.io/ordinal=<n>; a StatefulSet taken from the cluster (with metadata.uid) also owns them.
"""

PER_POD_EPILOG = """\
input: a YAML/JSON file (or - for stdin) with the StatefulSet and, ideally, its governing headless
Service (spec.serviceName): the per-pod ports are the headless Service's; without it, the containers'.

mesh: 'auto' (the default) reads the pod template (sidecar.istio.io/inject, istio.io/rev,
linkerd.io/inject); istio/linkerd/none say what the namespace injects. The version decides the
objects: Istio < 1.10 gets ServiceEntries; networking.istio.io/v1 from Istio 1.22, v1beta1 from
1.5 (and when no version is given), v1alpha3 before.

host pattern placeholders: {pod} {ordinal} {statefulset} {namespace}; one of {pod}/{ordinal} is required.

exit codes: 0 done, 2 bad flags or options, 3 unreadable input (no StatefulSet, bad YAML).

examples:
  stsmesh render per-pod zk.yaml --mesh istio --mesh-version 1.9 | kubectl apply -f -
  stsmesh render per-pod prometheus.yaml --mesh istio --mesh-version 1.9 \\
      --host-pattern 'cluster-a-{pod}.example.com'
  stsmesh render per-pod zk.yaml --mesh istio --mesh-version 1.22 --host-pattern 'zk-{ordinal}.example.com' \\
      --tcp-gateway-port-base 31400 --gateway-selector istio=ingressgateway
  kubectl get sts/quarkus-statefulset svc/quarkus -o yaml | stsmesh render per-pod - --service-type LoadBalancer
  stsmesh render per-pod zk.yaml -o json | jq '.items[].metadata.name'
"""


def add_render_commands(commands: Any) -> None:
    """Register ``render`` (and its ``per-pod`` subcommand) on the CLI's subparsers object."""
    render = commands.add_parser(
        "render",
        help="print objects stsmesh can generate for a StatefulSet (per-pod Services, Istio routing)",
        description="Print objects for a StatefulSet without applying them. See `stsmesh render per-pod --help`.",
    )
    kinds = render.add_subparsers(dest="render_what", metavar="WHAT", required=True)
    per_pod = kinds.add_parser(
        "per-pod",
        help="a Service per pod, plus the ServiceEntry/Gateway/VirtualService the mesh version needs",
        description=PER_POD_DESCRIPTION,
        epilog=PER_POD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    per_pod.add_argument("file", metavar="FILE|-", help="YAML or JSON file, or - for standard input")
    per_pod.add_argument("--mesh", choices=MESH_CHOICES, default=None, help="mesh the namespace injects (default auto)")
    per_pod.add_argument("--mesh-version", metavar="V", default=None, help="mesh version, e.g. 1.9, 1.22, 2.11")
    per_pod.add_argument(
        "--service-type",
        choices=SERVICE_TYPES,
        default="ClusterIP",
        help="type of the per-pod Services (default ClusterIP; LoadBalancer/NodePort reach pods from outside)",
    )
    per_pod.add_argument(
        "--host-pattern",
        metavar="P",
        default=None,
        help="Istio: a Gateway + VirtualService per pod for this host, e.g. '{pod}.example.com'",
    )
    per_pod.add_argument(
        "--gateway-selector",
        metavar="K=V[,K=V]",
        default=None,
        help="labels of the gateway pods the Gateways select (default istio=ingressgateway)",
    )
    per_pod.add_argument(
        "--tcp-gateway-port-base",
        metavar="N",
        type=int,
        default=None,
        help="first gateway port for plain TCP: each pod's TCP ports get ports of their own from N up",
    )
    per_pod.add_argument(
        "--force-service-entry",
        action="store_true",
        help="render the Istio ServiceEntries even where the version does not need them (1.10+, unknown)",
    )
    per_pod.add_argument(
        "--namespace", default=None, help="namespace of the objects (default: the StatefulSet's, else 'default')"
    )
    per_pod.add_argument(
        "--cluster-domain",
        default=DEFAULT_CLUSTER_DOMAIN,
        help=f"cluster DNS domain in pod DNS names (default {DEFAULT_CLUSTER_DOMAIN})",
    )
    per_pod.add_argument(
        "-o", "--output", choices=("yaml", "json"), default="yaml", help="output format (default yaml)"
    )


def options_from_args(args: argparse.Namespace) -> PerPodOptions:
    """The flags as options; ValueError (a usage error) with a message saying what to do."""
    return PerPodOptions(
        hint=MeshHint.parse(args.mesh, args.mesh_version),
        service_type=args.service_type,
        host_pattern=args.host_pattern,
        gateway_selector=parse_selector(args.gateway_selector) if args.gateway_selector is not None else None,
        tcp_gateway_port_base=args.tcp_gateway_port_base,
        force_service_entry=args.force_service_entry,
        namespace=args.namespace,
        cluster_domain=args.cluster_domain,
    )


def cmd_render(args: argparse.Namespace, out: TextIO, err: TextIO, read: Callable[[str], str]) -> int:
    """``stsmesh render per-pod``. ``read`` gives the text of a path, or of standard input for ``-``,
    and raises :class:`webhook.core.inputs.InputError` when it cannot."""
    origin = "<stdin>" if args.file == "-" else args.file
    try:
        options = options_from_args(args)
        options.validate()
    except ValueError as exc:
        print(f"stsmesh: {exc}", file=err)
        return EXIT_USAGE
    try:
        docs = load_documents(read(args.file), origin)
        rendered = render_documents(docs, options, origin)
    except InputError as exc:  # before ValueError: InputError is one
        print(f"stsmesh: {exc}", file=err)
        return EXIT_INPUT
    except ValueError as exc:
        print(f"stsmesh: {exc}", file=err)
        return EXIT_USAGE
    header = comment_block(f"stsmesh render per-pod {origin}: {len(rendered.objects)} object(s)", rendered.notes)
    if args.output == "json":
        err.write(header)
        out.write(json.dumps({"apiVersion": "v1", "kind": "List", "items": rendered.objects}, indent=2) + "\n")
    else:
        out.write(header)
        for obj in rendered.objects:
            out.write("---\n" + yaml.safe_dump(obj, sort_keys=False))
    return EXIT_OK


def comment_block(title: str, notes: Sequence[str]) -> str:
    """The notes as ``#`` lines: a YAML reader skips them, a person reads them first."""
    lines = [f"# {title}"]
    for note in notes:
        if note.startswith(COMMAND_PREFIX):  # a command stays on one line, to copy as is
            lines.append(f"#   {note}")
            continue
        wrapped = textwrap.wrap(note, NOTE_WIDTH, break_long_words=False, break_on_hyphens=False)
        lines.extend(f"# {'-' if i == 0 else ' '} {line}" for i, line in enumerate(wrapped))
    return "\n".join(lines) + "\n"
