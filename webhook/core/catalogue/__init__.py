"""Pure: the app catalogue — which apps we recognise and which fixes each one gets — as data.

The catalogue is YAML (``webhook/core/catalogue.yaml`` ships with the package; a user file or ConfigMap
can add apps or override shipped ones by ``id``). This module validates it strictly, so a typo in
a user file fails at start-up with the path of the bad key, never on the request path.

Detection (:meth:`Catalogue.match`): each container is compared with every app's ``match``; an app
matches when its image pattern matches (registry, tag and digest ignored; ``library/`` stripped)
and every other condition it states holds. The most specific image pattern wins, then file order
(user entries come before shipped ones).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Final

import yaml

FIX_KINDS = (
    "env_set",
    "env_token",
    "env_url_hosts",
    "env_wildcard",
    "arg_url_hosts",
    "skip_ports",
    "opaque_ports",
    "hold",
    "advice",
)
INBOUND_MODES = ("localhost", "pod-ip", "unknown")
MESHES = ("istio", "linkerd")


class CatalogueError(ValueError):
    """The catalogue YAML is invalid; the message names the entry and key."""


@dataclass(frozen=True)
class Fix:
    id: str
    kind: str
    why: str
    params: Any
    inbound: tuple[str, ...]
    """Inbound modes the fix applies in."""
    meshes: tuple[str, ...] = ()
    """Meshes the fix applies to; empty means every mesh (and an unknown one)."""

    def applies_to(self, mesh: str) -> bool:
        return not self.meshes or mesh in self.meshes


@dataclass(frozen=True)
class Match:
    images: tuple[str, ...] = ()
    env_any: tuple[str, ...] = ()
    ports_any: tuple[int, ...] = ()
    image_paths: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)
    """The image patterns split into lower-case path components, once."""

    def __post_init__(self) -> None:
        # Derived once here rather than in a cached_property: the compiled build's classes have no
        # instance __dict__ for one to cache in.
        paths = tuple(tuple(pattern.lower().split("/")) for pattern in self.images)
        object.__setattr__(self, "image_paths", paths)


@dataclass(frozen=True)
class App:
    id: str
    app: str
    flavour: str
    source: str
    match: Match
    fixes: tuple[Fix, ...]
    binds_all: str = ""
    """Non-empty when the app already binds all interfaces: says how, for the explanation."""


class AppMatch:
    """A catalogue app recognised in one container of the pod."""

    def __init__(self, app: App, list_name: str, index: int, container_name: str) -> None:
        self.app: Final = app
        self.list_name: Final = list_name
        self.index: Final = index
        self.container_name: Final = container_name


@dataclass(frozen=True)
class Catalogue:
    apps: tuple[App, ...] = field(default=())
    _by_name: dict[str, tuple[App, ...]] = field(init=False, repr=False, compare=False)
    """Apps by the last component of their image patterns, plus every app matched without an image,
    in catalogue order: matching a container looks at a handful of apps, not all."""

    def __post_init__(self) -> None:
        by_name: dict[str, set[int]] = {}
        for app in self.apps:
            for path in app.match.image_paths:
                by_name.setdefault(path[-1], set()).add(id(app))
        index = {
            name: tuple(app for app in self.apps if id(app) in named or not app.match.images)
            for name, named in by_name.items()
        }
        index[""] = tuple(app for app in self.apps if not app.match.images)  # images no pattern names
        object.__setattr__(self, "_by_name", index)

    def match(self, pod: Mapping[str, Any]) -> list[AppMatch]:
        """Every (container, app) pair the catalogue recognises in ``pod``."""
        found: list[AppMatch] = []
        spec = pod.get("spec")
        if not isinstance(spec, dict):
            return found
        for list_name in ("initContainers", "containers"):
            items = spec.get(list_name)
            if not isinstance(items, list):
                continue
            for index, container in enumerate(items):
                if not isinstance(container, dict):
                    continue
                app = self._best(container)
                if app is not None:
                    name = container.get("name")
                    found.append(AppMatch(app, list_name, index, name if isinstance(name, str) else f"#{index}"))
        return found

    def _best(self, container: Mapping[str, Any]) -> App | None:
        repository = image_repository(container.get("image"))
        candidates = self._by_name.get(repository[-1] if repository else "")
        if candidates is None:
            candidates = self._by_name[""]
        best: App | None = None
        best_score = 0
        for app in candidates:
            score = _score(app.match, repository, container)
            if score > best_score:
                best, best_score = app, score
        return best

    def merged(self, override: Catalogue, disabled: Sequence[str] = ()) -> Catalogue:
        """``override``'s apps first (they win ties), shipped apps with the same id dropped."""
        ids = {a.id for a in override.apps} | set(disabled)
        return Catalogue(override.apps + tuple(a for a in self.apps if a.id not in ids))


def image_repository(image: object) -> tuple[str, ...]:
    """``docker.io/bitnami/zookeeper:3.7@sha256:…`` → ``("bitnami", "zookeeper")``."""
    if not isinstance(image, str) or not image:
        return ()
    # Every pod of a StatefulSet carries the same few image strings; odd, long ones are not kept.
    return _cached_repository(image) if len(image) <= 512 else _repository(image)


def _repository(image: str) -> tuple[str, ...]:
    image = image.split("@", 1)[0]
    parts = image.split("/")
    last = parts[-1]
    if ":" in last:
        parts[-1] = last.split(":", 1)[0]
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if len(parts) > 1 and parts[0] == "library":
        parts = parts[1:]
    return tuple(p.lower() for p in parts if p)


_cached_repository = lru_cache(maxsize=1024)(_repository)


def _score(match: Match, repository: tuple[str, ...], container: Mapping[str, Any]) -> int:
    score = 0
    if match.images:
        best = 0
        for wanted in match.image_paths:
            # Suffix match on whole path components, so mirrors (registry/mirror/bitnami/x) match,
            # and "zookeeper" (official) does not swallow "bitnami/zookeeper" (more specific wins).
            if len(wanted) <= len(repository) and repository[-len(wanted) :] == wanted:
                exact = len(wanted) == len(repository)
                best = max(best, 2 * len(wanted) + (1 if exact else 0))
        if best == 0:
            return 0
        score += best
    if match.env_any:
        names = {e.get("name") for e in _list(container.get("env")) if isinstance(e, dict)}
        if not names.intersection(match.env_any):
            return 0
        score += 1
    if match.ports_any:
        ports = {p.get("containerPort") for p in _list(container.get("ports")) if isinstance(p, dict)}
        if not ports.intersection(match.ports_any):
            return 0
        score += 1
    return score


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


# --- loading and validation -----------------------------------------------------------------------


def parse_catalogue(text: str, origin: str = "catalogue") -> tuple[Catalogue, tuple[str, ...]]:
    """Parse catalogue YAML; returns the catalogue and the ids it disables."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{origin}: not valid YAML: {exc}") from exc
    if data is None:
        return Catalogue(), ()
    if not isinstance(data, dict):
        raise CatalogueError(f"{origin}: the top level must be a mapping with 'apps:'")
    _only(data, ("version", "apps", "disable"), origin)
    apps_data = data.get("apps") or []
    if not isinstance(apps_data, list):
        raise CatalogueError(f"{origin}: 'apps' must be a list")
    apps = tuple(_parse_app(entry, f"{origin}: apps[{i}]") for i, entry in enumerate(apps_data))
    seen: set[str] = set()
    for app in apps:
        if app.id in seen:
            raise CatalogueError(f"{origin}: app id {app.id!r} appears twice")
        seen.add(app.id)
    disabled = data.get("disable") or []
    if not isinstance(disabled, list) or not all(isinstance(d, str) for d in disabled):
        raise CatalogueError(f"{origin}: 'disable' must be a list of app ids")
    return Catalogue(apps), tuple(disabled)


def _only(data: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise CatalogueError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(allowed)}")


def _text(data: Mapping[str, Any], key: str, where: str, required: bool = True) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or (required and not value):
        raise CatalogueError(f"{where}: '{key}' must be a non-empty string")
    return value


def _strings(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CatalogueError(f"{where}: must be a list of strings")
    return tuple(value)


def _ports(value: object, where: str) -> tuple[int, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 < v < 65536 for v in value
    ):
        raise CatalogueError(f"{where}: must be a list of port numbers (1-65535)")
    return tuple(value)


def _parse_app(data: object, where: str) -> App:
    if not isinstance(data, dict):
        raise CatalogueError(f"{where}: must be a mapping")
    _only(data, ("id", "app", "flavour", "source", "match", "fixes", "binds_all"), where)
    app_id = _text(data, "id", where)
    where = f"{where} ({app_id})"
    match_data = data.get("match")
    if not isinstance(match_data, dict):
        raise CatalogueError(f"{where}: 'match' must be a mapping")
    _only(match_data, ("images", "env_any", "ports_any"), f"{where}.match")
    match = Match(
        images=_strings(match_data.get("images"), f"{where}.match.images"),
        env_any=_strings(match_data.get("env_any"), f"{where}.match.env_any"),
        ports_any=_ports(match_data.get("ports_any"), f"{where}.match.ports_any"),
    )
    if not (match.images or match.env_any or match.ports_any):
        raise CatalogueError(f"{where}.match: give at least one of images, env_any, ports_any")
    fixes_data = data.get("fixes") or []
    if not isinstance(fixes_data, list):
        raise CatalogueError(f"{where}: 'fixes' must be a list")
    fixes = tuple(_parse_fix(f, f"{where}.fixes[{i}]") for i, f in enumerate(fixes_data))
    return App(
        id=app_id,
        app=_text(data, "app", where),
        flavour=_text(data, "flavour", where, required=False),
        source=_text(data, "source", where),
        match=match,
        fixes=fixes,
        binds_all=_text(data, "binds_all", where, required=False),
    )


def _parse_fix(data: object, where: str) -> Fix:
    if not isinstance(data, dict):
        raise CatalogueError(f"{where}: must be a mapping")
    _only(data, ("id", "why", "inbound", "mesh", *FIX_KINDS), where)
    kinds = [k for k in FIX_KINDS if k in data]
    if len(kinds) != 1:
        raise CatalogueError(f"{where}: give exactly one of {', '.join(FIX_KINDS)}")
    kind = kinds[0]
    inbound = _strings(data.get("inbound"), f"{where}.inbound") or _default_inbound(kind)
    bad = [m for m in inbound if m not in INBOUND_MODES]
    if bad:
        raise CatalogueError(f"{where}.inbound: {bad} not among {INBOUND_MODES}")
    params = data[kind]
    _check_params(kind, params, f"{where}.{kind}")
    meshes = _strings(data.get("mesh"), f"{where}.mesh")
    unknown_meshes = [m for m in meshes if m not in MESHES]
    if unknown_meshes:
        raise CatalogueError(f"{where}.mesh: {unknown_meshes} not among {MESHES}")
    return Fix(
        id=_text(data, "id", where),
        kind=kind,
        why=_text(data, "why", where),
        params=params,
        inbound=inbound,
        meshes=meshes,
    )


def _default_inbound(kind: str) -> tuple[str, ...]:
    # Port exclusions are the fallback for apps bound to the pod IP only: needed where the proxy
    # forwards to 127.0.0.1, and kept when the version is unknown because they work on both sides.
    return ("localhost", "unknown") if kind == "skip_ports" else INBOUND_MODES


def _check_params(kind: str, params: object, where: str) -> None:
    if kind == "env_set":
        if (
            not isinstance(params, dict)
            or not params
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
        ):
            raise CatalogueError(f"{where}: must map env names to string values (quote yes/no/true)")
    elif kind == "env_token":
        if not isinstance(params, dict):
            raise CatalogueError(f"{where}: must be a mapping with name, key, value")
        _only(params, ("name", "key", "value"), where)
        for key in ("name", "key", "value"):
            _text(params, key, where)
    elif kind in ("env_url_hosts", "env_wildcard", "arg_url_hosts"):
        if not _strings(params, where):
            raise CatalogueError(f"{where}: must be a non-empty list of names")
    elif kind == "skip_ports":
        if not isinstance(params, dict):
            raise CatalogueError(f"{where}: must be a mapping")
        _only(params, ("inbound", "outbound", "from_env"), where)
        _ports(params.get("inbound"), f"{where}.inbound")
        _ports(params.get("outbound"), f"{where}.outbound")
        _strings(params.get("from_env"), f"{where}.from_env")
    elif kind == "opaque_ports":
        if not isinstance(params, dict):
            raise CatalogueError(f"{where}: must be a mapping with ports and linkerd_before")
        _only(params, ("ports", "linkerd_before"), where)
        if not _ports(params.get("ports"), f"{where}.ports"):
            raise CatalogueError(f"{where}.ports: give at least one port")
        before = params.get("linkerd_before")
        if before is not None and not isinstance(before, str):
            raise CatalogueError(f"{where}.linkerd_before: must be a version string like '2.11'")
    elif kind == "hold":
        if params is not True:
            raise CatalogueError(f"{where}: must be true")
    elif kind == "advice":
        if not isinstance(params, dict):
            raise CatalogueError(f"{where}: must be a mapping with text")
        _only(params, ("text", "args_contain"), where)
        _text(params, "text", where)
        _text(params, "args_contain", where, required=False)


def load_builtin_text() -> str:
    return resources.files("webhook.core").joinpath("catalogue.yaml").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def builtin_catalogue() -> Catalogue:
    """The catalogue shipped in the package (parsed once)."""
    catalogue, _ = parse_catalogue(load_builtin_text(), "webhook/core/catalogue.yaml")
    return catalogue
