"""Edge: the `stsmesh` command line — argument parsing, files, printing, exit codes.

Every command builds a :class:`~webhook.core.settings.Settings` from flags over ``STSMESH_*`` environment
variables over defaults, then calls into the core (``dry-run``) or the server edge (``serve``).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
import textwrap
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, NoReturn, TextIO

import jsonpatch
import yaml

from webhook import __version__
from webhook.cli import completion
from webhook.cli.explain import explain
from webhook.cli.files import read_source
from webhook.cluster import audit_cmd
from webhook.cluster import cmdline as cluster_cmdline
from webhook.cluster import commands as cluster_commands
from webhook.core.admission import review
from webhook.core.catalogue import Catalogue
from webhook.core.catalogue.load import builtin_catalogue, dump, with_user_catalogue
from webhook.core.catalogue.schema import CatalogueError
from webhook.core.commalist import key_values
from webhook.core.exits import (
    EXIT_CODES,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INVALID_REVIEW,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
)
from webhook.core.inputs import FlagMismatch, InputError, load_documents, pod_review, reviews_from
from webhook.core.mesh import MESH_CHOICES
from webhook.core.namespaces import MeshKnowledge, NamespaceFacts, namespace_facts
from webhook.core.review import InvalidReview, PatchOp, decode_patch
from webhook.core.settings import Settings, SettingsError, assemble
from webhook.core.template import patched_statefulset
from webhook.perpod import command as rendercmd
from webhook.perpod import controller_command

DESCRIPTION = """\
stsmesh makes StatefulSet apps (ZooKeeper, Cassandra, Kafka, etcd, ...) work inside Istio or
Linkerd whatever the mesh version. It is a mutating admission webhook: for each pod a StatefulSet
creates it binds the app to all interfaces where it can, falls back to mesh port exclusions where
it cannot, holds the app until its proxy is ready and labels the pod with its identity.

Start here:
  stsmesh dry-run examples/zookeeper-bitnami.yaml --mesh istio --mesh-version 1.9
  stsmesh catalogue                 the apps stsmesh knows and what it does for each
  stsmesh serve                     run the webhook (a throwaway cert for 127.0.0.1 if none given)

In a cluster:
  stsmesh certs --service stsmesh/stsmesh     CA + serving certificate (certs/)
  stsmesh register --service stsmesh/stsmesh  MutatingWebhookConfiguration 00-stsmesh
  stsmesh enable NAMESPACE                    opt a namespace in
  stsmesh status                              registration, trust, namespaces, health
  stsmesh audit                               pods that need a restart or break across mesh versions
  stsmesh render per-pod sts.yaml             per-pod Services (and Istio objects where needed)
  stsmesh per-pod-controller                  keep them in step with replicas
"""

DRY_RUN_EPILOG = """\
input: an AdmissionReview (JSON/YAML), a Pod, a StatefulSet, or a file with several documents
(Services and other kinds are skipped). For a StatefulSet the pod is built as its controller
would build it for --ordinal.

mesh: 'auto' reads the pod only (injected proxies, sidecar.istio.io/inject, istio.io/rev,
linkerd.io/inject); istio/linkerd/none say what the namespace would inject. Evidence on the pod
wins over the flag. Istio < 1.10 and Linkerd < 2.11 forward inbound traffic to 127.0.0.1.

output (-o): text explains every operation and why; json / yaml print the AdmissionReview
response (one object for one input, a list for several); patched prints the patched object(s):
a Pod or AdmissionReview object with the patch applied, a StatefulSet with its pod template
patched (changes that differ per pod are left to the webhook and listed on stderr).

exit codes: 0 done (changed or not), 2 bad flags, 3 unreadable input, 4 not a valid
AdmissionReview, 70 internal error (please report it).

examples:
  stsmesh dry-run statefulset.yaml --mesh istio --mesh-version 1.9
  stsmesh dry-run review.json -o json | jq -r .response.patch | base64 -d
  helm template my-release bitnami/cassandra | stsmesh dry-run - --mesh linkerd --mesh-version 2.10
"""


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--catalogue",
        metavar="FILE",
        default=None,
        help="extra app catalogue YAML: adds apps or overrides shipped ones by id (env STSMESH_CATALOGUE)",
    )
    parser.add_argument(
        "--on-rule-error",
        choices=("allow", "deny"),
        default=None,
        help="when a rule fails: admit unchanged with a warning (allow, default) or deny (env STSMESH_ON_RULE_ERROR)",
    )
    parser.add_argument(
        "--namespace-mesh",
        metavar="NS=MESH[:VER],...",
        default=None,
        help="per-namespace mesh defaults, e.g. 'shop=istio:1.9,data=linkerd:2.11' (env STSMESH_NAMESPACE_MESH)",
    )


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistake is one line that says what to do (not the usage block), exit 2;
    ``--help`` still prints the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="stsmesh",
        description=DESCRIPTION,
        epilog="exit codes (every command):\n" + "\n".join(f"  {code:>2}  {text}" for code, text in EXIT_CODES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"stsmesh {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    dry = commands.add_parser(
        "dry-run",
        help="show what the webhook would change in a local AdmissionReview, Pod or StatefulSet, and why",
        description="Run the webhook's own review() on a local file and explain the result.",
        epilog=DRY_RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dry.add_argument("file", metavar="FILE|-", help="YAML or JSON file, or - for standard input")
    dry.add_argument("--mesh", choices=MESH_CHOICES, default=None, help="mesh the namespace injects (default: auto)")
    dry.add_argument(
        "--namespace-labels",
        metavar="K=V,...",
        default=None,
        help="labels (and Linkerd's inject annotation) of the pod's namespace, e.g. istio-injection=enabled or "
        "istio.io/dataplane-mode=ambient: the first call as the server would make it (a Namespace document in the "
        "input does the same)",
    )
    dry.add_argument(
        "--mesh-version", metavar="V", default=None, help="mesh version, e.g. 1.9, 1.22, 2.10, stable-2.14.1"
    )
    dry.add_argument(
        "--ordinal",
        type=int,
        default=None,
        metavar="N",
        help="StatefulSet pod ordinal to build (default: the first, spec.ordinals.start or 0)",
    )
    dry.add_argument(
        "--namespace", default="", help="namespace for Pods/StatefulSets without one (default: theirs or 'default')"
    )
    dry.add_argument(
        "-o",
        "--output",
        choices=("text", "json", "yaml", "patched"),
        default="text",
        help="text (default): every change and why; json/yaml: the AdmissionReview response; patched: the "
        "patched object (a StatefulSet with its pod template patched, ready for kubectl apply)",
    )
    _add_common(dry)

    serve = commands.add_parser(
        "serve",
        help="run the webhook server (TLS, /mutate, /healthz, /readyz, /metrics)",
        description=textwrap.dedent(
            """\
            Serve AdmissionReviews over TLS. Routes: POST /mutate, /mutate/<mesh>, /mutate/<mesh>/<version>
            (the path tells the server what the namespaces behind that webhook entry inject),
            GET /healthz, /readyz, /metrics. Certificates are reloaded in place when the files change.
            With no --cert-file a throwaway self-signed certificate for 127.0.0.1 is made (development).
            Every flag has an STSMESH_* environment variable; flags win."""
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default=None, help="listen address (default 0.0.0.0; env STSMESH_HOST)")
    serve.add_argument("--port", type=int, default=None, help="listen port (default 8443; env STSMESH_PORT)")
    serve.add_argument("--cert-file", default=None, help="serving certificate PEM (env STSMESH_CERT_FILE)")
    serve.add_argument("--key-file", default=None, help="serving key PEM (env STSMESH_KEY_FILE)")
    serve.add_argument(
        "--mesh",
        choices=MESH_CHOICES,
        default=None,
        help="default mesh when the pod and path say nothing (env STSMESH_MESH)",
    )
    serve.add_argument("--mesh-version", default=None, help="default mesh version (env STSMESH_MESH_VERSION)")
    serve.add_argument(
        "--log-format", choices=("text", "json"), default=None, help="log format (default text; env STSMESH_LOG_FORMAT)"
    )
    serve.add_argument("--log-level", default=None, help="log level (default INFO; env STSMESH_LOG_LEVEL)")
    serve.add_argument(
        "--watch-cluster",
        choices=("auto", "on", "off"),
        default=None,
        help="watch namespaces and mesh control planes so the first call knows the pod's mesh: auto (default: when "
        "credentials are found), on, off (env STSMESH_WATCH_CLUSTER)",
    )
    serve.add_argument(
        "--kubeconfig", default=None, help="kubeconfig for the watches outside a cluster (env STSMESH_KUBECONFIG)"
    )
    _add_common(serve)

    cat = commands.add_parser(
        "catalogue",
        help="list the apps stsmesh recognises and the fixes each gets",
        description="Print the effective app catalogue (shipped entries plus --catalogue overrides).",
    )
    cluster_cmdline.output_flag(cat)
    _add_common(cat)
    shells = commands.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or fish)",
        description="Print the completion script for SHELL, generated from the commands and flags themselves.",
        epilog="examples:\n  source <(stsmesh completion bash)\n  stsmesh completion fish | source\n"
        '  stsmesh completion zsh > "${fpath[1]}/_stsmesh"',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    shells.add_argument("shell", choices=completion.SHELLS)
    cluster_commands.add_cluster_commands(commands)
    controller_command.add_parser(commands)
    rendercmd.add_render_commands(commands)
    return parser


class UsageError(Exception):
    """A flag or setting is unusable; the message says how to fix it."""


def build_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """The command's settings: flags over ``STSMESH_*`` variables over defaults (one assembly for
    every command, :func:`webhook.core.settings.assemble`)."""
    try:
        return assemble(vars(args), environ, load_catalogue, serving=args.command == "serve")
    except SettingsError as exc:
        raise UsageError(str(exc)) from exc


def load_catalogue(path: str) -> Catalogue:
    """The shipped catalogue with the user file at ``path`` over it."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SettingsError(f"cannot read catalogue {path}: {reason}") from exc
    try:
        return with_user_catalogue(builtin_catalogue(), text, path)
    except CatalogueError as exc:
        raise SettingsError(str(exc)) from exc


def cmd_dry_run(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    origin = "<stdin>" if args.file == "-" else args.file
    try:
        docs = load_documents(read_source(args.file, stdin), origin)
        namespaces = [namespace_facts(d) for d in docs if d.get("kind") == "Namespace" and d.get("apiVersion") == "v1"]
        default_namespace = args.namespace or (namespaces[0][0] if len(namespaces) == 1 else "")
        items, skipped = reviews_from(docs, origin, ordinal=args.ordinal, namespace=default_namespace)
        flagged = key_values(args.namespace_labels) if args.namespace_labels else None
    except FlagMismatch as exc:
        print(f"stsmesh: {exc}", file=err)
        return EXIT_USAGE
    except InputError as exc:
        print(f"stsmesh: {exc}", file=err)
        return EXIT_INPUT
    except ValueError as exc:
        print(f"stsmesh: --namespace-labels: {exc}", file=err)
        return EXIT_USAGE
    knowledge = MeshKnowledge(dict(namespaces))
    skipped = [s for s in skipped if not s.startswith("Namespace ")]
    if skipped and args.output == "text":
        print(f"(skipped {', '.join(skipped)}: only AdmissionReviews, Pods and StatefulSets are reviewed)", file=err)
    responses: list[dict[str, Any]] = []
    found_mesh = False
    patched_objects: list[Any] = []
    texts: list[str] = []
    for item in items:
        request = item.review.get("request")
        original = copy.deepcopy(request.get("object")) if isinstance(request, dict) else None
        item_knowledge = knowledge
        if flagged is not None:
            namespace = str(request.get("namespace") or "") if isinstance(request, dict) else ""
            item_knowledge = knowledge.with_namespace(namespace, NamespaceFacts(flagged, flagged))
        try:
            result = review(copy.deepcopy(item.review), settings, knowledge=item_knowledge)
        except InvalidReview as exc:
            print(f"stsmesh: {item.source}: not a valid AdmissionReview: {exc}", file=err)
            return EXIT_INVALID_REVIEW
        responses.append(result.response)
        if result.mutation is not None and result.mutation.mesh.mesh not in ("none", "unknown"):
            found_mesh = True
        if args.output == "patched":
            if item.statefulset is not None:
                namespace = str(request.get("namespace") or "") if isinstance(request, dict) else ""
                answer = partial(_answer, settings=settings, knowledge=item_knowledge, namespace=namespace)
                try:
                    statefulset, per_pod = patched_statefulset(item.statefulset, namespace, answer)
                except InputError as exc:
                    print(f"stsmesh: {exc}", file=err)
                    return EXIT_INPUT
                patched_objects.append(statefulset)
                if per_pod:
                    paths = ", ".join(f"{op['op']} {op['path']}" for op in per_pod)
                    print(f"({item.source}: per-pod changes left to the webhook: {paths})", file=err)
                continue
            ops = decode_patch(result.response)
            patched_objects.append(jsonpatch.apply_patch(original, ops) if ops else original)
        elif args.output == "text":
            texts.append(explain(item.source, result))
    if args.mesh_version and not args.mesh and not found_mesh:
        print(
            f"(--mesh-version {args.mesh_version} applies to the mesh found on the pod or its namespace, and none "
            "was found: give --mesh too)",
            file=err,
        )
    payload: Any = responses[0] if len(responses) == 1 else responses
    if args.output == "json":
        out.write(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    elif args.output == "yaml":
        out.write(yaml.safe_dump(payload, sort_keys=False))
    elif args.output == "patched":
        out.write(yaml.safe_dump_all(patched_objects, sort_keys=False))
    else:
        out.write("\n\n".join(texts) + "\n")
    return EXIT_OK


def _answer(pod: dict[str, Any], settings: Settings, knowledge: MeshKnowledge, namespace: str) -> list[PatchOp]:
    return decode_patch(review(pod_review(pod, namespace), settings, knowledge=knowledge).response)


def cmd_catalogue(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    apps = settings.catalogue.apps
    if args.output in ("json", "yaml"):
        # The catalogue schema itself: a file --catalogue accepts back (JSON is YAML too).
        cluster_cmdline.write_data(dump(settings.catalogue), args.output, out)
        return EXIT_OK
    for app in apps:
        flavour = f" ({app.flavour})" if app.flavour else ""
        out.write(f"{app.id}: {app.app}{flavour}\n")
        out.write(f"  images: {', '.join(app.match.images) or '-'}\n")
        if app.binds_all:
            out.write(f"  already: {app.binds_all}\n")
        for fix in app.fixes:
            out.write(f"  - {fix.id} [{fix.kind}; inbound {'/'.join(fix.inbound)}]\n")
        out.write(f"  source: {app.source}\n")
    return EXIT_OK


def cmd_serve(settings: Settings) -> int:
    import asyncio

    from webhook.server import lifecycle as server
    from webhook.server import logs
    from webhook.server.apiaccess import ApiAccessError

    logs.configure(settings.log_level, settings.log_format)
    try:
        asyncio.run(server.run(settings))
    except ApiAccessError as exc:
        raise UsageError(f"{exc}; give --kubeconfig FILE, or --watch-cluster off") from exc
    return EXIT_OK


def cmd_per_pod_controller(args: argparse.Namespace, out: TextIO) -> int:
    from webhook.server import logs

    logs.configure("INFO", args.log_format)
    return controller_command.cmd_per_pod_controller(args, out)


CLUSTER_COMMANDS = {**cluster_commands.COMMANDS, "per-pod-controller": cmd_per_pod_controller}
"""Commands that talk to the cluster and take no settings."""


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """The `stsmesh` command. Returns the exit code (see each command's --help)."""
    err = err or sys.stderr
    environ = os.environ if environ is None else environ
    try:
        return _main(argv, out or sys.stdout, err, stdin or sys.stdin, environ)
    except BrokenPipeError:
        # `stsmesh ... | head`: the reader left; stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return 130  # the shell's code for a command ended by SIGINT
    except Exception as exc:  # a bug: one line, not a traceback (STSMESH_DEBUG=1 shows it)
        if os.environ.get("STSMESH_DEBUG") == "1":
            raise
        say_error(f"internal error ({type(exc).__name__}: {exc}); please report it", err, _log_format(argv, environ))
        return EXIT_INTERNAL


def say_error(message: str, err: TextIO, log_format: str) -> None:
    """The one line a failed command prints: ``stsmesh: ...``, or a JSON log line under
    ``--log-format json`` (so a log pipeline parses start-up failures too)."""
    if log_format == "json":
        from webhook.server.logs import make_formatter

        record = logging.makeLogRecord({"name": "stsmesh", "levelno": logging.ERROR, "levelname": "ERROR",
                                        "msg": message})  # fmt: skip
        print(make_formatter("json").format(record), file=err)
    else:
        print(f"stsmesh: {message}", file=err)


def _log_format(argv: Sequence[str] | None, environ: Mapping[str, str]) -> str:
    """``--log-format`` as given (read from argv: the failure may come before parsing ends), else
    ``STSMESH_LOG_FORMAT``."""
    words = list(sys.argv[1:] if argv is None else argv)
    for index, word in enumerate(words):
        if word == "--log-format" and index + 1 < len(words):
            return words[index + 1]
        if word.startswith("--log-format="):
            return word.partition("=")[2]
    return environ.get("STSMESH_LOG_FORMAT", "text")


def _main(argv: Sequence[str] | None, out: TextIO, err: TextIO, stdin: TextIO, environ: Mapping[str, str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(out)
        return EXIT_USAGE
    if args.command == "completion":
        out.write(completion.script(args.shell, parser))
        return EXIT_OK
    if args.command == "render":
        return rendercmd.cmd_render(args, out, err, lambda path: read_source(path, stdin))
    try:
        if args.command in CLUSTER_COMMANDS:
            return CLUSTER_COMMANDS[args.command](args, out)
        settings = build_settings(args, environ)
        if args.command == "audit":
            return audit_cmd.cmd_audit(args, out, settings)
        if args.command == "dry-run":
            return cmd_dry_run(args, settings, out, err, stdin)
        if args.command == "catalogue":
            return cmd_catalogue(args, settings, out)
        if args.command == "serve":
            return cmd_serve(settings)
    except UsageError as exc:
        say_error(str(exc), err, _log_format(argv, environ))
        return EXIT_USAGE
    except CommandError as exc:
        say_error(str(exc), err, _log_format(argv, environ))
        return exc.code
    parser.print_help(err)
    return EXIT_USAGE
