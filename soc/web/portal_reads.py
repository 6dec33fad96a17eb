"""The summaries of the customer portal's slots (`soc.web.portal_pages`): the applications
impaired now with their likely cause, the latest monthly reports, the KRI status of the last
month and the open risks with the mitigation actions due soon.

No web framework here: each summary reads through the module its full page reads through
(`soc.cmdb.views`, `soc.web.kri_reads`, `soc.web.risk_reads`) with a customer's principal, so
a slot never shows what the full page would not. An admin looking over a customer's shoulder
reads through `as_customer`, a stand-in scoped to that one tenant: the slots then show what
the customer sees, not the admin's whole estate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_
from sqlalchemy.orm import Session

from kri.deps import value_filter
from kri.models import KriReport, KriValue
from risk.matrix import matrix_from
from risk.models import Risk, RiskAction
from soc.cmdb import views
from soc.cmdb.engine import StatusEngine
from soc.cmdb.rules import IMPAIRED
from soc.core.principal import Principal, Scope
from soc.core.settings import Settings
from soc.web import kri_reads, risk_reads
from tenants.models import Tenant
from tenants.tenancy import get_tenant

REPORTS_SHOWN = 3
WORST_SHOWN = 3
ACTIONS_SHOWN = 5
# "Due soon": within this many working days (the overdue ones too).
DUE_SOON_WORKING_DAYS = 10
RAG_ORDER = ("red", "amber", "green", "none")
BANDS = ("critical", "high", "medium", "low")
LIVE_ACTIONS = ("open", "in_progress")


def customer_tenant(session: Session, principal: Principal, ref: str | None) -> Tenant | None:
    """The customer's own tenant, or for an admin the one named (`?tenant=`); None for anyone
    else. A tenant the reader may not see raises NotFound."""
    if principal.role == "customer" and len(principal.scope.tenant_ids) == 1:
        (tid,) = principal.scope.tenant_ids
        return get_tenant(session, principal, tid)
    if principal.role == "admin" and ref:
        return get_tenant(session, principal, ref[:100])
    return None


def as_customer(principal: Principal, tenant: Tenant) -> Principal:
    """Who the slots read as: the customer itself, or for an admin a customer of `tenant`."""
    if principal.role == "customer":
        return principal
    return Principal(principal.actor, "customer", None, Scope.of_tenants(tenant.id))


@dataclass
class Impaired:
    """An application impaired now, with the components its state comes from."""

    id: int
    name: str
    state: str
    since: Any
    causes: list[tuple[int, str]]  # (CI id, name) of the likely root causes


def status_summary(session: Session, reader: Principal, engine: StatusEngine) -> dict[str, Any]:
    """The reader's applications that are degraded or down now, worst first."""
    board = views.dashboard(session, reader, engine)
    impaired = [
        Impaired(a.id, a.name, a.state, a.since, [(r.id, r.name) for r in a.root_causes])
        for a in board.applications
        if a.state in IMPAIRED
    ]
    return {"impaired": impaired, "total": len(board.applications), "as_of": board.as_of}


def report_summary(session: Session, reader: Principal, tenant: Tenant) -> list[KriReport]:
    """The latest published monthly reports of the tenant: the newest version per period."""
    newest: dict[str, KriReport] = {}
    for row in kri_reads.reports(session, reader, ("customer",), tenant_id=tenant.id):
        kept = newest.get(row.period)
        if kept is None or row.version > kept.version:
            newest[row.period] = row
    return [newest[p] for p in sorted(newest, reverse=True)[:REPORTS_SHOWN]]


@dataclass
class KriSummary:
    period: str
    counts: dict[str, int] = field(default_factory=dict)
    worst: list[kri_reads.Tile] = field(default_factory=list)


def _badness(tile: kri_reads.Tile) -> tuple[int, Decimal]:
    achieved = kri_reads.number(tile.achievement)
    return RAG_ORDER.index(tile.rag), achieved if achieved is not None else Decimal(0)


def kri_summary(
    session: Session, reader: Principal, tenant: Tenant, lang: str, today: date
) -> KriSummary:
    """How many of the tenant's KRIs of the last month are green, amber and red, and the
    worst red and amber ones by name (lowest achievement first)."""
    mine = and_(
        reader.tenant_filter(KriValue.tenant_id),
        KriValue.tenant_id == tenant.id,
        value_filter(reader),
    )
    period = kri_reads.latest_period(session, kri_reads.last_closed_period(today), mine)
    rows = kri_reads.current_values(session, mine, KriValue.period == period)
    defs = kri_reads.definitions(session) if rows else {}
    tiles = [kri_reads.tile_of(r, defs.get(r.kri_id), lang, "") for r in rows]
    counts = dict.fromkeys(RAG_ORDER, 0)
    for tile in tiles:
        counts[tile.rag if tile.rag in counts else "none"] += 1
    worst = sorted((t for t in tiles if t.rag in ("red", "amber")), key=_badness)
    return KriSummary(period, counts, worst[:WORST_SHOWN])


@dataclass
class DueAction:
    action: RiskAction
    working_days: int  # working days left until the due date; negative: overdue by so many


def working_days_left(settings: Settings, due: date, today: date) -> int:
    calendar = kri_reads.calendar_of(settings)
    if due >= today:
        return calendar.between(today, due)
    return -calendar.between(due, today)


def due_actions(
    session: Session, reader: Principal, settings: Settings, today: date, *where: Any
) -> list[DueAction]:
    """The reader's open actions due within DUE_SOON_WORKING_DAYS working days (and the
    overdue ones), soonest first, with the working days left."""
    until = kri_reads.calendar_of(settings).after(today, DUE_SOON_WORKING_DAYS)
    found = risk_reads.visible_actions(
        session, reader, RiskAction.status.in_(LIVE_ACTIONS), RiskAction.due <= until, *where
    )
    return [DueAction(a, working_days_left(settings, a.due, today)) for a in found]


def risk_summary(
    session: Session, reader: Principal, settings: Settings, today: date
) -> dict[str, Any]:
    """The reader's open (aligned) risks counted by residual level, and the mitigation
    actions due soon."""
    risks = risk_reads.visible_risks(
        session, reader, Risk.aligned_at.is_not(None), Risk.status != "closed"
    )
    m = matrix_from(settings)
    by_band = dict.fromkeys(BANDS, 0)
    for risk in risks:
        by_band[m.band(risk.residual_likelihood * risk.residual_impact)] += 1
    due = due_actions(session, reader, settings, today)
    return {
        "open": len(risks),
        "by_band": by_band,
        "due": due[:ACTIONS_SHOWN],
        "due_total": len(due),
    }
