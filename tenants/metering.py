"""Usage meters: events and raw bytes ingested per tenant per UTC day (1 GB = 10^9 bytes), per
host (CI) too, and the security cases registered per tenant per UTC day (billing, issue 6)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenants.models import UsageDaily, UsageHostDaily


def meter(session: Session, tenant_id: int, day: date, events: int, size: int) -> None:
    """Add a count of events and their raw bytes to the tenant's meter for that day."""
    row = session.get(UsageDaily, (tenant_id, day))
    if row is None:
        row = UsageDaily(tenant_id=tenant_id, day=day, events=0, bytes=0, cases=0)
        session.add(row)
    row.events += events
    row.bytes += size


def meter_host(
    session: Session, tenant_id: int, day: date, host: str, events: int, size: int
) -> None:
    """Add events and raw bytes to the tenant's meter for one host (CI) on that day."""
    key = (tenant_id, day, host[:255])
    row = session.get(UsageHostDaily, key)
    if row is None:
        row = UsageHostDaily(tenant_id=tenant_id, day=day, host=key[2], events=0, bytes=0)
        session.add(row)
    row.events += events
    row.bytes += size


def count_cases(session: Session, tenant_id: int, day: date, count: int = 1) -> None:
    """Add security cases registered for the tenant on that day (the billing case meter)."""
    row = session.get(UsageDaily, (tenant_id, day))
    if row is None:
        row = UsageDaily(tenant_id=tenant_id, day=day, events=0, bytes=0, cases=0)
        session.add(row)
    row.cases = (row.cases or 0) + count


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
