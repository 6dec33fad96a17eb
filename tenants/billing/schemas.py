"""API shapes for billing. Decimals travel as strings; 1 GB = 10^9 bytes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from tenants.billing.accounts import Account, Identity
from tenants.billing.invoices import InvoiceView
from tenants.billing.rules import MonthBill, dec, to_gb
from tenants.billing.usage import RunningUsage

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


class LineOut(BaseModel):
    kind: str
    description: str
    quantity: str
    unit_price: str
    amount: str


class InvoiceOut(BaseModel):
    customer: str
    month: str
    status: str
    plan: str
    events: int
    bytes: int
    gb: str
    cases: int
    months_in_average: int
    avg_gb_3m: str
    avg_cases_3m: str
    enterprise_eligible: bool
    notify: bool
    case_tier: str | None
    currency: str
    lines: list[LineOut]
    total: str | None = Field(description="the net amount (excluding VAT)")
    error: str | None
    number: str | None = Field(default=None, description="from the issuer's gap-free sequence")
    issued_on: date | None = None
    due_on: date | None = None
    vat_regime: str | None = Field(default=None, description="standard, exempt, reverse_charge")
    vat_rate: str | None = Field(default=None, description="percent")
    vat_amount: str | None = None
    total_due: str | None = Field(default=None, description="the total including VAT")

    @classmethod
    def of(cls, view: InvoiceView) -> InvoiceOut:
        inv = view.invoice
        return cls(
            customer=view.tenant.slug,
            month=inv.month,
            status=inv.status,
            plan=inv.plan,
            events=inv.events,
            bytes=inv.bytes,
            gb=dec(to_gb(inv.bytes)),
            cases=inv.cases,
            months_in_average=inv.months_in_average,
            avg_gb_3m=dec(inv.avg_gb_3m),
            avg_cases_3m=dec(inv.avg_cases_3m),
            enterprise_eligible=inv.enterprise_eligible,
            notify=inv.notify,
            case_tier=inv.case_tier,
            currency=inv.currency,
            lines=[
                LineOut(
                    kind=line.kind,
                    description=line.description,
                    quantity=dec(line.quantity),
                    unit_price=dec(line.unit_price),
                    amount=dec(line.amount),
                )
                for line in view.lines
            ],
            total=None if inv.total is None else dec(inv.total),
            error=inv.error,
            number=inv.number,
            issued_on=inv.issued_on,
            due_on=inv.due_on,
            vat_regime=inv.vat_regime,
            vat_rate=None if inv.vat_rate is None else dec(inv.vat_rate),
            vat_amount=None if inv.vat_amount is None else dec(inv.vat_amount),
            total_due=None if inv.total_due is None else dec(inv.total_due),
        )


class HostUsageOut(BaseModel):
    host: str
    events: int
    bytes: int
    gb: str


class DayUsageOut(BaseModel):
    day: str = Field(description="UTC day, YYYY-MM-DD")
    events: int
    bytes: int


class ProjectionOut(BaseModel):
    bytes: int
    gb: str
    cases: int
    avg_gb_3m: str | None = None
    avg_cases_3m: str | None = None
    enterprise_eligible: bool | None = None
    case_tier: str | None = None
    lines: list[LineOut] = []
    total: str | None = None
    error: str | None = None


class RunningUsageOut(BaseModel):
    customer: str
    month: str
    closed: bool
    as_of: str
    days_elapsed: int
    days_in_month: int
    plan: str
    events: int
    bytes: int
    gb: str
    cases: int
    hosts: list[HostUsageOut]
    projected: ProjectionOut
    ceiling: str | None
    ceiling_exceeded: bool
    days: list[DayUsageOut] | None = Field(
        default=None, description="events and bytes per UTC day (one customer's usage only)"
    )

    @classmethod
    def of(cls, u: RunningUsage) -> RunningUsageOut:
        bill: MonthBill | None = u.bill
        projected = ProjectionOut(
            bytes=u.projected.bytes,
            gb=dec(to_gb(u.projected.bytes)),
            cases=u.projected.cases,
            error=u.prices_error,
        )
        if bill is not None:
            data: dict[str, Any] = bill.as_json()
            projected = ProjectionOut(
                bytes=u.projected.bytes,
                gb=dec(to_gb(u.projected.bytes)),
                cases=u.projected.cases,
                avg_gb_3m=data["avg_gb_3m"],
                avg_cases_3m=data["avg_cases_3m"],
                enterprise_eligible=bill.enterprise_eligible,
                case_tier=bill.case_tier,
                lines=[LineOut(**line) for line in data["lines"]],
                total=data["total"],
                error=bill.error,
            )
        return cls(
            customer=u.tenant.slug,
            month=u.month,
            closed=u.closed,
            as_of=u.as_of.isoformat(),
            days_elapsed=u.days_elapsed,
            days_in_month=u.days_in_month,
            plan=u.plan,
            events=u.usage.events,
            bytes=u.usage.bytes,
            gb=dec(to_gb(u.usage.bytes)),
            cases=u.usage.cases,
            hosts=[
                HostUsageOut(host=h, events=e, bytes=b, gb=dec(to_gb(b))) for h, e, b in u.hosts
            ],
            projected=projected,
            ceiling=None if u.ceiling is None else dec(u.ceiling),
            ceiling_exceeded=u.ceiling_exceeded,
        )


class PlanOut(BaseModel):
    effective_month: str
    plan: str
    decided_by: str | None
    note: str


class AccountOut(BaseModel):
    customer: str
    service_start: str
    ceiling: str | None
    plans: list[PlanOut]

    @classmethod
    def of(cls, a: Account) -> AccountOut:
        plans = [
            PlanOut(
                effective_month=a.service_start, plan="standard", decided_by=None, note="default"
            )
        ]
        plans += [
            PlanOut(
                effective_month=d.effective_month, plan=d.plan, decided_by=d.decided_by, note=d.note
            )
            for d in a.decisions
        ]
        return cls(
            customer=a.tenant.slug,
            service_start=a.service_start,
            ceiling=None if a.ceiling is None else dec(a.ceiling),
            plans=plans,
        )


class IdentityIn(BaseModel):
    legal_name: str = Field(default="", max_length=200)
    address: list[str] = Field(default_factory=list, max_length=6)
    vat_number: str = Field(default="", max_length=40)
    language: Literal["nl", "en"] = "nl"
    vat_regime: Literal["standard", "exempt", "reverse_charge"] = "standard"
    vat_rate: Decimal | None = Field(default=None, ge=0, le=100, max_digits=5, decimal_places=2)

    def identity(self) -> Identity:
        return Identity(
            self.legal_name,
            [line[:200] for line in self.address],
            self.vat_number,
            self.language,
            self.vat_regime,
            self.vat_rate,
        )


class AccountIn(BaseModel):
    service_start: str | None = Field(default=None, pattern=MONTH)
    ceiling: Decimal | None = Field(default=None, gt=0, max_digits=14, decimal_places=2)
    clear_ceiling: bool = False
    invoicing: IdentityIn | None = Field(default=None, description="the customer as invoiced")


class PlanIn(BaseModel):
    plan: Literal["standard", "enterprise"]
    effective_month: str = Field(pattern=MONTH)
    note: str = Field(default="", max_length=2000)


class CorrectionIn(BaseModel):
    refers_to: str = Field(pattern=MONTH)
    month: str = Field(pattern=MONTH, description="the open month whose invoice carries it")
    amount: Decimal = Field(max_digits=14, decimal_places=2, description="negative = credit")
    reason: str = Field(min_length=1, max_length=2000)


class CorrectionOut(BaseModel):
    id: int
    customer: str
    refers_to: str
    month: str
    amount: str
    reason: str


class CloseOut(BaseModel):
    month: str
    issued: int
    blocked: list[str]
    already_closed: bool
    total: str
    notified: list[str]


class NotificationOut(BaseModel):
    month: str
    kind: str
    detail: dict[str, Any]
    created_at: str
