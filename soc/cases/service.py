"""Security cases: list and read them within the actor's scope, and move them through the
workflow. Every change lands in the case timeline and the audit log (`soc.cases.timeline`).

Alerts become cases in `soc.cases.grouping`; merge and split are in `soc.cases.merging`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from detections.models import Alert
from soc.cases import priority, sla, timeline
from soc.cases.calendar import office_hours
from soc.cases.grouping import group_alerts as group_alerts  # callers import it from here
from soc.cases.models import OPEN_STATUSES, Case, CaseEvent, Problem
from soc.core.db import utcnow
from soc.core.errors import Conflict, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants import metering
from tenants.models import Provider, Tenant, User

TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"triage", "in_progress", "resolved"}),
    "triage": frozenset({"in_progress", "waiting_on_customer", "resolved"}),
    "in_progress": frozenset({"waiting_on_customer", "resolved"}),
    "waiting_on_customer": frozenset({"in_progress", "resolved"}),
    "resolved": frozenset({"closed", "in_progress"}),
    "closed": frozenset({"triage"}),
}
RESPONDERS = ("admin", "soc_analyst", "provider")


def confirm(
    session: Session,
    actor: Principal,
    case_id: int,
    note: str | None = None,
    *,
    settings: Settings,
) -> Case:
    """An analyst confirms a case a runaway rule opened (`soc.cases.grouping`): it becomes
    billable and counts in the billing case meter from today (UTC), as if registered now (a
    closed month stays closed)."""
    actor.require("cases.manage")
    case = get_case(session, actor, case_id)
    if case.billable:
        raise Conflict(N_("case {id} needs no confirmation: it is billable"), id=case_id)
    now = utcnow()
    case.billable, case.confirmed_by, case.confirmed_at = True, actor.actor, now
    case.updated_at = now
    metering.count_cases(session, case.tenant_id, now.date())
    _responded(settings, actor, case)
    detail: dict[str, Any] = {"billable": True, "billed_on": now.date().isoformat()}
    if note and note.strip():
        detail["note"] = note.strip()[:5000]
    timeline.note(session, settings, case, actor.actor, "confirmed", detail)
    return case


@dataclass
class CaseFilter:
    status: str | None = None
    level: str | None = None
    rule_id: str | None = None
    host: str | None = None
    assignee_id: int | None = None
    tenant_id: int | None = None
    q: str | None = None
    priority: str | None = None
    provider_id: int | None = None
    bouncing: bool | None = None
    # The API's one way of naming a tenant, a provider and a person: slug, slug, username.
    tenant: str | None = None
    provider: str | None = None
    assignee: str | None = None


def _visible(actor: Principal) -> Select[Case]:
    actor.require("cases.read")
    query = select(Case)
    # A provider's users see the cases assigned to the provider (a case is handed over one by
    # one); everyone else sees the cases of the tenants in scope.
    if actor.scope.kind == "provider":
        return query.where(Case.provider_id == actor.provider_id)
    return query.where(actor.tenant_filter(Case.tenant_id))


def visible_cases(actor: Principal) -> Select[Case]:
    """The cases the actor may see (the queue and dashboard of soc.cases.queries build on it)."""
    return _visible(actor)


def cases_on_hosts(
    session: Session, actor: Principal, hosts: list[str], limit: int = 50
) -> list[Case]:
    """The security cases the actor may see whose host is one of these names (a CI's host
    names and aliases: the CI timeline puts them beside its operational events)."""
    if not hosts or not actor.can("cases.read"):
        return []
    names = sorted({h.lower() for h in hosts})
    query = _visible(actor).where(func.lower(Case.host).in_(names))
    return list(session.scalars(query.order_by(Case.first_seen.desc()).limit(limit)))


def list_cases(
    session: Session, actor: Principal, filters: CaseFilter, limit: int = 50, offset: int = 0
) -> tuple[int, list[Case]]:
    query = _visible(actor)
    for column, value in (
        (Case.status, filters.status),
        (Case.level, filters.level),
        (Case.rule_id, filters.rule_id),
        (Case.host, filters.host),
        (Case.assignee_id, filters.assignee_id),
        (Case.tenant_id, filters.tenant_id),
        (Case.priority, filters.priority),
        (Case.provider_id, filters.provider_id),
        (Case.bouncing, filters.bouncing),
    ):
        if value is not None:
            query = query.where(column == value)
    for column, model, key, value in (
        (Case.tenant_id, Tenant, Tenant.slug, filters.tenant),
        (Case.provider_id, Provider, Provider.slug, filters.provider),
        (Case.assignee_id, User, User.username, filters.assignee),
    ):
        if value is not None:
            query = query.where(column.in_(select(model.id).where(key == value)))
    if filters.q:
        like = f"%{filters.q}%"
        query = query.where(or_(Case.title.ilike(like), Case.host.ilike(like)))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Case.last_seen.desc(), Case.id.desc()).limit(limit).offset(offset)
    )
    return total, list(rows)


def get_case(session: Session, actor: Principal, case_id: int) -> Case:
    case = session.scalar(_visible(actor).where(Case.id == case_id))
    if case is None:
        raise NotFound(N_("case {name} not found"), name=case_id)
    return case


def case_timeline(session: Session, actor: Principal, case_id: int) -> list[CaseEvent]:
    case = get_case(session, actor, case_id)
    return list(
        session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
        )
    )


def case_alerts(session: Session, actor: Principal, case_id: int) -> list[Alert]:
    case = get_case(session, actor, case_id)
    actor.require("alerts.read")
    return list(session.scalars(select(Alert).where(Alert.case_id == case.id).order_by(Alert.id)))


def _responded(settings: Settings, actor: Principal, case: Case) -> None:
    """The first action of the SOC or a provider on the case stops the response clock."""
    if actor.role in RESPONDERS and case.responded_at is None:
        sla.mark_responded(settings, case, utcnow())


def assign(
    session: Session,
    actor: Principal,
    case_id: int,
    assignee: str | None = None,
    provider: str | None = None,
    *,
    settings: Settings,
) -> Case:
    """Assign to an analyst (by username) and/or a provider team (by slug). Moving a case from
    one provider to another counts as a reassignment; above the configured limit the case is
    flagged as bouncing."""
    actor.require("cases.assign")
    case = get_case(session, actor, case_id)
    if assignee is None and provider is None:
        raise Invalid(N_("give an assignee, a provider, or both"))
    detail: dict[str, Any] = {}
    if assignee is not None:
        user = session.scalar(select(User).where(User.username == assignee, User.active))
        if (
            user is None
            or user.role not in ("admin", "soc_analyst", "provider")
            or (user.tenant_id is not None and user.tenant_id != case.tenant_id)
        ):
            raise Invalid(
                N_("'{assignee}' is not an active analyst who can work on this case"),
                assignee=assignee,
            )
        case.assignee_id = user.id
        detail["assignee"] = assignee
    if provider is not None:
        team = session.scalar(select(Provider).where(Provider.slug == provider))
        if team is None:
            raise Invalid(N_("provider '{provider}' does not exist"), provider=provider)
        detail["provider"] = provider
        detail["previous_provider_id"] = case.provider_id
        if case.provider_id is not None and case.provider_id != team.id:
            case.reassignment_count += 1
            detail["reassignments"] = case.reassignment_count
        case.provider_id = team.id
    case.updated_at = utcnow()
    _responded(settings, actor, case)
    timeline.note(session, settings, case, actor.actor, "assigned", detail)
    limit = settings.case_reassignment_limit
    if not case.bouncing and case.reassignment_count > limit:
        case.bouncing = True
        timeline.note(
            session,
            settings,
            case,
            "system",
            "bouncing",
            {"reassignments": case.reassignment_count, "limit": limit},
        )
    return case


def change_status(
    session: Session,
    actor: Principal,
    case_id: int,
    status: str,
    note: str | None = None,
    root_cause: str | None = None,
    *,
    settings: Settings,
) -> Case:
    """Move the case; the SLA clock pauses while waiting on the customer, stops at resolved.
    A critical (P1) case closes only with a root-cause note, and opens a problem record when
    it is resolved."""
    actor.require("cases.update")
    case = get_case(session, actor, case_id)
    allowed = TRANSITIONS.get(case.status, frozenset())
    if status not in allowed:
        targets = ", ".join(sorted(allowed)) or "-"
        raise Invalid(
            N_("case {id} is '{status}'; it can move to: {targets}"),
            id=case_id,
            status=case.status,
            targets=targets,
        )
    if root_cause is not None and root_cause.strip():
        set_root_cause(session, actor, case_id, root_cause, settings=settings)
    if status == "closed" and case.priority == "P1" and not (case.root_cause or "").strip():
        raise Invalid(
            N_("case {id} is critical (P1): add a root-cause note before closing"), id=case_id
        )
    now = utcnow()
    previous, case.status, case.updated_at = case.status, status, now
    if previous in ("resolved", "closed") and status in OPEN_STATUSES:
        sla.mark_reopened(settings, case, now)
        kind = "reopened"
    else:
        kind = "status"
    _responded(settings, actor, case)
    if status == "waiting_on_customer":
        sla.pause(settings, case, now)
    elif previous == "waiting_on_customer" and status != "resolved":
        sla.resume(settings, case, now)
    if status == "resolved":
        sla.mark_resolved(settings, case, now)
    if status == "closed":
        case.closed_at = now
    detail = {"from": previous, "to": status, "note": note}
    timeline.note(session, settings, case, actor.actor, kind, detail)
    if status == "resolved" and case.priority == "P1":
        _open_problem(session, settings, case)
    return case


def _open_problem(session: Session, settings: Settings, case: Case) -> Problem:
    existing = session.scalar(
        select(Problem).where(Problem.case_id == case.id, Problem.status == "open")
    )
    if existing is not None:
        return existing
    hours = office_hours(settings)
    span = (
        datetime.combine(date.min, hours.closes) - datetime.combine(date.min, hours.opens)
    ).total_seconds()
    due = hours.add(case.resolved_at or utcnow(), settings.case_root_cause_working_days * span)
    problem = Problem(
        tenant_id=case.tenant_id,
        case_id=case.id,
        title=f"Problem: {case.title}"[:300],
        status="open",
        root_cause_due=due,
        created_at=utcnow(),
    )
    session.add(problem)
    session.flush()
    detail = {"problem_id": problem.id, "root_cause_due": due.isoformat()}
    timeline.note(session, settings, case, "system", "problem_opened", detail)
    return problem


def reopen(
    session: Session,
    actor: Principal,
    case_id: int,
    note: str | None = None,
    *,
    settings: Settings,
) -> Case:
    actor.require("cases.update")
    case = get_case(session, actor, case_id)
    target = {"resolved": "in_progress", "closed": "triage"}.get(case.status)
    if target is None:
        raise Invalid(
            N_("case {id} is '{status}'; only resolved or closed cases reopen"),
            id=case_id,
            status=case.status,
        )
    return change_status(session, actor, case_id, target, note, settings=settings)


def comment(
    session: Session, actor: Principal, case_id: int, text: str, *, settings: Settings
) -> CaseEvent:
    actor.require("cases.comment")
    case = get_case(session, actor, case_id)
    body = text.strip()
    if not body:
        raise Invalid(N_("a comment needs text"))
    if len(body) > 20_000:
        raise Invalid(N_("a comment is at most 20,000 characters"))
    case.updated_at = utcnow()
    _responded(settings, actor, case)
    if actor.role == "customer" and case.status == "waiting_on_customer":
        # The customer's answer is what the case waited for: back to work, the clock runs on.
        case.status = "in_progress"
        sla.resume(settings, case, case.updated_at)
        detail = {"from": "waiting_on_customer", "to": "in_progress", "note": None}
        timeline.note(session, settings, case, actor.actor, "status", detail)
    timeline.note(session, settings, case, actor.actor, "comment", {"text": body})
    return timeline.last_event(session, case)


def set_priority(
    session: Session,
    actor: Principal,
    case_id: int,
    reason: str,
    impact: str | None = None,
    urgency: str | None = None,
    *,
    settings: Settings,
) -> Case:
    """Override impact and/or urgency; the reason is kept in the timeline and audit log."""
    actor.require("cases.manage")
    case = get_case(session, actor, case_id)
    why = (reason or "").strip()
    if not why:
        raise Invalid(N_("an override needs a reason"))
    if impact is None and urgency is None:
        raise Invalid(N_("give an impact, an urgency, or both"))
    before = {"impact": case.impact, "urgency": case.urgency, "priority": case.priority}
    if impact is not None:
        case.impact = priority.check_level("impact", impact)
        case.impact_overridden = True
    if urgency is not None:
        case.urgency = priority.check_level("urgency", urgency)
        case.urgency_overridden = True
    priority.reprioritise(session, settings, case)
    case.updated_at = utcnow()
    after = {"impact": case.impact, "urgency": case.urgency, "priority": case.priority}
    detail = {"from": before, "to": after, "reason": why}
    timeline.note(session, settings, case, actor.actor, "priority", detail)
    return case


def set_root_cause(
    session: Session, actor: Principal, case_id: int, text: str, *, settings: Settings
) -> Case:
    actor.require("cases.update")
    case = get_case(session, actor, case_id)
    body = text.strip()
    if not body:
        raise Invalid(N_("a root-cause note needs text"))
    case.root_cause, case.updated_at = body[:20_000], utcnow()
    timeline.note(session, settings, case, actor.actor, "root_cause", {"text": case.root_cause})
    return case


def escalate(
    session: Session,
    actor: Principal,
    case_id: int,
    reason: str,
    provider: str | None = None,
    *,
    settings: Settings,
) -> Case:
    """Raise the escalation level (optionally handing the case to another provider)."""
    actor.require("cases.update")
    case = get_case(session, actor, case_id)
    why = (reason or "").strip()
    if not why:
        raise Invalid(N_("an escalation needs a reason"))
    if case.status in ("resolved", "closed"):
        raise Invalid(
            N_("case {id} is '{status}'; reopen it before escalating"),
            id=case_id,
            status=case.status,
        )
    case.escalation_level += 1
    case.updated_at = utcnow()
    _responded(settings, actor, case)
    detail = {"level": case.escalation_level, "reason": why, "provider": provider}
    timeline.note(session, settings, case, actor.actor, "escalated", detail)
    if provider is not None:
        assign(session, actor, case_id, provider=provider, settings=settings)
    return case


def open_problems(session: Session, actor: Principal, limit: int = 100) -> list[Problem]:
    """Problem records of the cases the actor may see, and of the operational incidents
    that touched one of its tenants."""
    visible = _visible(actor).with_only_columns(Case.id)
    from_cases = (
        select(Problem).where(Problem.case_id.in_(visible)).order_by(Problem.id.desc()).limit(limit)
    )
    found = list(session.scalars(from_cases))
    incident_problems = session.scalars(
        select(Problem)
        .where(Problem.ops_incident_id.is_not(None))
        .order_by(Problem.id.desc())
        .limit(limit)
    )
    found += [
        p
        for p in incident_problems
        if actor.is_global or any(actor.sees_tenant(t) for t in p.tenants or [])
    ]
    found.sort(key=lambda p: p.id, reverse=True)
    return found[:limit]


def get_problem(session: Session, actor: Principal, problem_id: int) -> Problem:
    """One problem record the actor may see (another tenant's is a NotFound)."""
    problem = session.get(Problem, problem_id)
    if problem is not None:
        if problem.case_id is not None:
            visible = _visible(actor).where(Case.id == problem.case_id)
            if session.scalar(visible.with_only_columns(Case.id)) is not None:
                return problem
        elif actor.is_global or any(actor.sees_tenant(t) for t in problem.tenants or []):
            actor.require("cases.read")
            return problem
    raise NotFound(N_("no problem {id}"), id=problem_id)
