"""Pure: reading, validating and writing the catalogue's YAML.

Validation is strict, so a mistake fails at start-up with the path of the bad key, never on the
request path, and a mistake that would silently do nothing is an error too: an image pattern with
a tag, digest or registry (patterns are matched without those, so it could never match), a
``disable:`` naming no shipped app, a ``version:`` other than 1. Each fix's parameters are checked by
its kind (:data:`webhook.core.rules.registry.FIX_KINDS`). :func:`dump` writes a catalogue back in
the same schema, so ``stsmesh catalogue -o yaml`` prints a file ``--catalogue`` accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from webhook.core.catalogue import DATAPLANES, INBOUND_MODES, App, Catalogue, Fix, Match
from webhook.core.catalogue.schema import CatalogueError, only, ports, strings, text_field
from webhook.core.mesh import FACTS
from webhook.core.rules.registry import FIX_KINDS

SCHEMA_VERSION = 1
BUILTIN_ORIGIN = "webhook/core/catalogue/catalogue.yaml"


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
    only(data, ("version", "apps", "disable"), origin)
    version = data.get("version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise CatalogueError(f"{origin}: version {version!r} is not known; this stsmesh reads version {SCHEMA_VERSION}")
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


def with_user_catalogue(base: Catalogue, text: str, origin: str) -> Catalogue:
    """``base`` with a user file's apps (which win over shipped ones with the same id) and without
    the apps it disables; a ``disable:`` id that names no app of ``base`` is an error."""
    extra, disabled = parse_catalogue(text, origin)
    known = {app.id for app in base.apps}
    unknown = [app_id for app_id in disabled if app_id not in known]
    if unknown:
        raise CatalogueError(
            f"{origin}: disable: {', '.join(unknown)} is not a shipped app id (see `stsmesh catalogue`)"
        )
    return base.merged(extra, disabled)


def _parse_app(data: object, where: str) -> App:
    if not isinstance(data, dict):
        raise CatalogueError(f"{where}: must be a mapping")
    only(data, ("id", "app", "flavour", "source", "match", "fixes", "binds_all"), where)
    app_id = text_field(data, "id", where)
    where = f"{where} ({app_id})"
    match_data = data.get("match")
    if not isinstance(match_data, dict):
        raise CatalogueError(f"{where}: 'match' must be a mapping")
    only(match_data, ("images", "env_any", "ports_any"), f"{where}.match")
    match = Match(
        images=_image_patterns(match_data.get("images"), f"{where}.match.images"),
        env_any=strings(match_data.get("env_any"), f"{where}.match.env_any"),
        ports_any=ports(match_data.get("ports_any"), f"{where}.match.ports_any"),
    )
    if not (match.images or match.env_any or match.ports_any):
        raise CatalogueError(f"{where}.match: give at least one of images, env_any, ports_any")
    fixes_data = data.get("fixes") or []
    if not isinstance(fixes_data, list):
        raise CatalogueError(f"{where}: 'fixes' must be a list")
    fixes = tuple(_parse_fix(f, f"{where}.fixes[{i}]") for i, f in enumerate(fixes_data))
    return App(
        id=app_id,
        app=text_field(data, "app", where),
        flavour=text_field(data, "flavour", where, required=False),
        source=text_field(data, "source", where),
        match=match,
        fixes=fixes,
        binds_all=text_field(data, "binds_all", where, required=False),
    )


def _image_patterns(value: object, where: str) -> tuple[str, ...]:
    """Repository paths as matching compares them: no tag, digest or registry."""
    patterns = strings(value, where)
    for pattern in patterns:
        first = pattern.split("/", 1)[0]
        if ":" in pattern or "@" in pattern:
            raise CatalogueError(f"{where}: {pattern!r} has a tag or digest; give the repository path only")
        if "/" in pattern and ("." in first or first == "localhost"):
            raise CatalogueError(
                f"{where}: {pattern!r} starts with a registry; give the repository path only (registries are ignored)"
            )
    return patterns


def _parse_fix(data: object, where: str) -> Fix:
    if not isinstance(data, dict):
        raise CatalogueError(f"{where}: must be a mapping")
    only(data, ("id", "why", "inbound", "mesh", "dataplane", *FIX_KINDS), where)
    named = [name for name in FIX_KINDS if name in data]
    if len(named) != 1:
        raise CatalogueError(f"{where}: give exactly one of {', '.join(FIX_KINDS)}")
    kind = FIX_KINDS[named[0]]
    inbound = strings(data.get("inbound"), f"{where}.inbound") or kind.default_inbound
    bad = [m for m in inbound if m not in INBOUND_MODES]
    if bad:
        raise CatalogueError(f"{where}.inbound: {bad} not among {INBOUND_MODES}")
    params = data[kind.name]
    kind.check(params, f"{where}.{kind.name}")
    meshes = strings(data.get("mesh"), f"{where}.mesh")
    unknown_meshes = [m for m in meshes if m not in FACTS]
    if unknown_meshes:
        raise CatalogueError(f"{where}.mesh: {unknown_meshes} not among {tuple(FACTS)}")
    dataplanes = strings(data.get("dataplane"), f"{where}.dataplane")
    unknown_dataplanes = [d for d in dataplanes if d not in DATAPLANES]
    if unknown_dataplanes:
        raise CatalogueError(f"{where}.dataplane: {unknown_dataplanes} not among {DATAPLANES}")
    return Fix(
        id=text_field(data, "id", where),
        kind=kind.name,
        why=text_field(data, "why", where),
        params=params,
        inbound=inbound,
        meshes=meshes,
        dataplanes=dataplanes,
    )


def dump(catalogue: Catalogue, disabled: Sequence[str] = ()) -> dict[str, Any]:
    """``catalogue`` as data in the catalogue schema: :func:`parse_catalogue` reads it back equal."""
    data: dict[str, Any] = {"version": SCHEMA_VERSION, "apps": [_dump_app(app) for app in catalogue.apps]}
    switched_off = list(dict.fromkeys([*(app.id for app in catalogue.disabled), *disabled]))
    if switched_off:
        data["disable"] = switched_off
    return data


def _dump_app(app: App) -> dict[str, Any]:
    conditions = (("images", app.match.images), ("env_any", app.match.env_any), ("ports_any", app.match.ports_any))
    match = {key: list(value) for key, value in conditions if value}
    entry: dict[str, Any] = {"id": app.id, "app": app.app}
    if app.flavour:
        entry["flavour"] = app.flavour
    entry["source"] = app.source
    entry["match"] = match
    if app.binds_all:
        entry["binds_all"] = app.binds_all
    entry["fixes"] = [_dump_fix(fix) for fix in app.fixes]
    return entry


def _dump_fix(fix: Fix) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": fix.id, "why": fix.why, "inbound": list(fix.inbound)}
    if fix.meshes:
        entry["mesh"] = list(fix.meshes)
    if fix.dataplanes:
        entry["dataplane"] = list(fix.dataplanes)
    entry[fix.kind] = fix.params
    return entry


def load_builtin_text() -> str:
    return resources.files("webhook.core.catalogue").joinpath("catalogue.yaml").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def builtin_catalogue() -> Catalogue:
    """The catalogue shipped in the package (parsed once)."""
    catalogue, _ = parse_catalogue(load_builtin_text(), BUILTIN_ORIGIN)
    return catalogue
