"""Edge: the cluster-facing commands — certs, register, unregister, enable, disable, status.

Each function takes parsed arguments and an output stream and returns an exit code; the objects
come from the pure :mod:`webhook.cluster.manifests` and :mod:`webhook.core.certs`, the API calls from
:mod:`webhook.cluster.kube`. Errors are one line that says what to do next.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import ssl
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from webhook.cluster import manifests
from webhook.core import certs

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2


class CommandError(Exception):
    """A user-facing failure: the message says what to do; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_PROBLEM) -> None:
        super().__init__(message)
        self.code = code


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def add_cluster_commands(commands: Any) -> None:
    """Register the subcommands on the CLI's subparsers object."""
    c = commands.add_parser(
        "certs",
        help="make a CA and a serving certificate for the webhook (files in certs/, or a Secret)",
        description=(
            "Make (or renew) the webhook's CA and serving certificate. The CA in --out-dir is reused when"
            " present, so renewing the serving certificate keeps the registered caBundle valid. SANs: <svc>,"
            " <svc>.<ns>, <svc>.<ns>.svc, <svc>.<ns>.svc.cluster.local, plus --ip/--dns."
        ),
        epilog=(
            "examples:\n"
            "  stsmesh certs --ip 127.0.0.1                     # local development (serve + register --url)\n"
            "  stsmesh certs --service stsmesh/stsmesh -o secret | kubectl apply -f -\n"
            "  stsmesh certs --renew-within 30                  # re-issue only when expiring within 30 days"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument(
        "--out-dir", default="certs", help="where to write ca.crt, ca.key, tls.crt, tls.key (default certs/)"
    )
    c.add_argument("--service", default=f"{manifests.DEFAULT_NAMESPACE}/{manifests.DEFAULT_SERVICE}", metavar="NS/NAME")
    c.add_argument("--ip", action="append", default=[], help="IP SAN (repeatable), e.g. 127.0.0.1")
    c.add_argument("--dns", action="append", default=[], help="extra DNS SAN (repeatable)")
    c.add_argument("--key-type", choices=("ecdsa", "rsa"), default="ecdsa", help="ECDSA P-256 (default) or RSA 2048")
    c.add_argument("--days", type=int, default=365, help="serving certificate validity (default 365)")
    c.add_argument("--ca-days", type=int, default=3650, help="CA validity (default 3650)")
    c.add_argument("--renew-within", type=int, default=None, metavar="DAYS", help="only re-issue when expiring sooner")
    c.add_argument("-o", "--output", choices=("files", "secret"), default="files", help="files (default) or a Secret")
    c.add_argument("--secret-name", default="stsmesh-tls")

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
    _kube_flags(r)

    u = commands.add_parser("unregister", help="delete the MutatingWebhookConfiguration")
    _kube_flags(u)

    for verb, text in (
        ("enable", "label namespaces so the webhook sees their StatefulSet pods"),
        ("disable", "remove the label; the webhook stops seeing the namespace"),
    ):
        p = commands.add_parser(verb, help=text, description=f"{text} ({manifests.ENABLE_LABEL}).")
        p.add_argument("namespaces", nargs="+", metavar="NS")
        _kube_flags(p)

    a = commands.add_parser(
        "audit",
        help="report StatefulSet pods that need a restart, would break across Istio 1.10 / Linkerd 2.11, or conflict",
        description=(
            "Review every StatefulSet pod as the webhook would now. Reports pods missing fixes (restart them),"
            " apps that listen on the pod IP only or on 127.0.0.1 only (so they break on one side of Istio"
            " 1.10 / Linkerd 2.11), and mesh annotations that conflict with each other or with the injected"
            " proxy. Exit 1 when anything needs attention, so it can gate a CI pipeline."
        ),
    )
    _scope_flags(a, "every namespace (default: the enabled ones)")
    _mesh_flags(a, "assumed when pods and namespaces do not say")
    a.add_argument("-o", "--output", choices=("table", "json"), default="table")
    a.add_argument("--catalogue", default=None, metavar="FILE", help="extra app catalogue, as for serve")
    _kube_flags(a)

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
    _scope_flags(c, "every namespace (the default)")
    _mesh_flags(c, "assumed when the StatefulSet does not say (stsmesh.io/per-pod-mesh)")
    c.add_argument("--resync", type=int, default=30, metavar="SECONDS", help="full pass interval (default 30)")
    c.add_argument("--once", action="store_true", help="one reconcile pass, then exit (cron, CI)")
    c.add_argument("--log-format", choices=("text", "json"), default="text")
    _kube_flags(c)

    s = commands.add_parser(
        "status",
        help="show registration, whether its caBundle verifies the serving cert, enabled namespaces, health",
        description="Exit 0 when registered, trusted and healthy; 1 when something needs attention.",
    )
    s.add_argument("--cert-file", default=None, help="serving cert to check against the caBundle (Service targets)")
    _kube_flags(s)


def _scope_flags(parser: argparse.ArgumentParser, all_help: str) -> None:
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", dest="namespaces", metavar="NS", help="repeatable")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help=all_help)


def _mesh_flags(parser: argparse.ArgumentParser, version_help: str) -> None:
    parser.add_argument("--mesh", choices=("istio", "linkerd", "none", "auto"), default=None)
    parser.add_argument("--mesh-version", default=None, help=version_help)


def _kube_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--context", default=None, help="kubeconfig context")


# --- certs ----------------------------------------------------------------------------------------


def cmd_certs(args: argparse.Namespace, out: TextIO) -> int:
    try:
        namespace, service = manifests.parse_service(args.service)
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from exc
    dns = [*certs.service_dns_names(service, namespace), *args.dns]
    if args.ip:
        dns.append("localhost")
    now = _now()
    out_dir = Path(args.out_dir)
    ca_cert, ca_key, tls_crt, tls_key = (out_dir / n for n in ("ca.crt", "ca.key", "tls.crt", "tls.key"))
    ca = certs.Pem(ca_cert.read_bytes(), ca_key.read_bytes()) if ca_cert.exists() and ca_key.exists() else None
    if args.output == "files" and args.renew_within is not None and ca and tls_crt.exists():
        info = certs.cert_info(tls_crt.read_bytes())
        if not certs.needs_renewal(tls_crt.read_bytes(), now, dt.timedelta(days=args.renew_within)):
            out.write(
                f"{tls_crt} is valid until {info.not_after:%Y-%m-%d} (more than {args.renew_within} days): kept\n"
            )
            return EXIT_OK
    if ca is None or (ca and certs.needs_renewal(ca.cert, now, dt.timedelta(days=1))):
        ca = certs.make_ca(now, days=args.ca_days, key_type=args.key_type)
        made_ca = True
    else:
        made_ca = False
    serving = certs.make_serving_cert(ca, now, dns, args.ip, days=args.days, key_type=args.key_type)
    if args.output == "secret":
        secret = manifests.tls_secret(args.secret_name, namespace, serving.cert, serving.key, ca.cert)
        out.write(yaml.safe_dump(secret, sort_keys=False))
        return EXIT_OK
    out_dir.mkdir(parents=True, exist_ok=True)
    if made_ca:
        _write(ca_cert, ca.cert, 0o644)
        _write(ca_key, ca.key, 0o600)
    _write(tls_crt, serving.cert, 0o644)
    _write(tls_key, serving.key, 0o600)
    info = certs.cert_info(serving.cert)
    out.write(
        f"{'wrote' if made_ca else 'kept'} CA {ca_cert} (valid until {certs.cert_info(ca.cert).not_after:%Y-%m-%d})\n"
    )
    out.write(f"wrote {tls_crt} and {tls_key}: {args.key_type}, valid until {info.not_after:%Y-%m-%d}\n")
    out.write(f"  SANs: {', '.join([*info.dns_names, *info.ip_addresses])}\n")
    out.write(
        f"next: stsmesh serve --cert-file {tls_crt} --key-file {tls_key}; stsmesh register --ca-file {ca_cert} ...\n"
    )
    return EXIT_OK


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write atomically (temp file + rename) so a reloading server never reads half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


# --- register / unregister ------------------------------------------------------------------------


def build_configuration(args: argparse.Namespace) -> dict[str, Any]:
    if not 1 <= args.timeout <= 30:
        raise CommandError("--timeout must be between 1 and 30 seconds (the apiserver's limits)", EXIT_USAGE)
    try:
        ca = Path(args.ca_file).read_bytes() if args.ca_file else b""
    except OSError as exc:
        raise CommandError(
            f"cannot read the CA {args.ca_file} ({exc.strerror}); make one with `stsmesh certs` or pass --ca-file"
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
    api = _api(args)
    kube = _kube_module()
    result = _kube(lambda: kube.apply_webhook_configuration(api, body))
    out.write(f"MutatingWebhookConfiguration {body['metadata']['name']} {result}\n")
    out.write("next: stsmesh enable NAMESPACE (only labelled namespaces are mutated)\n")
    return EXIT_OK


def cmd_unregister(args: argparse.Namespace, out: TextIO) -> int:
    api = _api(args)
    kube = _kube_module()
    deleted = _kube(lambda: kube.delete_webhook_configuration(api))
    name = manifests.WEBHOOK_CONFIGURATION_NAME
    out.write(f"MutatingWebhookConfiguration {name} {'deleted' if deleted else 'was not registered'}\n")
    return EXIT_OK


def cmd_enable(args: argparse.Namespace, out: TextIO, enabled: bool) -> int:
    api = _api(args)
    kube = _kube_module()
    for namespace in args.namespaces:
        _kube(lambda ns=namespace: kube.set_namespace_enabled(api, ns, enabled))
        out.write(f"namespace {namespace} {'enabled' if enabled else 'disabled'}\n")
    if enabled:
        out.write("existing pods are not changed: restart their StatefulSets to apply the fixes\n")
    return EXIT_OK


def _api(args: argparse.Namespace) -> Any:
    kube = _kube_module()
    return _kube(lambda: kube.api_client(args.kubeconfig, args.context))


def _kube_module() -> Any:
    # Imported on first use: the kubernetes client costs ~30 MiB and ~0.3 s, and `serve` and
    # `dry-run` never need it.
    from webhook.cluster import kube

    return kube


def _kube(fn: Any) -> Any:
    kube = _kube_module()
    try:
        return fn()
    except kube.KubeError as exc:
        raise CommandError(str(exc)) from exc


# --- status ---------------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    api = _api(args)
    checks: list[Check] = []
    kube = _kube_module()
    configuration = _kube(lambda: kube.get_webhook_configuration(api))
    if configuration is None:
        checks.append(Check("registration", False, "not registered: run `stsmesh register`"))
    else:
        checks.extend(_registration_checks(configuration, args.cert_file))
    namespaces = _kube(lambda: kube.enabled_namespaces(api))
    checks.append(
        Check(
            "namespaces",
            bool(namespaces),
            ", ".join(namespaces) if namespaces else "none enabled: run `stsmesh enable NAMESPACE`",
        )
    )
    for check in checks:
        out.write(f"{'ok ' if check.ok else 'BAD'} {check.name}: {check.detail}\n")
    return EXIT_OK if all(c.ok for c in checks) else EXIT_PROBLEM


def _registration_checks(configuration: dict[str, Any], cert_file: str | None) -> list[Check]:
    webhook = next((w for w in configuration.get("webhooks") or [] if w.get("name") == manifests.WEBHOOK_NAME), None)
    if webhook is None:
        return [Check("registration", False, f"{manifests.WEBHOOK_NAME} missing: run `stsmesh register` again")]
    client_config = webhook.get("clientConfig") or {}
    url = client_config.get("url")
    service = client_config.get("service") or {}
    where = url or f"service {service.get('namespace')}/{service.get('name')}:{service.get('port', 443)}"
    checks = [
        Check(
            "registration",
            True,
            f"{configuration['metadata']['name']} → {where} (failurePolicy {webhook.get('failurePolicy')},"
            f" timeout {webhook.get('timeoutSeconds')}s)",
        )
    ]
    ca = manifests.ca_bundle_of(configuration)
    if not ca:
        checks.append(
            Check("caBundle", False, "empty: the apiserver would use its system roots; register with --ca-file")
        )
        return checks
    if url:
        checks.extend(_probe_url(url, ca))
    elif cert_file:
        try:
            trusted = certs.signed_by(Path(cert_file).read_bytes(), ca)
        except (OSError, ValueError) as exc:
            trusted = False
            detail = f"cannot read {cert_file}: {exc}"
        else:
            detail = f"{'verifies' if trusted else 'does NOT verify'} {cert_file}"
        checks.append(Check("caBundle", trusted, detail))
    else:
        checks.append(Check("caBundle", True, "present (pass --cert-file to verify the serving certificate)"))
    return checks


def _probe_url(url: str, ca: bytes) -> list[Check]:
    parsed = urllib.parse.urlsplit(url)
    host, port = parsed.hostname or "", parsed.port or 443
    context = ssl.create_default_context(cadata=ca.decode("ascii"))
    try:
        with (
            socket.create_connection((host, port), timeout=3) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            tls.sendall(f"GET /readyz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            answer = tls.recv(64).decode("latin-1")
    except ssl.SSLCertVerificationError as exc:
        return [
            Check("caBundle", False, f"does NOT verify the certificate served at {host}:{port}: {exc.verify_message}")
        ]
    except OSError as exc:
        return [
            Check("caBundle", True, "present (not checked: webhook unreachable)"),
            Check("health", False, f"cannot connect to {host}:{port}: {exc}; is `stsmesh serve` running?"),
        ]
    status = answer.split(" ", 2)[1] if answer.startswith("HTTP/") else "?"
    return [
        Check("caBundle", True, f"verifies the certificate served at {host}:{port}"),
        Check("health", status == "200", f"/readyz answered {status}"),
    ]


# --- audit ----------------------------------------------------------------------------------------


def cmd_audit(args: argparse.Namespace, out: TextIO) -> int:
    import json

    from webhook.cluster import audit
    from webhook.core.catalogue import CatalogueError, builtin_catalogue, parse_catalogue
    from webhook.core.mesh import MeshHint
    from webhook.core.settings import Settings

    try:
        default_hint = MeshHint.parse(args.mesh, args.mesh_version)
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from exc
    catalogue = builtin_catalogue()
    if args.catalogue:
        try:
            extra, disabled = parse_catalogue(Path(args.catalogue).read_text(encoding="utf-8"), args.catalogue)
        except (OSError, CatalogueError) as exc:
            raise CommandError(f"cannot use catalogue {args.catalogue}: {exc}", EXIT_USAGE) from exc
        catalogue = catalogue.merged(extra, disabled)
    settings = Settings(default_hint=default_hint, catalogue=catalogue)
    api = _api(args)
    kube = _kube_module()
    namespaces_meta = _kube(lambda: kube.namespace_metadata(api))
    if args.all_namespaces:
        scope = None
    elif args.namespaces:
        scope = list(args.namespaces)
    else:
        scope = _kube(lambda: kube.enabled_namespaces(api))
        if not scope:
            raise CommandError("no namespace is enabled: pass -n NAMESPACE or -A (all namespaces)", EXIT_USAGE)
    pods = _kube(lambda: kube.statefulset_pods(api, scope))
    audits = []
    for pod in sorted(pods, key=lambda p: (p["metadata"].get("namespace", ""), p["metadata"].get("name", ""))):
        meta = namespaces_meta.get(pod["metadata"].get("namespace", ""), {})
        hint = audit.namespace_hint(meta.get("labels") or {}, meta.get("annotations") or {})
        if hint.mesh is None or (hint.version is None and default_hint.mesh == hint.mesh):
            hint = default_hint  # the namespace says nothing (or less than the flags)
        result = audit.audit_pod(pod, settings, hint)
        if result is not None:
            audits.append(result)
    if args.output == "json":
        out.write(json.dumps({"pods": [a.as_dict() for a in audits]}, indent=2) + "\n")
    else:
        out.write(audit.table(audits))
    return EXIT_PROBLEM if any(a.broken for a in audits) else EXIT_OK


# --- per-pod controller ---------------------------------------------------------------------------


def cmd_per_pod_controller(args: argparse.Namespace, out: TextIO) -> int:
    import signal
    import threading

    from webhook.core.mesh import MeshHint
    from webhook.perpod import controller as perpodctl
    from webhook.server import logs

    try:
        hint = MeshHint.parse(args.mesh, args.mesh_version)
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from exc
    logs.configure("INFO", args.log_format)
    api = _api(args)
    namespaces = None if args.all_namespaces or not args.namespaces else list(args.namespaces)
    if args.once:
        counts = _kube_api_errors(lambda: perpodctl.Reconciler(api, hint).reconcile_all(namespaces))
        out.write(f"{counts.created} created, {counts.updated} updated, {counts.deleted} deleted\n")
        return EXIT_OK
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    _kube_api_errors(lambda: perpodctl.run(api, namespaces, hint, resync_seconds=args.resync, stop=stop))
    return EXIT_OK


def _kube_api_errors(fn: Any) -> Any:
    from kubernetes.client.exceptions import ApiException

    kube = _kube_module()
    try:
        return fn()
    except ApiException as exc:
        raise CommandError(kube._explain("reconcile per-pod objects", exc)) from exc
