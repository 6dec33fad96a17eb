"""SIEM/SOC billing rules (seed 000 §3.1.4.3): pure Decimal computation, no database.

Used by `soc billing simulate`, by the monthly close and by the tests, so the three can never
disagree. 1 GB = 10^9 bytes. Money is Decimal euros, rounded half up to cents per invoice line.

- Rolling average for month n: mean over months n, n-1, n-2 of service (fewer at the start).
- Eligible for enterprise: 3-month average volume >= 10 GB/month and/or average cases >= 3/month.
- Notify: the first month of each episode of eligibility while on the standard plan.
- Standard plan: one flat monthly fee line.
- Enterprise plan: (a) SIEM volume, max(0, month GB - included GB) at the vendor's price per GB;
  (b) the unit price of the tier of the 3-month average of cases (rounded to a whole case,
  halves up by default). Above the highest tier there is no invoice: `NoTier` names the customer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Decimal,
)
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from soc.core.errors import Invalid
from soc.core.i18n import N_

BYTES_PER_GB = 10**9
CENT = Decimal("0.01")
GB_PLACES = Decimal("0.000000001")  # a byte, in GB
CASE_AVG_PLACES = Decimal("0.01")
PLANS = ("standard", "enterprise")
STANDARD_GB_LIMIT = 10  # seed 000: standard is < 10 GB/month ...
STANDARD_CASE_LIMIT = 3  # ... and < 3 cases/month
ROUNDINGS = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "down": ROUND_FLOOR,
    "up": ROUND_CEILING,
}
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class NoTier(Invalid):
    """The customer's average cases fall above the highest contractual tier: no invoice."""


# --- months -------------------------------------------------------------------------------


def check_month(value: str) -> str:
    """Return `value` if it is a 'YYYY-MM' month, else raise Invalid."""
    # Year 0000 matches the pattern but no date has it (a 500 further on).
    if not isinstance(value, str) or not _MONTH.match(value) or value.startswith("0000"):
        raise Invalid(N_("'{value}' is not a month; write YYYY-MM, e.g. 2025-03"), value=value)
    return value


def month_index(month: str) -> int:
    check_month(month)
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def month_from_index(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def add_months(month: str, delta: int) -> str:
    return month_from_index(month_index(month) + delta)


def month_range(first: str, last: str) -> list[str]:
    """Every month from first to last, both included (empty if last < first)."""
    return [month_from_index(i) for i in range(month_index(first), month_index(last) + 1)]


# --- price table --------------------------------------------------------------------------


class CaseTier(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    low: int = Field(alias="from", ge=0)
    high: int = Field(alias="to", ge=0)
    unit_price: Decimal = Field(ge=0)

    @property
    def label(self) -> str:
        return f"{self.low}-{self.high}"


class PriceTable(BaseModel):
    """Contract prices (never in code): the same schema in settings and in simulate input."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    currency: str = Field(default="EUR", min_length=3, max_length=3)
    standard_monthly_fee: Decimal = Field(ge=0)
    vendor_price_per_gb: Decimal = Field(ge=0)
    included_gb: Decimal = Field(default=Decimal(10), ge=0)
    case_tiers: tuple[CaseTier, ...] = Field(min_length=1)
    case_average_rounding: Literal["half_up", "half_even", "down", "up"] = "half_up"
    case_unit: Literal["month", "case"] = Field(
        default="month",
        description="'month': the tier's unit price once a month; 'case': per average case",
    )

    @model_validator(mode="after")
    def _tiers_contiguous(self) -> PriceTable:
        expected = 0
        for tier in self.case_tiers:
            if tier.low != expected or tier.high < tier.low:
                raise ValueError(
                    f"case tiers must run contiguously from 0: tier {tier.label} "
                    f"should start at {expected} and end at or after its start"
                )
            expected = tier.high + 1
        return self

    @classmethod
    def parse(cls, data: Any, source: str = "price table") -> PriceTable:
        """Validate a mapping into a price table; Invalid with a one-line reason otherwise."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'table'}: {e['msg']}" for e in exc.errors()
            )
            raise Invalid(
                N_("{source} is not valid: {problems}"), source=source, problems=problems
            ) from None

    @property
    def max_cases(self) -> int:
        return self.case_tiers[-1].high

    def tier_for(self, cases: int) -> CaseTier | None:
        for tier in self.case_tiers:
            if tier.low <= cases <= tier.high:
                return tier
        return None

    def as_json(self) -> dict[str, Any]:
        """The table as JSON-ready data (decimals as strings, tier keys 'from'/'to')."""
        data = self.model_dump(mode="json", by_alias=True)
        return data


# --- computation --------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthUsage:
    bytes: int = 0
    cases: int = 0
    events: int = 0


@dataclass(frozen=True)
class InvoiceLine:
    kind: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal

    def as_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "description": self.description,
            "quantity": dec(self.quantity),
            "unit_price": dec(self.unit_price),
            "amount": dec(self.amount),
        }


@dataclass
class MonthBill:
    """One customer's month: usage, averages, eligibility and the invoice (or why there is none)."""

    customer: str
    month: str
    plan: str
    usage: MonthUsage
    months_in_average: int
    avg_bytes_3m: Decimal
    avg_cases_3m: Decimal
    enterprise_eligible: bool
    notify: bool
    case_tier: str | None
    lines: list[InvoiceLine] = field(default_factory=list)
    error: str | None = None

    @property
    def gb(self) -> Decimal:
        return to_gb(self.usage.bytes)

    @property
    def avg_gb_3m(self) -> Decimal:
        # Rounded down to the byte: a shown 10.000000000 always means eligible.
        return (self.avg_bytes_3m / BYTES_PER_GB).quantize(GB_PLACES, ROUND_FLOOR)

    @property
    def total(self) -> Decimal | None:
        return None if self.error else sum((line.amount for line in self.lines), Decimal("0.00"))

    def as_json(self) -> dict[str, Any]:
        """The simulate output shape; decimals as strings."""
        total = self.total
        out: dict[str, Any] = {
            "customer": self.customer,
            "month": self.month,
            "plan": self.plan,
            "bytes": self.usage.bytes,
            "gb": dec(self.gb),
            "cases": self.usage.cases,
            "avg_gb_3m": dec(self.avg_gb_3m),
            "avg_cases_3m": dec(self.avg_cases_3m),
            "enterprise_eligible": self.enterprise_eligible,
            "notify": self.notify,
            "case_tier": self.case_tier,
            "lines": [line.as_json() for line in self.lines],
            "total": None if total is None else dec(total),
        }
        if self.error:
            out["error"] = self.error
        return out


def dec(value: Decimal) -> str:
    """A Decimal as plain text, never in exponent form ('0.000000000', not '0E-9')."""
    return format(value, "f")


def to_gb(size: int) -> Decimal:
    """Bytes as GB (10^9 bytes), exact to the byte."""
    return Decimal(size).scaleb(-9).quantize(GB_PLACES)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def round_cases(average: Decimal, rounding: str = "half_up") -> int:
    """The average number of cases as a whole case for the tier lookup."""
    return int(average.quantize(Decimal(1), ROUNDINGS[rounding]))


def is_eligible(window: Sequence[MonthUsage]) -> bool:
    """Enterprise eligibility over the months of the window (exact, in integers)."""
    n = len(window)
    total_bytes = sum(u.bytes for u in window)
    total_cases = sum(u.cases for u in window)
    return (
        total_bytes >= STANDARD_GB_LIMIT * BYTES_PER_GB * n
        or total_cases >= STANDARD_CASE_LIMIT * n
    )


def invoice_lines(
    customer: str,
    month: str,
    plan: str,
    usage: MonthUsage,
    avg_cases: Decimal,
    prices: PriceTable,
) -> tuple[list[InvoiceLine], str | None]:
    """The month's invoice lines and case tier label; NoTier above the highest tier."""
    if plan == "standard":
        fee = prices.standard_monthly_fee
        return [
            InvoiceLine(
                "standard_fee", "Standard subscription (monthly fee)", Decimal(1), fee, money(fee)
            )
        ], None
    if plan != "enterprise":
        raise Invalid(
            N_("customer '{customer}', {month}: unknown plan '{plan}'"),
            customer=customer,
            month=month,
            plan=plan,
        )
    billable = max(Decimal(0), to_gb(usage.bytes) - prices.included_gb).quantize(GB_PLACES)
    volume = InvoiceLine(
        "siem_volume",
        f"SIEM volume above the included {prices.included_gb} GB (1 GB = 10^9 bytes)",
        billable,
        prices.vendor_price_per_gb,
        money(billable * prices.vendor_price_per_gb),
    )
    rounded = round_cases(avg_cases, prices.case_average_rounding)
    tier = prices.tier_for(rounded)
    if tier is None:
        raise NoTier(
            N_(
                "customer '{customer}', {month}: the 3-month average of "
                "{avg_cases} cases/month (rounded {rounded}) is above the "
                "highest contractual tier ({max_cases}); no invoice produced"
            ),
            customer=customer,
            month=month,
            avg_cases=avg_cases,
            rounded=rounded,
            max_cases=prices.max_cases,
        )
    quantity = Decimal(1) if prices.case_unit == "month" else Decimal(rounded)
    cases = InvoiceLine(
        "soc_cases",
        f"SOC cases, tier {tier.label} (3-month average {rounded} cases/month)",
        quantity,
        tier.unit_price,
        money(quantity * tier.unit_price),
    )
    return [volume, cases], tier.label


def bill_month(
    customer: str,
    month: str,
    plan: str,
    window: Sequence[MonthUsage],
    previous_on_standard_eligible: bool,
    prices: PriceTable,
) -> MonthBill:
    """Bill one month. `window` holds the months of service n-2..n (1 to 3 of them, oldest
    first, this month last); `previous_on_standard_eligible` is whether month n-1 was already
    in an episode (eligible while on standard), which suppresses a repeated notification."""
    if not 1 <= len(window) <= 3:
        raise ValueError("a rolling window holds 1 to 3 months")
    n = len(window)
    avg_bytes = Decimal(sum(u.bytes for u in window)) / n
    avg_cases_exact = Decimal(sum(u.cases for u in window)) / n
    eligible = is_eligible(window)
    bill = MonthBill(
        customer=customer,
        month=month,
        plan=plan,
        usage=window[-1],
        months_in_average=n,
        avg_bytes_3m=avg_bytes,
        avg_cases_3m=avg_cases_exact.quantize(CASE_AVG_PLACES, ROUND_HALF_UP),
        enterprise_eligible=eligible,
        notify=eligible and plan == "standard" and not previous_on_standard_eligible,
        case_tier=None,
    )
    try:
        bill.lines, bill.case_tier = invoice_lines(
            customer, month, plan, window[-1], avg_cases_exact, prices
        )
    except NoTier as exc:
        bill.error = exc.message
    return bill


def plan_for(plans: Sequence[tuple[str, str]], month: str) -> str | None:
    """The plan in force in `month`: the last decision effective at or before it (for one
    month, the later in the list wins)."""
    current = None
    for effective, plan in sorted(plans, key=lambda p: p[0]):
        if effective <= month:
            current = plan
    return current


def bill_series(
    customer: str,
    usage: Mapping[str, MonthUsage],
    plans: Sequence[tuple[str, str]],
    prices: PriceTable,
    service_start: str,
    last_month: str,
    first_month: str | None = None,
) -> list[MonthBill]:
    """Bill every month from `first_month` (default the start of service) to `last_month`.

    Months of service without usage count as zero; usage before the start is ignored by the
    caller's choice of `service_start`. Plans are (effective month, plan) decisions.
    """
    bills: list[MonthBill] = []
    history: list[MonthUsage] = []
    previous_episode = False
    first = first_month or service_start
    for month in month_range(service_start, last_month):
        history.append(usage.get(month, MonthUsage()))
        plan = plan_for(plans, month)
        if plan is None:
            raise Invalid(
                N_("customer '{customer}': no plan in force in {month}"),
                customer=customer,
                month=month,
            )
        window = history[-3:]
        bill = bill_month(customer, month, plan, window, previous_episode, prices)
        previous_episode = bill.enterprise_eligible and plan == "standard"
        if month >= first:
            bills.append(bill)
    return bills


# --- simulate -----------------------------------------------------------------------------


class SimPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    effective: str = Field(alias="from")
    plan: Literal["standard", "enterprise"]


class SimUsage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bytes: int = Field(ge=0)
    cases: int = Field(default=0, ge=0)
    events: int = Field(default=0, ge=0)


class SimCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    plans: list[SimPlan] = Field(min_length=1)
    usage: dict[str, SimUsage]


class SimInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prices: PriceTable
    customers: list[SimCustomer]


def simulate(data: Any) -> list[MonthBill]:
    """Bill every customer's months from its first plan to its last month of usage.

    The start of service is the earliest plan's month; usage before it is an error.
    """
    try:
        parsed = SimInput.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
        )
        raise Invalid(N_("simulate input is not valid: {problems}"), problems=problems) from None
    bills: list[MonthBill] = []
    seen: set[str] = set()
    for customer in parsed.customers:
        if customer.id in seen:
            raise Invalid(N_("customer '{id}' appears twice"), id=customer.id)
        seen.add(customer.id)
        plans = [(check_month(p.effective), p.plan) for p in customer.plans]
        start = min(m for m, _ in plans)
        months = [check_month(m) for m in customer.usage]
        early = [m for m in months if m < start]
        if early:
            raise Invalid(
                N_("customer '{id}': usage in {day} is before its first plan ({start})"),
                id=customer.id,
                day=min(early),
                start=start,
            )
        usage = {
            m: MonthUsage(bytes=u.bytes, cases=u.cases, events=u.events)
            for m, u in customer.usage.items()
        }
        last = max(months, default=start)
        bills.extend(bill_series(customer.id, usage, plans, parsed.prices, start, last))
    return bills


def errors_of(bills: Iterable[MonthBill]) -> list[str]:
    return [b.error for b in bills if b.error]
