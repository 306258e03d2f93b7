"""Pure rule family: start-up ordering — the app waits until its proxy is ready.

Apps that dial their peers (or the Kubernetes API) as soon as they start fail when the proxy is
not up yet. For apps whose catalogue entry asks for it:

* Istio (1.7+): ``holdApplicationUntilProxyStarts: true`` merged into the pod's
  ``proxy.istio.io/config`` (other keys kept; an explicit ``false`` is respected with a warning).
  After injection the annotation is too late; we check whether the injector already held the app
  (proxy first with a postStart hook, or a native sidecar) and warn if not.
* Linkerd: ``config.linkerd.io/proxy-await`` is on by default from 2.11; before that it does not
  exist (warn); with the version unknown we set ``enabled`` (harmless where it is the default). With
  a native sidecar it becomes the proxy's startupProbe, which holds the app the same way.

Where the data plane already starts the proxy first, nothing is written: an Istio native sidecar
(an init container with ``restartPolicy: Always``, ready before the app; the injector ignores
``holdApplicationUntilProxyStarts`` then), or ambient, where no proxy runs in the pod. A mesh with
no such setting is said so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

import yaml

from webhook.core.catalogue import AppMatch, Fix
from webhook.core.catalogue.schema import CatalogueError
from webhook.core.mesh import ISTIO, LINKERD, MeshContext
from webhook.core.patch import PodEditor
from webhook.core.rules import FixKind, Report, Rule, RuleContext, family_rule
from webhook.core.shapes import find_container

ISTIO_PROXY_CONFIG = "proxy.istio.io/config"
HOLD_KEY = "holdApplicationUntilProxyStarts"
LINKERD_AWAIT = "config.linkerd.io/proxy-await"
HOLD_ONLY = json.dumps({HOLD_KEY: True}, separators=(",", ":"))


def _hold_relevant(ctx: RuleContext, fix: Fix) -> bool:
    return ctx.mesh.facts is not None and ctx.mesh.proxied and fix.applies_to(ctx.mesh.mesh)


def _apply_hold(editor: PodEditor, ctx: RuleContext, wanting: Sequence[tuple[AppMatch, Fix]], report: Report) -> None:
    """One hold for the pod, however many of its apps want it (the first fix names the change)."""
    mesh = ctx.mesh
    fix_id = wanting[0][1].id
    why = wanting[0][1].why
    apps = ", ".join(sorted({m.app.app for m, _ in wanting}))
    if mesh.dataplane == "ambient":
        report.note(fix_id, f"not needed: {mesh.label} runs no proxy in the pod (ztunnel is on the node)")
    elif mesh.mesh == "istio" and mesh.dataplane == "native-sidecar":
        report.note(fix_id, "not needed: the native sidecar proxy starts, and is ready, before the app containers")
    elif mesh.mesh == "istio":
        _istio_hold(editor, mesh, fix_id, why, apps, report)
    elif mesh.mesh == "linkerd":
        _linkerd_await(editor, mesh, fix_id, why, report)
    else:
        report.note(fix_id, f"{mesh.label}: stsmesh knows no setting that holds the app until its proxy is ready")


def _check_hold(params: object, where: str) -> None:
    if params is not True:
        raise CatalogueError(f"{where}: must be true")


KINDS: Final[tuple[FixKind, ...]] = (
    FixKind(
        "hold",
        "hold",
        _check_hold,
        _hold_relevant,
        apply_once=_apply_hold,
        summary="true: the app waits until its proxy is ready",
    ),
)


def _istio_hold(editor: PodEditor, mesh: MeshContext, fix_id: str, why: str, apps: str, report: Report) -> None:
    if mesh.injected:
        if _istio_already_holds(editor):
            report.note(fix_id, "the injected proxy already holds the app until it is ready")
        else:
            report.warn(
                f"{fix_id}: Istio injected before stsmesh ran, so {apps} may start before its proxy; "
                "check the webhook order (stsmesh must sort first) and restart the pod"
            )
        return
    current = editor.meta_map("annotations").get(ISTIO_PROXY_CONFIG)
    config = _parse_proxy_config(current)
    if config is None:
        report.warn(f"{fix_id}: {ISTIO_PROXY_CONFIG} is not a YAML/JSON mapping; left as is")
        return
    if config.get(HOLD_KEY) is True:
        report.note(fix_id, f"{ISTIO_PROXY_CONFIG} already holds the app until the proxy starts")
        return
    if HOLD_KEY in config:
        report.warn(f"{fix_id}: the pod sets {HOLD_KEY}: {config[HOLD_KEY]!r}; respected, but {apps} may fail at start")
        return
    merged = _with_hold(current)
    if config and _parse_proxy_config(merged) != {**config, HOLD_KEY: True}:
        report.warn(f"{fix_id}: could not add {HOLD_KEY} to {ISTIO_PROXY_CONFIG} safely; left as is")
        return
    start = editor.checkpoint()
    editor.set_meta("annotations", ISTIO_PROXY_CONFIG, merged)
    report.record(editor, start, fix_id, f"{ISTIO_PROXY_CONFIG}: {HOLD_KEY}: true (merged)", why)


def _parse_proxy_config(text: object) -> dict[str, Any] | None:
    if text is None or (isinstance(text, str) and not text.strip()):
        return {}
    if not isinstance(text, str):
        return None
    try:
        # Most values are JSON (ours always are); JSON is YAML, and the json parser is far cheaper than PyYAML.
        value = json.loads(text)
    except ValueError:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            return None
    if value is None:
        return {}
    return value if isinstance(value, dict) else None


def _with_hold(original: object) -> str:
    """The annotation text with the hold key added, the user's own text and formatting kept."""
    line = f"{HOLD_KEY}: true"
    if not isinstance(original, str) or not original.strip():
        return HOLD_ONLY
    text = original.rstrip()
    if text.startswith("{") and text.endswith("}"):
        inner = text[:-1].rstrip()
        separator = "" if inner.endswith("{") else ", "
        return f'{inner}{separator}"{HOLD_KEY}": true}}'
    return f"{text}\n{line}\n"


def _istio_already_holds(editor: PodEditor) -> bool:
    for _, container in editor.containers("initContainers"):
        if container.get("name") == ISTIO.proxy and container.get("restartPolicy") == "Always":
            return True  # native sidecar: starts (and is probed) before the app containers
    containers = editor.containers("containers")
    if containers and containers[0][1].get("name") == ISTIO.proxy:
        lifecycle = containers[0][1].get("lifecycle")
        return isinstance(lifecycle, dict) and "postStart" in lifecycle
    return False


def _linkerd_await(editor: PodEditor, mesh: MeshContext, fix_id: str, why: str, report: Report) -> None:
    current = editor.meta_map("annotations").get(LINKERD_AWAIT)
    if current == "disabled":
        report.warn(f"{fix_id}: the pod sets {LINKERD_AWAIT}: disabled; respected, but the app may fail at start")
        return
    if current == "enabled":
        report.note(fix_id, f"{LINKERD_AWAIT} is already enabled")
        return
    if mesh.version is not None and mesh.version >= (2, 11):
        report.note(fix_id, "not needed: Linkerd 2.11+ awaits the proxy by default")
        return
    if mesh.version is not None:
        report.warn(
            f"{fix_id}: Linkerd {mesh.version[0]}.{mesh.version[1]} cannot hold the app until the proxy is ready"
        )
        return
    if find_container(editor.pod, LINKERD.proxy) is not None:  # a sidecar or a native sidecar
        report.note(fix_id, "the proxy is already injected; proxy-await is decided at injection")
        return
    start = editor.checkpoint()
    editor.set_meta("annotations", LINKERD_AWAIT, "enabled")
    report.record(editor, start, fix_id, f"{LINKERD_AWAIT}: enabled", why)


RULE: Final[Rule] = family_rule("startup-ordering", "hold", KINDS)
