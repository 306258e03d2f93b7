"""Pure: run the rules over a pod and collect the patch, the explanation and the warnings.

The pod dict is edited in place through a :class:`~webhook.core.patch.PodEditor`, so the patch is the
list of ops the rules made (O(changes)). When any fix changed the pod, the explanation annotation
``stsmesh.io/applied`` lists the fix ids (merged with what an earlier invocation listed). Running
again on the result changes nothing: every rule checks the desired state before it edits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from webhook.core.catalogue import AppMatch
from webhook.core.commalist import merged_names
from webhook.core.deadline import never
from webhook.core.mesh import MeshContext
from webhook.core.patch import PodEditor
from webhook.core.review import PatchOp
from webhook.core.rules import APPLIED_ANNOTATION, Change, Note, Report, Rule, RuleContext


class DeadlineExceeded(Exception):
    """The request's deadline passed between two rules."""


class RuleFailed(Exception):
    """A rule raised; ``rule`` names it and ``__cause__`` is the original exception."""

    def __init__(self, rule: str, error: Exception) -> None:
        super().__init__(f"rule {rule} failed: {type(error).__name__}: {error}")
        self.rule = rule


EXPLANATION_FIX = "explanation"
"""The change that records which fixes were applied (the ``stsmesh.io/applied`` annotation)."""


class Mutation:
    """What the rules did to one pod: the patch, and per fix what changed or why nothing did.
    ``applied_fixes``: the ids of the fixes that changed the pod, in order, without
    :data:`EXPLANATION_FIX` (the bookkeeping that records them)."""

    def __init__(
        self,
        patch: tuple[PatchOp, ...],
        changes: tuple[Change, ...],
        notes: tuple[Note, ...],
        warnings: tuple[str, ...],
        mesh: MeshContext,
        apps: tuple[AppMatch, ...],
        applied_fixes: tuple[str, ...] = (),
    ) -> None:
        self.patch: Final = patch
        self.changes: Final = changes
        self.notes: Final = notes
        self.warnings: Final = warnings
        self.mesh: Final = mesh
        self.apps: Final = apps
        self.applied_fixes: Final = applied_fixes

    @property
    def fixes(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for change in self.changes:
            seen.setdefault(change.fix, None)
        return tuple(seen)


def run_rules(
    editor: PodEditor,
    ctx: RuleContext,
    rules: Sequence[Rule],
    expired: Callable[[], bool] = never,
) -> Mutation:
    """Apply ``rules`` in order; raises RuleFailed or DeadlineExceeded."""
    report = Report()
    applied: tuple[str, ...] = ()
    for rule in rules:
        if expired():
            raise DeadlineExceeded(f"deadline passed before rule {rule.name}")
        try:
            rule.apply(editor, ctx, report)
        except Exception as exc:
            raise RuleFailed(rule.name, exc) from exc
    if report.changes:
        applied = tuple(dict.fromkeys(c.fix for c in report.changes if c.fix != EXPLANATION_FIX))
        current = editor.meta_map("annotations").get(APPLIED_ANNOTATION)
        value = merged_names(current, applied)
        start = editor.checkpoint()
        if value != current:
            editor.set_meta("annotations", APPLIED_ANNOTATION, value)
        report.record(
            editor, start, EXPLANATION_FIX, f"{APPLIED_ANNOTATION}: {value}", "records which fixes stsmesh applied"
        )
    return Mutation(
        patch=tuple(editor.ops),
        changes=tuple(report.changes),
        notes=tuple(report.notes),
        warnings=tuple(report.warnings),
        mesh=ctx.mesh,
        apps=tuple(ctx.apps),
        applied_fixes=applied,
    )
