"""Pure: the rule contract, the context rules read, and the report they write.

A rule is a small named function ``(editor, ctx, report) -> None``. It edits the pod only through
the :class:`~webhook.core.patch.PodEditor` (which records the JSONPatch ops), and tells the report what
it changed and why (:meth:`Report.record`), what it found already in place (:meth:`Report.note`)
and what the user should know (:meth:`Report.warn`). Rules never raise on odd pods on purpose;
if one does, the engine admits the pod unchanged with a warning (see ``webhook.core.engine``).

Families, one module each: ``identity`` (pod identity labels), ``app_config`` (bind/advertise
settings from the catalogue), ``mesh_ports`` (port exclusions and opaque ports, merged into mesh
annotations or the injected init container), ``startup`` (hold the app until the proxy is ready).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from webhook.core.catalogue import AppMatch
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

    def record(self, editor: PodEditor, since: int, fix: str, summary: str, why: str) -> bool:
        """Record the ops made since checkpoint ``since`` as one change; False if there were none."""
        ops = tuple(editor.ops[since:])
        if not ops:
            return False
        self.changes.append(Change(fix, summary, why, ops))
        return True

    def note(self, fix: str, message: str) -> None:
        self.notes.append(Note(fix, message))

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


@dataclass(frozen=True)
class Rule:
    name: str
    family: str
    apply: Callable[[PodEditor, RuleContext, Report], None]


def default_rules() -> tuple[Rule, ...]:
    """The rules in the order they run."""
    from webhook.core.rules import app_config, identity, mesh_ports, startup

    return (identity.RULE, app_config.RULE, mesh_ports.RULE, startup.RULE)
