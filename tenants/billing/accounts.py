"""Billing accounts: start of service, contract ceiling, plan decisions (audited), and the
customers' notices."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from soc.core import audit
from soc.core.db import utcnow
from soc.core.errors import Conflict, Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal
from tenants.billing import rules
from tenants.billing.models import BillingAccount, Invoice, Notification, PlanDecision
from tenants.billing.months import closed_months, month_of
from tenants.billing.rules import dec
from tenants.models import Tenant
from tenants.tenancy import get_tenant, list_tenants


@dataclass
class Account:
    tenant: Tenant
    service_start: str
    ceiling: Decimal | None
    plans: list[tuple[str, str]]  # (effective month, plan), default standard first
    decisions: list[PlanDecision] = field(default_factory=list)


def accounts_of(session: Session, tenants: Sequence[Tenant]) -> dict[int, Account]:
    ids = [t.id for t in tenants]
    stored = {a.tenant_id: a for a in session.scalars(select(BillingAccount))} if ids else {}
    decisions: dict[int, list[PlanDecision]] = defaultdict(list)
    for d in session.scalars(select(PlanDecision).order_by(PlanDecision.effective_month)):
        decisions[d.tenant_id].append(d)
    accounts = {}
    for tenant in tenants:
        row = stored.get(tenant.id)
        start = row.service_start if row else month_of(tenant.created_at.date())
        plans = [(start, "standard")] + [(d.effective_month, d.plan) for d in decisions[tenant.id]]
        accounts[tenant.id] = Account(
            tenant, start, row.ceiling if row else None, plans, decisions[tenant.id]
        )
    return accounts


VAT_REGIMES = ("standard", "exempt", "reverse_charge")


@dataclass
class Identity:
    """The customer as its invoices name it; `vat_rate` (percent) overrides the default."""

    legal_name: str = ""
    address: list[str] = field(default_factory=list)
    vat_number: str = ""
    language: str = "nl"
    vat_regime: str = "standard"
    vat_rate: Decimal | None = None

    def apply(self, row: BillingAccount) -> None:
        if self.language not in ("nl", "en"):
            raise Invalid(N_("the invoice language is nl or en"))
        if self.vat_regime not in VAT_REGIMES:
            raise Invalid(
                N_("the VAT regime is one of {vat_regimes}"), vat_regimes=", ".join(VAT_REGIMES)
            )
        if self.vat_rate is not None and not Decimal(0) <= self.vat_rate <= Decimal(100):
            raise Invalid(N_("a VAT rate is a percentage between 0 and 100"))
        if self.vat_regime == "reverse_charge" and not self.vat_number.strip():
            raise Invalid(N_("reverse charge needs the customer's VAT number"))
        row.legal_name = self.legal_name.strip()
        row.address = "\n".join(x.strip() for x in self.address if x.strip())
        row.vat_number = self.vat_number.strip()
        row.language = self.language
        row.vat_regime = self.vat_regime
        row.vat_rate = self.vat_rate

    def as_json(self) -> dict[str, object]:
        return {
            "legal_name": self.legal_name,
            "address": self.address,
            "vat_number": self.vat_number,
            "language": self.language,
            "vat_regime": self.vat_regime,
            "vat_rate": None if self.vat_rate is None else dec(self.vat_rate),
        }


def identity_of(session: Session, tenant: Tenant) -> Identity:
    row = session.get(BillingAccount, tenant.id)
    if row is None:
        return Identity(legal_name=tenant.name)
    return Identity(
        row.legal_name,
        [x for x in row.address.splitlines() if x.strip()],
        row.vat_number,
        row.language,
        row.vat_regime,
        row.vat_rate,
    )


def account(session: Session, actor: Principal, tenant: str) -> Account:
    """A customer's billing account: start of service, ceiling, plan decisions."""
    actor.require("billing.read")
    target = get_tenant(session, actor, tenant)
    return accounts_of(session, [target])[target.id]


def set_account(
    session: Session,
    actor: Principal,
    tenant: str,
    service_start: str | None = None,
    ceiling: Decimal | None = None,
    clear_ceiling: bool = False,
    identity: Identity | None = None,
) -> Account:
    """Set the first month of service, the contract ceiling (EUR per month) and/or the
    customer's invoicing identity (legal name, address, VAT number, language, VAT regime)."""
    actor.require("billing.manage")
    target = get_tenant(session, actor, tenant)
    row = session.get(BillingAccount, target.id)
    before = (
        {
            "service_start": row.service_start,
            "ceiling": None if row.ceiling is None else dec(row.ceiling),
        }
        if row
        else {}
    )
    if row is None:
        row = BillingAccount(
            tenant_id=target.id, service_start=month_of(target.created_at.date()), ceiling=None
        )
        session.add(row)
    if service_start is not None:
        rules.check_month(service_start)
        invoiced = session.scalar(
            select(func.count()).select_from(Invoice).where(Invoice.tenant_id == target.id)
        )
        if invoiced:
            raise Conflict(
                N_("'{slug}' already has invoices; its start of service is fixed"), slug=target.slug
            )
        closed = sorted(m for m in closed_months(session) if m >= service_start)
        if closed:
            raise Conflict(
                N_(
                    "{month} is already closed: a start of service in "
                    "{service_start} would leave '{slug}' without an invoice for "
                    "{closed}; start service in an open month (after {month}) "
                    "and bill earlier work as a correction"
                ),
                month=closed[-1],
                service_start=service_start,
                slug=target.slug,
                closed=", ".join(closed),
            )
        row.service_start = service_start
    if ceiling is not None:
        if ceiling <= 0:
            raise Invalid(N_("a ceiling must be a positive amount"))
        row.ceiling = rules.money(ceiling)
    if clear_ceiling:
        row.ceiling = None
    if identity is not None:
        identity.apply(row)
    row.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="billing.account_set",
        object_type="billing_account",
        object_id=target.slug,
        tenant_id=target.id,
        detail={
            "before": before,
            "identity": None if identity is None else identity.as_json(),
            "service_start": row.service_start,
            "ceiling": None if row.ceiling is None else dec(row.ceiling),
        },
    )
    return accounts_of(session, [target])[target.id]


def decide_plan(
    session: Session,
    actor: Principal,
    tenant: str,
    plan: str,
    effective_month: str,
    note: str = "",
) -> PlanDecision:
    """Record a move to `plan` from `effective_month` (an open month: closed ones are frozen)."""
    actor.require("billing.manage")
    target = get_tenant(session, actor, tenant)
    rules.check_month(effective_month)
    if plan not in rules.PLANS:
        raise Invalid(N_("plan must be one of {plans}"), plans=", ".join(rules.PLANS))
    if effective_month in closed_months(session):
        raise Conflict(
            N_("{effective_month} is closed; a plan change takes effect in an open month"),
            effective_month=effective_month,
        )
    start = accounts_of(session, [target])[target.id].service_start
    if effective_month < start:
        raise Invalid(
            N_("'{slug}' starts service in {start}; {effective_month} is before"),
            slug=target.slug,
            start=start,
            effective_month=effective_month,
        )
    row = session.scalar(
        select(PlanDecision).where(
            PlanDecision.tenant_id == target.id, PlanDecision.effective_month == effective_month
        )
    )
    previous = row.plan if row else None
    if row is None:
        row = PlanDecision(tenant_id=target.id, effective_month=effective_month)
        session.add(row)
    row.plan, row.note, row.decided_by, row.decided_at = plan, note, actor.actor, utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="billing.plan_decided",
        object_type="billing_plan",
        object_id=row.id,
        tenant_id=target.id,
        detail={
            "plan": plan,
            "effective_month": effective_month,
            "previous": previous,
            "note": note,
        },
    )
    return row


def visible_tenants(session: Session, actor: Principal) -> list[Tenant]:
    actor.require("billing.read")
    return list_tenants(session, actor)


def notifications(session: Session, actor: Principal, tenant: str) -> list[Notification]:
    actor.require("billing.read")
    target = get_tenant(session, actor, tenant)
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.tenant_id == target.id)
            .order_by(Notification.month, Notification.id)
        )
    )
