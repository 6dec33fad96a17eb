"""Merge cases into one, or split alerts off a case into a new one."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from detections.models import Alert
from soc.cases import priority, sla
from soc.cases.models import Case
from soc.cases.service import get_case
from soc.cases.timeline import note
from soc.core.db import utcnow
from soc.core.errors import Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants import metering


def merge(
    session: Session,
    actor: Principal,
    target_id: int,
    source_ids: Sequence[int],
    *,
    settings: Settings,
) -> Case:
    """Move the alerts of the source cases into the target; the sources close as merged."""
    actor.require("cases.manage")
    target = get_case(session, actor, target_id)
    sources = [get_case(session, actor, i) for i in dict.fromkeys(source_ids)]
    _check_merge(target, sources)
    now = utcnow()
    for source in sources:
        moved = list(session.scalars(select(Alert).where(Alert.case_id == source.id)))
        for alert in moved:
            alert.case_id = target.id
        target.alert_count += len(moved)
        target.first_seen = min(target.first_seen, source.first_seen)
        target.last_seen = max(target.last_seen, source.last_seen)
        target.level = priority.higher_level(target.level, source.level)
        previous = source.status
        source.alert_count, source.merged_into_id = 0, target.id
        source.status, source.updated_at = "closed", now
        source.closed_at = now
        if source.resolved_at is None:
            sla.mark_resolved(settings, source, now)
        detail = {"target": target.id, "alerts": len(moved), "from": previous}
        note(session, settings, source, actor.actor, "merged_into", detail)
    target.updated_at = now
    detail = {"sources": [s.id for s in sources], "alerts": target.alert_count}
    note(session, settings, target, actor.actor, "merged", detail)
    return target


def _check_merge(target: Case, sources: Sequence[Case]) -> None:
    if not sources:
        raise Invalid(N_("name at least one case to merge"))
    for source in sources:
        if source.id == target.id:
            raise Invalid(N_("a case cannot be merged into itself"))
        if source.tenant_id != target.tenant_id:
            raise Invalid(N_("cases of different tenants cannot be merged"))
        if source.merged_into_id is not None:
            raise Invalid(
                N_("case {id} was already merged into {merged_into_id}"),
                id=source.id,
                merged_into_id=source.merged_into_id,
            )
    if target.status in ("resolved", "closed"):
        raise Invalid(
            N_("case {id} is '{status}'; merge into an open case"),
            id=target.id,
            status=target.status,
        )


def split(
    session: Session,
    actor: Principal,
    case_id: int,
    alert_ids: Sequence[int],
    title: str | None = None,
    *,
    settings: Settings,
) -> Case:
    """Move some alerts of a case to a new case (same tenant, priority and provider)."""
    actor.require("cases.manage")
    case = get_case(session, actor, case_id)
    wanted = set(alert_ids)
    moving = list(
        session.scalars(select(Alert).where(Alert.case_id == case.id, Alert.id.in_(wanted)))
    )
    if not wanted or len(moving) != len(wanted):
        raise Invalid(N_("every alert to split off must belong to case {case_id}"), case_id=case_id)
    if len(moving) >= case.alert_count:
        raise Invalid(N_("leave at least one alert in the original case"))
    new = _split_off(case, moving, title)
    priority.reprioritise(session, settings, new)
    session.add(new)
    session.flush()
    for alert in moving:
        alert.case_id = new.id
    case.alert_count -= len(moving)
    rest = list(session.scalars(select(Alert.event_time).where(Alert.case_id == case.id)))
    if rest:
        case.first_seen, case.last_seen = min(rest), max(rest)
    case.updated_at = new.created_at
    # A split-off case is a security case registered today (billing meter, issue 6).
    if new.billable:
        metering.count_cases(session, new.tenant_id, new.created_at.date())
    ids = [a.id for a in moving]
    note(session, settings, new, actor.actor, "created", {"split_from": case.id, "alerts": ids})
    note(session, settings, case, actor.actor, "split", {"new_case": new.id, "alerts": ids})
    return new


def _split_off(case: Case, moving: Sequence[Alert], title: str | None) -> Case:
    """The new case for the alerts moving off `case`: registered now, it keeps the original's
    provider, impact, urgency and billing (a split never bills what the original did not)."""
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
        billable=case.billable,
    )
    for alert in moving[1:]:
        new.level = priority.higher_level(new.level, alert.level)
    return new
