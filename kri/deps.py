"""Shared pieces of the submitted KRIs (kri.submissions) and of the readers of values:
slugs by id, the answer shape of a value, who sees which values (`value_filter`,
`sees_subject`), the subject a submission is for and who owes a value each period
(`resolve_subject`, `expected_subjects`), quality checks and the RAG/achievement/met of a
value, the NC raised once per KRI, period and subject. Rules: kri.submissions' docstring.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session

from kri import rules
from kri.models import KriDefinition, KriValue
from kri.schemas import FREQUENCY_MONTHS, ValueOut
from risk.nc_schemas import NCIn
from risk.nonconformities import create_nc
from risk.workdays import WorkCalendar
from soc.core.errors import Forbidden, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import SYSTEM, Principal
from soc.core.settings import Settings
from tenants.models import Provider, ProviderTenant, Tenant

Subject = tuple[int | None, int | None]  # (tenant_id, provider_id)


@dataclass(frozen=True)
class Names:
    tenants: dict[int, str]
    providers: dict[int, str]


def names(session: Session) -> Names:
    return Names(
        {i: s for i, s in session.execute(select(Tenant.id, Tenant.slug))},
        {i: s for i, s in session.execute(select(Provider.id, Provider.slug))},
    )


def value_out(row: KriValue, n: Names) -> ValueOut:
    return ValueOut(
        id=row.id,
        kri=row.kri_id,
        period=row.period,
        tenant=n.tenants.get(row.tenant_id) if row.tenant_id else None,
        provider=n.providers.get(row.provider_id) if row.provider_id else None,
        value=row.value,
        source=row.source,
        submitted_at=row.submitted_at,
        submitted_on=row.submitted_on,
        submitted_by=row.submitted_by,
        due=row.due,
        on_time=row.on_time,
        quality_ok=row.quality_ok,
        quality_errors=list(row.quality_errors or []),
        rag=row.rag,
        achievement=row.achievement,
        met=row.met,
        repeated=row.repeated,
        current=row.current,
        nc_id=row.nc_id,
    )


def calendar_of(settings: Settings) -> WorkCalendar:
    return WorkCalendar.with_closing_days(settings.risk_extra_closing_days)


def local_day(settings: Settings, when: datetime) -> date:
    return when.astimezone(ZoneInfo(settings.dwh_timezone)).date()


def check_period(period: str) -> date:
    """The first day of a valid period; Invalid otherwise (also for years past 9998)."""
    try:
        return rules.period_bounds(period)[0]
    except ValueError as exc:
        raise Invalid(str(exc)) from exc


def expected_in(kri: KriDefinition, period: str) -> bool:
    """Whether the KRI reports for this period (monthly: always; quarterly: Mar, Jun, ...)."""
    step = FREQUENCY_MONTHS.get(kri.frequency, 1)
    return rules.parse_period(period)[1] % step == 0


# --- visibility ---------------------------------------------------------------------------


def value_filter(principal: Principal) -> ColumnElement[bool]:
    """The values a reader sees: global users all; a provider its own (its provider's values
    and the end-to-end values of KRIs it owns) and those of tenants it serves that name no
    provider; tenant users their tenants' customer-scope values."""
    if principal.is_global:
        return true()
    own = principal.provider_id
    tenant_rows = and_(KriValue.tenant_id.is_not(None), principal.tenant_filter(KriValue.tenant_id))
    if own is None:
        return tenant_rows
    owned = select(KriDefinition.id).where(KriDefinition.owner_provider_id == own)
    return or_(
        KriValue.provider_id == own,
        and_(KriValue.provider_id.is_(None), or_(KriValue.kri_id.in_(owned), tenant_rows)),
    )


def sees_value(
    principal: Principal,
    owner_provider_id: int | None,
    tenant_id: int | None,
    provider_id: int | None,
) -> bool:
    """`value_filter` for one value (or subject) of a KRI owned by `owner_provider_id`."""
    if principal.is_global:
        return True
    own = principal.provider_id
    tenant_ok = tenant_id is not None and principal.sees_tenant(tenant_id)
    if own is None:
        return tenant_ok
    return provider_id == own or (provider_id is None and (owner_provider_id == own or tenant_ok))


def sees_subject(principal: Principal, kri: KriDefinition, subject: Subject) -> bool:
    """`value_filter` for one (not yet stored) subject."""
    return sees_value(principal, kri.owner_provider_id, *subject)


# --- on time ------------------------------------------------------------------------------


def on_time_verdict(
    kri: KriDefinition, period: str, row: KriValue | None, due: date, today: date
) -> bool | None:
    """How a KRI's current value counts in an on-time percentage (the /on-time record and the
    scorecard's on_time_pct alike): None (not counted) for a computed KRI, a period the KRI
    does not report in, or nothing arrived before the due date passed; False for a value
    missing after the due date; else the stored verdict (on time and of good quality)."""
    if kri.source != "submitted" or not expected_in(kri, period):
        return None
    if row is None or (row.value is None and row.submitted_on is None):
        return False if today > due else None
    return bool(row.on_time)


# --- subjects -----------------------------------------------------------------------------


def _tenant_id(session: Session, principal: Principal, slug: str) -> int:
    tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if tenant_id is None or not principal.sees_tenant(tenant_id):
        raise NotFound(N_("tenant '{ref}' not found"), ref=slug)
    return int(tenant_id)


def _provider_id(session: Session, slug: str) -> int:
    provider_id = session.scalar(select(Provider.id).where(Provider.slug == slug))
    if provider_id is None:
        raise NotFound(N_("provider '{ref}' not found"), ref=slug)
    return int(provider_id)


def _serving(session: Session, tenant_id: int) -> list[int]:
    return list(
        session.scalars(
            select(ProviderTenant.provider_id).where(ProviderTenant.tenant_id == tenant_id)
        )
    )


def _submitting_provider(
    session: Session, principal: Principal, kri: KriDefinition, provider: str | None
) -> int | None:
    own = principal.provider_id
    named = _provider_id(session, provider) if provider else None
    if own is not None:
        if kri.scope == "end_to_end" and kri.owner_provider_id is None:
            raise Forbidden(
                N_("KRI '{id}' is end to end with no owner: the integrator submits it"), id=kri.id
            )
        if kri.owner_provider_id is not None and kri.owner_provider_id != own:
            raise Forbidden(N_("KRI '{id}' is reported by another provider"), id=kri.id)
        if named is not None and named != own:
            raise Forbidden(N_("a provider submits its own values only"))
        return own
    if not principal.is_global:
        raise Forbidden(N_("only providers and the integrator submit KRI values"))
    if kri.owner_provider_id is not None:
        if named is not None and named != kri.owner_provider_id:
            raise Invalid(N_("KRI '{id}' is reported by its owner provider only"), id=kri.id)
        return kri.owner_provider_id
    return named


def resolve_subject(
    session: Session,
    principal: Principal,
    kri: KriDefinition,
    tenant: str | None,
    provider: str | None,
) -> Subject:
    """The (tenant_id, provider_id) a submission is for, with the checks of the docstring."""
    provider_id = _submitting_provider(session, principal, kri, provider)
    if kri.scope == "end_to_end":
        if tenant is not None:
            raise Invalid(N_("an end-to-end KRI names no tenant"))
        return None, None
    if kri.scope == "provider":
        if tenant is not None:
            raise Invalid(N_("a provider KRI names no tenant"))
        if provider_id is None:
            raise Invalid(N_("name the provider whose value of '{id}' this is"), id=kri.id)
        return None, provider_id
    if tenant is None:
        raise Invalid(N_("'{id}' is reported per customer: name the tenant"), id=kri.id)
    tenant_id = _tenant_id(session, principal, tenant)
    serving = _serving(session, tenant_id)
    if provider_id is None:
        if len(serving) != 1:
            raise Invalid(N_("name the provider whose value for '{tenant}' this is"), tenant=tenant)
        provider_id = serving[0]
    elif provider_id not in serving:
        if principal.provider_id is not None:
            raise NotFound(N_("tenant '{ref}' not found"), ref=tenant)
        raise Invalid(N_("tenant '{tenant}' is not served by that provider"), tenant=tenant)
    return tenant_id, provider_id


def expected_subjects(
    kri: KriDefinition, providers: Iterable[int], pairs: Iterable[tuple[int, int]]
) -> list[Subject]:
    """Who owes a value of this KRI each period. `pairs`: (provider_id, tenant_id) served."""
    if kri.scope == "end_to_end":
        return [(None, None)]
    owner = kri.owner_provider_id
    if kri.scope == "provider":
        return [(None, owner)] if owner else [(None, p) for p in sorted(providers)]
    return sorted((t, p) for p, t in pairs if owner is None or p == owner)


def all_subjects(session: Session, kris: list[KriDefinition]) -> dict[str, list[Subject]]:
    providers = list(session.scalars(select(Provider.id)))
    pairs = [
        (p, t)
        for p, t in session.execute(select(ProviderTenant.provider_id, ProviderTenant.tenant_id))
    ]
    return {k.id: expected_subjects(k, providers, pairs) for k in kris}


LOOK_BACK_DAYS = 90
LOOK_BACK_MONTHS = 8  # a period's end + 60 working days (the catalogue's most) + 90 days


def periods_to_check(session: Session, settings: Settings, today: date) -> list[str]:
    """The periods the daily check looks at, oldest first: every period before today's month
    in which some submitted KRI's due date passed within the last LOOK_BACK_DAYS days (so a
    missed day, or a KRI with a long `due_working_days`, is still checked)."""
    calendar = calendar_of(settings)
    kris = session.scalars(
        select(KriDefinition).where(
            KriDefinition.source == "submitted", KriDefinition.enabled.is_(True)
        )
    ).all()
    month = today.strftime("%Y-%m")
    out = []
    for back in range(LOOK_BACK_MONTHS, 0, -1):
        period = rules.previous_period(month, back)
        dues = [
            rules.due_after_period(calendar, period, k.due_working_days)
            for k in kris
            if expected_in(k, period)
        ]
        if any(0 < (today - due).days <= LOOK_BACK_DAYS for due in dues):
            out.append(period)
    return out


# --- checks -------------------------------------------------------------------------------


def quality_errors(kri: KriDefinition, value: Decimal | None) -> list[str]:
    checks = kri.quality or {}
    if value is None:
        return ["a value is required"] if checks.get("required", True) else []
    errors = []
    low, high = checks.get("min"), checks.get("max")
    if low is not None and value < Decimal(str(low)):
        errors.append(f"below the minimum {low}")
    if high is not None and value > Decimal(str(high)):
        errors.append(f"above the maximum {high}")
    return errors


def history(session: Session, kri_id: str, period: str, subject: Subject) -> list[KriValue]:
    tenant_id, provider_id = subject
    query = select(KriValue).where(
        KriValue.kri_id == kri_id,
        KriValue.period == period,
        KriValue.tenant_id.is_(None) if tenant_id is None else KriValue.tenant_id == tenant_id,
        KriValue.provider_id.is_(None)
        if provider_id is None
        else KriValue.provider_id == provider_id,
    )
    return list(session.scalars(query.order_by(KriValue.id)))


def raise_nc(
    session: Session,
    kri: KriDefinition,
    period: str,
    subject: Subject,
    earlier: list[KriValue],
    reasons: list[str],
    now: datetime,
) -> int:
    """The subject's NC for this KRI and period: the one already raised, or a new one."""
    for row in earlier:
        if row.nc_id is not None:
            return row.nc_id
    tenant_id, provider_id = subject
    provider_id = provider_id or kri.owner_provider_id
    n = names(session)
    tenant = n.tenants.get(tenant_id) if tenant_id else None
    provider = n.providers.get(provider_id) if provider_id else None
    who = f" ({tenant})" if tenant else ""
    nc = create_nc(
        session,
        SYSTEM,
        NCIn(
            title=f"KRI {kri.id} {period}{who}: {', '.join(reasons)}"[:200],
            description=f"KRI input of {provider or 'the integrator'} for {period}: "
            + "; ".join(reasons),
            kind="process",
            source="kri",
            scope="specific" if tenant else "common",
            tenant=tenant,
            provider=provider,
        ),
        now=now,
    )
    return nc.id


def score(kri: KriDefinition, value: Decimal | None) -> dict[str, Any]:
    if value is None:
        return {"rag": None, "achievement": None, "met": None}
    direction: rules.Direction = (
        "lower_better" if kri.direction == "lower_better" else "higher_better"
    )
    norm = Decimal(kri.norm)
    return {
        "rag": rules.rag(value, Decimal(kri.green), Decimal(kri.amber), direction),
        "achievement": str(rules.achievement(value, norm, direction)),
        "met": rules.met(value, norm, direction),
    }
