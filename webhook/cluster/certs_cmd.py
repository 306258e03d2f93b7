"""Edge: ``stsmesh certs`` — make or renew the webhook's CA and serving certificate (files, or a
Secret on standard output), with the pure builders of :mod:`webhook.core.certs`."""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
from pathlib import Path
from typing import Any, TextIO

import yaml

from webhook.cluster import cmdline, manifests
from webhook.core import certs
from webhook.core.exits import EXIT_OK, EXIT_USAGE, CommandError


def add_parser(commands: Any) -> None:
    c = commands.add_parser(
        "certs",
        help="make a CA and a serving certificate for the webhook (files in certs/, or a Secret)",
        description=(
            "Make (or renew) the webhook's CA and serving certificate. The CA in --out-dir is reused when"
            " present, so renewing the serving certificate keeps the registered caBundle valid; with -o secret"
            " the CA is still written there (register --ca-file reads it). SANs: <svc>, <svc>.<ns>,"
            " <svc>.<ns>.svc, <svc>.<ns>.svc.cluster.local, plus --ip/--dns."
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


def _check_flags(args: argparse.Namespace) -> None:
    for flag, days in (("--days", args.days), ("--ca-days", args.ca_days)):
        if not 1 <= days <= 36500:
            raise CommandError(f"{flag} {days}: give a validity of 1 to 36500 days", EXIT_USAGE)
    if args.renew_within is not None and args.renew_within < 0:
        raise CommandError(f"--renew-within {args.renew_within}: give a number of days, 0 or more", EXIT_USAGE)
    for ip in args.ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise CommandError(
                f"--ip {ip}: not an IPv4 or IPv6 address (for a host name use --dns)", EXIT_USAGE
            ) from None


def cmd_certs(args: argparse.Namespace, out: TextIO) -> int:
    try:
        namespace, service = manifests.parse_service(args.service)
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from exc
    _check_flags(args)
    try:
        return _make(args, out, namespace, service)
    except OSError as exc:
        where = exc.filename or args.out_dir
        raise CommandError(
            f"cannot use {where}: {exc.strerror or exc}; choose a writable --out-dir", EXIT_USAGE
        ) from exc
    except ValueError as exc:  # an unreadable CA in --out-dir
        raise CommandError(
            f"cannot read the CA in {args.out_dir} ({exc}); move it away to make a new one", EXIT_USAGE
        ) from exc


def _make(args: argparse.Namespace, out: TextIO, namespace: str, service: str) -> int:
    dns = [*certs.service_dns_names(service, namespace), *args.dns]
    if args.ip:
        dns.append("localhost")
    now = cmdline.now()
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
    out_dir.mkdir(parents=True, exist_ok=True)
    if made_ca:  # kept for -o secret too: `register --ca-file certs/ca.crt` and the next renewal read it
        _write(ca_cert, ca.cert, 0o644)
        _write(ca_key, ca.key, 0o600)
    if args.output == "secret":
        secret = manifests.tls_secret(args.secret_name, namespace, serving.cert, serving.key, ca.cert)
        out.write(yaml.safe_dump(secret, sort_keys=False))
        return EXIT_OK
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
