"""The declared log sources as the pages show them (`soc.web.sources_pages` for a customer,
`soc.web.console_pages` for the analyst): each source's state in words a reader can act on
(sending, silent for N hours, never seen, disabled) from `ingest.sources`, and the console's
silent-sources panel, which falls back to the ingest meters only for the tenants that
declared no source at all (their hosts have no silence threshold of their own).

No web framework here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest import sources
from ingest.models import LogSource
from soc.core.principal import Principal
from tenants.models import Tenant


@dataclass
class SourceRow:
    source: LogSource
    state: str  # ok, silent, never_seen, disabled
    silent_hours: int | None  # hours since the last event (or the declaration), when silent
    events_today: int
    bytes_today: int


def _hours(since: datetime, now: datetime) -> int:
    return max(0, int((now - since).total_seconds() // 3600))


def rows_of(found: list[sources.SourceStatus], now: datetime) -> list[SourceRow]:
    return [
        SourceRow(
            s.source,
            s.status,
            _hours(sources.reference(s.source), now) if s.status == "silent" else None,
            s.events_today,
            s.bytes_today,
        )
        for s in found
    ]


def tenant_sources(
    session: Session, reader: Principal, tenant: Tenant, now: datetime
) -> dict[str, Any]:
    """One tenant's declared sources (silent first) and the hosts no source covers yet."""
    rows = rows_of(sources.list_sources(session, reader, tenant=tenant.slug, now=now), now)
    order = {"silent": 0, "never_seen": 1, "ok": 2, "disabled": 3}
    rows.sort(key=lambda r: (order.get(r.state, 9), -(r.silent_hours or 0), r.source.name))
    return {
        "rows": rows,
        "unknown": sources.unknown_hosts(session, reader, tenant=tenant.slug, limit=100),
    }


@dataclass
class SilentPanel:
    """The console's silent sources: declared ones by state; meter-based hosts only for the
    tenants with no declared source."""

    declared: list[tuple[str, SourceRow]]  # (tenant slug, silent source), longest silence first
    declared_total: int  # declared sources in scope
    metered: list[tuple[str, str, date]]  # (tenant slug, host, last day with events)


def silent_panel(
    session: Session,
    reader: Principal,
    now: datetime,
    metered: list[tuple[str, str, date]],
) -> SilentPanel:
    """`metered` is the meter-based list the dashboard already read; it is kept only for the
    tenants that declared no source."""
    found = rows_of(sources.list_sources(session, reader, now=now), now)
    declaring = {r.source.tenant_id for r in found}
    slugs: dict[int, str] = {}
    if declaring:
        query = select(Tenant.id, Tenant.slug).where(Tenant.id.in_(declaring))
        slugs = {i: s for i, s in session.execute(query)}
    silent = [(slugs.get(r.source.tenant_id, ""), r) for r in found if r.state == "silent"]
    silent.sort(key=lambda p: (-(p[1].silent_hours or 0), p[0], p[1].source.name))
    covered = set(slugs.values())
    return SilentPanel(silent, len(found), [m for m in metered if m[0] not in covered])
