"""Pure: the app catalogue — which apps we recognise and which fixes each one gets — as data.

The catalogue is YAML (``catalogue.yaml`` in this package ships with stsmesh; a user file or
ConfigMap can add apps or override shipped ones by ``id``). This module holds its model and the
matching of containers; :mod:`webhook.core.catalogue.load` reads and validates the YAML strictly
(each fix kind checks its own parameters, see :data:`webhook.core.rules.registry.FIX_KINDS`), so a
typo in a user file fails at start-up with the path of the bad key, never on the request path.

Detection (:meth:`Catalogue.match`): each container is compared with every app's ``match``; an app
matches when its image pattern matches (registry, tag and digest ignored; ``library/`` stripped)
and every other condition it states holds. The most specific image pattern wins, then file order
(user entries come before shipped ones).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from webhook.core.shapes import ContainerRef, containers, items

INBOUND_MODES = ("localhost", "pod-ip", "unknown")
DATAPLANES = ("sidecar", "native-sidecar", "ambient")


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
    dataplanes: tuple[str, ...] = ()
    """Data-plane kinds the fix applies in (``sidecar``, ``native-sidecar``, ``ambient``); empty
    means every kind, and a kind not known yet always qualifies."""

    def applies_to(self, mesh: str) -> bool:
        return not self.meshes or mesh in self.meshes

    def applies_in(self, dataplane: str) -> bool:
        return not self.dataplanes or dataplane == "unknown" or dataplane in self.dataplanes


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

    def __init__(self, app: App, ref: ContainerRef, container_name: str) -> None:
        self.app: Final = app
        self.ref: Final = ref
        self.container_name: Final = container_name


@dataclass(frozen=True)
class Catalogue:
    apps: tuple[App, ...] = field(default=())
    disabled: tuple[App, ...] = field(default=())
    """Shipped apps a user file switched off (``disable:``). They still claim the containers they
    match best, so disabling Bitnami ZooKeeper means "do nothing for it", never "treat it as the
    official image", whose less specific pattern would match it next."""
    _by_name: dict[str, tuple[App, ...]] = field(init=False, repr=False, compare=False)
    """Apps by the last component of their image patterns, plus every app matched without an image,
    in catalogue order: matching a container looks at a handful of apps, not all."""
    _off: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        every = self.apps + self.disabled
        by_name: dict[str, set[int]] = {}
        for app in every:
            for path in app.match.image_paths:
                by_name.setdefault(path[-1], set()).add(id(app))
        index = {
            name: tuple(app for app in every if id(app) in named or not app.match.images)
            for name, named in by_name.items()
        }
        index[""] = tuple(app for app in every if not app.match.images)  # images no pattern names
        object.__setattr__(self, "_by_name", index)
        object.__setattr__(self, "_off", frozenset(id(app) for app in self.disabled))

    def match(self, pod: Mapping[str, Any]) -> list[AppMatch]:
        """Every (container, app) pair the catalogue recognises in ``pod``."""
        found: list[AppMatch] = []
        for ref, container in containers(pod):
            app = self._best(container)
            if app is not None:
                name = container.get("name")
                found.append(AppMatch(app, ref, name if isinstance(name, str) else f"#{ref.index}"))
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
        return None if best is not None and id(best) in self._off else best

    def merged(self, override: Catalogue, disabled: Sequence[str] = ()) -> Catalogue:
        """``override``'s apps first (they win ties), shipped apps with the same id dropped, and
        those named in ``disabled`` switched off (:attr:`disabled`)."""
        replaced = {a.id for a in override.apps}
        off = set(disabled) - replaced
        kept = tuple(a for a in self.apps if a.id not in replaced and a.id not in off)
        switched_off = self.disabled + tuple(a for a in self.apps if a.id in off)
        return Catalogue(override.apps + kept, switched_off)


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
        names = {e.get("name") for e in items(container.get("env")) if isinstance(e, dict)}
        if not names.intersection(match.env_any):
            return 0
        score += 1
    if match.ports_any:
        ports = {p.get("containerPort") for p in items(container.get("ports")) if isinstance(p, dict)}
        if not ports.intersection(match.ports_any):
            return 0
        score += 1
    return score
