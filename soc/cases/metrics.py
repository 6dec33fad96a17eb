"""Case metrics per tenant and month (UTC), for reports, KRIs and billing.

Cases count in the month they were registered. Response and resolution times are SLA clock
times (office hours or 24/7 as the case's clock runs, pauses excluded); the critical-case
figures are wall-clock hours from registration to resolution, split by whether the case was
registered inside or outside office hours (contract targets in settings).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.cases.calendar import office_hours
from soc.cases.models import Case
from soc.core.errors import Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.models import Tenant

PRIORITIES = ("P1", "P2", "P3", "P4")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    try:
        year, mon = (int(p) for p in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=UTC)
    except ValueError as exc:
        raise Invalid(N_("month must be YYYY-MM, not '{month}'"), month=month) from exc
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _within_sla(settings: Settings, case: Case) -> bool:
    """Resolved, within the resolution target and (if it was measured) the response one."""
    targets = settings.case_sla_minutes[case.priority]
    return (
        case.resolution_seconds is not None
        and case.resolution_seconds <= targets["resolution"] * 60
        and (case.response_seconds or 0) <= targets["response"] * 60
    )


def _priority_figures(settings: Settings, cases: list[Case]) -> dict[str, Any]:
    """Registered and resolved counts, mean clock times and % within SLA, per priority."""
    per: dict[str, Any] = {}
    for p in PRIORITIES:
        mine = [c for c in cases if c.priority == p]
        responded = [c.response_seconds for c in mine if c.response_seconds is not None]
        resolved = [c.resolution_seconds for c in mine if c.resolution_seconds is not None]
        within = sum(1 for c in mine if _within_sla(settings, c))
        per[p] = {
            "registered": len(mine),
            "resolved": len(resolved),
            "mean_response_minutes": _mean([s / 60 for s in responded]),
            "mean_resolution_minutes": _mean([s / 60 for s in resolved]),
            "within_sla_percent": _percent(within, len(resolved)),
        }
    return per


def _wall_figures(cases: list[Case], target_minutes: int) -> dict[str, Any]:
    """Resolved critical cases: mean wall-clock minutes from registration to resolution."""
    minutes = [
        (c.resolved_at - c.created_at).total_seconds() / 60
        for c in cases
        if c.resolved_at is not None
    ]
    mean = _mean(minutes)
    return {
        "resolved": len(minutes),
        "mean_resolution_minutes": mean,
        "target_minutes": target_minutes,
        "met": None if mean is None else mean <= target_minutes,
    }


def _critical_figures(settings: Settings, cases: list[Case]) -> dict[str, Any]:
    """Resolved P1 cases, split by whether they were registered inside office hours."""
    hours = office_hours(settings)
    critical = [c for c in cases if c.priority == "P1" and c.resolved_at is not None]
    inside = [c for c in critical if hours.is_open(c.created_at)]
    outside = [c for c in critical if not hours.is_open(c.created_at)]
    return {
        "office_hours": _wall_figures(inside, settings.case_critical_office_target_minutes),
        "outside_office_hours": _wall_figures(
            outside, settings.case_critical_outside_target_minutes
        ),
    }


def case_metrics(
    session: Session, actor: Principal, tenant_slug: str, month: str, *, settings: Settings
) -> dict[str, Any]:
    actor.require("cases.metrics")
    tenant = session.scalar(select(Tenant).where(Tenant.slug == tenant_slug))
    if tenant is None or not actor.sees_tenant(tenant.id):
        raise NotFound(N_("tenant '{ref}' not found"), ref=tenant_slug)
    start, end = month_bounds(month)
    cases = list(
        session.scalars(
            select(Case).where(
                Case.tenant_id == tenant.id,
                Case.created_at >= start,
                Case.created_at < end,
                Case.merged_into_id.is_(None),
            )
        )
    )
    resolved = sum(1 for c in cases if c.resolution_seconds is not None)
    return {
        "tenant": tenant.slug,
        "month": f"{start:%Y-%m}",
        "registered": len(cases),
        "by_priority": _priority_figures(settings, cases),
        "within_sla_percent": _percent(sum(1 for c in cases if _within_sla(settings, c)), resolved),
        "critical": _critical_figures(settings, cases),
        "reassignments": sum(c.reassignment_count for c in cases),
        "bouncing_cases": sum(1 for c in cases if c.bouncing),
        "escalated_cases": sum(1 for c in cases if c.escalation_level > 0),
    }
