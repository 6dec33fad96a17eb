"""The scorecard of a subject for a period (per KRI its value, RAG, achievement; per domain
the score and penalty tier of seed 004-G) and a KRI's trend over months.

A subject is a tenant (its `customer` KRIs), a provider (its `provider` KRIs) or end to end
(the `end_to_end` KRIs). Visibility: a customer sees its own tenant; a provider its own
provider and the tenants it serves; unscoped users everything. Anything else is a 404, so
another tenant's figures cannot be told from a missing one. Without a tenant or a provider a
request means the principal's own (its tenant, its provider), end to end for unscoped users.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kri import rules
from kri.computed import decimal_or_none, judge
from kri.computed_base import Subject, check_period
from kri.deps import calendar_of, expected_in, local_day, on_time_verdict, value_filter
from kri.models import KriDefinition, KriValue
from soc.core.db import utcnow
from soc.core.errors import Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.models import Provider, Tenant

SCOPE_OF_KIND = {"customer": "customer", "provider": "provider", "end_to_end": "end_to_end"}
MAX_TREND_MONTHS = 36


@dataclass(frozen=True)
class ResolvedSubject:
    subject: Subject
    tenant: str | None = None
    provider: str | None = None

    @property
    def kind(self) -> str:
        return self.subject.kind

    def out(self) -> dict[str, Any]:
        return {"kind": self.kind, "tenant": self.tenant, "provider": self.provider}


def resolve_subject(
    session: Session, principal: Principal, tenant: str | None, provider: str | None
) -> ResolvedSubject:
    """The subject named (or the principal's own), checked against what it may see."""
    principal.require("kri.read")
    if tenant is not None and provider is not None:
        raise Invalid(N_("name a tenant or a provider, not both"))
    if tenant is not None:
        row = session.scalar(select(Tenant).where(Tenant.slug == tenant))
        if row is None or not principal.sees_tenant(row.id):
            raise NotFound(N_("tenant '{ref}' not found"), ref=tenant)
        return ResolvedSubject(Subject(tenant_id=row.id), tenant=row.slug)
    if provider is not None:
        found = session.scalar(select(Provider).where(Provider.slug == provider))
        if found is None or not (principal.is_global or principal.provider_id == found.id):
            raise NotFound(N_("provider '{ref}' not found"), ref=provider)
        return ResolvedSubject(Subject(provider_id=found.id), provider=found.slug)
    if principal.tenant_id is not None:
        own = session.get(Tenant, principal.tenant_id)
        return ResolvedSubject(
            Subject(tenant_id=principal.tenant_id), tenant=own.slug if own else None
        )
    if principal.provider_id is not None:
        mine = session.get(Provider, principal.provider_id)
        return ResolvedSubject(
            Subject(provider_id=principal.provider_id), provider=mine.slug if mine else None
        )
    if principal.is_global:
        return ResolvedSubject(Subject())
    raise NotFound(N_("no KRIs for this principal"))


def last_period(settings: Settings, now: datetime | None = None) -> str:
    """The last complete period (the month before today, local time)."""
    today = (now or utcnow()).astimezone(ZoneInfo(settings.dwh_timezone)).date()
    return rules.previous_period(f"{today.year:04d}-{today.month:02d}")


def tiers(settings: Settings) -> list[tuple[Decimal, Decimal]]:
    """The penalty tiers of the settings as decimals (shown as kri.simulate does: 0.5, 1.0)."""
    return [(Decimal(str(low)), Decimal(str(pct))) for low, pct in settings.kri_penalty_tiers]


def _definitions(session: Session, subject: Subject) -> list[KriDefinition]:
    """The subject's KRIs; a provider's are those of provider scope it owns or no one owns."""
    query = select(KriDefinition).where(
        KriDefinition.enabled.is_(True), KriDefinition.scope == SCOPE_OF_KIND[subject.kind]
    )
    if subject.provider_id is not None:
        query = query.where(
            or_(
                KriDefinition.owner_provider_id.is_(None),
                KriDefinition.owner_provider_id == subject.provider_id,
            )
        )
    return list(session.scalars(query.order_by(KriDefinition.domain, KriDefinition.id)))


def value_for(
    session: Session,
    kri_id: str,
    period: str,
    subject: Subject,
    principal: Principal | None = None,
) -> KriValue | None:
    """The subject's current value of the KRI, among those `principal` sees (kri.deps
    .value_filter: a provider its own values and the unowned ones of tenants it serves, not
    another provider's). A tenant's value may also name the provider that submitted it: the
    tenant's own (no provider) first, else the latest."""
    query = select(KriValue).where(
        KriValue.kri_id == kri_id,
        KriValue.period == period,
        KriValue.current.is_(True),
        KriValue.tenant_id.is_(None)
        if subject.tenant_id is None
        else KriValue.tenant_id == subject.tenant_id,
    )
    if subject.tenant_id is None:
        query = query.where(
            KriValue.provider_id.is_(None)
            if subject.provider_id is None
            else KriValue.provider_id == subject.provider_id
        )
    if principal is not None:
        query = query.where(value_filter(principal))
    order = (KriValue.provider_id.is_not(None), KriValue.id.desc())
    return session.scalars(query.order_by(*order).limit(1)).first()


def expected(definition: KriDefinition, settings: Settings, period: str, today: date) -> bool:
    """Whether a value of the KRI is owed for the period by `today`: it reports in that
    period (a quarterly KRI only in Mar, Jun, ...) and its due date has passed."""
    if not expected_in(definition, period):
        return False
    due = rules.due_after_period(calendar_of(settings), period, definition.due_working_days)
    return today > due


def _row(definition: KriDefinition, value: KriValue | None, owed: bool = False) -> dict[str, Any]:
    """One KRI's figures; `owed`: expected and due, so a missing value scores 0.0 % (red)."""
    number = decimal_or_none(value.value) if value is not None else None
    verdict = judge(definition, number)
    achievement = verdict.achievement
    if achievement is None and value is not None:
        achievement = decimal_or_none(value.achievement)
    missing = owed and number is None and achievement is None
    if missing:
        achievement = Decimal("0.0")
    return {
        "id": definition.id,
        "name_en": definition.name_en,
        "name_nl": definition.name_nl,
        "unit": definition.unit,
        "direction": definition.direction,
        "norm": definition.norm,
        "green": definition.green,
        "amber": definition.amber,
        "domain": definition.domain,
        "weight": definition.weight,
        "source": definition.source,
        "is_sla": definition.is_sla,
        "value": None if number is None else format(number, "f"),
        "rag": "red"
        if missing
        else (verdict.rag if verdict.rag is not None else (value.rag if value else None)),
        "achievement": None if achievement is None else str(achievement),
        "met": False
        if missing
        else (verdict.met if verdict.met is not None else (value.met if value else None)),
        "missing": missing,
        "on_time": value.on_time if value is not None else False,
        "repeated": value.repeated if value is not None else False,
        "reported": value is not None,
        "detail": value.detail if value is not None else {},
    }


def scorecard(
    session: Session,
    principal: Principal,
    settings: Settings,
    period: str,
    tenant: str | None = None,
    provider: str | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Per KRI of the subject its figure and verdicts; per domain the 004-G score: Σ
    achievement × weight ÷ Σ weights. A KRI owed for the period (`expected`: it reports in
    that period and its due date passed by `today`, Brussels) without a value counts as
    0.0 % (red, `missing`), as kri.simulate does, so leaving out the worst KRI cannot lift a
    score; a KRI not owed (a quarterly KRI in an off month, not yet due) is left out.
    on_time_pct counts the KRIs the /on-time record counts (kri.deps.on_time_verdict)."""
    check_period(period)
    resolved = resolve_subject(session, principal, tenant, provider)
    day = today or local_day(settings, utcnow())
    calendar = calendar_of(settings)
    kris, timely = [], []
    for d in _definitions(session, resolved.subject):
        value = value_for(session, d.id, period, resolved.subject, principal)
        kris.append(_row(d, value, expected(d, settings, period, day)))
        due = rules.due_after_period(calendar, period, d.due_working_days)
        timely.append(on_time_verdict(d, period, value, due, day))
    weighted = [
        (k["domain"], Decimal(k["achievement"]), decimal_or_none(k["weight"]) or Decimal(0))
        for k in kris
        if k["achievement"] is not None and k["domain"]
    ]
    domains = rules.domain_scores(weighted, tiers(settings))
    counted = [v for v in timely if v is not None]
    return {
        "period": period,
        "subject": resolved.out(),
        "kris": kris,
        "domains": [
            {"domain": d.domain, "score": f"{d.score:.2f}", "penalty_pct": f"{d.penalty_pct:.1f}"}
            for d in domains
        ],
        "rag_counts": {
            colour: sum(1 for k in kris if k["rag"] == colour)
            for colour in ("green", "amber", "red")
        },
        "on_time_pct": str(rules.percentage(sum(1 for v in counted if v), len(counted))),
    }


def trend(
    session: Session,
    principal: Principal,
    settings: Settings,
    kri_id: str,
    tenant: str | None = None,
    provider: str | None = None,
    months: int = 12,
    period: str | None = None,
) -> dict[str, Any]:
    """The KRI's value per month for the subject, the oldest first, ending at `period` (the
    last complete month by default); a month without a value has value None."""
    if not 1 <= months <= MAX_TREND_MONTHS:
        raise Invalid(N_("months must be 1..{max_trend_months}"), max_trend_months=MAX_TREND_MONTHS)
    end = period or last_period(settings)
    check_period(end)
    resolved = resolve_subject(session, principal, tenant, provider)
    definition = session.get(KriDefinition, kri_id)
    if definition is None or definition.scope != SCOPE_OF_KIND[resolved.kind]:
        raise NotFound(N_("KRI '{kri_id}' not found for this subject"), kri_id=kri_id)
    points = []
    for back in range(months - 1, -1, -1):
        at = rules.previous_period(end, back)
        value = value_for(session, kri_id, at, resolved.subject, principal)
        row = _row(definition, value)
        points.append(
            {k: row[k] for k in ("value", "rag", "achievement", "met", "on_time", "repeated")}
            | {"period": at}
        )
    return {
        "kri": kri_id,
        "name_en": definition.name_en,
        "name_nl": definition.name_nl,
        "unit": definition.unit,
        "norm": definition.norm,
        "direction": definition.direction,
        "subject": resolved.out(),
        "points": points,
    }
