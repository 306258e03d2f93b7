"""Pure rule family: bind/advertise settings from the app catalogue (the portable fixes).

For every container the catalogue recognises, apply the app's env and args fixes: bind all
interfaces so the app receives traffic whether the proxy forwards to 127.0.0.1 or to the pod IP.
These fixes are safe for every mesh, so they also apply when the mesh is unknown; with no mesh
(``none``) nothing is needed and nothing is changed. Values already right are left alone and the
explanation says so ("already binds all interfaces").

Kinds (:data:`KINDS`): ``env_set``, ``env_token``, ``env_url_hosts``, ``env_wildcard``,
``arg_url_hosts`` and ``advice`` (a warning only, in the same opt-out family).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from webhook.core.catalogue import AppMatch, Fix
from webhook.core.catalogue.schema import CatalogueError, mapping_of, strings, text_field
from webhook.core.mesh import AMBIENT_OPT_OUT, DELIVERY_TEXT
from webhook.core.patch import PodEditor
from webhook.core.rules import FixHandler, FixKind, Report, Rule, RuleContext, family_rule
from webhook.core.shapes import ContainerRef

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "[::]", "::"})
ALL_INTERFACES = "0.0.0.0"
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9_+.-]*://)(?P<host>\[[^\]]*\]|[^:/]*)(?P<rest>.*)$")


Handler = Callable[[PodEditor, RuleContext, ContainerRef, AppMatch, Fix, Report], None]
"""A handler of one container's settings."""


def _relevant(ctx: RuleContext, fix: Fix) -> bool:
    return ctx.mesh.proxied


def _in_container(handler: Handler) -> FixHandler:
    """``handler`` run on the matched container where the fix's inbound modes and mesh apply."""

    def apply(editor: PodEditor, ctx: RuleContext, match: AppMatch, fix: Fix, report: Report) -> None:
        mesh = ctx.mesh
        if not fix.applies_to(mesh.mesh):
            report.note(fix.id, f"not needed: the fix is for {', '.join(fix.meshes)}, the pod is in {mesh.label}")
        elif mesh.inbound not in fix.inbound:
            report.note(fix.id, f"not needed: {mesh.label} delivers inbound traffic to {DELIVERY_TEXT[mesh.inbound]}")
        else:
            handler(editor, ctx, match.ref, match, fix, report)

    return apply


def _env_set(editor: PodEditor, ctx: RuleContext, ref: ContainerRef, match: AppMatch, fix: Fix, report: Report) -> None:
    for name, value in fix.params.items():
        start = editor.checkpoint()
        editor.set_env(ref, name, value)
        if not report.record(
            editor, start, fix.id, f"set env {name}={value} on container {match.container_name}", fix.why
        ):
            report.note(fix.id, f"{match.container_name}: {name} is already {value!r}")


def _env_token(
    editor: PodEditor, ctx: RuleContext, ref: ContainerRef, match: AppMatch, fix: Fix, report: Report
) -> None:
    name, key, value = fix.params["name"], fix.params["key"], fix.params["value"]
    found = editor.env_value(ref, name)
    if found is not None and "value" not in found[1]:
        report.warn(f"{fix.id}: {match.container_name} sets {name} from a reference; add {key}={value} to it")
        return
    current = found[1].get("value", "") if found else ""
    current = current if isinstance(current, str) else ""
    tokens = current.split()
    wanted = f"{key}={value}"
    replaced = [wanted if t.split("=", 1)[0] == key else t for t in tokens]
    if wanted not in replaced:
        replaced.append(wanted)
    new_value = " ".join(replaced)
    start = editor.checkpoint()
    editor.set_env(ref, name, new_value)
    if not report.record(
        editor, start, fix.id, f"set {wanted} in env {name} on container {match.container_name}", fix.why
    ):
        report.note(fix.id, f"{match.container_name}: {name} already has {wanted}")


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]").lower()
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _rewrite_url(item: str) -> str:
    """One listen URL with its host replaced by the all-interfaces address of its family.

    Wildcards and loopback hosts are kept: loopback is a deliberate choice we never widen."""
    quote = item[0] if item[:1] in ("'", '"') and item.endswith(item[0]) and len(item) > 1 else ""
    bare = item[1:-1] if quote else item
    parsed = _URL.match(bare)
    if not parsed:
        return item
    host = parsed.group("host")
    if host in WILDCARD_HOSTS or is_loopback(host):
        return item
    wildcard = "[::]" if host.startswith("[") else ALL_INTERFACES
    return f"{quote}{parsed.group('scheme')}{wildcard}{parsed.group('rest')}{quote}"


def _rewrite_urls(value: str) -> str:
    """A comma list of listen URLs rewritten by :func:`_rewrite_url`, duplicates dropped.

    A loopback URL on the same scheme and port as a wildcard one is dropped too: the wildcard
    already covers it, and binding both fails with "address already in use"."""
    out: list[str] = []
    for item in value.split(","):
        item = _rewrite_url(item.strip())
        if item and item not in out:
            out.append(item)
    wildcard_keys = {_key(i) for i in out if _host(i) in WILDCARD_HOSTS | {"[::]"}}
    return ",".join(i for i in out if not (is_loopback(_host(i)) and _key(i) in wildcard_keys))


def _host(item: str) -> str:
    parsed = _URL.match(item.strip("'\""))
    return parsed.group("host") if parsed else ""


def _key(item: str) -> str:
    parsed = _URL.match(item.strip("'\""))
    return f"{parsed.group('scheme')}{parsed.group('rest')}" if parsed else item


def _loopback_only(value: str) -> bool:
    hosts = []
    for item in value.split(","):
        parsed = _URL.match(item.strip().strip("'\""))
        if parsed:
            hosts.append(parsed.group("host"))
    return bool(hosts) and all(is_loopback(h) for h in hosts)


def _warn_loopback(report: Report, ctx: RuleContext, fix: Fix, container: str, what: str) -> None:
    if ctx.mesh.dataplane == "ambient":
        report.warn(
            f"{fix.id}: {container}: {what} listens on loopback only, and {ctx.mesh.label} delivers inbound "
            "traffic to the pod IP with no per-port bypass: bind 0.0.0.0, or take the pod out of ambient "
            f"({AMBIENT_OPT_OUT} on the pod); left as is"
        )
        return
    report.warn(
        f"{fix.id}: {container}: {what} listens on loopback only, so peers reach it only where the proxy "
        "forwards to 127.0.0.1 (Istio < 1.10, Linkerd < 2.11); left as is: bind 0.0.0.0 if peers must reach it"
    )


def _env_url_hosts(
    editor: PodEditor, ctx: RuleContext, ref: ContainerRef, match: AppMatch, fix: Fix, report: Report
) -> None:
    for name in fix.params:
        found = editor.env_value(ref, name)
        if found is None or not isinstance(found[1].get("value"), str):
            report.note(fix.id, f"{match.container_name}: {name} is not set to a value; nothing to rewrite")
            continue
        current = found[1]["value"]
        if _loopback_only(current):
            _warn_loopback(report, ctx, fix, match.container_name, name)
            continue
        new_value = _rewrite_urls(current)
        start = editor.checkpoint()
        editor.set_env(ref, name, new_value)
        summary = f"set env {name}={new_value} on container {match.container_name} (was {current})"
        if not report.record(editor, start, fix.id, summary, fix.why):
            report.note(fix.id, f"{match.container_name}: {name}={current} already binds all interfaces")


def _env_wildcard(
    editor: PodEditor, ctx: RuleContext, ref: ContainerRef, match: AppMatch, fix: Fix, report: Report
) -> None:
    for name in fix.params:
        found = editor.env_value(ref, name)
        if found is None:
            report.note(fix.id, f"{match.container_name}: {name} is not set; the app's default applies")
            continue
        current = found[1].get("value")
        if isinstance(current, str) and current.strip() in WILDCARD_HOSTS:
            report.note(fix.id, f"{match.container_name}: {name}={current!r} already binds all interfaces")
            continue
        if isinstance(current, str) and is_loopback(current):
            _warn_loopback(report, ctx, fix, match.container_name, name)
            continue
        start = editor.checkpoint()
        editor.set_env(ref, name, ALL_INTERFACES)
        shown = current if isinstance(current, str) else "a reference"
        report.record(
            editor,
            start,
            fix.id,
            f"set env {name}={ALL_INTERFACES} on container {match.container_name} (was {shown})",
            fix.why,
        )


def _rewrite_flag_values(text: str, flags: list[str]) -> str:
    for flag in flags:
        pattern = re.compile(rf"(?<![\w-])({re.escape(flag)}(?:=|\s+))(\S+)")
        text = pattern.sub(lambda m: m.group(1) + _rewrite_urls(m.group(2)), text)
    return text


def _arg_url_hosts(
    editor: PodEditor, ctx: RuleContext, ref: ContainerRef, match: AppMatch, fix: Fix, report: Report
) -> None:
    flags = list(fix.params)
    container = editor.container(ref)
    start = editor.checkpoint()
    for field in ("command", "args"):
        items = container.get(field)
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            if not isinstance(item, str):
                continue
            if item in flags and index + 1 < len(items) and isinstance(items[index + 1], str):
                editor.set_list_item(ref, field, index + 1, _rewrite_urls(items[index + 1]))
            else:
                editor.set_list_item(ref, field, index, _rewrite_flag_values(item, flags))
    flag_values = re.compile(rf"(?<![\w-])(?:{'|'.join(map(re.escape, flags))})(?:=|\s+)(\S+)")
    words = " ".join(w for f in ("command", "args") for w in _strings(container.get(f)))
    for value in flag_values.findall(words):
        if _loopback_only(value):
            _warn_loopback(report, ctx, fix, match.container_name, value)
    summary = f"listen URLs ({', '.join(flags)}) on container {match.container_name} now bind all interfaces"
    if not report.record(editor, start, fix.id, summary, fix.why):
        report.note(fix.id, f"{match.container_name}: listen URLs already bind all interfaces (or are not set)")


def _advice(editor: PodEditor, ctx: RuleContext, ref: ContainerRef, match: AppMatch, fix: Fix, report: Report) -> None:
    needle = fix.params.get("args_contain", "").strip()
    if needle:
        container = editor.container(ref)
        words = [w for f in ("command", "args") for item in _strings(container.get(f)) for w in item.split()]
        if not any(w == needle or w.startswith(needle + "=") for w in words):
            report.note(fix.id, f"{match.container_name}: not started with {needle}; no advice needed")
            return
    report.warn(f"{fix.id}: {match.container_name}: {fix.params['text']}")


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _check_env_values(params: object, where: str) -> None:
    if (
        not isinstance(params, dict)
        or not params
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
    ):
        raise CatalogueError(f"{where}: must map env names to string values (quote yes/no/true)")


def _check_env_token(params: object, where: str) -> None:
    fields = mapping_of(params, where, ("name", "key", "value"), "name, key, value")
    for key in ("name", "key", "value"):
        text_field(fields, key, where)


def _check_names(params: object, where: str) -> None:
    if not strings(params, where):
        raise CatalogueError(f"{where}: must be a non-empty list of names")


def _check_advice(params: object, where: str) -> None:
    fields = mapping_of(params, where, ("text", "args_contain"), "text")
    text_field(fields, "text", where)
    text_field(fields, "args_contain", where, required=False)


def _bind(name: str, check: Callable[[object, str], None], handler: Handler, summary: str) -> FixKind:
    return FixKind(
        name, "bind", check, _relevant, apply=_in_container(handler), binds_pod_ip_only=True, summary=summary
    )


KINDS: Final[tuple[FixKind, ...]] = (
    _bind("env_set", _check_env_values, _env_set, "{NAME: value}: set-or-replace env in place"),
    _bind("env_token", _check_env_token, _env_token, "{name, key, value}: key=value inside a space-separated env"),
    _bind("env_url_hosts", _check_names, _env_url_hosts, "[NAME, ...]: listen URLs' hosts to 0.0.0.0"),
    _bind("env_wildcard", _check_names, _env_wildcard, "[NAME, ...]: one address becomes 0.0.0.0"),
    _bind("arg_url_hosts", _check_names, _arg_url_hosts, "[--flag, ...]: listen URLs' hosts in args/command"),
    FixKind(
        "advice",
        "bind",
        _check_advice,
        _relevant,
        apply=_in_container(_advice),
        summary="{text, args_contain?}: a warning only",
    ),
)

RULE: Final[Rule] = family_rule("app-config", "bind", KINDS)
