"""Security cases: group alerts, list and read them within the actor's scope, and move them
through the workflow. Every change lands in the case timeline and the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from detections.models import Alert
from soc import audit
from soc.cases.models import Case, CaseEvent
from soc.db import utcnow
from soc.errors import Invalid, NotFound
from tenants import metering
from tenants.models import Provider, User
from tenants.principal import Principal

OPEN_STATUSES = ("new", "triage", "in_progress")
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"triage", "in_progress", "resolved"}),
    "triage": frozenset({"in_progress", "resolved"}),
    "in_progress": frozenset({"resolved"}),
    "resolved": frozenset({"closed", "in_progress"}),
    "closed": frozenset({"triage"}),
}
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
    session.flush()  # new cases get their ids
    for alert, case in attached:
        alert.case_id = case.id
    touched = {id(case): case for _, case in attached}
    for case in touched.values():
        if case in created:
            # Billing meter (issue 6): a security case registered for the tenant today (UTC).
            metering.count_cases(session, case.tenant_id, case.created_at.date())
            detail = {
                "rule_id": case.rule_id,
                "host": case.host,
                "level": case.level,
                "alerts": case.alert_count,
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


@dataclass
class CaseFilter:
    status: str | None = None
    level: str | None = None
    rule_id: str | None = None
    host: str | None = None
    assignee_id: int | None = None
    tenant_id: int | None = None
    q: str | None = None


def _visible(actor: Principal) -> Select[tuple[Case]]:
    actor.require("cases.read")
    query = select(Case)
    if actor.tenant_id is not None:
        query = query.where(Case.tenant_id == actor.tenant_id)
    if actor.provider_id is not None:
        query = query.where(Case.provider_id == actor.provider_id)
    return query


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


def assign(
    session: Session,
    actor: Principal,
    case_id: int,
    assignee: str | None = None,
    provider: str | None = None,
) -> Case:
    """Assign to an analyst (by username) and/or a provider team (by slug)."""
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
        case.provider_id = team.id
    case.updated_at = utcnow()
    _note(session, case, actor.actor, "assigned", detail)
    return case


def change_status(
    session: Session, actor: Principal, case_id: int, status: str, note: str | None = None
) -> Case:
    actor.require("cases.update")
    case = get_case(session, actor, case_id)
    allowed = TRANSITIONS.get(case.status, frozenset())
    if status not in allowed:
        targets = ", ".join(sorted(allowed)) or "-"
        raise Invalid(f"case {case_id} is '{case.status}'; it can move to: {targets}")
    previous, case.status, case.updated_at = case.status, status, utcnow()
    kind = (
        "reopened" if previous in ("resolved", "closed") and status in OPEN_STATUSES else "status"
    )
    _note(session, case, actor.actor, kind, {"from": previous, "to": status, "note": note})
    return case


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
    _note(session, case, actor.actor, "comment", {"text": body})
    session.flush()
    return session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id.desc()).limit(1)
    ).one()
