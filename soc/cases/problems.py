"""Problem records of resolved critical operational incidents (seed 000 L1411–1419, A10).

The root cause is due `case_root_cause_working_days` working days after the day the incident
was resolved (that day excluded, holidays skipped): "5 WD" is counted in whole days, so a root
cause found at any time on the fifth working day is on time.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.cases.calendar import office_hours
from soc.cases.models import Problem
from soc.core.errors import Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings


class ResolvedIncident(Protocol):
    id: int
    root_causes: list[int]
    tenants: list[int]
    resolved_at: datetime | None


def working_days_between(settings: Settings, start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (0 when end <= start)."""
    hours = office_hours(settings)
    return sum(1 for n in range(1, (end - start).days + 1) if hours.works(start + timedelta(n)))


def nth_working_day_after(settings: Settings, start: date, n: int) -> date:
    hours = office_hours(settings)
    day, left = start, n
    while left > 0:
        day += timedelta(days=1)
        if hours.works(day):
            left -= 1
    return day


def root_cause_on_time(settings: Settings, resolved_at: datetime, found_at: datetime) -> bool:
    tz = ZoneInfo(settings.case_timezone)
    days = working_days_between(
        settings, resolved_at.astimezone(tz).date(), found_at.astimezone(tz).date()
    )
    return days <= settings.case_root_cause_working_days


def open_incident_problem(
    session: Session, settings: Settings, incident: ResolvedIncident, title: str
) -> Problem:
    """The problem record of a resolved critical incident, created with the resolution's
    timestamp; one per incident however often this is called."""
    existing = session.scalar(select(Problem).where(Problem.ops_incident_id == incident.id))
    if existing is not None:
        return existing
    resolved = incident.resolved_at
    if resolved is None:
        raise ValueError("an incident opens its problem record when it is resolved")
    tz = ZoneInfo(settings.case_timezone)
    last_day = nth_working_day_after(
        settings, resolved.astimezone(tz).date(), settings.case_root_cause_working_days
    )
    due = datetime.combine(last_day, time(23, 59, 59), tz)
    tenants = sorted(incident.tenants)
    problem = Problem(
        tenant_id=tenants[0] if len(tenants) == 1 else None,
        case_id=None,
        ops_incident_id=incident.id,
        tenants=tenants,
        title=title[:300],
        status="open",
        root_cause_due=due,
        created_at=resolved,
    )
    session.add(problem)
    session.flush()
    return problem


def record_root_cause(
    session: Session,
    settings: Settings,
    actor: Principal,
    problem: Problem,
    text: str,
    at: datetime,
) -> Problem:
    """The root cause of a problem, and whether it came within the working days allowed
    after the resolution (the problem's creation time, A10 / TA5)."""
    actor.require("cases.manage")
    if problem.root_cause is not None:
        raise Invalid(N_("problem {id} already has its root cause"), id=problem.id)
    if not text.strip():
        raise Invalid(N_("a root cause needs a description"))
    problem.root_cause, problem.root_cause_at = text.strip(), at
    problem.root_cause_on_time = root_cause_on_time(settings, problem.created_at, at)
    problem.status = "root_cause_found"
    session.flush()
    return problem
