"""Pure: every setting of stsmesh, with its default, in one frozen dataclass, and the one assembly
of flags over ``STSMESH_*`` environment variables over defaults (:func:`assemble`) that serve,
dry-run, catalogue and audit all use.

Nothing here reads the environment or the disk by itself: the CLI edge passes the parsed flags, the
environment mapping and a function that loads a catalogue file.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from webhook.core.catalogue import Catalogue
from webhook.core.catalogue.load import builtin_catalogue
from webhook.core.mesh import MeshHint

RuleErrorPolicy = Literal["allow", "deny"]
WatchMode = Literal["auto", "on", "off"]

DEFAULT_EXCLUDED_NAMESPACES = ("kube-system", "kube-node-lease")


@dataclass(frozen=True)
class Settings:
    """Runtime settings. Each field says its default, flag and environment variable."""

    host: str = "0.0.0.0"
    """Address to listen on. ``--host`` / ``STSMESH_HOST``."""

    port: int = 8443
    """TLS port. ``--port`` / ``STSMESH_PORT``."""

    cert_file: str = ""
    """Serving certificate (PEM). Empty: a throwaway self-signed one for 127.0.0.1.
    ``--cert-file`` / ``STSMESH_CERT_FILE``."""

    key_file: str = ""
    """Serving key (PEM). ``--key-file`` / ``STSMESH_KEY_FILE``."""

    cert_reload_seconds: float = 10.0
    """How often the cert/key files are checked for change. ``STSMESH_CERT_RELOAD_SECONDS``."""

    max_body_bytes: int = 7 * 1024 * 1024
    """Request cap: two 3 MiB objects plus envelope, as controller-runtime reasons. 413 above it.
    ``STSMESH_MAX_BODY_BYTES``."""

    request_header_seconds: float = 10.0
    """How long a request's headers may take from its first byte (the apiserver sends them at once;
    a client trickling them is closed). ``STSMESH_REQUEST_HEADER_SECONDS``."""

    max_connections: int = 512
    """Open connections at most; one more is closed when accepted (each holds TLS state and
    buffers, ~275 KB as issue #19 measured: 512 stay within the Deployment's 256 MiB).
    ``STSMESH_MAX_CONNECTIONS``."""

    keepalive_timeout: float = 120.0
    """Idle keep-alive timeout; above the apiserver's 90 s so the apiserver always closes first.
    ``STSMESH_KEEPALIVE_TIMEOUT``."""

    shutdown_drain_seconds: float = 5.0
    """After SIGTERM, readiness fails at once and the server keeps serving this long so endpoints
    propagate, then stops accepting and finishes in-flight requests. ``STSMESH_SHUTDOWN_DRAIN_SECONDS``."""

    shutdown_timeout_seconds: float = 10.0
    """After the drain window, how long in-flight requests may take before the process exits anyway
    (the webhook's own timeoutSeconds is 5). ``STSMESH_SHUTDOWN_TIMEOUT_SECONDS``."""

    deadline_margin_seconds: float = 0.5
    """Answer this long before the apiserver's ``?timeout=`` expires. ``STSMESH_DEADLINE_MARGIN_SECONDS``."""

    on_rule_error: RuleErrorPolicy = "allow"
    """When a rule raises: ``allow`` admits the pod unchanged with a warning; ``deny`` rejects it.
    ``--on-rule-error`` / ``STSMESH_ON_RULE_ERROR``."""

    default_hint: MeshHint = field(default_factory=MeshHint)
    """Mesh assumed when the pod carries no evidence and the URL path names none.
    ``--mesh`` / ``--mesh-version`` / ``STSMESH_MESH`` / ``STSMESH_MESH_VERSION``."""

    namespace_hints: Mapping[str, MeshHint] = field(default_factory=dict)
    """Per-namespace defaults, ``ns=mesh[:version]`` comma list. ``--namespace-mesh`` /
    ``STSMESH_NAMESPACE_MESH``."""

    excluded_namespaces: tuple[str, ...] = DEFAULT_EXCLUDED_NAMESPACES
    """Never mutated, even if the webhook configuration lets a request through (defence in depth).
    ``STSMESH_EXCLUDED_NAMESPACES``."""

    catalogue: Catalogue = field(default_factory=builtin_catalogue)
    """The app catalogue: the shipped YAML plus ``--catalogue FILE`` overrides."""

    catalogue_file: str = ""
    """The user catalogue file ``catalogue`` was read from; ``serve`` reloads it when it changes
    (checked every ``cert_reload_seconds``)."""

    log_format: Literal["text", "json"] = "text"
    """``--log-format`` / ``STSMESH_LOG_FORMAT``."""

    log_level: str = "INFO"
    """``--log-level`` / ``STSMESH_LOG_LEVEL``."""

    watch_cluster: WatchMode = "auto"
    """Whether ``serve`` watches namespaces and mesh control planes, so the first call knows a pod's
    mesh: ``auto`` when it finds credentials (in-cluster service account, or ``kubeconfig``), ``on``
    (fail at start without them), ``off``. ``--watch-cluster`` / ``STSMESH_WATCH_CLUSTER``."""

    kubeconfig: str = ""
    """A kubeconfig for the watches when not in a cluster. ``--kubeconfig`` / ``STSMESH_KUBECONFIG``."""

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


ENV_VARS: Mapping[str, str] = {
    "host": "STSMESH_HOST",
    "port": "STSMESH_PORT",
    "cert_file": "STSMESH_CERT_FILE",
    "key_file": "STSMESH_KEY_FILE",
    "cert_reload_seconds": "STSMESH_CERT_RELOAD_SECONDS",
    "max_body_bytes": "STSMESH_MAX_BODY_BYTES",
    "keepalive_timeout": "STSMESH_KEEPALIVE_TIMEOUT",
    "request_header_seconds": "STSMESH_REQUEST_HEADER_SECONDS",
    "max_connections": "STSMESH_MAX_CONNECTIONS",
    "shutdown_drain_seconds": "STSMESH_SHUTDOWN_DRAIN_SECONDS",
    "shutdown_timeout_seconds": "STSMESH_SHUTDOWN_TIMEOUT_SECONDS",
    "deadline_margin_seconds": "STSMESH_DEADLINE_MARGIN_SECONDS",
    "on_rule_error": "STSMESH_ON_RULE_ERROR",
    "excluded_namespaces": "STSMESH_EXCLUDED_NAMESPACES",
    "log_format": "STSMESH_LOG_FORMAT",
    "log_level": "STSMESH_LOG_LEVEL",
    "watch_cluster": "STSMESH_WATCH_CLUSTER",
    "kubeconfig": "STSMESH_KUBECONFIG",
}
"""The environment variable of each plain setting (its flag, where it has one, is ``--<name>``)."""

REVIEW_SETTINGS = frozenset({"on_rule_error", "excluded_namespaces", "deadline_margin_seconds"})
"""The plain settings ``review()`` reads; the others only matter to ``serve`` (so ``dry-run`` and
``audit`` ignore, say, an ``STSMESH_PORT`` that is not a number)."""

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_BOUNDS: Mapping[str, tuple[float, float]] = {
    "port": (0, 65535),
    "cert_reload_seconds": (0.1, 86400),
    "max_body_bytes": (1024, 1 << 30),
    "keepalive_timeout": (0, 86400),
    "request_header_seconds": (0.1, 600),
    "max_connections": (1, 1_000_000),
    "shutdown_drain_seconds": (0, 3600),
    "shutdown_timeout_seconds": (0, 3600),
    "deadline_margin_seconds": (0, 30),
}
"""The values a number setting accepts (inclusive): outside them it is a mistake, not a choice."""

_CHOICES: Mapping[str, tuple[str, ...]] = {
    "on_rule_error": ("allow", "deny"),
    "log_format": ("text", "json"),
    "log_level": LOG_LEVELS,
    "watch_cluster": ("auto", "on", "off"),
}

INPUT_ENV_VARS: Mapping[str, str] = {
    "mesh": "STSMESH_MESH",
    "mesh_version": "STSMESH_MESH_VERSION",
    "namespace_mesh": "STSMESH_NAMESPACE_MESH",
    "catalogue": "STSMESH_CATALOGUE",
}
"""Inputs that become a setting once read: ``mesh`` + ``mesh_version`` → ``default_hint``,
``namespace_mesh`` → ``namespace_hints``, ``catalogue`` (a file) → ``catalogue``."""


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the setting and what it accepts."""


def env_overrides(environ: Mapping[str, str], names: Collection[str] = ENV_VARS.keys()) -> dict[str, Any]:
    """Typed values for the ``STSMESH_*`` variables of ``names`` present in ``environ``."""
    types = {f.name: f.type for f in fields(Settings)}
    values: dict[str, Any] = {}
    for name in names:
        var = ENV_VARS[name]
        raw = environ.get(var)
        if raw is None or raw == "":
            continue
        kind = types[name]
        try:
            if kind == "int":
                values[name] = int(raw)
            elif kind == "float":
                values[name] = float(raw)
            elif name == "excluded_namespaces":
                values[name] = tuple(p.strip() for p in raw.split(",") if p.strip())
            else:
                values[name] = raw
        except ValueError as exc:
            raise SettingsError(f"{var}={raw!r} is not a valid {kind}") from exc
    return values


def checked(name: str, value: Any, given_as: str) -> Any:
    """``value`` for setting ``name`` if usable (a log level in any case comes back upper-case);
    else :class:`SettingsError` naming ``given_as`` (the flag or variable) and what it accepts."""
    if name in _BOUNDS:
        low, high = _BOUNDS[name]
        if not low <= value <= high:
            raise SettingsError(f"{given_as} {value} is out of range: use {low:g} to {high:g}")
    if name in _CHOICES:
        value = value.upper() if name == "log_level" else value
        if value not in _CHOICES[name]:
            raise SettingsError(f"{given_as} {value!r} is not one of {', '.join(_CHOICES[name])}")
    return value


def parse_namespace_hints(text: str) -> dict[str, MeshHint]:
    """``"shop=istio:1.9,data=linkerd"`` → per-namespace hints."""
    hints: dict[str, MeshHint] = {}
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        namespace, sep, spec = item.partition("=")
        if not sep or not namespace:
            raise SettingsError(f"namespace mesh {item!r} must look like NAMESPACE=MESH[:VERSION]")
        mesh, _, version = spec.partition(":")
        try:
            hints[namespace] = MeshHint.parse(mesh, version or None)
        except ValueError as exc:
            raise SettingsError(f"namespace mesh {item!r}: {exc}") from exc
    return hints


def assemble(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    load_catalogue: Callable[[str], Catalogue],
    *,
    serving: bool = True,
) -> Settings:
    """The settings for one command: each flag given wins over its ``STSMESH_*`` variable, which
    wins over the default. ``flags`` maps setting and input names (:data:`ENV_VARS`,
    :data:`INPUT_ENV_VARS`) to parsed values, None or absent when not given; other keys are ignored.
    ``load_catalogue(path)`` returns the effective catalogue for a user file (the edge reads it).
    ``serving``: False for the commands that only review (``dry-run``, ``audit``, ``catalogue``),
    which read only :data:`REVIEW_SETTINGS` of the plain ones. Raises :class:`SettingsError` naming
    the flag or variable and what it accepts."""
    names = ENV_VARS.keys() if serving else REVIEW_SETTINGS
    values = {name: checked(name, value, ENV_VARS[name]) for name, value in env_overrides(environ, names).items()}
    for name in names:
        value = flags.get(name)
        if value is not None:
            values[name] = checked(name, value, f"--{name.replace('_', '-')}")

    def given(name: str) -> str:
        value = flags.get(name)
        return str(value) if value is not None else environ.get(INPUT_ENV_VARS[name], "")

    try:
        values["default_hint"] = MeshHint.parse(given("mesh") or None, given("mesh_version") or None)
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc
    values["namespace_hints"] = parse_namespace_hints(given("namespace_mesh"))
    catalogue_file = given("catalogue")
    if catalogue_file:
        values["catalogue"] = load_catalogue(catalogue_file)
        values["catalogue_file"] = catalogue_file
    return Settings(**values)
