"""Bulk actions of the analyst queue: assign, change status, merge into one case, close as a
false positive (and add a rule exception). Each case goes through the same service function
as the single-case API (so each gets its timeline entry and audit record), in a savepoint of
its own: a case that is refused (not found, a transition not allowed, ...) is rolled back
alone and reported, the others go through. The result tells, per case, what was done or why
it was refused; nothing is skipped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from sqlalchemy.orm import Session

from detections.rule_exceptions import create_exception
from detections.tenant_view import TenantViews
from soc.cases import merging
from soc.cases import service as cases
from soc.core.errors import DomainError, Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings

Action = Literal["assign", "status", "merge", "false_positive"]
ACTIONS: tuple[str, ...] = ("assign", "status", "merge", "false_positive")
MAX_CASES = 500
# The permission each action needs (checked once, before any case is touched).
NEEDS: dict[str, tuple[str, ...]] = {
    "assign": ("cases.assign",),
    "status": ("cases.update",),
    "merge": ("cases.manage",),
    "false_positive": ("cases.update",),
}
HOST_FIELD = "Computer"  # the event field an exception on a case's host checks by default


Part = tuple[str, dict[str, Any]]  # an English message id with its {placeholders}


@dataclass
class Outcome:
    """What happened to one case: `parts` (message ids to translate) when done, else the
    refusal's code and message."""

    case_id: int
    ok: bool
    code: str  # "done", or the refusal's error code ("not_found", "bad_request", ...)
    message: str = ""
    parts: list[Part] = field(default_factory=list)

    def add(self, message: str, **values: Any) -> None:
        self.parts.append((message, values))
        text = message.format(**values)
        self.message = f"{self.message}; {text}" if self.message else text


ASSIGNED = N_("assigned to {who}")
MOVED = N_("status changed to {status}")
MERGED = N_("merged into case {target}")
KEPT = N_("kept as the merged case ({n} merged into it)")
NOTHING_MERGED = N_("nothing was merged into it")
CLOSED_FP = N_("closed as a false positive")
EXCEPTION_ADDED = N_("exception {id} added ({field} = {value})")
EXCEPTION_SHARED = N_("covered by exception {id}")
NO_HOST = N_("no exception: the case names no host")
NO_EXCEPTION = N_("no exception: {reason}")


@dataclass
class BulkResult:
    action: str
    outcomes: list[Outcome] = field(default_factory=list)
    exceptions: list[int] = field(default_factory=list)  # ids of rule exceptions created

    @property
    def done(self) -> list[int]:
        return [o.case_id for o in self.outcomes if o.ok]

    @property
    def refused(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


@dataclass
class BulkRequest:
    action: str
    case_ids: Sequence[int]
    assignee: str | None = None
    provider: str | None = None
    status: str | None = None
    note: str | None = None
    target_id: int | None = None  # merge: the case the others go into (default: the first)
    reason: str | None = None  # false positive: why (timeline and exception)
    add_exception: bool = False
    exception_field: str | None = None  # default HOST_FIELD, on each case's host
    exception_value: str | None = None  # default the case's host


def _one(
    session: Session, result: BulkResult, case_id: int, work: Callable[[Outcome], object]
) -> bool:
    outcome = Outcome(case_id, True, "done")
    try:
        with session.begin_nested():
            work(outcome)
    except DomainError as exc:
        result.outcomes.append(Outcome(case_id, False, exc.code, exc.message))
        return False
    result.outcomes.append(outcome)
    return True


def run(
    session: Session,
    actor: Principal,
    request: BulkRequest,
    *,
    settings: Settings,
    views: TenantViews,
) -> BulkResult:
    """Apply one action to each listed case (in the given order, duplicates once)."""
    if request.action not in ACTIONS:
        raise Invalid(
            N_("unknown bulk action '{action}'; use one of {actions}"),
            action=request.action,
            actions=", ".join(ACTIONS),
        )
    for permission in NEEDS[request.action]:
        actor.require(permission)
    ids = list(dict.fromkeys(request.case_ids))
    if not ids:
        raise Invalid(N_("select at least one case"))
    if len(ids) > MAX_CASES:
        raise Invalid(N_("select at most {max_cases} cases at a time"), max_cases=MAX_CASES)
    result = BulkResult(request.action)
    if request.action == "assign":
        _assign(session, actor, request, ids, result, settings)
    elif request.action == "status":
        _status(session, actor, request, ids, result, settings)
    elif request.action == "merge":
        _merge(session, actor, request, ids, result, settings)
    else:
        _false_positive(session, actor, request, ids, result, settings, views)
    return result


def _assign(
    session: Session,
    actor: Principal,
    request: BulkRequest,
    ids: list[int],
    result: BulkResult,
    settings: Settings,
) -> None:
    assignee = (request.assignee or "").strip() or None
    provider = (request.provider or "").strip() or None
    if assignee is None and provider is None:
        raise Invalid(N_("give an assignee, a provider, or both"))
    said = ", ".join(x for x in (assignee, provider) if x)

    def work(case_id: int, outcome: Outcome) -> None:
        cases.assign(session, actor, case_id, assignee, provider, settings=settings)
        outcome.add(ASSIGNED, who=said)

    for case_id in ids:
        _one(session, result, case_id, partial(work, case_id))


def _status(
    session: Session,
    actor: Principal,
    request: BulkRequest,
    ids: list[int],
    result: BulkResult,
    settings: Settings,
) -> None:
    status = request.status or ""
    if status not in cases.TRANSITIONS:
        raise Invalid(N_("unknown status '{status}'"), status=status)
    note = (request.note or "").strip() or None

    def work(case_id: int, outcome: Outcome) -> None:
        cases.change_status(session, actor, case_id, status, note, settings=settings)
        outcome.add(MOVED, status=status)

    for case_id in ids:
        _one(session, result, case_id, partial(work, case_id))


def _merge(
    session: Session,
    actor: Principal,
    request: BulkRequest,
    ids: list[int],
    result: BulkResult,
    settings: Settings,
) -> None:
    target = request.target_id if request.target_id is not None else ids[0]
    sources = [i for i in ids if i != target]
    if not sources:
        raise Invalid(N_("select at least two cases to merge (or one besides the target)"))
    # The target must be one the actor sees: else every source is refused as not found.
    try:
        cases.get_case(session, actor, target)
    except DomainError as exc:
        for case_id in [target, *sources]:
            result.outcomes.append(Outcome(case_id, False, exc.code, exc.message))
        return

    def work(case_id: int, outcome: Outcome) -> None:
        merging.merge(session, actor, target, [case_id], settings=settings)
        outcome.add(MERGED, target=target)

    merged = sum(_one(session, result, c, partial(work, c)) for c in sources)
    kept = Outcome(target, merged > 0, "done" if merged else "bad_request")
    if merged:
        kept.add(KEPT, n=merged)
    else:
        kept.add(NOTHING_MERGED)
    result.outcomes.insert(0, kept)


def _false_positive(
    session: Session,
    actor: Principal,
    request: BulkRequest,
    ids: list[int],
    result: BulkResult,
    settings: Settings,
    views: TenantViews,
) -> None:
    reason = (request.reason or "").strip()[:500]
    if not reason:
        raise Invalid(N_("say why these cases are false positives"))
    if request.add_exception:
        actor.require("rules.manage")
    note = f"false positive: {reason}"
    closed: list[Any] = []

    def close(case_id: int, outcome: Outcome) -> None:
        case = cases.get_case(session, actor, case_id)
        if case.status == "closed":
            raise Invalid(N_("case {case_id} is already closed"), case_id=case_id)
        if case.status != "resolved":
            cases.change_status(
                session, actor, case_id, "resolved", note, root_cause=note, settings=settings
            )
        cases.change_status(session, actor, case_id, "closed", note, settings=settings)
        closed.append(case)
        outcome.add(CLOSED_FP)

    for case_id in ids:
        _one(session, result, case_id, partial(close, case_id))
    if not request.add_exception:
        return
    # One exception per tenant, rule and condition value among the cases just closed.
    field_name = (request.exception_field or "").strip() or HOST_FIELD
    made: dict[tuple[int, str, str], int] = {}
    by_case = {o.case_id: o for o in result.outcomes}
    for case in closed:
        value = (request.exception_value or "").strip() or case.host
        key = (case.tenant_id, case.rule_id, value)
        outcome = by_case[case.id]
        if key in made:
            outcome.add(EXCEPTION_SHARED, id=made[key])
            continue
        if not value:
            outcome.add(NO_HOST)
            continue
        try:
            with session.begin_nested():
                row = create_exception(
                    session,
                    actor,
                    views,
                    case.tenant_id,
                    case.rule_id,
                    [{"field": field_name, "modifier": "equals", "value": [value]}],
                    f"{reason} (false positive, case {case.id})",
                )
        except DomainError as exc:
            outcome.add(NO_EXCEPTION, reason=exc.message)
            continue
        made[key] = row.id
        result.exceptions.append(row.id)
        outcome.add(EXCEPTION_ADDED, id=row.id, field=field_name, value=value)
