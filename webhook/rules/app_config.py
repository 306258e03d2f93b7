"""Pure rule family: bind/advertise settings from the app catalogue (the portable fixes).

For every container the catalogue recognises, apply the app's env and args fixes: bind all
interfaces so the app receives traffic whether the proxy forwards to 127.0.0.1 or to the pod IP.
These fixes are safe for every mesh, so they also apply when the mesh is unknown; with no mesh
(``none``) nothing is needed and nothing is changed. Values already right are left alone and the
explanation says so ("already binds all interfaces").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from webhook.catalogue import AppMatch, Fix
from webhook.patch import ContainerRef, PodEditor
from webhook.rules import Report, Rule, RuleContext

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "[::]", "::"})
ALL_INTERFACES = "0.0.0.0"
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9_+.-]*://)(?P<host>\[[^\]]*\]|[^:/]*)(?P<rest>.*)$")


def apply_app_config(editor: PodEditor, ctx: RuleContext, report: Report) -> None:
    if ctx.mesh.mesh == "none":
        return
    for match in ctx.apps:
        for fix in match.app.fixes:
            handler = _HANDLERS.get(fix.kind)
            if handler is None:
                continue
            if not ctx.allows(fix.id, "bind"):
                report.note(fix.id, "skipped: the pod opts out of this fix")
                continue
            if ctx.mesh.inbound not in fix.inbound:
                continue
            ref = ContainerRef.of(match.list_name, match.index)
            handler(editor, ref, match, fix, report)


def _env_set(editor: PodEditor, ref: ContainerRef, match: AppMatch, fix: Fix, report: Report) -> None:
    for name, value in fix.params.items():
        start = editor.checkpoint()
        editor.set_env(ref, name, value)
        if not report.record(
            editor, start, fix.id, f"set env {name}={value} on container {match.container_name}", fix.why
        ):
            report.note(fix.id, f"{match.container_name}: {name} is already {value!r}")


def _env_token(editor: PodEditor, ref: ContainerRef, match: AppMatch, fix: Fix, report: Report) -> None:
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


def _rewrite_urls(value: str) -> str:
    """Listen URLs with the host replaced by 0.0.0.0 (wildcards kept), duplicates dropped."""
    out: list[str] = []
    for item in value.split(","):
        item = item.strip()
        parsed = _URL.match(item)
        if parsed and parsed.group("host") not in WILDCARD_HOSTS:
            item = f"{parsed.group('scheme')}{ALL_INTERFACES}{parsed.group('rest')}"
        if item and item not in out:
            out.append(item)
    return ",".join(out)


def _env_url_hosts(editor: PodEditor, ref: ContainerRef, match: AppMatch, fix: Fix, report: Report) -> None:
    for name in fix.params:
        found = editor.env_value(ref, name)
        if found is None or not isinstance(found[1].get("value"), str):
            continue
        current = found[1]["value"]
        new_value = _rewrite_urls(current)
        start = editor.checkpoint()
        editor.set_env(ref, name, new_value)
        summary = f"set env {name}={new_value} on container {match.container_name} (was {current})"
        if not report.record(editor, start, fix.id, summary, fix.why):
            report.note(fix.id, f"{match.container_name}: {name}={current} already binds all interfaces")


def _env_wildcard(editor: PodEditor, ref: ContainerRef, match: AppMatch, fix: Fix, report: Report) -> None:
    for name in fix.params:
        found = editor.env_value(ref, name)
        if found is None:
            continue
        current = found[1].get("value")
        if isinstance(current, str) and current.strip() in WILDCARD_HOSTS:
            report.note(fix.id, f"{match.container_name}: {name}={current!r} already binds all interfaces")
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


def _arg_url_hosts(editor: PodEditor, ref: ContainerRef, match: AppMatch, fix: Fix, report: Report) -> None:
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
    summary = f"listen URLs ({', '.join(flags)}) on container {match.container_name} now bind {ALL_INTERFACES}"
    if not report.record(editor, start, fix.id, summary, fix.why):
        report.note(fix.id, f"{match.container_name}: listen URLs already bind all interfaces (or are not set)")


def _advice(editor: PodEditor, ref: ContainerRef, match: AppMatch, fix: Fix, report: Report) -> None:
    needle = fix.params.get("args_contain", "")
    if needle:
        container = editor.container(ref)
        words = [w for f in ("command", "args") for w in _strings(container.get(f))]
        if needle.strip() not in words and needle not in " ".join(words) + " ":
            return
    report.warn(f"{fix.id}: {match.container_name}: {fix.params['text']}")


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


Handler = Callable[[PodEditor, ContainerRef, AppMatch, Fix, Report], None]
_HANDLERS: dict[str, Handler] = {
    "env_set": _env_set,
    "env_token": _env_token,
    "env_url_hosts": _env_url_hosts,
    "env_wildcard": _env_wildcard,
    "arg_url_hosts": _arg_url_hosts,
    "advice": _advice,
}

RULE = Rule("app-config", "bind", apply_app_config, __doc__ or "")
