"""The monthly close: freeze the month's usage and issue one invoice per customer in service,
with the open corrections billed in it and the 'enterprise_eligible' notices it starts.

A closed month is immutable: re-running the close returns the same invoices and only retries
those blocked for want of a contractual tier (with the current price table).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson
from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from soc.core import audit
from soc.core.db import Base, utcnow
from soc.core.errors import Invalid
from soc.core.i18n import N_
from soc.core.principal import SYSTEM, Principal
from soc.core.settings import Settings, get_settings
from tenants.billing import months, numbering, rules
from tenants.billing.models import (
    BillingAccount,
    ClosedMonth,
    Correction,
    Invoice,
    InvoiceLineRow,
    Notification,
)
from tenants.billing.months import load_prices, month_of
from tenants.billing.notice_mail import mail_eligible
from tenants.billing.rules import MonthBill, PriceTable, dec
from tenants.billing.usage import bill_for, billable_tenants, usage_history
from tenants.models import Tenant

Bills = list[tuple[Tenant, MonthBill]]


@dataclass
class CloseResult:
    month: str
    issued: int
    blocked: list[str]
    already_closed: bool
    total: Decimal
    notified: list[str]

    def summary(self) -> str:
        state = "already closed" if self.already_closed else "closed"
        return (
            f"{self.month} {state}: {self.issued} invoice(s) issued, total {self.total}, "
            f"{len(self.blocked)} blocked, {len(self.notified)} customer(s) notified"
        )


def _digest(session: Session, month: str) -> str:
    lines: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(
        select(
            InvoiceLineRow.invoice_id,
            InvoiceLineRow.kind,
            InvoiceLineRow.quantity,
            InvoiceLineRow.unit_price,
            InvoiceLineRow.amount,
        )
        .join(Invoice, Invoice.id == InvoiceLineRow.invoice_id)
        .where(Invoice.month == month)
        .order_by(InvoiceLineRow.invoice_id, InvoiceLineRow.position)
    ):
        lines[row[0]].append([str(v) for v in row[1:]])
    body = [
        [tid, status, plan, size, cases, str(total), lines[iid]]
        for iid, tid, status, plan, size, cases, total in session.execute(
            select(
                Invoice.id,
                Invoice.tenant_id,
                Invoice.status,
                Invoice.plan,
                Invoice.bytes,
                Invoice.cases,
                Invoice.total,
            )
            .where(Invoice.month == month)
            .order_by(Invoice.tenant_id)
        )
    ]
    return hashlib.sha256(orjson.dumps(body)).hexdigest()


def close_month(
    session: Session,
    month: str,
    prices: PriceTable | None = None,
    actor: Principal = SYSTEM,
    today: date | None = None,
    settings: Settings | None = None,
) -> CloseResult:
    """Freeze the month's usage and produce an invoice per customer in service.

    Re-running returns the same invoices; only invoices blocked for want of a contractual
    tier are retried (with the current price table). The Celery beat task calls this too.
    """
    actor.require("billing.close")
    rules.check_month(month)
    today = today or months.today_utc()
    if month >= month_of(today):
        raise Invalid(
            N_("{month} is not over yet; a month closes from the 1st of the next month"),
            month=month,
        )
    prices = prices or load_prices()
    closed = session.get(ClosedMonth, month)
    was_closed = closed is not None
    bills = _bill_customers(session, month, prices, retry_only=was_closed)
    corrections = _open_corrections(session, month)
    issuing = Issuing(settings or get_settings(), today)
    issued_total = _store_invoices(session, month, bills, corrections, prices.currency, issuing)
    notified = _notify_eligible(session, month, [(t, b) for t, b in bills if b.notify])
    session.flush()
    digest = _digest(session, month)
    if closed is None:
        closed = ClosedMonth(
            month=month,
            closed_by=actor.actor,
            prices=orjson.dumps(prices.as_json()).decode(),
            digest=digest,
        )
        session.add(closed)
    else:
        closed.digest = digest
    blocked = [b.error for _, b in bills if b.error]
    if bills or not was_closed:
        audit.record(
            session,
            actor=actor.actor,
            action="billing.month_reclosed" if was_closed else "billing.month_closed",
            object_type="billing_month",
            object_id=month,
            detail={
                "issued": len(bills) - len(blocked),
                "blocked": blocked,
                "total": dec(issued_total),
                "notified": notified,
                "digest": digest,
                "prices": prices.as_json(),
            },
        )
    session.flush()
    return _result(session, month, was_closed and not bills, notified)


def _bill_customers(session: Session, month: str, prices: PriceTable, retry_only: bool) -> Bills:
    """Bill every customer in service that has no invoice yet (all of them at the first close,
    only the blocked ones when `retry_only`); a blocked invoice retried is deleted here, to be
    replaced as a whole (it has no lines)."""
    tenants, accounts = billable_tenants(session, month)
    existing = {
        inv.tenant_id: inv for inv in session.scalars(select(Invoice).where(Invoice.month == month))
    }
    todo = [t for t in tenants if t.id not in existing or existing[t.id].status == "blocked"]
    if retry_only:
        todo = [t for t in todo if t.id in existing]
    span = rules.month_range(rules.add_months(month, -3), month)
    history = usage_history(session, span, [t.id for t in todo] if retry_only else None)
    bills = [(t, bill_for(accounts[t.id], month, history.get(t.id, {}), prices)) for t in todo]
    for tenant, _ in bills:
        if tenant.id in existing:
            session.delete(existing[tenant.id])
    session.flush()
    return bills


def _open_corrections(session: Session, month: str) -> defaultdict[int, list[Correction]]:
    """The corrections billed in `month` and not on an invoice yet, per tenant."""
    corrections: defaultdict[int, list[Correction]] = defaultdict(list)
    for corr in session.scalars(
        select(Correction)
        .where(Correction.month == month, Correction.invoice_id.is_(None))
        .order_by(Correction.id)
    ):
        corrections[corr.tenant_id].append(corr)
    return corrections


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _store_invoices(
    session: Session,
    month: str,
    bills: Bills,
    corrections: defaultdict[int, list[Correction]],
    currency: str,
    issuing: Issuing,
) -> Decimal:
    """Insert the invoices and their lines (the bill's, then the corrections', which now point
    at their invoice) in two plain executemany statements, fast on both backends. Returns the
    total issued."""
    rows = []
    issued_total = Decimal("0.00")
    for tenant, bill in bills:
        total = bill.total
        if total is not None:
            total += sum((c.amount for c in corrections[tenant.id]), Decimal("0.00"))
            issued_total += total
        rows.append(_invoice_row(tenant, month, bill, total, currency))
    _number(session, issuing, rows, {t.id: t for t, _ in bills})
    if rows:
        session.execute(insert(_table(Invoice)), rows)
    ids = _invoice_ids(session, month, [t.id for t, _ in bills])
    line_rows = []
    for tenant, bill in bills:
        if bill.error:
            continue
        invoice_id = ids[tenant.id]
        for pos, line in enumerate(bill.lines, start=1):
            line_rows.append(_line_row(invoice_id, pos, line))
        for pos, corr in enumerate(corrections[tenant.id], start=len(bill.lines) + 1):
            line_rows.append(_correction_row(invoice_id, pos, corr))
            corr.invoice_id = invoice_id
    if line_rows:
        session.execute(insert(_table(InvoiceLineRow)), line_rows)
    return issued_total


def _invoice_row(
    tenant: Tenant, month: str, bill: MonthBill, total: Decimal | None, currency: str
) -> dict[str, Any]:
    return {
        "tenant_id": tenant.id,
        "month": month,
        "status": "blocked" if bill.error else "issued",
        "plan": bill.plan,
        "events": bill.usage.events,
        "bytes": bill.usage.bytes,
        "cases": bill.usage.cases,
        "months_in_average": bill.months_in_average,
        "avg_gb_3m": bill.avg_gb_3m,
        "avg_cases_3m": bill.avg_cases_3m,
        "enterprise_eligible": bill.enterprise_eligible,
        "notify": bill.notify,
        "case_tier": bill.case_tier,
        "currency": currency,
        "total": total,
        "error": bill.error,
        "created_at": utcnow(),
        "number": None,
        "issued_on": None,
        "due_on": None,
        "vat_regime": None,
        "vat_rate": None,
        "vat_amount": None,
        "total_due": None,
        "parties": None,
    }


@dataclass
class Issuing:
    """What an issued invoice takes from the settings: the supplier, terms and VAT rate."""

    settings: Settings
    today: date

    @property
    def supplier(self) -> dict[str, Any]:
        s = self.settings
        return {
            "name": s.invoice_supplier_name,
            "address": list(s.invoice_supplier_address),
            "vat_number": s.invoice_supplier_vat,
            "iban": s.invoice_supplier_iban,
            "bic": s.invoice_supplier_bic,
        }


def vat_of(regime: str, rate: Decimal, subtotal: Decimal) -> tuple[Decimal, Decimal]:
    """(rate applied, VAT amount rounded half up to cents) for a regime and net amount."""
    if regime != "standard":
        return Decimal("0"), Decimal("0.00")
    amount = (subtotal * rate / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return rate, amount


def _number(
    session: Session, issuing: Issuing, rows: list[dict[str, Any]], tenants: dict[int, Tenant]
) -> None:
    """Give every issued invoice its number (in customer order), dates, VAT and parties."""
    issued = [r for r in rows if r["status"] == "issued"]
    if not issued:
        return
    s = issuing.settings
    supplier = issuing.supplier
    numbers = numbering.take(
        session,
        numbering.issuer_key(s.invoice_supplier_vat, s.invoice_supplier_name),
        issuing.today.year,
        len(issued),
    )
    accounts = {
        a.tenant_id: a
        for a in session.scalars(
            select(BillingAccount).where(
                BillingAccount.tenant_id.in_([r["tenant_id"] for r in issued])
            )
        )
    }
    default_rate = Decimal(s.invoice_vat_rate)
    for row, number in zip(issued, numbers, strict=True):
        acc = accounts.get(row["tenant_id"])
        tenant = tenants[row["tenant_id"]]
        regime = acc.vat_regime if acc else "standard"
        rate = acc.vat_rate if acc and acc.vat_rate is not None else default_rate
        rate, vat = vat_of(regime, rate, row["total"])
        customer = {
            "name": (acc.legal_name if acc and acc.legal_name else tenant.name),
            "address": [x for x in (acc.address.splitlines() if acc else []) if x.strip()],
            "vat_number": acc.vat_number if acc else "",
            "language": acc.language if acc else "nl",
            "reference": tenant.slug,
        }
        row.update(
            number=number,
            issued_on=issuing.today,
            due_on=issuing.today + timedelta(days=s.invoice_payment_days),
            vat_regime=regime,
            vat_rate=rate,
            vat_amount=vat,
            total_due=row["total"] + vat,
            parties=orjson.dumps(
                {"supplier": supplier, "customer": customer, "payment_days": s.invoice_payment_days}
            ).decode(),
        )


def _invoice_ids(session: Session, month: str, tenant_ids: Sequence[int]) -> dict[int, int]:
    """The month's invoice id per tenant (read back after the executemany)."""
    query = select(Invoice.tenant_id, Invoice.id).where(Invoice.month == month)
    if len(tenant_ids) < 500:
        query = query.where(Invoice.tenant_id.in_(list(tenant_ids)))
    return {tid: iid for tid, iid in session.execute(query)}


def _correction_row(invoice_id: int, position: int, corr: Correction) -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
        "position": position,
        "kind": "correction",
        "description": f"Correction for {corr.refers_to}: {corr.reason}",
        "quantity": Decimal(1),
        "unit_price": corr.amount,
        "amount": corr.amount,
    }


def _result(session: Session, month: str, already_closed: bool, notified: list[str]) -> CloseResult:
    """The month's state after the close: every invoice issued so far, those still blocked."""
    issued, total, still_blocked = 0, Decimal("0.00"), []
    for status, amount, error in session.execute(
        select(Invoice.status, Invoice.total, Invoice.error).where(Invoice.month == month)
    ):
        if status == "issued":
            issued += 1
            total += amount if amount is not None else Decimal("0.00")
        elif error:
            still_blocked.append(error)
    return CloseResult(
        month=month,
        issued=issued,
        blocked=still_blocked,
        already_closed=already_closed,
        total=total,
        notified=notified,
    )


def _line_row(invoice_id: int, position: int, line: rules.InvoiceLine) -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
        "position": position,
        "kind": line.kind,
        "description": line.description,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "amount": line.amount,
    }


def _notify_eligible(
    session: Session, month: str, bills: Sequence[tuple[Tenant, MonthBill]]
) -> list[str]:
    """Record an 'enterprise_eligible' notice for each customer starting an episode."""
    if not bills:
        return []
    done = set(
        session.scalars(
            select(Notification.tenant_id).where(
                Notification.month == month, Notification.kind == "enterprise_eligible"
            )
        )
    )
    rows = [
        {
            "tenant_id": tenant.id,
            "month": month,
            "kind": "enterprise_eligible",
            "detail": orjson.dumps(
                {"avg_gb_3m": dec(bill.avg_gb_3m), "avg_cases_3m": dec(bill.avg_cases_3m)}
            ).decode(),
            "created_at": utcnow(),
        }
        for tenant, bill in bills
        if tenant.id not in done
    ]
    if rows:
        session.execute(insert(_table(Notification)), rows)
    for tenant, bill in bills:
        if tenant.id not in done:
            mail_eligible(session, tenant, month, bill.avg_gb_3m, bill.avg_cases_3m)
    return [tenant.slug for tenant, _ in bills if tenant.id not in done]
