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
from soc.cases.service import settings_of
from soc.errors import Invalid, NotFound
from tenants.models import Tenant
from tenants.principal import Principal

PRIORITIES = ("P1", "P2", "P3", "P4")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    try:
        year, mon = (int(p) for p in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=UTC)
    except ValueError as exc:
        raise Invalid(f"month must be YYYY-MM, not '{month}'") from exc
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def case_metrics(session: Session, actor: Principal, tenant_slug: str, month: str) -> dict:
    actor.require("cases.metrics")
    tenant = session.scalar(select(Tenant).where(Tenant.slug == tenant_slug))
    if tenant is None or not actor.sees_tenant(tenant.id):
        raise NotFound(f"tenant '{tenant_slug}' not found")
    settings = settings_of(session)
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
    hours = office_hours(settings)
    per: dict[str, Any] = {}
    for p in PRIORITIES:
        mine = [c for c in cases if c.priority == p]
        targets = settings.case_sla_minutes[p]
        responded = [c.response_seconds for c in mine if c.response_seconds is not None]
        resolved = [c.resolution_seconds for c in mine if c.resolution_seconds is not None]
        within = [
            c
            for c in mine
            if c.resolution_seconds is not None
            and c.resolution_seconds <= targets["resolution"] * 60
            and (c.response_seconds or 0) <= targets["response"] * 60
        ]
        per[p] = {
            "registered": len(mine),
            "resolved": len(resolved),
            "mean_response_minutes": _mean([s / 60 for s in responded]),
            "mean_resolution_minutes": _mean([s / 60 for s in resolved]),
            "within_sla_percent": round(100 * len(within) / len(resolved), 1) if resolved else None,
        }
    critical = [c for c in cases if c.priority == "P1" and c.resolved_at is not None]
    inside = [c for c in critical if hours.is_open(c.created_at)]
    outside = [c for c in critical if not hours.is_open(c.created_at)]

    def wall_minutes(group: list[Case]) -> float | None:
        return _mean([(c.resolved_at - c.created_at).total_seconds() / 60 for c in group])

    inside_mean, outside_mean = wall_minutes(inside), wall_minutes(outside)
    resolved_all = [c for c in cases if c.resolution_seconds is not None]
    within_all = sum(
        1
        for c in resolved_all
        if c.resolution_seconds <= settings.case_sla_minutes[c.priority]["resolution"] * 60
        and (c.response_seconds or 0) <= settings.case_sla_minutes[c.priority]["response"] * 60
    )
    return {
        "tenant": tenant.slug,
        "month": f"{start:%Y-%m}",
        "registered": len(cases),
        "by_priority": per,
        "within_sla_percent": round(100 * within_all / len(resolved_all), 1)
        if resolved_all
        else None,
        "critical": {
            "office_hours": {
                "resolved": len(inside),
                "mean_resolution_minutes": inside_mean,
                "target_minutes": settings.case_critical_office_target_minutes,
                "met": None
                if inside_mean is None
                else inside_mean <= settings.case_critical_office_target_minutes,
            },
            "outside_office_hours": {
                "resolved": len(outside),
                "mean_resolution_minutes": outside_mean,
                "target_minutes": settings.case_critical_outside_target_minutes,
                "met": None
                if outside_mean is None
                else outside_mean <= settings.case_critical_outside_target_minutes,
            },
        },
        "reassignments": sum(c.reassignment_count for c in cases),
        "bouncing_cases": sum(1 for c in cases if c.bouncing),
        "escalated_cases": sum(1 for c in cases if c.escalation_level > 0),
    }
