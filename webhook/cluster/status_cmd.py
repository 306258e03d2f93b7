"""Edge: ``stsmesh status`` — is the webhook registered, does its caBundle verify the serving
certificate, which namespaces are enabled, does it answer."""

from __future__ import annotations

import argparse
import socket
import ssl
import urllib.parse
from pathlib import Path
from typing import Any, TextIO

from webhook.cluster import manifests
from webhook.cluster.cmdline import api_for, call, kube_flags, kube_module, output_flag, write_data
from webhook.cluster.preflight import Check
from webhook.core import certs
from webhook.core.exits import EXIT_ATTENTION, EXIT_OK


def add_parser(commands: Any) -> None:
    s = commands.add_parser(
        "status",
        help="show registration, whether its caBundle verifies the serving cert, enabled namespaces, health",
        description="Exit 0 when registered, trusted and healthy; 1 when something needs attention. "
        "`stsmesh check` is the full pre-flight.",
    )
    s.add_argument("--cert-file", default=None, help="serving cert to check against the caBundle (Service targets)")
    output_flag(s)
    kube_flags(s)


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    api = api_for(args)
    checks: list[Check] = []
    kube = kube_module()
    configuration = call(lambda: kube.get_webhook_configuration(api))
    if configuration is None:
        checks.append(Check("registration", False, "not registered: run `stsmesh register`"))
    else:
        checks.extend(_registration_checks(configuration, args.cert_file))
    namespaces = call(lambda: kube.enabled_namespaces(api))
    checks.append(
        Check(
            "namespaces",
            bool(namespaces),
            ", ".join(namespaces) if namespaces else "none enabled: run `stsmesh enable NAMESPACE`",
        )
    )
    if args.output in ("json", "yaml"):
        write_data({"ok": all(c.ok for c in checks), "checks": [c.as_dict() for c in checks]}, args.output, out)
    else:
        for check in checks:
            out.write(f"{'ok ' if check.ok else 'BAD'} {check.name}: {check.detail}\n")
    return EXIT_OK if all(c.ok for c in checks) else EXIT_ATTENTION


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
