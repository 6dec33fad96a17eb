"""Usage meters: events and raw bytes ingested per tenant per UTC day (1 GB = 10^9 bytes)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenants.models import UsageDaily


def meter(session: Session, tenant_id: int, day: date, events: int, size: int) -> None:
    """Add a count of events and their raw bytes to the tenant's meter for that day."""
    row = session.get(UsageDaily, (tenant_id, day))
    if row is None:
        row = UsageDaily(tenant_id=tenant_id, day=day, events=0, bytes=0)
        session.add(row)
    row.events += events
    row.bytes += size


def usage(session: Session, tenant_id: int, start: date, end: date) -> list[UsageDaily]:
    return list(
        session.scalars(
            select(UsageDaily)
            .where(
                UsageDaily.tenant_id == tenant_id, UsageDaily.day >= start, UsageDaily.day <= end
            )
            .order_by(UsageDaily.day)
        )
    )
