"""Alerts to cases: each alert joins the open case of its tenant, rule and host whose alerts are
within the grouping window of it, or opens a new case. A rule raising more alerts for a tenant
in the last hour than the runaway limit opens cases that are not billed until an analyst
confirms them (`soc.cases.service.confirm`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from detections.models import Alert
from soc.cases import priority
from soc.cases.models import OPEN_STATUSES, Case
from soc.cases.timeline import note
from soc.core.db import utcnow
from soc.core.settings import Settings
from tenants import metering

GroupKey = tuple[int, str, str]  # tenant, rule, host


@dataclass
class _Batch:
    """What one batch of alerts did: the cases it opened, which alert went to which case, and
    how many alerts each case took (by object identity: new cases have no id yet)."""

    created: list[Case] = field(default_factory=list)
    attached: list[tuple[Alert, Case]] = field(default_factory=list)
    added: dict[int, int] = field(default_factory=dict)

    def touched(self) -> list[Case]:
        return list({id(case): case for _, case in self.attached}.values())


def group_alerts(session: Session, settings: Settings, alerts: Sequence[Alert]) -> list[Case]:
    """Attach each alert to the open case of the same tenant, rule and host whose alerts are
    within `settings.case_group_window_minutes` of it, or open a new case. Returns the cases
    touched.

    The open cases that could take any alert of the batch are read in one query and grouped in
    memory, so a batch costs a fixed number of queries, not one per alert.
    """
    if not alerts:
        return []
    window = timedelta(minutes=settings.case_group_window_minutes)
    ordered = sorted(alerts, key=lambda a: a.event_time)
    batch = _attach(session, ordered, _open_cases(session, ordered, window), window)
    runaway = runaway_rules(session, settings, batch.created)
    for case in batch.created:
        _register(session, settings, case, billable=(case.tenant_id, case.rule_id) not in runaway)
    session.flush()  # new cases get their ids
    for alert, case in batch.attached:
        alert.case_id = case.id
    touched = batch.touched()
    for case in touched:
        if case in batch.created:
            _note_created(session, settings, case, runaway)
        else:
            _follow_level(session, settings, case)
            count = {"count": batch.added[id(case)], "total": case.alert_count}
            note(session, settings, case, "system", "alerts_added", count)
    session.flush()
    return touched


def _open_cases(
    session: Session, ordered: Sequence[Alert], window: timedelta
) -> dict[GroupKey, list[Case]]:
    """The open cases that could take an alert of the batch, per tenant, rule and host."""
    candidates = session.scalars(
        select(Case).where(
            Case.tenant_id.in_({a.tenant_id for a in ordered}),
            Case.rule_id.in_({a.rule_id for a in ordered}),
            Case.status.in_(OPEN_STATUSES),
            Case.last_seen >= ordered[0].event_time - window,
            Case.first_seen <= ordered[-1].event_time + window,
        )
    )
    open_cases: dict[GroupKey, list[Case]] = {}
    for case in candidates:
        open_cases.setdefault((case.tenant_id, case.rule_id, case.host), []).append(case)
    return open_cases


def _attach(
    session: Session,
    ordered: Sequence[Alert],
    open_cases: dict[GroupKey, list[Case]],
    window: timedelta,
) -> _Batch:
    """Put each alert (oldest first) in the latest case of its group within the window, or in
    a new one; the case's span, count and level follow."""
    batch = _Batch()
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
            case = _new_case(alert)
            session.add(case)
            group.append(case)
            batch.created.append(case)
        case.alert_count += 1
        case.first_seen = min(case.first_seen, alert.event_time)
        case.last_seen = max(case.last_seen, alert.event_time)
        case.level = priority.higher_level(case.level, alert.level)
        case.updated_at = utcnow()
        batch.added[id(case)] = batch.added.get(id(case), 0) + 1
        batch.attached.append((alert, case))
    return batch


def _new_case(alert: Alert) -> Case:
    return Case(
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


def _register(session: Session, settings: Settings, case: Case, billable: bool) -> None:
    """A new case: registered now, impact from its asset, urgency from its level."""
    case.created_at = utcnow()
    if not billable:
        case.billable = False
    case.impact = priority.default_impact(session, case.tenant_id, case.host)
    case.urgency = priority.default_urgency(settings, case.level)
    priority.reprioritise(session, settings, case)


def _follow_level(session: Session, settings: Settings, case: Case) -> None:
    """An existing case whose level rose takes the urgency of the new level (unless an analyst
    set the urgency)."""
    if case.urgency_overridden:
        return
    urgency = priority.default_urgency(settings, case.level)
    if urgency == case.urgency:
        return
    before = case.priority
    case.urgency = urgency
    priority.reprioritise(session, settings, case)
    detail = {"urgency": urgency, "from": before, "to": case.priority, "reason": "level"}
    note(session, settings, case, "system", "priority", detail)


def _note_created(
    session: Session, settings: Settings, case: Case, runaway: dict[tuple[int, str], int]
) -> None:
    # Billing meter (issue 6): a security case registered for the tenant today (UTC); a
    # runaway rule's case only once an analyst confirms it.
    if case.billable:
        metering.count_cases(session, case.tenant_id, case.created_at.date())
    detail: dict[str, Any] = {
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
    note(session, settings, case, "system", "created", detail)


def runaway_rules(
    session: Session, settings: Settings, created: Sequence[Case]
) -> dict[tuple[int, str], int]:
    """(tenant, rule) pairs among the new cases whose rule raised more alerts for the tenant in
    the last hour than the runaway limit, with that count (the batch's own alerts included)."""
    if not created:
        return {}
    limit = settings.rule_runaway_alerts_per_hour
    counts = session.execute(
        select(Alert.tenant_id, Alert.rule_id, func.count())
        .where(
            Alert.tenant_id.in_({c.tenant_id for c in created}),
            Alert.rule_id.in_({c.rule_id for c in created}),
            Alert.created_at >= utcnow() - timedelta(hours=1),
        )
        .group_by(Alert.tenant_id, Alert.rule_id)
    )
    return {(t, r): n for t, r, n in counts if n > limit}
