"""Who may publish which monthly report, and for which period: a customer's report only by
a publisher who sees that tenant, a provider's by an unscoped publisher or that provider's
own staff, the end-to-end report by unscoped publishers only; and only for a month that is
over (a published report is immutable: one for a running month would pre-empt the real one)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kri.deps import local_day
from kri.rules import parse_period
from soc.core.errors import Forbidden, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.models import Provider, Tenant


def check_period_over(settings: Settings, period: str, now: datetime) -> None:
    try:
        year, month = parse_period(period)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    if not 2000 <= year <= 2099:
        raise Invalid(N_("a report's period lies between 2000-01 and 2099-12"))
    today = local_day(settings, now)
    if (year, month) >= (today.year, today.month):
        raise Invalid(
            N_("the month {period} is not over yet: a report covers a month that is"), period=period
        )


def check_publisher(
    session: Session,
    principal: Principal,
    kind: str,
    tenant: str | None,
    provider: str | None,
) -> None:
    """Forbidden/NotFound before anything is built (a tenant the publisher cannot see is a
    NotFound, whether it exists or not)."""
    principal.require("reports.publish")
    if kind == "end_to_end":
        if not principal.is_global:
            raise Forbidden(N_("the end-to-end report spans every tenant: only unscoped users"))
        return
    if kind == "customer" and tenant is not None:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == tenant))
        if tenant_id is None or not principal.sees_tenant(tenant_id):
            raise NotFound(N_("tenant {name} not found"), name=tenant)
    if kind == "provider" and provider is not None and not principal.is_global:
        provider_id = session.scalar(select(Provider.id).where(Provider.slug == provider))
        if provider_id is None or provider_id != principal.provider_id:
            raise NotFound(N_("provider {name} not found"), name=provider)
