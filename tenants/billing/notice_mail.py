"""Billing notices by e-mail, to the customer's users and the SOC's finance users, in their
language: the projected month spend passing the contract ceiling (an early warning, once
per customer and month) and the advice that a customer on standard SIEM is eligible for
enterprise SIEM (once per episode)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from soc.core.i18n import N_, money, number
from tenants.mail import Readers, Template, mail_users
from tenants.models import Tenant

CEILING = Template(
    "billing_ceiling",
    N_("[Billing] {tenant}: projected spend for {month} above the ceiling"),
    N_(
        "The projected spend of {tenant} for {month} is {projected}, above the contract"
        " ceiling of {ceiling}. Usage so far decides the projection; the invoice follows at"
        " the month's close."
    ),
)
ELIGIBLE = Template(
    "billing_enterprise_eligible",
    N_("[Billing] {tenant} is eligible for enterprise SIEM"),
    N_(
        "Over the last three months {tenant} averaged {gb} GB a day and {cases} cases a"
        " month, which makes it eligible for the enterprise SIEM plan (closing {month}). It"
        " stays on standard SIEM until the plan is changed."
    ),
)


def readers(tenant: Tenant) -> Readers:
    return Readers(tenant_id=tenant.id, tenant_roles=("customer",), global_roles=("finance",))


def mail_ceiling(
    session: Session, tenant: Tenant, month: str, ceiling: Decimal, projected: Decimal
) -> int:
    def fields(lang: str) -> dict[str, object]:
        return {
            "tenant": tenant.name,
            "month": month,
            "ceiling": money(ceiling, lang),
            "projected": money(projected, lang),
        }

    key = f"billing.ceiling.{tenant.id}.{month}"
    return mail_users(session, readers(tenant), CEILING, key, fields)


def mail_eligible(
    session: Session, tenant: Tenant, month: str, avg_gb: Decimal, avg_cases: Decimal
) -> int:
    def fields(lang: str) -> dict[str, object]:
        return {
            "tenant": tenant.name,
            "month": month,
            "gb": number(avg_gb, lang),
            "cases": number(avg_cases, lang),
        }

    key = f"billing.enterprise_eligible.{tenant.id}.{month}"
    return mail_users(session, readers(tenant), ELIGIBLE, key, fields)
