"""Billing tables: accounts, plan decisions, closed months, invoices and their lines,
corrections and notifications. Money is stored as integer cents, quantities as decimal text,
so both SQLite and PostgreSQL keep every figure exact."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from soc.core.db import Base, UTCDateTime, utcnow


class Cents(TypeDecorator[Decimal]):
    """A Decimal amount in euros stored as integer cents."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: object) -> int | None:
        if value is None:
            return None
        cents = Decimal(value) * 100
        if cents != cents.to_integral_value():
            raise ValueError(f"{value} has more than two decimals")
        return int(cents)

    def process_result_value(self, value: int | None, dialect: object) -> Decimal | None:
        return None if value is None else (Decimal(value) / 100).quantize(Decimal("0.01"))


class DecimalText(TypeDecorator[Decimal]):
    """A Decimal kept exactly as its text (quantities, unit prices, averages)."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: object) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: object) -> Decimal | None:
        return None if value is None else Decimal(value)


class BillingAccount(Base):
    """Per customer: the first month of service and the optional contract ceiling."""

    __tablename__ = "billing_accounts"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    service_start: Mapped[str] = mapped_column(String(7))
    ceiling: Mapped[Decimal | None] = mapped_column(Cents())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # the customer as invoiced: legal identity, address lines (one per line), VAT number,
    # invoice language and VAT regime ('standard' at `vat_rate` or the default rate,
    # 'exempt', 'reverse_charge')
    legal_name: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    vat_number: Mapped[str] = mapped_column(String(40), default="")
    language: Mapped[str] = mapped_column(String(2), default="nl")
    vat_regime: Mapped[str] = mapped_column(String(16), default="standard")
    vat_rate: Mapped[Decimal | None] = mapped_column(DecimalText())


class PlanDecision(Base):
    """A recorded move between standard and enterprise, effective from a month."""

    __tablename__ = "billing_plans"
    __table_args__ = (UniqueConstraint("tenant_id", "effective_month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    effective_month: Mapped[str] = mapped_column(String(7))
    plan: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str] = mapped_column(String(160))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")


class ClosedMonth(Base):
    """A closed billing month: its invoices are frozen; the prices used are kept with it."""

    __tablename__ = "billing_months"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_by: Mapped[str] = mapped_column(String(160))
    prices: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))


class Invoice(Base):
    """One customer's month as closed: the frozen usage, averages, plan and total.

    `status` is 'issued', or 'blocked' (no contractual tier; `error` says why) until a later
    close run, with a price table that has the tier, issues it."""

    __tablename__ = "billing_invoices"
    __table_args__ = (UniqueConstraint("tenant_id", "month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    month: Mapped[str] = mapped_column(String(7), index=True)
    status: Mapped[str] = mapped_column(String(16))
    plan: Mapped[str] = mapped_column(String(16))
    events: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    cases: Mapped[int] = mapped_column(Integer)
    months_in_average: Mapped[int] = mapped_column(Integer)
    avg_gb_3m: Mapped[Decimal] = mapped_column(DecimalText())
    avg_cases_3m: Mapped[Decimal] = mapped_column(DecimalText())
    enterprise_eligible: Mapped[bool] = mapped_column(Boolean)
    notify: Mapped[bool] = mapped_column(Boolean)
    case_tier: Mapped[str | None] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal | None] = mapped_column(Cents())
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # the legal document (issued invoices only): its number from the issuer's gap-free
    # sequence, dates, VAT and the parties as they were at issue (JSON)
    number: Mapped[str | None] = mapped_column(String(24), index=True)
    issued_on: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    vat_regime: Mapped[str | None] = mapped_column(String(16))
    vat_rate: Mapped[Decimal | None] = mapped_column(DecimalText())
    vat_amount: Mapped[Decimal | None] = mapped_column(Cents())
    total_due: Mapped[Decimal | None] = mapped_column(Cents())
    parties: Mapped[str | None] = mapped_column(Text)


class InvoiceCounter(Base):
    """The last invoice number issued per issuer and year (locked while numbering)."""

    __tablename__ = "billing_invoice_counters"

    issuer: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class InvoiceLineRow(Base):
    __tablename__ = "billing_invoice_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("billing_invoices.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(DecimalText())
    unit_price: Mapped[Decimal] = mapped_column(DecimalText())
    amount: Mapped[Decimal] = mapped_column(Cents())


class Correction(Base):
    """A credit (negative) or debit line for an already closed month, billed in a later open
    month's invoice (`invoice_id` is set when that month closes)."""

    __tablename__ = "billing_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    month: Mapped[str] = mapped_column(String(7), index=True)
    refers_to: Mapped[str] = mapped_column(String(7))
    amount: Mapped[Decimal] = mapped_column(Cents())
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("billing_invoices.id"))


class Notification(Base):
    """A recorded notice to a customer: 'enterprise_eligible' (once per episode) or
    'ceiling' (projected spend above the contract ceiling, once per month)."""

    __tablename__ = "billing_notifications"
    __table_args__ = (UniqueConstraint("tenant_id", "month", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
