"""What the KRI pages show (`soc.web.kri_pages`): the queries and read models behind the
customer's KRI and compliance status, the provider's submission page with its deadlines and
the authority's end-to-end view with every provider's on-time record.

No web framework here: each function takes the session, the principal, the settings (and the
page's language and today) and returns the plain data its template reads. Every query on
values and reports is cut by the principal: a tenant's rows through `tenant_filter`, a
provider's through its own id; another tenant named in the query is a NotFound.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from kri import reports as kri_reports
from kri import rules, scores
from kri.deps import value_filter
from kri.models import KriDefinition, KriReport, KriValue
from risk.workdays import WorkCalendar
from soc.core.errors import NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.models import Provider, Tenant

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
TREND_MONTHS = 12
HISTORY_MONTHS = 6


def period_of(raw: str | None, fallback: str) -> str:
    """A period from the query when it is one ('YYYY-MM'), else the fallback."""
    return raw if raw and PERIOD.match(raw) else fallback


def last_closed_period(today: date) -> str:
    """The month before today's: the one whose values are due now."""
    return rules.previous_period(f"{today:%Y-%m}")


def periods_to(period: str, months: int) -> list[str]:
    """`months` periods ending with `period`, oldest first."""
    return [rules.previous_period(period, back) for back in range(months - 1, -1, -1)]


def number(raw: str | None) -> Decimal | None:
    if raw is None or raw == "":
        return None
    try:
        found = Decimal(raw)
    except InvalidOperation:
        return None
    return found if found.is_finite() else None


def calendar_of(settings: Settings) -> WorkCalendar:
    return WorkCalendar.with_closing_days(settings.risk_extra_closing_days)


def name_of(definition: KriDefinition | None, kri_id: str, lang: str) -> str:
    if definition is None:
        return kri_id
    return (definition.name_nl if lang == "nl" else definition.name_en) or kri_id


def definitions(session: Session) -> dict[str, KriDefinition]:
    return {d.id: d for d in session.scalars(select(KriDefinition).order_by(KriDefinition.id))}


# ---- who the page is about ------------------------------------------------------------


def tenant_choices(session: Session, principal: Principal) -> list[Tenant]:
    query = select(Tenant).where(principal.tenant_filter(Tenant.id)).order_by(Tenant.slug)
    return list(session.scalars(query))


def chosen_tenant(session: Session, principal: Principal, slug: str) -> Tenant | None:
    """The tenant of the customer page: the one named (`?tenant=slug`, NotFound unless the
    principal sees it), else its own, else the first it sees (None when it sees none)."""
    choices = tenant_choices(session, principal)
    if slug:
        for tenant in choices:
            if tenant.slug == slug:
                return tenant
        raise NotFound(N_("tenant {name} not found"), name=slug[:40])
    own = principal.tenant_id
    return next((t for t in choices if t.id == own), choices[0] if choices else None)


def provider_choices(session: Session, principal: Principal) -> list[Provider]:
    query = select(Provider).order_by(Provider.slug)
    if principal.provider_id is not None:
        query = query.where(Provider.id == principal.provider_id)
    elif not principal.is_global:
        return []
    return list(session.scalars(query))


def chosen_provider(session: Session, principal: Principal, slug: str) -> Provider | None:
    """A provider's own page; the unscoped integrator names one (`?provider=slug`)."""
    choices = provider_choices(session, principal)
    if slug:
        for provider in choices:
            if provider.slug == slug:
                return provider
        raise NotFound(N_("provider {name} not found"), name=slug[:40])
    return choices[0] if choices else None


# ---- values, tiles, trends, domain scores ---------------------------------------------


def current_values(session: Session, *where: ColumnElement[bool]) -> list[KriValue]:
    query = select(KriValue).where(KriValue.current.is_(True), *where)
    return list(session.scalars(query.order_by(KriValue.kri_id, KriValue.period, KriValue.id)))


def latest_period(session: Session, fallback: str, *where: ColumnElement[bool]) -> str:
    query = select(func.max(KriValue.period)).where(KriValue.current.is_(True), *where)
    found = session.scalar(query)
    return str(found) if found else fallback


CASE_KRIS = (
    "response_sla_pct",
    "resolution_sla_pct",
    "p1_mean_resolution_office_h",
    "p1_mean_resolution_outside_h",
    "root_cause_on_time_pct",
    "reassignments",
)


def drill_down(definition: KriDefinition | None, tenant: Tenant | None, role: str) -> str:
    """Where a computed figure comes from: the cases behind a case KRI (by priority for the
    case counts), the risks or actions behind a register KRI, the status of the applications;
    empty when the figure has no list behind it (submitted values, event volumes)."""
    if definition is None or not definition.computation:
        return ""
    what = definition.computation
    cases = "/cases" + (f"?tenant_id={tenant.id}" if tenant is not None else "")
    if what.startswith("cases_p") and what[-1:].isdigit():
        joiner = "&" if tenant is not None else "?"
        return f"{cases}{joiner}priority=P{what[-1]}"
    if what in CASE_KRIS:
        return cases
    if "action" in what:
        return "/risk/customer" if role == "customer" else "/risk"
    if "risk" in what:
        return "/risk/customer" if role == "customer" else "/risk"
    if what.startswith("availability"):
        return "/status"
    return ""


@dataclass
class Tile:
    kri_id: str
    name: str
    unit: str
    value: str | None
    norm: str
    achievement: str | None
    rag: str
    met: bool | None
    on_time: bool
    repeated: bool
    domain: str
    link: str
    trend: dict[str, Any] = field(default_factory=dict)


def tile_of(row: KriValue, definition: KriDefinition | None, lang: str, link: str) -> Tile:
    return Tile(
        kri_id=row.kri_id,
        name=name_of(definition, row.kri_id, lang),
        unit=definition.unit if definition else "",
        value=row.value,
        norm=definition.norm if definition else "-",
        achievement=row.achievement,
        rag=row.rag or "none",
        met=row.met,
        on_time=row.on_time,
        repeated=row.repeated,
        domain=definition.domain if definition else "",
        link=link,
    )


def trend_line(
    periods: Sequence[str], values: dict[str, Decimal], norm: Decimal | None
) -> dict[str, Any]:
    """An inline SVG line of one KRI over the periods, with its norm as a dashed line."""
    width, height, pad = 240, 64, 6
    known = list(values.values()) + ([norm] if norm is not None else [])
    low = min(known, default=Decimal(0))
    high = max(known, default=Decimal(1))
    span = high - low or Decimal(1)
    step = (width - 2 * pad) / max(1, len(periods) - 1)

    def y(v: Decimal) -> float:
        return round(height - pad - float((v - low) / span) * (height - 2 * pad), 1)

    points = [
        {"x": round(pad + i * step, 1), "y": y(values[p]), "period": p, "value": values[p]}
        for i, p in enumerate(periods)
        if p in values
    ]
    return {
        "width": width,
        "height": height,
        "points": points,
        "line": " ".join(f"{p['x']},{p['y']}" for p in points),
        "norm_y": y(norm) if norm is not None else None,
        "first": periods[0] if periods else "",
        "last": periods[-1] if periods else "",
    }


def with_trends(
    tiles: list[Tile],
    history: Iterable[KriValue],
    defs: dict[str, KriDefinition],
    periods: Sequence[str],
) -> list[Tile]:
    series: dict[str, dict[str, Decimal]] = {}
    for row in history:
        value = number(row.value)
        if value is not None:
            series.setdefault(row.kri_id, {})[row.period] = value
    for tile in tiles:
        definition = defs.get(tile.kri_id)
        norm = number(definition.norm) if definition else None
        tile.trend = trend_line(periods, series.get(tile.kri_id, {}), norm)
    return tiles


def domains_of(
    session: Session,
    principal: Principal,
    settings: Settings,
    period: str,
    tenant: Tenant | None = None,
) -> list[rules.DomainScore]:
    """The period's domain scores (seed 004-G) with their penalty tier, from
    `kri.scores.scorecard`: the tenant's, or end to end without one (global readers)."""
    card = scores.scorecard(
        session, principal, settings, period, tenant=tenant.slug if tenant else None
    )
    return [
        rules.DomainScore(d["domain"], Decimal(d["score"]), Decimal(d["penalty_pct"]))
        for d in card["domains"]
    ]


def reports(
    session: Session,
    principal: Principal,
    kinds: tuple[str, ...],
    tenant_id: int | None = None,
    provider_id: int | None = None,
) -> list[KriReport]:
    """The report archive the reader may see (`kri.reports.archive`), of these kinds and,
    when named, of this tenant or provider; every version, newest period first."""
    if not principal.can("reports.read"):
        return []
    _, rows = kri_reports.archive(session, principal, limit=200)
    return [
        r
        for r in rows
        if r.kind in kinds
        and (tenant_id is None or r.tenant_id == tenant_id)
        and (provider_id is None or r.provider_id == provider_id)
    ]


def customer_view(
    session: Session,
    principal: Principal,
    settings: Settings,
    tenant: Tenant | None,
    raw_period: str | None,
    lang: str,
    today: date,
) -> dict[str, Any]:
    """The customer's KRI tiles for a period, each with its 12-month trend and drill-down,
    the domain scores with their penalty tier, the report archive."""
    choices = tenant_choices(session, principal)
    if tenant is None:
        return {"tenant": None, "tenants": choices, "tiles": [], "domains": [], "archive": []}
    mine = and_(
        principal.tenant_filter(KriValue.tenant_id),
        KriValue.tenant_id == tenant.id,
        value_filter(principal),  # a provider: not another provider's values for the tenant
    )
    period = period_of(raw_period, latest_period(session, last_closed_period(today), mine))
    defs = definitions(session)
    rows = current_values(session, mine, KriValue.period == period)
    tiles = [
        tile_of(r, defs.get(r.kri_id), lang, drill_down(defs.get(r.kri_id), tenant, principal.role))
        for r in rows
    ]
    months = periods_to(period, TREND_MONTHS)
    history = current_values(session, mine, KriValue.period.in_(months))
    archive = reports(session, principal, ("customer",), tenant_id=tenant.id)
    return {
        "tenant": tenant,
        "tenants": choices,
        "period": period,
        "periods": months,
        "tiles": with_trends(tiles, history, defs, months),
        "domains": domains_of(session, principal, settings, period, tenant),
        "archive": archive,
    }
