"""Pure: the one seam the server and the dry-run CLI share — an AdmissionReview in, a response out.

``review(body, settings)`` parses the envelope (raising :class:`~webhook.core.review.InvalidReview` for
a body with no answerable request: the server's 400), decides whether to mutate, works out the
mesh context, runs the rules and builds the response in the request's apiVersion. Whatever happens
after parsing, the result is a well-formed review:

* skipped requests are allowed unchanged, with the reason recorded;
* a pod whose shape we cannot read is allowed unchanged with a warning;
* a rule that raises admits the pod unchanged with a warning, or denies it when
  ``settings.on_rule_error == "deny"``; the error is returned for the caller to log with the uid;
* when the deadline (from the apiserver's ``?timeout=``) passes, the pod is admitted unchanged.

The pod inside ``body`` is edited in place while the rules run: callers that need the original
afterwards pass a copy (the CLI does; the server owns a freshly parsed body).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Final

from webhook.core.commalist import split_list
from webhook.core.deadline import deadline_check, never, parse_go_duration, timeout_in_target
from webhook.core.decision import Decision, pod_problem, should_mutate
from webhook.core.engine import EXPLANATION_FIX, DeadlineExceeded, Mutation, RuleFailed, run_rules
from webhook.core.mesh import MeshHint, detect
from webhook.core.namespaces import MeshKnowledge
from webhook.core.patch import PodEditor
from webhook.core.review import (
    AdmissionRequest,
    InvalidReview,
    Outcome,
    allowed,
    denied,
    finalize,
    parse_review,
    patched,
)
from webhook.core.rules import SKIP_FIXES_ANNOTATION, RuleContext, default_rules
from webhook.core.settings import Settings
from webhook.core.shapes import metadata_text

RULES = default_rules()

__all__ = [
    "InvalidReview",
    "ReviewResult",
    "deadline_check",
    "hint_from_path",
    "internal_error_response",
    "parse_go_duration",
    "resolve_hint",
    "review",
    "timeout_in_target",
]


class ReviewResult:
    """The response to send plus what happened, for logs, metrics and the dry-run explanation.
    ``outcome``: ``patched``, ``unchanged``, ``skipped``, ``unreadable``, ``rule-error``, ``denied``
    or ``deadline``."""

    def __init__(
        self,
        response: dict[str, object],
        request: AdmissionRequest,
        decision: Decision,
        outcome: str,
        mutation: Mutation | None = None,
        error: str | None = None,
    ) -> None:
        self.response: Final = response
        self.request: Final = request
        self.decision: Final = decision
        self.outcome: Final = outcome
        self.mutation: Final = mutation
        self.error: Final = error


def resolve_hint(
    settings: Settings, namespace: str, path_hint: MeshHint | None, knowledge: MeshKnowledge | None = None
) -> MeshHint:
    """The URL path first, then the configured namespace default (``--namespace-mesh``), then what
    the namespace's labels and the control planes say (``knowledge``), then the global default;
    a global ``--mesh-version`` for the namespace's mesh fills in a version it does not know."""
    if path_hint is not None and path_hint.mesh is not None:
        return path_hint
    configured = settings.namespace_hints.get(namespace)
    if configured is not None:
        return configured
    known = knowledge.hint_for(namespace) if knowledge is not None else None
    if known is not None and known.mesh is not None:
        default = settings.default_hint
        if known.version is None and default.version is not None and default.mesh in (None, known.mesh):
            return replace(known, version=default.version)
        return known
    return settings.default_hint


def hint_from_path(mesh: str | None, version: str | None) -> MeshHint | None:
    """The mesh named in the webhook URL path (``/mutate/istio/1.9``), or None for plain ``/mutate``;
    ValueError when the path names no mesh we know or an unreadable version (the server's 404)."""
    if mesh is None:
        return None
    return MeshHint.parse(mesh, version)


def internal_error_response(body: object, error: BaseException) -> dict[str, Any] | None:
    """What stsmesh answers when handling a request failed unexpectedly (a bug): a bug must not fail
    pod creation, so the pod is admitted unchanged with a warning, in the request's own apiVersion.
    None when ``body`` has no uid to answer (the server's 400)."""
    try:
        request = parse_review(body)
    except Exception:
        return None
    warning = f"stsmesh: pod admitted unchanged: internal error ({type(error).__name__}); see the webhook logs"
    return finalize(request, allowed([warning]))


def review(
    body: object,
    settings: Settings,
    *,
    path_hint: MeshHint | None = None,
    expired: Callable[[], bool] = never,
    knowledge: MeshKnowledge | None = None,
) -> ReviewResult:
    """Answer one AdmissionReview (see the module docstring). ``knowledge``: what the caller knows of
    namespaces and control planes (the server's watch, the dry-run's flags); never fetched here."""
    request = parse_review(body)
    decision = should_mutate(request, settings.excluded_namespaces)
    if not decision.mutate:
        return _result(request, decision, "skipped", allowed())
    pod = request.object
    assert isinstance(pod, dict)  # should_mutate guarantees it
    problem = pod_problem(pod)
    if problem is not None:
        warning = f"stsmesh: pod admitted unchanged: {problem}"
        return _result(request, decision, "unreadable", allowed([warning]), error=problem)

    namespace = request.namespace or metadata_text(pod, "namespace")
    try:
        mesh = detect(pod, resolve_hint(settings, namespace, path_hint, knowledge))
        annotations = pod.get("metadata", {}).get("annotations") or {}
        ctx = RuleContext(
            namespace=namespace,
            statefulset=decision.statefulset,
            ordinal=decision.ordinal,
            mesh=mesh,
            apps=settings.catalogue.match(pod),
            skipped_fixes=frozenset(split_list(annotations.get(SKIP_FIXES_ANNOTATION))),
        )
        mutation = run_rules(PodEditor(pod), ctx, RULES, expired)
    # Distinct names for the two exceptions: mypyc (the compiled build) types an ``as`` name once
    # per function, so reusing one name for both classes miscompiles the second handler.
    except DeadlineExceeded as late:
        warning = "stsmesh: pod admitted unchanged: the request's deadline passed"
        return _result(request, decision, "deadline", allowed([warning]), error=str(late))
    except RuleFailed as failure:
        if settings.on_rule_error == "deny":
            message = f'stsmesh could not process this pod ({failure}); set stsmesh.io/skip: "true" to bypass'
            return _result(request, decision, "denied", denied(message, code=500), error=str(failure))
        warning = f"stsmesh: pod admitted unchanged: {failure}"
        return _result(request, decision, "rule-error", allowed([warning]), error=str(failure))

    warnings = [f"stsmesh: {c.summary}" for c in mutation.changes if c.fix != EXPLANATION_FIX]
    warnings += [f"stsmesh: {w}" for w in mutation.warnings]
    outcome = "patched" if mutation.patch else "unchanged"
    return _result(request, decision, outcome, patched(mutation.patch, warnings), mutation=mutation)


def _result(
    request: AdmissionRequest,
    decision: Decision,
    outcome_name: str,
    outcome: Outcome,
    *,
    mutation: Mutation | None = None,
    error: str | None = None,
) -> ReviewResult:
    return ReviewResult(finalize(request, outcome), request, decision, outcome_name, mutation, error)
