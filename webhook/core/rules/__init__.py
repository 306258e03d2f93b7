"""Pure: the rule contract, the context rules read, and the report they write.

A rule is a small named function ``(editor, ctx, report) -> None``. It edits the pod only through
the :class:`~webhook.core.patch.PodEditor` (which records the JSONPatch ops), and tells the report what
it changed and why (:meth:`Report.record`), what it found already in place (:meth:`Report.note`)
and what the user should know (:meth:`Report.warn`). Rules never raise on odd pods on purpose;
if one does, the engine admits the pod unchanged with a warning (see ``webhook.core.engine``).

Families, one module each: ``identity`` (pod identity labels), ``app_config`` (bind/advertise
settings from the catalogue), ``mesh_ports`` (port exclusions and opaque ports, merged into mesh
annotations or the injected init container), ``startup`` (hold the app until the proxy is ready).

A catalogue fix names one **fix kind** (``env_set``, ``skip_ports``, ``hold``…). Each family module
declares its kinds as :class:`FixKind` rows — the kind's family, the check of its catalogue
parameters and its handler — and :mod:`webhook.core.rules.registry` collects them: adding a kind
touches one family module. :func:`family_rule` makes a family's rule from its kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from webhook.core.catalogue import INBOUND_MODES, AppMatch, Fix
from webhook.core.mesh import MeshContext
from webhook.core.patch import PodEditor
from webhook.core.review import PatchOp

SKIP_FIXES_ANNOTATION = "stsmesh.io/skip-fixes"
APPLIED_ANNOTATION = "stsmesh.io/applied"


class RuleContext:
    """What every rule may read besides the pod."""

    def __init__(
        self,
        namespace: str,
        statefulset: str,
        ordinal: int | None,
        mesh: MeshContext,
        apps: Sequence[AppMatch],
        skipped_fixes: frozenset[str] = frozenset(),
    ) -> None:
        self.namespace: Final = namespace
        self.statefulset: Final = statefulset
        self.ordinal: Final = ordinal
        self.mesh: Final = mesh
        self.apps: Final = apps
        self.skipped_fixes: Final = skipped_fixes

    def allows(self, fix_id: str, family: str) -> bool:
        """Per-fix opt-out: the annotation lists fix ids or family names (or ``all``)."""
        skipped = self.skipped_fixes
        return not skipped or not (fix_id in skipped or family in skipped or "all" in skipped)


class Change:
    """One fix that changed the pod, with the ops it produced."""

    def __init__(self, fix: str, summary: str, why: str, ops: tuple[PatchOp, ...]) -> None:
        self.fix: Final = fix
        self.summary: Final = summary
        self.why: Final = why
        self.ops: Final = ops


class Note:
    """A fix that needed no change (or was skipped), and why."""

    def __init__(self, fix: str, message: str) -> None:
        self.fix: Final = fix
        self.message: Final = message


class Report:
    """What the rules did to one pod, in order. A plain class: one is made per request, and a
    dataclass with default factories costs more to build than the rest of the bookkeeping."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.notes: list[Note] = []
        self.warnings: list[str] = []
        self.events = 0

    def record(self, editor: PodEditor, since: int, fix: str, summary: str, why: str) -> bool:
        """Record the ops made since checkpoint ``since`` as one change; False if there were none."""
        ops = tuple(editor.ops[since:])
        if not ops:
            return False
        self.changes.append(Change(fix, summary, why, ops))
        self.events += 1
        return True

    def note(self, fix: str, message: str) -> None:
        self.notes.append(Note(fix, message))
        self.events += 1

    def warn(self, message: str) -> None:
        self.events += 1
        if message not in self.warnings:
            self.warnings.append(message)

    def size(self) -> int:
        """How many things were recorded, noted or warned so far: a handler that said nothing
        leaves it unchanged."""
        return self.events


@dataclass(frozen=True)
class Rule:
    name: str
    family: str
    apply: Callable[[PodEditor, RuleContext, Report], None]


FixHandler = Callable[[PodEditor, RuleContext, AppMatch, Fix, Report], None]
"""Applies one catalogue fix to the container ``match`` found; tells the report what it did."""

PodHandler = Callable[[PodEditor, RuleContext, Sequence[tuple[AppMatch, Fix]], Report], None]
"""Applies every fix of a kind that acts once per pod (e.g. one annotation for all apps that want it)."""


@dataclass(frozen=True)
class FixKind:
    """A kind of catalogue fix: everything stsmesh knows about it, in one row.

    ``family`` is the opt-out family (``stsmesh.io/skip-fixes: bind``) and names the rule that runs
    it. ``check(params, where)`` validates the fix's parameters in the catalogue, raising
    :class:`~webhook.core.catalogue.schema.CatalogueError`. ``relevant(ctx, fix)`` says whether the
    fix concerns this pod's mesh at all (when it does not, nothing is said about it); the handler
    decides the rest: ``apply`` runs per fix, or ``apply_once`` once per pod with every fix of the
    kind the pod's apps want. ``binds_pod_ip_only``: a pending fix of this kind means the app, as it
    runs, listens on the pod IP only (the audit reports where that breaks)."""

    name: str
    family: str
    check: Callable[[object, str], None]
    relevant: Callable[[RuleContext, Fix], bool]
    apply: FixHandler | None = None
    apply_once: PodHandler | None = None
    default_inbound: tuple[str, ...] = INBOUND_MODES
    binds_pod_ip_only: bool = False
    summary: str = ""
    """The parameters' shape, one line (for ``stsmesh catalogue`` and the docs)."""


def family_rule(name: str, family: str, kinds: Sequence[FixKind]) -> Rule:
    """The rule that runs a family's fix kinds over the pod's recognised apps, in catalogue order.

    A fix the pod opts out of (``stsmesh.io/skip-fixes``) is noted as skipped; a relevant fix whose
    handler neither changed, noted nor warned is noted too, so no recognised app passes in silence.
    """
    by_name = {kind.name: kind for kind in kinds}

    def apply(editor: PodEditor, ctx: RuleContext, report: Report) -> None:
        once: dict[str, list[tuple[AppMatch, Fix]]] = {}
        for match in ctx.apps:
            for fix in match.app.fixes:
                kind = by_name.get(fix.kind)
                if kind is None or not kind.relevant(ctx, fix):
                    continue
                if not ctx.allows(fix.id, family):
                    report.note(fix.id, "skipped: the pod opts out of this fix")
                elif kind.apply_once is not None:
                    once.setdefault(kind.name, []).append((match, fix))
                elif kind.apply is not None:
                    said = report.size()
                    kind.apply(editor, ctx, match, fix, report)
                    if report.size() == said:
                        report.note(fix.id, f"{match.container_name}: nothing to change in this pod")
        for kind_name, wanted in once.items():
            handler = by_name[kind_name].apply_once
            assert handler is not None
            handler(editor, ctx, wanted, report)

    return Rule(name, family, apply)


def default_rules() -> tuple[Rule, ...]:
    """The rules in the order they run."""
    from webhook.core.rules.registry import RULES

    return RULES
