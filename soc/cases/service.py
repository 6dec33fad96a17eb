"""Security cases: group alerts, list and read them within the actor's scope, and move them
through the workflow. Every change lands in the case timeline and the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from detections.models import Alert
from soc import audit
from soc.cases import connector, priority, sla
from soc.cases.calendar import office_hours
from soc.cases.models import Case, CaseEvent, Problem
from soc.db import utcnow
from soc.errors import Conflict, Invalid, NotFound
from soc.settings import Settings, get_settings
from tenants import metering
from tenants.models import Provider, User
from tenants.principal import Principal

OPEN_STATUSES = ("new", "triage", "in_progress", "waiting_on_customer")
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"triage", "in_progress", "resolved"}),
    "triage": frozenset({"in_progress", "waiting_on_customer", "resolved"}),
    "in_progress": frozenset({"waiting_on_customer", "resolved"}),
    "waiting_on_customer": frozenset({"in_progress", "resolved"}),
    "resolved": frozenset({"closed", "in_progress"}),
    "closed": frozenset({"triage"}),
}
RESPONDERS = ("admin", "soc_analyst", "provider")


def settings_of(session: Session) -> Settings:
    """The settings of the services that opened this session (see soc.services)."""
    found = session.info.get("settings")
    return found if isinstance(found, Settings) else get_settings()


LEVEL_ORDER = ("informational", "low", "medium", "high", "critical")


def _note(session: Session, case: Case, actor: str, kind: str, detail: dict[str, Any]) -> None:
    session.add(
        CaseEvent(
            case_id=case.id,
            actor=actor,
            kind=kind,
            detail=orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode(),
        )
    )
    audit.record(
        session,
        actor=actor,
        action=f"case.{kind}",
        object_type="case",
        object_id=case.id,
        tenant_id=case.tenant_id,
        detail=detail,
    )
    connector.enqueue(session, settings_of(session), case, actor, kind, detail)


def _higher_level(a: str, b: str) -> str:
    rank = {name: i for i, name in enumerate(LEVEL_ORDER)}
    return a if rank.get(a, 2) >= rank.get(b, 2) else b


def group_alerts(session: Session, alerts: Sequence[Alert], window: timedelta) -> list[Case]:
    """Attach each alert to the open case of the same tenant, rule and host whose alerts are
    within the window of it, or open a new case. Returns the cases touched.

    The open cases that could take any alert of the batch are read in one query and grouped in
    memory, so a batch costs a fixed number of queries, not one per alert.
    """
    if not alerts:
        return []
    ordered = sorted(alerts, key=lambda a: a.event_time)
    tenant_ids = {a.tenant_id for a in ordered}
    candidates = session.scalars(
        select(Case).where(
            Case.tenant_id.in_(tenant_ids),
            Case.rule_id.in_({a.rule_id for a in ordered}),
            Case.status.in_(OPEN_STATUSES),
            Case.last_seen >= ordered[0].event_time - window,
            Case.first_seen <= ordered[-1].event_time + window,
        )
    )
    open_cases: dict[tuple[int, str, str], list[Case]] = {}
    for case in candidates:
        open_cases.setdefault((case.tenant_id, case.rule_id, case.host), []).append(case)
    added: dict[int, int] = {}  # id(case) -> alerts added in this batch
    created: list[Case] = []
    attached: list[tuple[Alert, Case]] = []
    for alert in ordered:
        group = open_cases.setdefault((alert.tenant_id, alert.rule_id, alert.host), [])
        case = next(
            (
                c
                for c in sorted(group, key=lambda c: c.last_seen, reverse=True)
                if c.last_seen >= alert.event_time - window
                and c.first_seen <= alert.event_time + window
            ),
            None,
        )
        if case is None:
            case = Case(
                tenant_id=alert.tenant_id,
                rule_id=alert.rule_id,
                title=alert.rule_title,
                level=alert.level,
                host=alert.host,
                status="new",
                alert_count=0,
                first_seen=alert.event_time,
                last_seen=alert.event_time,
            )
            session.add(case)
            group.append(case)
            created.append(case)
        case.alert_count += 1
        case.first_seen = min(case.first_seen, alert.event_time)
        case.last_seen = max(case.last_seen, alert.event_time)
        case.level = _higher_level(case.level, alert.level)
        case.updated_at = utcnow()
        added[id(case)] = added.get(id(case), 0) + 1
        attached.append((alert, case))
    settings = settings_of(session)
    runaway = _runaway_rules(session, settings, created)
    for case in created:
        case.created_at = utcnow()
        if (case.tenant_id, case.rule_id) in runaway:
            case.billable = False
        case.impact = priority.default_impact(session, case.tenant_id, case.host)
        case.urgency = priority.default_urgency(settings, case.level)
        _reprioritise(session, settings, case)
    session.flush()  # new cases get their ids
    for alert, case in attached:
        alert.case_id = case.id
    touched = {id(case): case for _, case in attached}
    for case in touched.values():
        if case not in created and not case.urgency_overridden:
            urgency = priority.default_urgency(settings, case.level)
            if urgency != case.urgency:
                before = case.priority
                case.urgency = urgency
                _reprioritise(session, settings, case)
                _note(
                    session,
                    case,
                    "system",
                    "priority",
                    {"urgency": urgency, "from": before, "to": case.priority, "reason": "level"},
                )
        if case in created:
            # Billing meter (issue 6): a security case registered for the tenant today (UTC);
            # a runaway rule's case only once an analyst confirms it.
            if case.billable:
                metering.count_cases(session, case.tenant_id, case.created_at.date())
            detail = {
                "rule_id": case.rule_id,
                "host": case.host,
                "level": case.level,
                "alerts": case.alert_count,
                "impact": case.impact,
                "urgency": case.urgency,
                "priority": case.priority,
                "billable": case.billable,
            }
            if not case.billable:
                detail["runaway"] = {
                    "alerts_last_hour": runaway[(case.tenant_id, case.rule_id)],
                    "limit": settings.rule_runaway_alerts_per_hour,
                }
            _note(session, case, "system", "created", detail)
        else:
            _note(
                session,
                case,
                "system",
                "alerts_added",
                {"count": added[id(case)], "total": case.alert_count},
            )
    session.flush()
    return list(touched.values())


def _runaway_rules(
    session: Session, settings: Settings, created: Sequence[Case]
) -> dict[tuple[int, str], int]:
    """(tenant, rule) pairs among the new cases whose rule raised more alerts for the tenant in
    the last hour than the runaway limit, with that count (the batch's own alerts included)."""
    if not created:
        return {}
    tenants = {c.tenant_id for c in created}
    rules = {c.rule_id for c in created}
    limit = settings.rule_runaway_alerts_per_hour
    counts = session.execute(
        select(Alert.tenant_id, Alert.rule_id, func.count())
        .where(
            Alert.tenant_id.in_(tenants),
            Alert.rule_id.in_(rules),
            Alert.created_at >= utcnow() - timedelta(hours=1),
        )
        .group_by(Alert.tenant_id, Alert.rule_id)
    )
    return {(t, r): n for t, r, n in counts if n > limit}


def confirm(session: Session, actor: Principal, case_id: int, note: str | None = None) -> Case:
    """An analyst confirms a case a runaway rule opened: it becomes billable and counts in the
    billing case meter from today (UTC), as if registered now (a closed month stays closed)."""
    actor.require("cases.manage")
    case = get_case(session, actor, case_id)
    if case.billable:
        raise Conflict(f"case {case_id} needs no confirmation: it is billable")
    now = utcnow()
    case.billable, case.confirmed_by, case.confirmed_at = True, actor.actor, now
    case.updated_at = now
    metering.count_cases(session, case.tenant_id, now.date())
    _responded(session, actor, case)
    detail: dict[str, Any] = {"billable": True, "billed_on": now.date().isoformat()}
    if note and note.strip():
        detail["note"] = note.strip()[:5000]
    _note(session, case, actor.actor, "confirmed", detail)
    return case


def _reprioritise(session: Session, settings: Settings, case: Case) -> None:
    """Priority from the matrix; clock mode and due times follow it."""
    case.priority = priority.priority_for(settings, case.impact, case.urgency)
    sla.set_clock_mode(session, settings, case)
    sla.refresh(settings, case)


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


def _visible(actor: Principal) -> Select[tuple[Case]]:
    actor.require("cases.read")
    query = select(Case)
    # A provider's users see the cases assigned to the provider (a case is handed over one by
    # one); everyone else sees the cases of the tenants in scope.
    if actor.scope.kind == "provider":
        return query.where(Case.provider_id == actor.provider_id)
    return query.where(actor.tenant_filter(Case.tenant_id))


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
        raise NotFound(f"case {case_id} not found")
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


def _responded(session: Session, actor: Principal, case: Case) -> None:
    """The first action of the SOC or a provider on the case stops the response clock."""
    if actor.role in RESPONDERS and case.responded_at is None:
        sla.mark_responded(settings_of(session), case, utcnow())


def assign(
    session: Session,
    actor: Principal,
    case_id: int,
    assignee: str | None = None,
    provider: str | None = None,
) -> Case:
    """Assign to an analyst (by username) and/or a provider team (by slug). Moving a case from
    one provider to another counts as a reassignment; above the configured limit the case is
    flagged as bouncing."""
    actor.require("cases.assign")
    case = get_case(session, actor, case_id)
    if assignee is None and provider is None:
        raise Invalid("give an assignee, a provider, or both")
    detail: dict[str, Any] = {}
    if assignee is not None:
        user = session.scalar(select(User).where(User.username == assignee, User.active))
        if (
            user is None
            or user.role not in ("admin", "soc_analyst", "provider")
            or (user.tenant_id is not None and user.tenant_id != case.tenant_id)
        ):
            raise Invalid(f"'{assignee}' is not an active analyst who can work on this case")
        case.assignee_id = user.id
        detail["assignee"] = assignee
    if provider is not None:
        team = session.scalar(select(Provider).where(Provider.slug == provider))
        if team is None:
            raise Invalid(f"provider '{provider}' does not exist")
        detail["provider"] = provider
        detail["previous_provider_id"] = case.provider_id
        if case.provider_id is not None and case.provider_id != team.id:
            case.reassignment_count += 1
            detail["reassignments"] = case.reassignment_count
        case.provider_id = team.id
    case.updated_at = utcnow()
    _responded(session, actor, case)
    _note(session, case, actor.actor, "assigned", detail)
    limit = settings_of(session).case_reassignment_limit
    if not case.bouncing and case.reassignment_count > limit:
        case.bouncing = True
        _note(
            session,
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
) -> Case:
    """Move the case; the SLA clock pauses while waiting on the customer, stops at resolved.
    A critical (P1) case closes only with a root-cause note, and opens a problem record when
    it is resolved."""
    actor.require("cases.update")
    case = get_case(session, actor, case_id)
    allowed = TRANSITIONS.get(case.status, frozenset())
    if status not in allowed:
        targets = ", ".join(sorted(allowed)) or "-"
        raise Invalid(f"case {case_id} is '{case.status}'; it can move to: {targets}")
    if root_cause is not None and root_cause.strip():
        set_root_cause(session, actor, case_id, root_cause)
    if status == "closed" and case.priority == "P1" and not (case.root_cause or "").strip():
        raise Invalid(f"case {case_id} is critical (P1): add a root-cause note before closing")
    settings, now = settings_of(session), utcnow()
    previous, case.status, case.updated_at = case.status, status, now
    if previous in ("resolved", "closed") and status in OPEN_STATUSES:
        sla.mark_reopened(settings, case, now)
        kind = "reopened"
    else:
        kind = "status"
    _responded(session, actor, case)
    if status == "waiting_on_customer":
        sla.pause(settings, case, now)
    elif previous == "waiting_on_customer" and status != "resolved":
        sla.resume(settings, case, now)
    if status == "resolved":
        sla.mark_resolved(settings, case, now)
    if status == "closed":
        case.closed_at = now
    _note(session, case, actor.actor, kind, {"from": previous, "to": status, "note": note})
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
    _note(
        session,
        case,
        "system",
        "problem_opened",
        {"problem_id": problem.id, "root_cause_due": due.isoformat()},
    )
    return problem


def reopen(session: Session, actor: Principal, case_id: int, note: str | None = None) -> Case:
    actor.require("cases.update")
    case = get_case(session, actor, case_id)
    target = {"resolved": "in_progress", "closed": "triage"}.get(case.status)
    if target is None:
        raise Invalid(f"case {case_id} is '{case.status}'; only resolved or closed cases reopen")
    return change_status(session, actor, case_id, target, note)


def comment(session: Session, actor: Principal, case_id: int, text: str) -> CaseEvent:
    actor.require("cases.comment")
    case = get_case(session, actor, case_id)
    body = text.strip()
    if not body:
        raise Invalid("a comment needs text")
    if len(body) > 20_000:
        raise Invalid("a comment is at most 20,000 characters")
    case.updated_at = utcnow()
    _responded(session, actor, case)
    _note(session, case, actor.actor, "comment", {"text": body})
    return _last_event(session, case)


def _last_event(session: Session, case: Case) -> CaseEvent:
    session.flush()
    return session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id.desc()).limit(1)
    ).one()


def set_priority(
    session: Session,
    actor: Principal,
    case_id: int,
    reason: str,
    impact: str | None = None,
    urgency: str | None = None,
) -> Case:
    """Override impact and/or urgency; the reason is kept in the timeline and audit log."""
    actor.require("cases.manage")
    case = get_case(session, actor, case_id)
    why = (reason or "").strip()
    if not why:
        raise Invalid("an override needs a reason")
    if impact is None and urgency is None:
        raise Invalid("give an impact, an urgency, or both")
    before = {"impact": case.impact, "urgency": case.urgency, "priority": case.priority}
    if impact is not None:
        case.impact = priority.check_level("impact", impact)
        case.impact_overridden = True
    if urgency is not None:
        case.urgency = priority.check_level("urgency", urgency)
        case.urgency_overridden = True
    _reprioritise(session, settings_of(session), case)
    case.updated_at = utcnow()
    after = {"impact": case.impact, "urgency": case.urgency, "priority": case.priority}
    _note(session, case, actor.actor, "priority", {"from": before, "to": after, "reason": why})
    return case


def set_root_cause(session: Session, actor: Principal, case_id: int, text: str) -> Case:
    actor.require("cases.update")
    case = get_case(session, actor, case_id)
    body = text.strip()
    if not body:
        raise Invalid("a root-cause note needs text")
    case.root_cause, case.updated_at = body[:20_000], utcnow()
    _note(session, case, actor.actor, "root_cause", {"text": case.root_cause})
    return case


def escalate(
    session: Session, actor: Principal, case_id: int, reason: str, provider: str | None = None
) -> Case:
    """Raise the escalation level (optionally handing the case to another provider)."""
    actor.require("cases.update")
    case = get_case(session, actor, case_id)
    why = (reason or "").strip()
    if not why:
        raise Invalid("an escalation needs a reason")
    if case.status in ("resolved", "closed"):
        raise Invalid(f"case {case_id} is '{case.status}'; reopen it before escalating")
    case.escalation_level += 1
    case.updated_at = utcnow()
    _responded(session, actor, case)
    _note(
        session,
        case,
        actor.actor,
        "escalated",
        {"level": case.escalation_level, "reason": why, "provider": provider},
    )
    if provider is not None:
        assign(session, actor, case_id, provider=provider)
    return case


def merge(session: Session, actor: Principal, target_id: int, source_ids: Sequence[int]) -> Case:
    """Move the alerts of the source cases into the target; the sources close as merged."""
    actor.require("cases.manage")
    target = get_case(session, actor, target_id)
    sources = [get_case(session, actor, i) for i in dict.fromkeys(source_ids)]
    if not sources:
        raise Invalid("name at least one case to merge")
    for source in sources:
        if source.id == target.id:
            raise Invalid("a case cannot be merged into itself")
        if source.tenant_id != target.tenant_id:
            raise Invalid("cases of different tenants cannot be merged")
        if source.merged_into_id is not None:
            raise Invalid(f"case {source.id} was already merged into {source.merged_into_id}")
    if target.status in ("resolved", "closed"):
        raise Invalid(f"case {target.id} is '{target.status}'; merge into an open case")
    now = utcnow()
    for source in sources:
        moved = list(session.scalars(select(Alert).where(Alert.case_id == source.id)))
        for alert in moved:
            alert.case_id = target.id
        target.alert_count += len(moved)
        target.first_seen = min(target.first_seen, source.first_seen)
        target.last_seen = max(target.last_seen, source.last_seen)
        target.level = _higher_level(target.level, source.level)
        previous = source.status
        source.alert_count, source.merged_into_id = 0, target.id
        source.status, source.updated_at = "closed", now
        source.closed_at = now
        if source.resolved_at is None:
            sla.mark_resolved(settings_of(session), source, now)
        _note(
            session,
            source,
            actor.actor,
            "merged_into",
            {"target": target.id, "alerts": len(moved), "from": previous},
        )
    target.updated_at = now
    _note(
        session,
        target,
        actor.actor,
        "merged",
        {"sources": [s.id for s in sources], "alerts": target.alert_count},
    )
    return target


def split(
    session: Session,
    actor: Principal,
    case_id: int,
    alert_ids: Sequence[int],
    title: str | None = None,
) -> Case:
    """Move some alerts of a case to a new case (same tenant, priority and provider)."""
    actor.require("cases.manage")
    case = get_case(session, actor, case_id)
    wanted = set(alert_ids)
    moving = list(
        session.scalars(select(Alert).where(Alert.case_id == case.id, Alert.id.in_(wanted)))
    )
    if not wanted or len(moving) != len(wanted):
        raise Invalid(f"every alert to split off must belong to case {case_id}")
    if len(moving) >= case.alert_count:
        raise Invalid("leave at least one alert in the original case")
    times = [a.event_time for a in moving]
    now = utcnow()
    new = Case(
        tenant_id=case.tenant_id,
        rule_id=moving[0].rule_id,
        title=(title or case.title)[:300],
        level=moving[0].level,
        host=moving[0].host,
        status="new",
        alert_count=len(moving),
        first_seen=min(times),
        last_seen=max(times),
        created_at=now,
        updated_at=now,
        provider_id=case.provider_id,
        impact=case.impact,
        urgency=case.urgency,
        impact_overridden=case.impact_overridden,
        urgency_overridden=case.urgency_overridden,
        billable=case.billable,  # a split never bills what the original did not
    )
    for alert in moving[1:]:
        new.level = _higher_level(new.level, alert.level)
    _reprioritise(session, settings_of(session), new)
    session.add(new)
    session.flush()
    for alert in moving:
        alert.case_id = new.id
    case.alert_count -= len(moving)
    rest = list(session.scalars(select(Alert.event_time).where(Alert.case_id == case.id)))
    if rest:
        case.first_seen, case.last_seen = min(rest), max(rest)
    case.updated_at = now
    # A split-off case is a security case registered today (billing meter, issue 6).
    if new.billable:
        metering.count_cases(session, new.tenant_id, now.date())
    ids = [a.id for a in moving]
    _note(session, new, actor.actor, "created", {"split_from": case.id, "alerts": ids})
    _note(session, case, actor.actor, "split", {"new_case": new.id, "alerts": ids})
    return new


def open_problems(session: Session, actor: Principal, limit: int = 100) -> list[Problem]:
    """Problem records of the cases the actor may see."""
    visible = _visible(actor).with_only_columns(Case.id)
    return list(
        session.scalars(
            select(Problem)
            .where(Problem.case_id.in_(visible))
            .order_by(Problem.id.desc())
            .limit(limit)
        )
    )
