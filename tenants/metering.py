"""Usage meters: events and raw bytes ingested per tenant per UTC day (1 GB = 10^9 bytes), per
host (CI) too, and the security cases registered per tenant per UTC day (billing, issue 6)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from soc.core.db import Base
from tenants.models import UsageDaily, UsageHostDaily


def _add(
    session: Session,
    model: type[Base],
    keys: tuple[str, ...],
    rows: list[dict[str, Any]],
    counters: tuple[str, ...],
) -> None:
    """Add counters to rows in one upsert statement (INSERT ... ON CONFLICT DO UPDATE), so
    concurrent ingest requests never lose an increment and a batch costs one round trip."""
    if not rows:
        return
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(model)
    table = model.__table__
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + statement.excluded[name] for name in counters},
    )
    session.execute(statement, rows)


def meter_many(session: Session, rows: list[tuple[int, date, int, int]]) -> None:
    """Add (tenant_id, day, events, bytes) rows to the daily meters."""
    _add(
        session,
        UsageDaily,
        ("tenant_id", "day"),
        [{"tenant_id": t, "day": d, "events": e, "bytes": b, "cases": 0} for t, d, e, b in rows],
        ("events", "bytes"),
    )


def meter_hosts(session: Session, rows: list[tuple[int, date, str, int, int]]) -> None:
    """Add (tenant_id, day, host, events, bytes) rows to the per-host (CI) daily meters."""
    _add(
        session,
        UsageHostDaily,
        ("tenant_id", "day", "host"),
        [
            {"tenant_id": t, "day": d, "host": h[:255], "events": e, "bytes": b}
            for t, d, h, e, b in rows
        ],
        ("events", "bytes"),
    )


def count_cases(session: Session, tenant_id: int, day: date, count: int = 1) -> None:
    """Add security cases registered for the tenant on that day (the billing case meter)."""
    _add(
        session,
        UsageDaily,
        ("tenant_id", "day"),
        [{"tenant_id": tenant_id, "day": day, "events": 0, "bytes": 0, "cases": count}],
        ("cases",),
    )


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
