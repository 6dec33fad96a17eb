"""What the provider workspace (`soc.web.provider_pages`) shows: the provider's open cases by
priority and SLA state with the breaches due soon, the CIs it owns that are impaired now and
its latest operational events, its open mitigation actions with their deadlines in working
days, and the KRIs it submits for the last month with their due dates.

No web framework here. Everything is read with a provider's principal and cut to the provider
itself: cases handed over to it (`soc.cases.queries.dashboard`), CIs and events whose
`provider_id` is its own, actions it owns (`soc.web.risk_reads`), the KRIs it reports
(`soc.web.kri_records`). What a provider merely sees as context on the full pages (common
risks, shared components, other providers' actions on its tenants) is left out here: the
workspace is what is assigned to it. The unscoped integrator reads through `as_provider`, a
stand-in with the provider's own scope.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from risk.models import RiskAction
from soc.cases import queries
from soc.cmdb.engine import StatusEngine
from soc.cmdb.models import CIStatus, ConfigurationItem, OpsEvent
from soc.cmdb.rules import IMPAIRED, STATE_RANK
from soc.core.principal import Principal, Scope
from soc.core.settings import Settings
from soc.web import kri_reads, kri_records, risk_reads
from soc.web.portal_reads import LIVE_ACTIONS, DueAction, working_days_left
from tenants.models import Provider
from tenants.scope import served_tenant_ids

EVENTS_SHOWN = 10
ACTIONS_SHOWN = 10
# The integrator (unscoped admins and analysts) may open any provider's workspace.
INTEGRATOR_ROLES = ("admin", "soc_analyst")


def as_provider(session: Session, principal: Principal, provider: Provider) -> Principal:
    """Who the workspace reads as: the provider's own user, or for the integrator a stand-in
    with the provider's scope (the tenants it serves, the cases handed to it)."""
    if principal.provider_id == provider.id:
        return principal
    scope = Scope.of_provider(provider.id, served_tenant_ids(session, provider.id))
    return Principal(principal.actor, "provider", None, scope)


@dataclass
class OwnedCI:
    id: int
    name: str
    ci_type: str
    state: str
    own: bool  # its own alerts impair it (else a component under it does)
    since: datetime | None


def impaired_cis(session: Session, reader: Principal, engine: StatusEngine) -> list[OwnedCI]:
    """The provider's own CIs that are degraded or down now, worst first."""
    engine.catch_up(session)
    corr = engine.corr
    rows = session.execute(
        select(ConfigurationItem.id, ConfigurationItem.name, ConfigurationItem.ci_type)
        .where(ConfigurationItem.provider_id == reader.provider_id)
        .order_by(ConfigurationItem.name)
    ).all()
    hit = [(i, n, t) for i, n, t in rows if corr.state.get(i) in IMPAIRED]
    since: dict[int, datetime] = {}
    if hit:
        query = select(CIStatus.ci_id, CIStatus.since).where(
            CIStatus.ci_id.in_([h[0] for h in hit])
        )
        since = {ci: at for ci, at in session.execute(query)}
    out = [OwnedCI(i, n, t, corr.state[i], corr.is_own(i), since.get(i)) for i, n, t in hit]
    out.sort(key=lambda c: (-STATE_RANK[c.state], c.name.lower()))
    return out


def recent_events(session: Session, reader: Principal) -> list[OpsEvent]:
    """The provider's latest operational events (as GET /api/v1/ops/events cuts them)."""
    query = (
        select(OpsEvent)
        .where(OpsEvent.provider_id == reader.provider_id)
        .order_by(OpsEvent.id.desc())
        .limit(EVENTS_SHOWN)
    )
    return list(session.scalars(query))


def own_actions(
    session: Session, reader: Principal, settings: Settings, today: date
) -> tuple[list[DueAction], int]:
    """The open actions the provider owns, soonest deadline first, with the working days left;
    and how many there are in all."""
    found = risk_reads.visible_actions(
        session,
        reader,
        RiskAction.owner_provider_id == reader.provider_id,
        RiskAction.status.in_(LIVE_ACTIONS),
    )
    shown = [DueAction(a, working_days_left(settings, a.due, today)) for a in found]
    return shown[:ACTIONS_SHOWN], len(shown)


@dataclass
class KriDue:
    kri_id: str
    name: str
    due: date
    working_days: int
    statuses: dict[str, int]  # on_time / late / missing / quality / open → subjects


def kri_deadlines(
    session: Session, settings: Settings, provider: Provider, lang: str, today: date
) -> tuple[str, list[KriDue]]:
    """The KRIs the provider submits for the last closed month, their due date (working days
    after the month) and how many of their subjects are on time, late, missing or open."""
    period = kri_reads.last_closed_period(today)
    due = kri_records.due_kris(session, settings, provider, period, lang, today)
    return period, [
        KriDue(
            d.kri_id,
            d.name,
            d.due,
            working_days_left(settings, d.due, today),
            dict(Counter(line.status for line in d.lines)),
        )
        for d in due
    ]


def workspace(
    session: Session,
    reader: Principal,
    settings: Settings,
    engine: StatusEngine,
    provider: Provider,
    lang: str,
    today: date,
) -> dict[str, Any]:
    """Every slot the reader's role may open (None: the slot is not shown)."""
    context: dict[str, Any] = {"cases": None, "ops": None, "actions": None, "kris": None}
    if reader.can("cases.read"):
        context["cases"] = queries.dashboard(session, reader, settings)
    if reader.can("cmdb.read") and reader.can("ops.events.read"):
        context["ops"] = {
            "impaired": impaired_cis(session, reader, engine),
            "events": recent_events(session, reader),
        }
    if reader.can("actions.read"):
        shown, total = own_actions(session, reader, settings, today)
        context["actions"] = {"rows": shown, "total": total}
    if reader.can("kri.read"):
        period, kris = kri_deadlines(session, settings, provider, lang, today)
        context["kris"] = {"period": period, "rows": kris}
    return context
