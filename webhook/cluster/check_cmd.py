"""Edge: ``stsmesh check`` — the pre-flight: reads what it needs from the cluster (and from the
webhook itself) and prints the verdicts of :mod:`webhook.cluster.preflight`, one ✓/× line each,
with a hint under every ×. Exit 0 when all pass, 1 when any fails, 5 when the cluster cannot be read."""

from __future__ import annotations

import argparse
import base64
import socket
import ssl
import urllib.parse
import urllib.request
from typing import Any, TextIO

from webhook import __version__
from webhook.cluster import manifests, preflight
from webhook.cluster.cmdline import api_for, call, kube_flags, kube_module, output_flag, write_data
from webhook.cluster.preflight import Check
from webhook.core.exits import EXIT_ATTENTION, EXIT_OK
from webhook.core.namespaces import (
    CILIUM_SELECTOR,
    CONTROL_PLANE_SELECTORS,
    control_planes,
)
from webhook.core.shapes import mapping, metadata_text, name_of

CONTROLLER = "stsmesh-per-pod"


def add_parser(commands: Any) -> None:
    c = commands.add_parser(
        "check",
        help="pre-flight: registration and order, trust, endpoints, server version, RBAC, namespaces, meshes",
        description=(
            "Check that stsmesh is installed and will be called: the webhook configuration is present and"
            " ordered before every mesh injector, its caBundle verifies the served certificate, the Service"
            " has ready endpoints, the server answers (and its version), the server and controller have the"
            " rights they need, namespaces are enabled; and list the mesh control planes found. One ✓/× line"
            " each, a hint under every ×. Exit 0 when all pass, 1 when any fails, 5 when the cluster cannot"
            " be read."
        ),
    )
    c.add_argument(
        "-n", "--namespace", default=manifests.DEFAULT_NAMESPACE, help="where stsmesh runs (default stsmesh)"
    )
    c.add_argument(
        "--secret-name", default="stsmesh-tls", help="the serving certificate's Secret (default stsmesh-tls)"
    )
    output_flag(c)
    kube_flags(c)


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    api = api_for(args)
    kube = kube_module()
    configurations = call(lambda: kube.webhook_configurations(api))
    ours = next((c for c in configurations if name_of(c) == manifests.WEBHOOK_CONFIGURATION_NAME), None)
    checks = [preflight.registration(ours), preflight.ordering(configurations)]
    webhook = preflight.our_webhook(ours)
    if webhook is not None:
        checks.extend(_reachability(api, kube, ours or {}, mapping(webhook.get("clientConfig")), args))
    namespace = args.namespace
    controller = call(lambda: kube.read_namespaced(api, "Deployment", namespace, CONTROLLER))
    for who, needs in (("server", preflight.SERVER_NEEDS), ("controller", preflight.CONTROLLER_NEEDS)):
        account = f"system:serviceaccount:{namespace}:{'stsmesh' if who == 'server' else CONTROLLER}"
        if who == "controller" and controller is None:
            continue
        allowed = {need: call(lambda n=need, a=account: kube.may(api, a, *n)) for need in needs}
        checks.append(preflight.rbac(who, allowed))
    checks.append(preflight.namespaces(call(lambda: kube.enabled_namespaces(api))))
    deployments = {
        f"{metadata_text(d, 'namespace')}/{name_of(d)}": d
        for selector in CONTROL_PLANE_SELECTORS
        for d in call(lambda s=selector: kube.labelled(api, "Deployment", s))
    }
    cilium = bool(call(lambda: kube.labelled(api, "DaemonSet", CILIUM_SELECTOR)))
    checks.append(preflight.control_planes(control_planes(deployments, cilium=cilium)))
    checks.append(preflight.per_pod_controller(controller))
    _print(checks, args.output, out)
    return EXIT_OK if all(c.ok for c in checks) else EXIT_ATTENTION


def _reachability(
    api: Any, kube: Any, configuration: dict[str, Any], client_config: dict[str, Any], args: argparse.Namespace
) -> list[Check]:
    """Trust, endpoints and the server's version, for a Service or a URL target."""
    url = client_config.get("url")
    if url:
        parsed = urllib.parse.urlsplit(str(url))
        host, port = parsed.hostname or "", parsed.port or 443
        served = _served_certificate(host, port)
        where = f"https://{host}:{port}"
        return [
            preflight.trust(configuration, served, f"served at {host}:{port}"),
            preflight.server_version(_get(f"{where}/metrics"), __version__, where),
        ]
    service = mapping(client_config.get("service"))
    namespace, name, port = str(service.get("namespace")), str(service.get("name")), int(service.get("port", 443))
    secret = call(lambda: kube.read_namespaced(api, "Secret", namespace, args.secret_name))
    served = None
    if secret is not None:
        encoded = mapping(secret.get("data")).get("tls.crt")
        served = base64.b64decode(encoded) if isinstance(encoded, str) else None
    endpoints = call(lambda: kube.read_namespaced(api, "Endpoints", namespace, name))
    metrics = kube.service_get(api, namespace, name, port, "/metrics")
    return [
        preflight.trust(configuration, served, f"Secret {namespace}/{args.secret_name}"),
        preflight.endpoints(f"{namespace}/{name}", endpoints),
        preflight.server_version(metrics, __version__, f"service {namespace}/{name}:{port}"),
    ]


def _served_certificate(host: str, port: int) -> bytes | None:
    """The leaf certificate ``host:port`` presents, unverified (the verdict is the caBundle's)."""
    try:
        with socket.create_connection((host, port), timeout=3) as raw, _unverified().wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
    except OSError:
        return None
    return ssl.DER_cert_to_PEM_cert(der).encode("ascii") if der else None


def _get(url: str) -> str | None:
    """The body at ``url``, not verifying the certificate: whether the apiserver trusts it is the
    caBundle check's verdict; this one only asks what answers."""
    try:
        with urllib.request.urlopen(url, context=_unverified(), timeout=3) as response:
            return str(response.read().decode("utf-8", "replace"))
    except (OSError, ValueError):
        return None


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _print(checks: list[Check], output: str, out: TextIO) -> None:
    if output in ("json", "yaml"):
        write_data({"ok": all(c.ok for c in checks), "checks": [c.as_dict() for c in checks]}, output, out)
        return
    for check in checks:
        out.write(f"{'✓' if check.ok else '×'} {check.name}: {check.detail}\n")
        if not check.ok and check.hint:
            out.write(f"    → {check.hint}\n")
