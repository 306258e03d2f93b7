"""Edge: ``stsmesh register``, ``unregister``, ``enable`` and ``disable`` — the
MutatingWebhookConfiguration (built by :mod:`webhook.cluster.manifests`) and the namespace label."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

import yaml

from webhook.cluster import manifests
from webhook.cluster.cmdline import api_for, call, kube_flags, kube_module
from webhook.core.exits import EXIT_OK, EXIT_USAGE, CommandError


def add_parsers(commands: Any) -> None:
    r = commands.add_parser(
        "register",
        help="create or update the MutatingWebhookConfiguration (00-stsmesh)",
        description=(
            "Write the MutatingWebhookConfiguration. It is named 00-stsmesh so that it sorts before"
            " istio-sidecar-injector* and linkerd-proxy-injector-webhook-config: the apiserver runs"
            " configurations in name order and our annotations must reach the mesh injector."
            " reinvocationPolicy IfNeeded lets stsmesh patch the injected init container afterwards."
        ),
    )
    target = r.add_mutually_exclusive_group()
    target.add_argument(
        "--service", default=None, metavar="NS/NAME", help="in-cluster Service (default stsmesh/stsmesh)"
    )
    target.add_argument("--url", default=None, help="https://host:port/mutate for out-of-cluster development")
    r.add_argument("--port", type=int, default=443, help="Service port (default 443)")
    r.add_argument("--path", default="/mutate", help="path; /mutate/<mesh>/<version> tells the server the mesh")
    r.add_argument(
        "--ca-file",
        default="certs/ca.crt",
        help="CA of the serving cert (caBundle); '' leaves it empty for cert-manager",
    )
    r.add_argument("--failure-policy", choices=("Ignore", "Fail"), default="Ignore")
    r.add_argument("--timeout", type=int, default=5, help="timeoutSeconds, 1-30 (default 5)")
    r.add_argument("--webhook-namespace", default=None, help="namespace the webhook runs in (never mutated)")
    r.add_argument("--dry-run", action="store_true", help="print the manifest instead of applying it")
    kube_flags(r)
    u = commands.add_parser("unregister", help="delete the MutatingWebhookConfiguration")
    kube_flags(u)
    for verb, text in (
        ("enable", "label namespaces so the webhook sees their StatefulSet pods"),
        ("disable", "remove the label; the webhook stops seeing the namespace"),
    ):
        p = commands.add_parser(verb, help=text, description=f"{text} ({manifests.ENABLE_LABEL}).")
        p.add_argument("namespaces", nargs="+", metavar="NS")
        kube_flags(p)


def build_configuration(args: argparse.Namespace) -> dict[str, Any]:
    if not 1 <= args.timeout <= 30:
        raise CommandError("--timeout must be between 1 and 30 seconds (the apiserver's limits)", EXIT_USAGE)
    try:
        ca = Path(args.ca_file).read_bytes() if args.ca_file else b""
    except OSError as exc:
        raise CommandError(
            f"cannot read the CA {args.ca_file} ({exc.strerror}); make one with `stsmesh certs` or pass --ca-file",
            EXIT_USAGE,
        ) from exc
    if args.url:
        try:
            manifests.validate_url(args.url)
        except ValueError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from exc
        target = manifests.Target(url=args.url)
        namespace = args.webhook_namespace or manifests.DEFAULT_NAMESPACE
    else:
        try:
            namespace, name = manifests.parse_service(
                args.service or f"{manifests.DEFAULT_NAMESPACE}/{manifests.DEFAULT_SERVICE}"
            )
        except ValueError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from exc
        target = manifests.Target(
            service_namespace=namespace, service_name=name, service_port=args.port, path=args.path
        )
        namespace = args.webhook_namespace or namespace
    return manifests.webhook_configuration(
        target, ca, webhook_namespace=namespace, failure_policy=args.failure_policy, timeout_seconds=args.timeout
    )


def cmd_register(args: argparse.Namespace, out: TextIO) -> int:
    body = build_configuration(args)
    if args.dry_run:
        out.write(yaml.safe_dump(body, sort_keys=False))
        return EXIT_OK
    api = api_for(args)
    kube = kube_module()
    result = call(lambda: kube.apply_webhook_configuration(api, body))
    out.write(f"MutatingWebhookConfiguration {body['metadata']['name']} {result}\n")
    out.write("next: stsmesh enable NAMESPACE (only labelled namespaces are mutated)\n")
    return EXIT_OK


def cmd_unregister(args: argparse.Namespace, out: TextIO) -> int:
    api = api_for(args)
    kube = kube_module()
    deleted = call(lambda: kube.delete_webhook_configuration(api))
    name = manifests.WEBHOOK_CONFIGURATION_NAME
    out.write(f"MutatingWebhookConfiguration {name} {'deleted' if deleted else 'was not registered'}\n")
    return EXIT_OK


def cmd_enable(args: argparse.Namespace, out: TextIO, enabled: bool) -> int:
    api = api_for(args)
    kube = kube_module()
    for namespace in args.namespaces:
        call(lambda ns=namespace: kube.set_namespace_enabled(api, ns, enabled))
        out.write(f"namespace {namespace} {'enabled' if enabled else 'disabled'}\n")
    if enabled:
        out.write("existing pods are not changed: restart their StatefulSets to apply the fixes\n")
    return EXIT_OK
