"""SLA clocks of a case: response and resolution targets per priority, on the tenant's
calendar (office hours or 24/7), paused while the case waits on the customer.

Stored on the case: `response_due` / `resolution_due` (recomputed by `refresh`),
`paused_seconds` (clock seconds spent paused or resolved-then-reopened) and `paused_since`.
A due time is the instant where `target + paused_seconds` clock seconds have run since the
case was registered; while paused there is no due time and the remaining time stands still.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from soc.cases.calendar import Calendar, calendar_for, runs_24x7
from soc.cases.models import Case
from soc.core.settings import Settings
from tenants.models import Tenant

ClockState = Literal["running", "warning", "breached", "paused", "met", "missed"]


def calendar_of(settings: Settings, case: Case) -> Calendar:
    return calendar_for(settings, case.clock_24x7)


def target_seconds(settings: Settings, priority: str, clock: str) -> int:
    return settings.case_sla_minutes[priority][clock] * 60


def set_clock_mode(session: Session, settings: Settings, case: Case) -> None:
    """Fix the case's clock to the tenant's calendar as it is now. Called when the case is
    registered and when its priority changes; a later change of the tenant's calendar leaves
    the case's clock alone (the contract of its registration applies)."""
    tenant = session.get(Tenant, case.tenant_id)
    case.clock_24x7 = runs_24x7(
        settings,
        tenant.slug if tenant else "",
        case.priority,
        tenant.sla_calendar if tenant else "business_hours",
    )


def refresh(settings: Settings, case: Case) -> None:
    """Recompute the stored due times from priority, calendar and pauses."""
    cal = calendar_of(settings, case)
    start = case.created_at
    case.response_due = cal.add(start, target_seconds(settings, case.priority, "response"))
    if case.paused_since is not None:
        case.resolution_due = None
    else:
        total = target_seconds(settings, case.priority, "resolution") + (case.paused_seconds or 0)
        case.resolution_due = cal.add(start, total)


def pause(settings: Settings, case: Case, at: datetime) -> None:
    if case.paused_since is None:
        case.paused_since = at
        refresh(settings, case)


def resume(settings: Settings, case: Case, at: datetime) -> None:
    if case.paused_since is not None:
        cal = calendar_of(settings, case)
        case.paused_seconds = (case.paused_seconds or 0) + round(cal.elapsed(case.paused_since, at))
        case.paused_since = None
        refresh(settings, case)


def mark_responded(settings: Settings, case: Case, at: datetime) -> None:
    if case.responded_at is None:
        case.responded_at = at
        case.response_seconds = round(calendar_of(settings, case).elapsed(case.created_at, at))


def mark_resolved(settings: Settings, case: Case, at: datetime) -> None:
    resume(settings, case, at)
    mark_responded(settings, case, at)
    case.resolved_at = at
    cal = calendar_of(settings, case)
    case.resolution_seconds = round(cal.elapsed(case.created_at, at)) - (case.paused_seconds or 0)


def mark_reopened(settings: Settings, case: Case, at: datetime) -> None:
    """The time spent resolved does not count against the resolution target."""
    if case.resolved_at is not None:
        cal = calendar_of(settings, case)
        case.paused_seconds = (case.paused_seconds or 0) + round(cal.elapsed(case.resolved_at, at))
        case.resolved_at = None
        case.resolution_seconds = None
        case.closed_at = None
        case.resolution_warned = False
        refresh(settings, case)


@dataclass(frozen=True)
class Clock:
    due: datetime | None
    remaining_seconds: int | None
    state: ClockState


def _clock(
    settings: Settings,
    case: Case,
    target: int,
    done_seconds: int | None,
    due: datetime | None,
    now: datetime,
    paused_used: int,
) -> Clock:
    cal = calendar_of(settings, case)
    if done_seconds is not None:
        return Clock(due, target - done_seconds, "met" if done_seconds <= target else "missed")
    if case.paused_since is not None and due is None:
        used = cal.elapsed(case.created_at, case.paused_since) - paused_used
        return Clock(None, round(target - used), "paused")
    assert due is not None
    remaining = round(target - (cal.elapsed(case.created_at, now) - paused_used))
    if now >= due:
        return Clock(due, min(remaining, 0), "breached")
    warn = settings.case_warning_minutes.get(case.priority, 0) * 60
    state: ClockState = "warning" if (due - now).total_seconds() <= warn else "running"
    return Clock(due, remaining, state)


def clocks(settings: Settings, case: Case, now: datetime) -> dict[str, Clock]:
    """The response and resolution clocks of a case as seen at `now`."""
    if case.response_due is None:  # a case from before issue 5
        empty = Clock(None, None, "met")
        return {"response": empty, "resolution": empty}
    return {
        "response": _clock(
            settings,
            case,
            target_seconds(settings, case.priority, "response"),
            case.response_seconds,
            case.response_due,
            now,
            0,
        ),
        "resolution": _clock(
            settings,
            case,
            target_seconds(settings, case.priority, "resolution"),
            case.resolution_seconds,
            case.resolution_due,
            now,
            case.paused_seconds or 0,
        ),
    }
