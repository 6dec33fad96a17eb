"""The on-time records behind the provider's submission page and the authority's end-to-end
view (`soc.web.kri_pages`): per submitted KRI its due date in working days (Belgian calendar
with the configured closing days), each subject's status (on time, late, missing, quality
flagged, still open), the binary on-time record per KRI per period with the period's % against
the target, the repeated SLA failures and the end-to-end domain scores.

No web framework here (see `soc.web.kri_reads`): plain data for the templates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from kri import deps as kri_deps
from kri import rules, sla
from kri.models import KriDefinition, KriValue
from soc.core.principal import Principal
from soc.core.settings import Settings
from soc.web import kri_reads as reads
from tenants.models import Provider, ProviderTenant, Tenant

Subject = tuple[int | None, int | None]  # (tenant id, provider id), as kri.submissions


def submitted_kris(session: Session, provider_id: int) -> list[KriDefinition]:
    """The submitted KRIs the provider reports: those it owns, and those owned by none
    (every provider reports its own) unless end to end."""
    query = select(KriDefinition).where(
        KriDefinition.source == "submitted",
        KriDefinition.enabled.is_(True),
        or_(
            KriDefinition.owner_provider_id == provider_id,
            and_(
                KriDefinition.owner_provider_id.is_(None),
                KriDefinition.scope != "end_to_end",
            ),
        ),
    )
    return list(session.scalars(query.order_by(KriDefinition.id)))


def served(session: Session, provider_id: int) -> list[Tenant]:
    query = (
        select(Tenant)
        .join(ProviderTenant, ProviderTenant.tenant_id == Tenant.id)
        .where(ProviderTenant.provider_id == provider_id)
        .order_by(Tenant.slug)
    )
    return list(session.scalars(query))


def subjects_of(
    definition: KriDefinition, provider_id: int, tenants: list[Tenant]
) -> list[tuple[str, Subject]]:
    """Whom the provider owes a value of the KRI (`kri.kri_deps.expected_subjects`): each
    served tenant for a per-customer KRI, else the provider itself (or end to end), with the
    tenant's slug."""
    slugs = {t.id: t.slug for t in tenants}
    pairs = [(provider_id, t.id) for t in tenants]
    found = kri_deps.expected_subjects(definition, [provider_id], pairs)
    return [(slugs.get(t or 0, ""), (t, p)) for t, p in found]


def status_of(row: KriValue | None, due: date, today: date) -> str:
    if row is None or row.value is None:
        return "missing" if today > due else "open"
    if not row.quality_ok:
        return "quality"
    return "on_time" if row.on_time else "late"


@dataclass
class Line:
    """One subject of a submitted KRI in the period: its value row and status."""

    tenant: str
    value: str | None
    status: str
    submitted_on: date | None
    errors: list[str]


@dataclass
class DueKri:
    kri_id: str
    name: str
    unit: str
    scope: str
    norm: str
    due: date
    lines: list[Line] = field(default_factory=list)
    quality: dict[str, Any] = field(default_factory=dict)


def provider_rows(
    session: Session, kris: list[KriDefinition], periods: list[str]
) -> dict[tuple[str, str, int | None, int | None], KriValue]:
    """The current values of these KRIs and periods by (kri, period, tenant, provider); the
    callers look up only the provider's own subjects."""
    query = select(KriValue).where(
        KriValue.current.is_(True),
        KriValue.kri_id.in_([k.id for k in kris]),
        KriValue.period.in_(periods),
    )
    return {(r.kri_id, r.period, r.tenant_id, r.provider_id): r for r in session.scalars(query)}


def due_kris(
    session: Session,
    settings: Settings,
    provider: Provider,
    period: str,
    lang: str,
    today: date,
) -> list[DueKri]:
    """The provider's submitted KRIs of the period with their due date and each subject's
    status."""
    calendar = reads.calendar_of(settings)
    tenants = served(session, provider.id)
    kris = [k for k in submitted_kris(session, provider.id) if kri_deps.expected_in(k, period)]
    rows = provider_rows(session, kris, [period])
    out = []
    for definition in kris:
        due = rules.due_after_period(calendar, period, definition.due_working_days)
        item = DueKri(
            kri_id=definition.id,
            name=reads.name_of(definition, definition.id, lang),
            unit=definition.unit,
            scope=definition.scope,
            norm=definition.norm,
            due=due,
            quality=dict(definition.quality or {}),
        )
        for slug, (tenant_id, provider_id) in subjects_of(definition, provider.id, tenants):
            row = rows.get((definition.id, period, tenant_id, provider_id))
            item.lines.append(
                Line(
                    tenant=slug,
                    value=row.value if row else None,
                    status=status_of(row, due, today),
                    submitted_on=row.submitted_on if row else None,
                    errors=list(row.quality_errors or []) if row else [],
                )
            )
        out.append(item)
    return out


@dataclass
class Record:
    """A provider's binary on-time record per KRI per period, and per period the %."""

    provider: Provider
    periods: list[str]
    cells: dict[str, dict[str, bool | None]]  # kri id → period → on time (None: not due yet)
    names: dict[str, str]
    pct: dict[str, Decimal]  # only the periods with something due
    met: dict[str, bool]


def on_time_record(
    session: Session,
    settings: Settings,
    provider: Provider,
    periods: list[str],
    lang: str,
    today: date,
) -> Record:
    """A KRI is on time in a period when every subject's value arrived by its due date; a
    missing value is not; a period not yet due counts only what arrived."""
    calendar = reads.calendar_of(settings)
    tenants = served(session, provider.id)
    target = Decimal(str(settings.kri_on_time_target_pct))
    kris = submitted_kris(session, provider.id)
    rows = provider_rows(session, kris, periods)
    cells: dict[str, dict[str, bool | None]] = {}
    pct: dict[str, Decimal] = {}
    met: dict[str, bool] = {}
    for period in periods:
        counted = hits = 0
        for definition in kris:
            if not kri_deps.expected_in(definition, period):
                cells.setdefault(definition.id, {})[period] = None
                continue
            due = rules.due_after_period(calendar, period, definition.due_working_days)
            subjects = subjects_of(definition, provider.id, tenants)
            found = [rows.get((definition.id, period, *subject)) for _, subject in subjects]
            arrived = [r for r in found if r is not None and r.value is not None]
            verdict: bool | None = bool(found) and all(
                r is not None and r.value is not None and r.on_time for r in found
            )
            if not verdict and today <= due and all(r.on_time for r in arrived):
                verdict = None  # still open: not late yet
            cells.setdefault(definition.id, {})[period] = verdict
            if verdict is not None:
                counted, hits = counted + 1, hits + int(verdict)
        if counted:  # nothing due yet (or nothing to submit): no percentage
            pct[period] = rules.percentage(hits, counted)
            met[period] = pct[period] >= target
    names = {d.id: reads.name_of(d, d.id, lang) for d in kris}
    return Record(provider, periods, cells, names, pct, met)


def repeated_view(
    session: Session, principal: Principal, settings: Settings, period: str, lang: str
) -> dict[str, Any]:
    """The SLAs repeated in the period (`kri.sla.repeated_report`: a miss in 3 consecutive
    periods or more, until met again) and their share of the period's SLAs."""
    found = sla.repeated_report(session, principal, settings, period)
    defs = reads.definitions(session)
    repeated = [
        {
            "kri_id": r["kri"],
            "name": reads.name_of(defs.get(r["kri"]), r["kri"], lang),
            "subject": r["tenant"] or r["provider"] or "",
            "since": r["since"],
            "misses": sum(1 for met in r["history"].values() if not met),
        }
        for r in found["repeated"]
    ]
    return {
        "repeated": repeated,
        "repeated_pct": found["repeated_pct"],
        "repeated_met": found["met"],
        "slas": found["slas"],
    }


def provider_view(
    session: Session,
    principal: Principal,
    settings: Settings,
    provider: Provider | None,
    raw_period: str | None,
    lang: str,
    today: date,
) -> dict[str, Any]:
    """The provider's KRIs of the period to submit, their deadlines and statuses, its
    on-time record over the last months and its reports."""
    period = reads.period_of(raw_period, reads.last_closed_period(today))
    choices = reads.provider_choices(session, principal)
    if provider is None:
        return {"provider": None, "providers": choices, "period": period, "kris": []}
    months = reads.periods_to(period, reads.HISTORY_MONTHS)
    return {
        "provider": provider,
        "providers": choices,
        "period": period,
        "kris": due_kris(session, settings, provider, period, lang, today),
        "tenants": served(session, provider.id),
        "record": on_time_record(session, settings, provider, months, lang, today),
        "archive": reads.reports(session, principal, ("provider",), provider_id=provider.id),
        "today": today,
    }


def authority_view(
    session: Session,
    principal: Principal,
    settings: Settings,
    raw_period: str | None,
    lang: str,
    today: date,
) -> dict[str, Any]:
    """End to end: every provider's on-time record, the repeated SLAs and their share, the
    end-to-end domain scores, the end-to-end and provider reports."""
    end_to_end = (KriValue.tenant_id.is_(None), KriValue.provider_id.is_(None))
    fallback = reads.last_closed_period(today)
    period = reads.period_of(raw_period, reads.latest_period(session, fallback, *end_to_end))
    months = reads.periods_to(period, reads.HISTORY_MONTHS)
    providers = list(session.scalars(select(Provider).order_by(Provider.slug)))
    defs = reads.definitions(session)
    rows = reads.current_values(session, KriValue.period == period, *end_to_end)
    tiles = [
        reads.tile_of(
            r, defs.get(r.kri_id), lang, reads.drill_down(defs.get(r.kri_id), None, principal.role)
        )
        for r in rows
    ]
    history = reads.current_values(session, KriValue.period.in_(months), *end_to_end)
    return {
        "period": period,
        "periods": months,
        "records": [on_time_record(session, settings, p, months, lang, today) for p in providers],
        "target": settings.kri_on_time_target_pct,
        "repeated_target": settings.kri_repeated_target_pct,
        **repeated_view(session, principal, settings, period, lang),
        "tiles": reads.with_trends(tiles, history, defs, months),
        "domains": reads.domains_of(session, principal, settings, period),
        "archive": reads.reports(session, principal, ("end_to_end", "provider")),
        "provider_slugs": {p.id: p.slug for p in providers},
    }
