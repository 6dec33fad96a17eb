"""The blocks of a monthly report, each a plain JSON-ready dict (decimals as strings).

Customer (C5): KRIs, invoice-supporting data, SIEM/SOC events per CI, open security cases
(the infosec work requests) with their age, and the cases closed in the period with their real
lead time and achieved service level. Provider: its KRIs, its on-time record, its cases. End
to end (C10): every provider's SLAs, the on-time record per provider, the volumes coordinated
and the repeated SLAs.

The period is a local month (settings.dwh_timezone, Europe/Brussels): March 2026 runs from
2026-02-28T23:00Z to 2026-03-31T22:00Z. Events per CI come from the daily meters for the UTC
days wholly inside it and, when an event store is given, from the events time-stamped in the
two edge windows (so an event at 2026-03-31T23:30Z is April's); without a store the meters of
the month's UTC days are used and the block says `"exact": false`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from ingest.store.base import EventStore
from kri import rules
from kri.models import KriDefinition, KriValue
from risk.workdays import WorkCalendar
from soc.cases.models import Case, Problem
from soc.core.settings import Settings
from tenants.billing.accounts import accounts_of
from tenants.billing.models import Invoice, InvoiceLineRow
from tenants.billing.rules import MonthUsage, dec, plan_for, to_gb
from tenants.billing.usage import metered
from tenants.models import Provider, Tenant, UsageHostDaily

# The blocks each kind of report must have (a report missing one fails validation, TC5).
REQUIRED_BLOCKS: dict[str, tuple[str, ...]] = {
    "customer": ("kris", "invoice", "events", "open_cases", "closed_cases"),
    "provider": ("kris", "on_time", "open_cases", "closed_cases"),
    "end_to_end": ("slas", "on_time", "volumes", "repeated"),
}


@dataclass(frozen=True)
class Window:
    """A report period as local days and as the UTC instants [start, end)."""

    period: str
    first: date
    last: date
    start: datetime
    end: datetime
    tz: ZoneInfo

    @classmethod
    def of(cls, period: str, timezone: str) -> Window:
        first, last = rules.period_bounds(period)
        tz = ZoneInfo(timezone)

        def at(day: date) -> datetime:
            return datetime.combine(day, time(0), tz).astimezone(UTC)

        return cls(period, first, last, at(first), at(last + timedelta(days=1)), tz)

    def local_day(self, instant: datetime) -> date:
        return instant.astimezone(self.tz).date()


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def _names(session: Session, model: type[Tenant] | type[Provider]) -> dict[int, str]:
    return {i: s for i, s in session.execute(select(model.id, model.slug))}


# --- (1) KRIs ---------------------------------------------------------------------------


def _tiers(settings: Settings) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(str(a)), Decimal(str(b))) for a, b in settings.kri_penalty_tiers]


def kri_values(
    session: Session, period: str, where: ColumnElement[bool]
) -> list[tuple[KriValue, KriDefinition]]:
    rows = session.execute(
        select(KriValue, KriDefinition)
        .join(KriDefinition, KriDefinition.id == KriValue.kri_id)
        .where(KriValue.period == period, KriValue.current.is_(True), where)
        .order_by(KriValue.kri_id, KriValue.provider_id, KriValue.tenant_id, KriValue.id)
    )
    return [(v, d) for v, d in rows.all()]


def _kri_item(value: KriValue, kri: KriDefinition, providers: dict[int, str]) -> dict[str, Any]:
    return {
        "kri": kri.id,
        "name_en": kri.name_en,
        "name_nl": kri.name_nl,
        "unit": kri.unit,
        "direction": kri.direction,
        "norm": kri.norm,
        "value": value.value,
        "rag": value.rag,
        "achievement": value.achievement,
        "met": value.met,
        "on_time": value.on_time,
        "repeated": value.repeated,
        "is_sla": kri.is_sla,
        "domain": kri.domain,
        "weight": kri.weight,
        "provider": providers.get(value.provider_id) if value.provider_id else None,
    }


def kri_block(
    settings: Settings,
    rows: Sequence[tuple[KriValue, KriDefinition]],
    providers: dict[int, str],
) -> dict[str, Any]:
    """The KRI values with their RAG and achievement, the RAG counts and the domain scores."""
    items = [_kri_item(v, d, providers) for v, d in rows]
    # A missing input (its row has no value) scores 0.0 %, as in the scorecard and simulate:
    # leaving out the worst KRI never lifts a domain's score.
    scored = [
        (d.domain, Decimal(v.achievement or "0.0"), Decimal(d.weight or "0"))
        for v, d in rows
        if d.domain and (v.achievement is not None or v.value is None)
    ]
    domains = [
        {"domain": s.domain, "score": f"{s.score:.2f}", "penalty_pct": f"{s.penalty_pct:.1f}"}
        for s in rules.domain_scores(scored, _tiers(settings))
    ]
    counts = {rag: sum(1 for i in items if i["rag"] == rag) for rag in ("green", "amber", "red")}
    return {"count": len(items), "rag": counts, "values": items, "domains": domains}


def on_time_block(
    settings: Settings, rows: Sequence[tuple[KriValue, KriDefinition]], providers: dict[int, str]
) -> dict[str, Any]:
    """Per provider (or the subject as a whole): values on time out of values due (C4)."""
    per: dict[str, list[bool]] = defaultdict(list)
    for value, _kri in rows:
        name = providers.get(value.provider_id or 0, "end_to_end")
        per[name].append(value.on_time)
    target = Decimal(str(settings.kri_on_time_target_pct))

    def record(flags: list[bool]) -> dict[str, Any]:
        pct = rules.percentage(sum(flags), len(flags))
        return {"due": len(flags), "on_time": sum(flags), "pct": str(pct), "met": pct >= target}

    total = [flag for flags in per.values() for flag in flags]
    late = [
        {"kri": v.kri_id, "provider": providers.get(v.provider_id or 0), "due": v.due.isoformat()}
        for v, _k in rows
        if not v.on_time
    ]
    return {
        "target_pct": str(target),
        "overall": record(total),
        "providers": [{"provider": name} | record(per[name]) for name in sorted(per)],
        "late": late,
    }


def repeated_block(
    settings: Settings, rows: Sequence[tuple[KriValue, KriDefinition]], providers: dict[int, str]
) -> dict[str, Any]:
    slas = [(v, d) for v, d in rows if d.is_sla]
    repeated = [_kri_item(v, d, providers) for v, d in slas if v.repeated]
    pct = rules.percentage(len(repeated), len(slas)) if slas else Decimal("0.00")
    target = Decimal(str(settings.kri_repeated_target_pct))
    return {
        "slas": len(slas),
        "repeated": len(repeated),
        "pct": str(pct),
        "target_pct": str(target),
        "met": pct <= target,
        "items": repeated,
    }


# --- (2) invoice-supporting data -----------------------------------------------------------


def invoice_block(session: Session, tenant: Tenant, period: str) -> dict[str, Any]:
    """The closed invoice of the month when there is one, else the month's metered usage."""
    inv = session.scalar(
        select(Invoice).where(Invoice.tenant_id == tenant.id, Invoice.month == period)
    )
    if inv is not None:
        lines = session.scalars(
            select(InvoiceLineRow)
            .where(InvoiceLineRow.invoice_id == inv.id)
            .order_by(InvoiceLineRow.position)
        )
        return {
            "source": "invoice",
            "status": inv.status,
            "plan": inv.plan,
            "events": inv.events,
            "bytes": inv.bytes,
            "gb": dec(to_gb(inv.bytes)),
            "cases": inv.cases,
            "case_tier": inv.case_tier,
            "currency": inv.currency,
            "total": None if inv.total is None else dec(inv.total),
            "lines": [
                {
                    "kind": line.kind,
                    "description": line.description,
                    "quantity": dec(line.quantity),
                    "unit_price": dec(line.unit_price),
                    "amount": dec(line.amount),
                }
                for line in lines
            ],
        }
    used = metered(session, period, [tenant.id]).get(tenant.id, MonthUsage())
    plans = accounts_of(session, [tenant])[tenant.id].plans
    return {
        "source": "running_usage",
        "status": "open",
        "plan": plan_for(plans, period) or "standard",
        "events": used.events,
        "bytes": used.bytes,
        "gb": dec(to_gb(used.bytes)),
        "cases": used.cases,
        "case_tier": None,
        "currency": None,
        "total": None,
        "lines": [],
    }


# --- (3) events per CI ------------------------------------------------------------------


class _AllEvents:
    """A hunt query matching every event (the store's public way to read a time range)."""

    id = "kri-report-events"
    sigma_rule = None

    def matches(self, event: dict[str, Any]) -> bool:
        return True

    def query_for(self, store_kind: str) -> Any:
        return {"match_all": {}}


Counts = defaultdict[tuple[str, date], list[int]]


def _meter_counts(session: Session, tenant_id: int, first: date, last: date, into: Counts) -> None:
    if last < first:
        return
    for host, day, events, size in session.execute(
        select(
            UsageHostDaily.host, UsageHostDaily.day, UsageHostDaily.events, UsageHostDaily.bytes
        ).where(
            UsageHostDaily.tenant_id == tenant_id,
            UsageHostDaily.day >= first,
            UsageHostDaily.day <= last,
        )
    ):
        bucket = into[(host, day)]
        bucket[0] += int(events)
        bucket[1] += int(size)


def _store_counts(
    store: EventStore, window: Window, tenant_id: int, spans: Iterable[tuple[datetime, datetime]]
) -> Counts:
    counts: Counts = defaultdict(lambda: [0, 0])
    for start, end in spans:
        if end <= start:
            continue
        for event in store.hunt(tenant_id, _AllEvents(), start, end):
            bucket = counts[(event.host, window.local_day(event.event_time))]
            bucket[0] += 1
            bucket[1] += event.size
    return counts


def host_day_counts(
    session: Session, store: EventStore | None, window: Window, tenant_id: int
) -> tuple[Counts, bool]:
    """(host, local day) → [events, bytes] for the period, and whether it is exact."""
    counts: Counts = defaultdict(lambda: [0, 0])
    if store is None:
        _meter_counts(session, tenant_id, window.first, window.last, counts)
        return counts, False
    full_first = window.start.date()
    if window.start != _utc_midnight(full_first):
        full_first += timedelta(days=1)
    full_last = window.end.date() - timedelta(days=1)
    _meter_counts(session, tenant_id, full_first, full_last, counts)
    edges = (
        (window.start, _utc_midnight(full_first)),
        (_utc_midnight(full_last + timedelta(days=1)), window.end),
    )
    for key, (events, size) in _store_counts(store, window, tenant_id, edges).items():
        counts[key][0] += events
        counts[key][1] += size
    return counts, True


def events_block(
    session: Session, store: EventStore | None, window: Window, tenant_id: int
) -> dict[str, Any]:
    """Events and GB per CI and events per local day of the month; the cases opened."""
    counts, exact = host_day_counts(session, store, window, tenant_id)
    hosts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    days: dict[date, int] = defaultdict(int)
    for (host, day), (events, size) in counts.items():
        if window.first <= day <= window.last:
            hosts[host][0] += events
            hosts[host][1] += size
            days[day] += events
    per_host = sorted(hosts.items(), key=lambda item: (-item[1][0], item[0]))
    n_days = (window.last - window.first).days + 1
    total_bytes = sum(b for _e, b in hosts.values())
    cases = session.scalar(
        select(func.count(Case.id)).where(
            Case.tenant_id == tenant_id,
            Case.created_at >= window.start,
            Case.created_at < window.end,
            Case.merged_into_id.is_(None),
        )
    )
    return {
        "timezone": str(window.tz),
        "exact": exact,
        "events": sum(e for e, _b in hosts.values()),
        "bytes": total_bytes,
        "gb": dec(to_gb(total_bytes)),
        "cases": int(cases or 0),
        "per_ci": [
            {"ci": host, "events": e, "bytes": b, "gb": dec(to_gb(b))} for host, (e, b) in per_host
        ],
        "per_day": [
            {"day": (d := window.first + timedelta(days=n)).isoformat(), "events": days.get(d, 0)}
            for n in range(n_days)
        ],
    }


# --- (4) and (5) security cases (the infosec work requests) ------------------------------


def _done_at(case: Case) -> datetime | None:
    return case.resolved_at or case.closed_at


def open_cases_block(
    session: Session,
    window: Window,
    calendar: WorkCalendar,
    where: ColumnElement[bool],
    providers: dict[int, str],
) -> dict[str, Any]:
    """Cases registered before the period's end and not resolved by then, with their age as
    of the period's last day: days after the opening day up to it, and working days."""
    end = window.end
    cases = session.scalars(
        select(Case)
        .where(
            where,
            Case.created_at < end,
            Case.merged_into_id.is_(None),
            or_(Case.resolved_at.is_(None), Case.resolved_at >= end),
            or_(Case.closed_at.is_(None), Case.closed_at >= end),
        )
        .order_by(Case.created_at, Case.id)
    )
    items = []
    for case in cases:
        opened = window.local_day(case.created_at)
        items.append(
            {
                "id": case.id,
                "title": case.title,
                "priority": case.priority,
                "status": case.status,
                "provider": providers.get(case.provider_id or 0),
                "opened": opened.isoformat(),
                "age_days": max(0, (window.last - opened).days),
                "age_working_days": calendar.between(opened, window.last),
            }
        )
    return {"as_of": window.last.isoformat(), "count": len(items), "items": items}


def _met(seconds: int | None, target_minutes: int) -> bool | None:
    return None if seconds is None else seconds <= target_minutes * 60


def _closed_item(settings: Settings, case: Case, providers: dict[int, str]) -> dict[str, Any]:
    done = _done_at(case)
    assert done is not None
    lead = Decimal((done - case.created_at).total_seconds()) / Decimal(3600)
    targets = settings.case_sla_minutes.get(case.priority, {})
    response = _met(case.response_seconds, targets.get("response", 0))
    resolution = _met(case.resolution_seconds, targets.get("resolution", 0))
    known = [flag for flag in (response, resolution) if flag is not None]
    return {
        "id": case.id,
        "title": case.title,
        "priority": case.priority,
        "provider": providers.get(case.provider_id or 0),
        "opened_at": case.created_at.isoformat(),
        "closed_at": done.isoformat(),
        "lead_time_hours": str(rules.round_half_up(lead, Decimal("0.01"))),
        "lead_time_days": str(rules.round_half_up(lead / 24, Decimal("0.01"))),
        "response_met": response,
        "resolution_met": resolution,
        "sla_met": all(known) if known else None,
    }


def closed_cases_block(
    session: Session,
    settings: Settings,
    window: Window,
    where: ColumnElement[bool],
    providers: dict[int, str],
) -> dict[str, Any]:
    """Cases resolved (or closed) in the period: real lead time and achieved service level."""
    start, end = window.start, window.end
    cases = session.scalars(
        select(Case)
        .where(
            where,
            Case.merged_into_id.is_(None),
            or_(
                and_(Case.resolved_at >= start, Case.resolved_at < end),
                and_(Case.resolved_at.is_(None), Case.closed_at >= start, Case.closed_at < end),
            ),
        )
        .order_by(Case.id)
    )
    items = [_closed_item(settings, case, providers) for case in cases]
    judged = [i for i in items if i["sla_met"] is not None]
    met = sum(1 for i in judged if i["sla_met"])
    return {
        "count": len(items),
        "sla_met": met,
        "sla_pct": str(rules.percentage(met, len(judged))),
        "items": items,
    }


def volumes_block(session: Session, window: Window) -> dict[str, Any]:
    """What the integrator coordinated in the period: cases by priority, problems."""
    start, end = window.start, window.end
    opened = dict(
        session.execute(
            select(Case.priority, func.count(Case.id))
            .where(Case.created_at >= start, Case.created_at < end, Case.merged_into_id.is_(None))
            .group_by(Case.priority)
        ).all()
    )
    closed = session.scalar(
        select(func.count(Case.id)).where(
            func.coalesce(Case.resolved_at, Case.closed_at) >= start,
            func.coalesce(Case.resolved_at, Case.closed_at) < end,
        )
    )
    problems = session.scalar(
        select(func.count(Problem.id)).where(Problem.created_at >= start, Problem.created_at < end)
    )
    reassigned = session.scalar(
        select(func.coalesce(func.sum(Case.reassignment_count), 0)).where(
            Case.created_at >= start, Case.created_at < end
        )
    )
    return {
        "cases_opened": sum(opened.values()),
        "cases_by_priority": {p: int(opened.get(p, 0)) for p in ("P1", "P2", "P3", "P4")},
        "cases_closed": int(closed or 0),
        "problems_opened": int(problems or 0),
        "reassignments": int(reassigned or 0),
    }
