"""Invoices as the customers and finance see them, and corrections (credit or debit lines
for a closed month, billed in a later open month)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.core import audit
from soc.core.errors import Conflict, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from tenants.billing import rules
from tenants.billing.accounts import visible_tenants
from tenants.billing.models import Correction, Invoice, InvoiceLineRow
from tenants.billing.months import closed_months
from tenants.billing.rules import dec
from tenants.models import Tenant
from tenants.tenancy import get_tenant


@dataclass
class InvoiceView:
    tenant: Tenant
    invoice: Invoice
    lines: list[InvoiceLineRow]


def invoices(session: Session, actor: Principal, month: str) -> list[InvoiceView]:
    """The month's invoices the actor may see (finance: all; a customer: its own)."""
    rules.check_month(month)
    tenants = {t.id: t for t in visible_tenants(session, actor)}
    rows = list(
        session.scalars(
            select(Invoice)
            .where(Invoice.month == month, Invoice.tenant_id.in_(list(tenants)))
            .order_by(Invoice.tenant_id)
        )
    )
    lines: dict[int, list[InvoiceLineRow]] = defaultdict(list)
    if rows:
        for line in session.scalars(
            select(InvoiceLineRow)
            .where(InvoiceLineRow.invoice_id.in_([r.id for r in rows]))
            .order_by(InvoiceLineRow.invoice_id, InvoiceLineRow.position)
        ):
            lines[line.invoice_id].append(line)
    views = [InvoiceView(tenants[r.tenant_id], r, lines[r.id]) for r in rows]
    return sorted(views, key=lambda v: v.tenant.slug)


def invoice(session: Session, actor: Principal, tenant: str, month: str) -> InvoiceView:
    actor.require("billing.read")
    rules.check_month(month)
    target = get_tenant(session, actor, tenant)
    row = session.scalar(
        select(Invoice).where(Invoice.tenant_id == target.id, Invoice.month == month)
    )
    if row is None:
        raise NotFound(N_("no invoice for '{slug}' in {month}"), slug=target.slug, month=month)
    lines = list(
        session.scalars(
            select(InvoiceLineRow)
            .where(InvoiceLineRow.invoice_id == row.id)
            .order_by(InvoiceLineRow.position)
        )
    )
    return InvoiceView(target, row, lines)


def add_correction(
    session: Session,
    actor: Principal,
    tenant: str,
    refers_to: str,
    amount: Decimal,
    reason: str,
    month: str,
) -> Correction:
    """A credit (negative) or debit for closed month `refers_to`, billed in open `month`."""
    actor.require("billing.manage")
    target = get_tenant(session, actor, tenant)
    rules.check_month(refers_to)
    rules.check_month(month)
    closed = closed_months(session)
    if refers_to not in closed:
        raise Invalid(
            N_("{refers_to} is not closed; change the usage or plan before the close"),
            refers_to=refers_to,
        )
    if month in closed:
        raise Conflict(N_("{month} is closed; a correction goes into an open month"), month=month)
    if month <= refers_to:
        raise Invalid(
            N_("a correction for {refers_to} is billed in a later month, not {month}"),
            refers_to=refers_to,
            month=month,
        )
    if not reason.strip():
        raise Invalid(N_("a correction needs a reason"))
    if amount != rules.money(amount) or amount == 0:
        raise Invalid(N_("the amount is a non-zero sum in euros with at most two decimals"))
    row = Correction(
        tenant_id=target.id,
        month=month,
        refers_to=refers_to,
        amount=amount,
        reason=reason.strip(),
        created_by=actor.actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="billing.correction_added",
        object_type="billing_correction",
        object_id=row.id,
        tenant_id=target.id,
        detail={"refers_to": refers_to, "month": month, "amount": dec(amount), "reason": reason},
    )
    return row
