"""Pure rule family: mesh port exclusions and opaque ports, merged and never overwritten.

Port exclusions are the fallback for apps that cannot bind all interfaces, needed where the data
plane delivers to 127.0.0.1. Before injection they go into the annotations the mesh's injector
reads (:class:`~webhook.core.mesh.MeshFacts`: Istio's ``traffic.sidecar.istio.io/exclude*Ports``,
Linkerd's ``config.linkerd.io/skip-*-ports``, Consul's ``transparent-proxy-exclude-*-ports``,
Kuma's ``traffic.kuma.io/exclude-*-ports``), merged into any list already there (deduplicated,
order kept, ranges understood). An explicit Istio ``includeInboundPorts`` list makes exclusions
moot (istio-iptables applies ``-d`` only with ``-b "*"``), so our ports are removed from it instead.

After injection the annotations are too late unless a CNI plugin reads them at sandbox set-up, so
the injected init container is patched to match: its exclusion flags (``istio-init``
``-d``/``-o``/``-b``, ``linkerd-init`` ``--inbound-ports-to-ignore``/``--outbound-ports-to-ignore``,
``kuma-init`` ``--exclude-inbound-ports``/``--exclude-outbound-ports``, in the form the injector
wrote them), or Consul's redirection config (JSON ``ExcludeInboundPorts``/``ExcludeOutboundPorts``
in ``consul-connect-inject-init``'s ``CONSUL_REDIRECT_TRAFFIC_CONFIG``, or in the
``consul.hashicorp.com/redirect-traffic-config`` annotation its CNI plugin reads). The proxy
containers themselves are never touched. Ambient (ztunnel) has no per-port exclusion, and with no
proxy in the pod (Cilium) there is nothing to exclude from: both are explained, never patched.

Opaque ports (Linkerd only): ``config.linkerd.io/opaque-ports`` *replaces* Linkerd's default list,
so when we create it we carry over the defaults that match the pod's ports, as the injector would.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from webhook.core.catalogue import AppMatch, Fix, schema
from webhook.core.commalist import covers, merged_ports, split_list, without_ports
from webhook.core.mesh import ISTIO, LINKERD, MeshContext, MeshFacts, Version, format_version, parse_version
from webhook.core.patch import PodEditor
from webhook.core.rules import FixKind, Report, Rule, RuleContext, family_rule
from webhook.core.shapes import ContainerRef

ISTIO_EXCLUDE_IN = ISTIO.exclude_inbound
ISTIO_INCLUDE_IN = ISTIO.include_inbound
ISTIO_EXCLUDE_OUT = ISTIO.exclude_outbound
LINKERD_SKIP_IN = LINKERD.exclude_inbound
LINKERD_SKIP_OUT = LINKERD.exclude_outbound
LINKERD_OPAQUE = "config.linkerd.io/opaque-ports"

LINKERD_DEFAULT_OPAQUE_210 = (25, 443, 587, 3306, 5432, 11211)
LINKERD_DEFAULT_OPAQUE_211 = (25, 587, 3306, 4444, 5432, 6379, 9300, 11211)


# --- the kinds -----------------------------------------------------------------------------------


def _skip_ports_relevant(ctx: RuleContext, fix: Fix) -> bool:
    return fix.applies_to(ctx.mesh.mesh) or ctx.mesh.mesh == "unknown"


def _apply_skip_ports(editor: PodEditor, ctx: RuleContext, match: AppMatch, fix: Fix, report: Report) -> None:
    mesh = ctx.mesh
    if mesh.mesh == "unknown":
        report.warn(
            f"{fix.id}: port exclusions not applied because the mesh is unknown; "
            "configure it (--mesh, --namespace-mesh or the /mutate/<mesh> path)"
        )
    elif not mesh.proxied or mesh.facts is None:
        report.note(fix.id, f"not needed: no proxy in the pod ({mesh.label})")
    elif mesh.dataplane == "ambient":
        report.note(
            fix.id,
            f"not needed: {mesh.label} (ztunnel) delivers inbound traffic to the pod IP, and it reads no "
            "per-port exclusions (traffic.sidecar.istio.io/* are ignored there)",
        )
    elif not fix.applies_in(mesh.dataplane):
        report.note(
            fix.id,
            f"not needed with a {mesh.dataplane}: the proxy starts, and is ready, before the app's init containers",
        )
    elif mesh.inbound in fix.inbound:
        _skip_ports(editor, ctx, match, fix, report)
    else:
        why = mesh.delivery_evidence
        report.note(fix.id, f"not needed: {mesh.label} delivers inbound traffic to the pod IP ({why})")


def _opaque_ports_relevant(ctx: RuleContext, fix: Fix) -> bool:
    return ctx.mesh.mesh == "linkerd" and fix.applies_to("linkerd")


def _apply_opaque_ports(editor: PodEditor, ctx: RuleContext, match: AppMatch, fix: Fix, report: Report) -> None:
    _opaque_ports(editor, ctx.mesh, match, fix, report)


def _check_skip_ports(params: object, where: str) -> None:
    fields = schema.mapping_of(params, where, ("inbound", "outbound", "from_env"), "inbound, outbound, from_env")
    schema.ports(fields.get("inbound"), f"{where}.inbound")
    schema.ports(fields.get("outbound"), f"{where}.outbound")
    schema.strings(fields.get("from_env"), f"{where}.from_env")


def _check_opaque_ports(params: object, where: str) -> None:
    fields = schema.mapping_of(params, where, ("ports", "linkerd_before"), "ports and linkerd_before")
    if not schema.ports(fields.get("ports"), f"{where}.ports"):
        raise schema.CatalogueError(f"{where}.ports: give at least one port")
    before = fields.get("linkerd_before")
    if before is not None and (not isinstance(before, str) or parse_version(before) is None):
        raise schema.CatalogueError(f"{where}.linkerd_before: must be a version string like '2.11'")


KINDS: Final[tuple[FixKind, ...]] = (
    FixKind(
        "skip_ports",
        "ports",
        _check_skip_ports,
        _skip_ports_relevant,
        apply=_apply_skip_ports,
        # The fallback for apps bound to the pod IP only: needed where the proxy forwards to
        # 127.0.0.1, and kept when the version is unknown because exclusions work on both sides.
        default_inbound=("localhost", "unknown"),
        binds_pod_ip_only=True,
        summary="{inbound, outbound, from_env}: mesh port exclusions, merged into annotations",
    ),
    FixKind(
        "opaque_ports",
        "ports",
        _check_opaque_ports,
        _opaque_ports_relevant,
        apply=_apply_opaque_ports,
        summary="{ports, linkerd_before}: Linkerd opaque ports missing from older defaults",
    ),
)


def _ports_for(editor: PodEditor, match: AppMatch, fix: Fix, direction: str) -> list[int]:
    ports = list(fix.params.get(direction) or [])
    ref = match.ref
    for name in fix.params.get("from_env") or []:
        found = editor.env_value(ref, name)
        value = found[1].get("value") if found else None
        text = value.strip() if isinstance(value, str) else ""
        port = int(text) if text.isascii() and text.isdecimal() and len(text) <= 5 else 0
        if 0 < port < 65536 and port not in ports:
            ports.append(port)
    return ports


def _skip_ports(editor: PodEditor, ctx: RuleContext, match: AppMatch, fix: Fix, report: Report) -> None:
    inbound = _ports_for(editor, match, fix, "inbound")
    outbound = _ports_for(editor, match, fix, "outbound")
    mesh = ctx.mesh
    facts = mesh.facts
    assert facts is not None  # _apply_skip_ports checked
    start = editor.checkpoint()
    annotations = editor.meta_map("annotations")
    include = annotations.get(facts.include_inbound) if facts.include_inbound else None
    if inbound and isinstance(include, str) and include.strip() != "*":
        include_items = split_list(include)
        kept = without_ports(include_items, inbound)
        if kept != include_items:
            editor.set_meta("annotations", facts.include_inbound, ",".join(kept))
    elif inbound:
        _set_merged_ports(editor, facts.exclude_inbound, inbound)
    if outbound:
        _set_merged_ports(editor, facts.exclude_outbound, outbound)
    if mesh.injected and (facts.init_config_env or facts.cni_config_annotation):
        _patch_redirection_config(editor, mesh, facts, inbound, outbound, report, fix)
    elif mesh.injected and mesh.redirect_init is not None:
        _patch_redirect_init(editor, mesh, facts, inbound, outbound, report, fix)
    where = (
        "the injected init container and annotations" if mesh.injected and mesh.redirect_init else "mesh annotations"
    )
    summary = f"ports in {_fmt(inbound)} / out {_fmt(outbound)} bypass the proxy ({where})"
    if not report.record(editor, start, fix.id, summary, fix.why):
        report.note(fix.id, f"ports in {_fmt(inbound)} / out {_fmt(outbound)} already bypass the proxy")


def _fmt(ports: Sequence[int]) -> str:
    return ",".join(map(str, ports)) or "-"


def _set_merged_ports(editor: PodEditor, key: str, ports: Sequence[int]) -> None:
    current = editor.meta_map("annotations").get(key)
    value = merged_ports(current, ports)
    if value != current:
        editor.set_meta("annotations", key, value)


# --- injected init containers ---------------------------------------------------------------------


def _patch_redirect_init(
    editor: PodEditor,
    mesh: MeshContext,
    facts: MeshFacts,
    inbound: list[int],
    outbound: list[int],
    report: Report,
    fix: Fix,
) -> None:
    assert mesh.redirect_init is not None
    ref = mesh.redirect_init
    container = editor.container(ref)
    field = "args" if isinstance(container.get("args"), list) else "command"
    if not isinstance(container.get(field), list):
        report.warn(f"{fix.id}: cannot read the arguments of the injected init container; restart the pod")
        return
    flags = facts.init_flags
    if "include" in flags and inbound:
        include = _flag_value(container[field], flags["include"])
        if include is not None and include[2].strip() != "*":  # "" is an explicit list too: nothing captured
            items = split_list(include[2])
            kept = without_ports(items, inbound)
            if kept != items:
                _set_flag(editor, ref, field, flags["include"], ",".join(kept))
            inbound = []
    if inbound:
        _merge_flag(editor, ref, field, flags["in"], inbound)
    if outbound:
        _merge_flag(editor, ref, field, flags["out"], outbound)


def _flag_value(items: list[Any], flag: str) -> tuple[int, int | None, str] | None:
    """Where ``flag`` is: (flag index, value index or None when the flag ends the list, value).

    Handles ``FLAG VALUE`` and ``FLAG=VALUE``; a dangling ``FLAG`` has no value yet."""
    for index, item in enumerate(items):
        if item == flag:
            if index + 1 < len(items) and isinstance(items[index + 1], str) and not items[index + 1].startswith("-"):
                return index, index + 1, items[index + 1]
            if index + 1 < len(items) and items[index + 1] == "":
                return index, index + 1, ""
            return index, None, ""
        if isinstance(item, str) and item.startswith(flag + "="):
            return index, index, item[len(flag) + 1 :]
    return None


def _set_flag(editor: PodEditor, ref: ContainerRef, field: str, flag: str, value: str) -> None:
    items = editor.container(ref)[field]
    found = _flag_value(items, flag)
    if found is None:
        if _writes_joined(items, flag):
            editor.append_list_item(ref, field, f"{flag}={value}")
        else:
            editor.append_list_item(ref, field, flag)
            editor.append_list_item(ref, field, value)
        return
    flag_index, value_index, _ = found
    if value_index is None:
        # "-d" followed by another flag or nothing: rewrite it as FLAG=VALUE in place
        editor.set_list_item(ref, field, flag_index, f"{flag}={value}")
    elif value_index == flag_index:
        editor.set_list_item(ref, field, flag_index, f"{flag}={value}")
    else:
        editor.set_list_item(ref, field, value_index, value)


def _writes_joined(items: list[Any], flag: str) -> bool:
    """Whether the injector wrote long flags as one ``--flag=value`` item (newer kuma-init does; istio-init
    and linkerd-init write the value as the next item), judged from the arguments it wrote."""
    long_with_value = [i for i in items if isinstance(i, str) and i.startswith("--")]
    return flag.startswith("--") and bool(long_with_value) and all("=" in i for i in long_with_value)


def _patch_redirection_config(
    editor: PodEditor,
    mesh: MeshContext,
    facts: MeshFacts,
    inbound: list[int],
    outbound: list[int],
    report: Report,
    fix: Fix,
) -> None:
    """A mesh whose injector wrote its redirection config as JSON (Consul): in the init container's env
    without CNI, in an annotation with it; the init container is there in both cases."""
    ref = mesh.redirect_init
    if ref is not None and facts.init_config_env and editor.env_value(ref, facts.init_config_env) is not None:
        _patch_init_config(editor, ref, facts.init_config_env, inbound, outbound, report, fix)
    elif facts.cni_config_annotation and facts.cni_config_annotation in editor.meta_map("annotations"):
        _patch_config_annotation(editor, facts.cni_config_annotation, inbound, outbound, report, fix)
    elif ref is not None:
        report.warn(f"{fix.id}: the injected init container has no redirection config to patch; restart the pod")


def _patch_init_config(
    editor: PodEditor,
    ref: ContainerRef,
    env_name: str,
    inbound: list[int],
    outbound: list[int],
    report: Report,
    fix: Fix,
) -> None:
    """Merge the ports into the redirection config the init container reads as JSON from ``env_name``."""
    found = editor.env_value(ref, env_name)
    config = _json_object(found[1].get("value") if found else None)
    if config is None:
        report.warn(f"{fix.id}: cannot read {env_name} of the injected init container; restart the pod")
        return
    merged = _with_excluded_ports(config, inbound, outbound)
    if merged is None:
        report.warn(f"{fix.id}: {env_name} of the injected init container has port lists stsmesh cannot read")
    elif merged != config:
        editor.set_env(ref, env_name, json.dumps(merged, separators=(",", ":")))


def _patch_config_annotation(
    editor: PodEditor, key: str, inbound: list[int], outbound: list[int], report: Report, fix: Fix
) -> None:
    """Merge the ports into the JSON redirection config a CNI plugin reads from annotation ``key``."""
    config = _json_object(editor.meta_map("annotations").get(key))
    if config is None:
        report.warn(f"{fix.id}: cannot read the {key} annotation; restart the pod")
        return
    merged = _with_excluded_ports(config, inbound, outbound)
    if merged is None:
        report.warn(f"{fix.id}: the {key} annotation has port lists stsmesh cannot read")
    elif merged != config:
        editor.set_meta("annotations", key, json.dumps(merged, separators=(",", ":")))


def _json_object(value: object) -> dict[str, Any] | None:
    if not isinstance(value, str):
        return None
    try:
        decoded = json.loads(value)
    except (ValueError, RecursionError):
        return None
    return decoded if isinstance(decoded, dict) else None


def _with_excluded_ports(config: dict[str, Any], inbound: list[int], outbound: list[int]) -> dict[str, Any] | None:
    """``config`` (consul's iptables.Config: port lists of strings) with the ports added, order kept;
    None when a list is not a list of strings (left for the user: we do not guess its meaning)."""
    merged = dict(config)
    for key, ports in (("ExcludeInboundPorts", inbound), ("ExcludeOutboundPorts", outbound)):
        if not ports:
            continue
        existing = merged.get(key)
        if existing is not None and not (isinstance(existing, list) and all(isinstance(p, str) for p in existing)):
            return None
        current = list(existing or [])
        added = [str(p) for p in ports if not covers(current, p)]
        if added:
            merged[key] = current + added
    return merged


def _merge_flag(editor: PodEditor, ref: ContainerRef, field: str, flag: str, ports: Sequence[int]) -> None:
    found = _flag_value(editor.container(ref)[field], flag)
    current = found[2].strip('"') if found else ""
    value = merged_ports(current, ports)
    if value != current:
        _set_flag(editor, ref, field, flag, value)


# --- Linkerd opaque ports -------------------------------------------------------------------------


def linkerd_default_opaque(version: Version | None) -> tuple[int, ...]:
    return LINKERD_DEFAULT_OPAQUE_211 if version is None or version >= (2, 11) else LINKERD_DEFAULT_OPAQUE_210


def _opaque_ports(editor: PodEditor, mesh: MeshContext, match: AppMatch, fix: Fix, report: Report) -> None:
    ports: list[int] = list(fix.params["ports"])
    before = parse_version(fix.params.get("linkerd_before"))
    annotations = editor.meta_map("annotations")
    current = annotations.get(LINKERD_OPAQUE)
    needed_by_version = mesh.version is None or before is None or mesh.version < before
    if current is None and not needed_by_version:
        report.note(fix.id, f"not needed: {_fmt(ports)} is opaque by default on Linkerd {format_version(mesh.version)}")
        return
    if current is None:
        pod_ports = _pod_ports(editor)
        defaults = [p for p in linkerd_default_opaque(mesh.version) if p in pod_ports]
        value = merged_ports(",".join(map(str, defaults)), ports)
    else:
        value = merged_ports(current, ports)
    start = editor.checkpoint()
    if value != current:
        editor.set_meta("annotations", LINKERD_OPAQUE, value)
    why = fix.why + (
        " The annotation replaces Linkerd's defaults, so the ones this pod uses are kept." if current is None else ""
    )
    if not report.record(editor, start, fix.id, f"{LINKERD_OPAQUE} includes {_fmt(ports)}", why):
        report.note(fix.id, f"{_fmt(ports)} already opaque")
    if mesh.injected and mesh.version is not None and mesh.version < (2, 11):
        report.warn(f"{fix.id}: the Linkerd proxy was injected before this annotation; restart the pod to apply it")


def _pod_ports(editor: PodEditor) -> set[int]:
    found: set[int] = set()
    for _, container in editor.containers("containers"):
        ports = container.get("ports")
        for port in ports if isinstance(ports, list) else []:
            if isinstance(port, dict) and isinstance(port.get("containerPort"), int):
                found.add(port["containerPort"])
    return found


RULE: Final[Rule] = family_rule("mesh-ports", "ports", KINDS)
