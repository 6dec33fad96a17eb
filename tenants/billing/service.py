"""Billing services: price table, plan decisions, running usage, the monthly close, ceiling
alerts and corrections. No HTTP here; the API, the CLI and a Celery task call these.

A closed month is immutable: its invoices keep the usage they were computed from, and a later
change is a correction line (credit or debit) billed in a later, open month. Every change is
recorded in the audit log.
"""

from __future__ import annotations

import calendar
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from soc import audit
from soc.db import utcnow
from soc.errors import Conflict, Invalid, NotFound
from soc.settings import Settings, get_settings
from tenants import service as tenant_service
from tenants.billing import rules
from tenants.billing.models import (
    BillingAccount,
    ClosedMonth,
    Correction,
    Invoice,
    InvoiceLineRow,
    Notification,
    PlanDecision,
)
from tenants.billing.rules import MonthBill, MonthUsage, PriceTable, dec
from tenants.models import Tenant, UsageDaily, UsageHostDaily
from tenants.principal import SYSTEM, Principal

# --- price table and months ----------------------------------------------------------------


def load_prices(settings: Settings | None = None) -> PriceTable:
    """The price table from SOC_BILLING_PRICES (JSON) or SOC_BILLING_PRICES_FILE."""
    settings = settings or get_settings()
    if settings.billing_prices is not None:
        return PriceTable.parse(settings.billing_prices, "SOC_BILLING_PRICES")
    if settings.billing_prices_file is not None:
        path = settings.billing_prices_file
        try:
            data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
        except OSError as exc:
            raise Invalid(f"price table file {path} cannot be read: {exc.strerror}") from None
        except ValueError as exc:
            raise Invalid(f"price table file {path} is not valid JSON: {exc}") from None
        return PriceTable.parse(data, f"price table file {path}")
    raise Invalid("no price table: set SOC_BILLING_PRICES or SOC_BILLING_PRICES_FILE")


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_days(month: str) -> tuple[date, date]:
    """First and last day of a month."""
    rules.check_month(month)
    year, mon = int(month[:4]), int(month[5:7])
    return date(year, mon, 1), date(year, mon, calendar.monthrange(year, mon)[1])


def today_utc() -> date:
    return utcnow().date()


# --- accounts and plans ---------------------------------------------------------------------


@dataclass
class Account:
    tenant: Tenant
    service_start: str
    ceiling: Decimal | None
    plans: list[tuple[str, str]]  # (effective month, plan), default standard first
    decisions: list[PlanDecision] = field(default_factory=list)


def _accounts(session: Session, tenants: Sequence[Tenant]) -> dict[int, Account]:
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


def account(session: Session, actor: Principal, tenant: str) -> Account:
    """A customer's billing account: start of service, ceiling, plan decisions."""
    actor.require("billing.read")
    target = tenant_service.get_tenant(session, actor, tenant)
    return _accounts(session, [target])[target.id]


def _closed_months(session: Session) -> set[str]:
    return set(session.scalars(select(ClosedMonth.month)))


def set_account(
    session: Session,
    actor: Principal,
    tenant: str,
    service_start: str | None = None,
    ceiling: Decimal | None = None,
    clear_ceiling: bool = False,
) -> Account:
    """Set the first month of service and/or the contract ceiling (EUR per month)."""
    actor.require("billing.manage")
    target = tenant_service.get_tenant(session, actor, tenant)
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
            raise Conflict(f"'{target.slug}' already has invoices; its start of service is fixed")
        row.service_start = service_start
    if ceiling is not None:
        if ceiling <= 0:
            raise Invalid("a ceiling must be a positive amount")
        row.ceiling = rules.money(ceiling)
    if clear_ceiling:
        row.ceiling = None
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
            "service_start": row.service_start,
            "ceiling": None if row.ceiling is None else dec(row.ceiling),
        },
    )
    return _accounts(session, [target])[target.id]


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
    target = tenant_service.get_tenant(session, actor, tenant)
    rules.check_month(effective_month)
    if plan not in rules.PLANS:
        raise Invalid(f"plan must be one of {', '.join(rules.PLANS)}")
    if effective_month in _closed_months(session):
        raise Conflict(f"{effective_month} is closed; a plan change takes effect in an open month")
    start = _accounts(session, [target])[target.id].service_start
    if effective_month < start:
        raise Invalid(f"'{target.slug}' starts service in {start}; {effective_month} is before")
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


# --- usage ----------------------------------------------------------------------------------


def _metered(
    session: Session, month: str, tenant_ids: Iterable[int] | None
) -> dict[int, MonthUsage]:
    """Sum the daily meters of one month per tenant (one query for all tenants)."""
    first, last = month_days(month)
    query = (
        select(
            UsageDaily.tenant_id,
            func.sum(UsageDaily.bytes),
            func.sum(UsageDaily.cases),
            func.sum(UsageDaily.events),
        )
        .where(UsageDaily.day >= first, UsageDaily.day <= last)
        .group_by(UsageDaily.tenant_id)
    )
    if tenant_ids is not None:
        query = query.where(UsageDaily.tenant_id.in_(list(tenant_ids)))
    return {
        tid: MonthUsage(bytes=int(b or 0), cases=int(c or 0), events=int(e or 0))
        for tid, b, c, e in session.execute(query)
    }


def _history(
    session: Session, months: Sequence[str], tenant_ids: Sequence[int] | None
) -> dict[int, dict[str, MonthUsage]]:
    """Usage per tenant and month: frozen figures for closed months, meters otherwise."""
    closed = _closed_months(session) & set(months)
    usage: dict[int, dict[str, MonthUsage]] = defaultdict(dict)
    if closed:
        query = select(
            Invoice.tenant_id, Invoice.month, Invoice.bytes, Invoice.cases, Invoice.events
        ).where(Invoice.month.in_(sorted(closed)))
        if tenant_ids is not None:
            query = query.where(Invoice.tenant_id.in_(list(tenant_ids)))
        for tid, month, size, cases, events in session.execute(query):
            usage[tid][month] = MonthUsage(bytes=size, cases=cases, events=events)
    for month in months:
        if month in closed:
            continue
        for tid, used in _metered(session, month, tenant_ids).items():
            usage[tid][month] = used
    return usage


@lru_cache(maxsize=64)
def _spans(month: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """Month n-1, the months n-2..n (this month's average), n-3..n-1 (last month's)."""
    return (
        rules.add_months(month, -1),
        tuple(rules.month_range(rules.add_months(month, -2), month)),
        tuple(rules.month_range(rules.add_months(month, -3), rules.add_months(month, -1))),
    )


def _bill(
    account: Account,
    month: str,
    history: dict[str, MonthUsage],
    prices: PriceTable,
    current: MonthUsage | None = None,
) -> MonthBill:
    """Bill `month` for one account from its usage history (the months n-3..n of service).
    `current` replaces the month's usage (a projection). Same result as `rules.bill_series`
    over the whole service, computed from the few months that matter."""
    start = account.service_start
    previous, window_span, earlier_span = _spans(month)
    window = [history.get(m, MonthUsage()) for m in window_span if m >= start]
    if current is not None:
        window[-1] = current
    previous_episode = False
    if previous >= start:
        earlier = [history.get(m, MonthUsage()) for m in earlier_span if m >= start]
        previous_episode = rules.plan_for(account.plans, previous) == "standard" and (
            rules.is_eligible(earlier)
        )
    plan = rules.plan_for(account.plans, month) or "standard"
    return rules.bill_month(account.tenant.slug, month, plan, window, previous_episode, prices)


def _billable_tenants(session: Session, month: str) -> tuple[list[Tenant], dict[int, Account]]:
    tenants = list(session.scalars(select(Tenant).order_by(Tenant.slug)))
    accounts = _accounts(session, tenants)
    billable = [t for t in tenants if accounts[t.id].service_start <= month]
    return billable, accounts


# --- close ----------------------------------------------------------------------------------


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
) -> CloseResult:
    """Freeze the month's usage and produce an invoice per customer in service.

    Re-running returns the same invoices; only invoices blocked for want of a contractual
    tier are retried (with the current price table). The Celery beat task calls this too.
    """
    actor.require("billing.close")
    rules.check_month(month)
    if month >= month_of(today or today_utc()):
        raise Invalid(f"{month} is not over yet; a month closes from the 1st of the next month")
    prices = prices or load_prices()
    closed = session.get(ClosedMonth, month)
    was_closed = closed is not None
    tenants, accounts = _billable_tenants(session, month)
    existing = {
        inv.tenant_id: inv for inv in session.scalars(select(Invoice).where(Invoice.month == month))
    }
    todo = [t for t in tenants if t.id not in existing or existing[t.id].status == "blocked"]
    if closed is not None:
        todo = [t for t in todo if t.id in existing]  # only retry blocked ones
    months = rules.month_range(rules.add_months(month, -3), month)
    history = _history(session, months, [t.id for t in todo] if closed else None)
    corrections: dict[int, list[Correction]] = defaultdict(list)
    for corr in session.scalars(
        select(Correction)
        .where(Correction.month == month, Correction.invoice_id.is_(None))
        .order_by(Correction.id)
    ):
        corrections[corr.tenant_id].append(corr)

    bills = [(t, _bill(accounts[t.id], month, history.get(t.id, {}), prices)) for t in todo]
    # Blocked invoices that are retried are replaced as a whole (they have no lines).
    for tenant, _ in bills:
        if tenant.id in existing:
            session.delete(existing[tenant.id])
    session.flush()
    rows = []
    for tenant, bill in bills:
        extra = sum((c.amount for c in corrections[tenant.id]), Decimal("0.00"))
        rows.append(
            {
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
                "currency": prices.currency,
                "total": None if bill.error else bill.total + extra,
                "error": bill.error,
                "created_at": utcnow(),
            }
        )
    if rows:  # plain executemany (fast on both backends), then read the new ids back
        session.execute(insert(Invoice.__table__), rows)
    new_ids = dict(
        session.execute(
            select(Invoice.tenant_id, Invoice.id).where(
                Invoice.month == month, Invoice.tenant_id.in_([t.id for t, _ in bills])
            )
        ).all()
        if len(bills) < 500
        else session.execute(
            select(Invoice.tenant_id, Invoice.id).where(Invoice.month == month)
        ).all()
    )
    ids = [new_ids[t.id] for t, _ in bills]
    line_rows = []
    for invoice_id, (tenant, bill) in zip(ids, bills, strict=True):
        if bill.error:
            continue
        for pos, line in enumerate(bill.lines, start=1):
            line_rows.append(_line_row(invoice_id, pos, line))
        for pos, corr in enumerate(corrections[tenant.id], start=len(bill.lines) + 1):
            line_rows.append(
                {
                    "invoice_id": invoice_id,
                    "position": pos,
                    "kind": "correction",
                    "description": f"Correction for {corr.refers_to}: {corr.reason}",
                    "quantity": Decimal(1),
                    "unit_price": corr.amount,
                    "amount": corr.amount,
                }
            )
            corr.invoice_id = invoice_id
    if line_rows:
        session.execute(insert(InvoiceLineRow.__table__), line_rows)
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
    issued_total = sum((r["total"] for r in rows if r["total"] is not None), Decimal("0.00"))
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
    issued, total, still_blocked = 0, Decimal("0.00"), []
    for status, amount, error in session.execute(
        select(Invoice.status, Invoice.total, Invoice.error).where(Invoice.month == month)
    ):
        if status == "issued":
            issued, total = issued + 1, total + amount
        elif error:
            still_blocked.append(error)
    return CloseResult(
        month=month,
        issued=issued,
        blocked=still_blocked,
        already_closed=was_closed and not bills,
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
        session.execute(insert(Notification.__table__), rows)
    return [tenant.slug for tenant, _ in bills if tenant.id not in done]


# --- invoices -------------------------------------------------------------------------------


@dataclass
class InvoiceView:
    tenant: Tenant
    invoice: Invoice
    lines: list[InvoiceLineRow]


def _visible_tenants(session: Session, actor: Principal) -> list[Tenant]:
    actor.require("billing.read")
    return tenant_service.list_tenants(session, actor)


def invoices(session: Session, actor: Principal, month: str) -> list[InvoiceView]:
    """The month's invoices the actor may see (finance: all; a customer: its own)."""
    rules.check_month(month)
    tenants = {t.id: t for t in _visible_tenants(session, actor)}
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
    target = tenant_service.get_tenant(session, actor, tenant)
    row = session.scalar(
        select(Invoice).where(Invoice.tenant_id == target.id, Invoice.month == month)
    )
    if row is None:
        raise NotFound(f"no invoice for '{target.slug}' in {month}")
    lines = list(
        session.scalars(
            select(InvoiceLineRow)
            .where(InvoiceLineRow.invoice_id == row.id)
            .order_by(InvoiceLineRow.position)
        )
    )
    return InvoiceView(target, row, lines)


# --- corrections ----------------------------------------------------------------------------


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
    target = tenant_service.get_tenant(session, actor, tenant)
    rules.check_month(refers_to)
    rules.check_month(month)
    closed = _closed_months(session)
    if refers_to not in closed:
        raise Invalid(f"{refers_to} is not closed; change the usage or plan before the close")
    if month in closed:
        raise Conflict(f"{month} is closed; a correction goes into an open month")
    if month <= refers_to:
        raise Invalid(f"a correction for {refers_to} is billed in a later month, not {month}")
    if not reason.strip():
        raise Invalid("a correction needs a reason")
    if amount != rules.money(amount) or amount == 0:
        raise Invalid("the amount is a non-zero sum in euros with at most two decimals")
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


# --- running usage, ceilings ----------------------------------------------------------------


@dataclass
class RunningUsage:
    tenant: Tenant
    month: str
    as_of: date
    days_elapsed: int
    days_in_month: int
    usage: MonthUsage
    projected: MonthUsage
    plan: str
    hosts: list[tuple[str, int, int]]  # host, events, bytes
    bill: MonthBill | None
    prices_error: str | None
    ceiling: Decimal | None
    closed: bool

    @property
    def projected_total(self) -> Decimal | None:
        return None if self.bill is None else self.bill.total

    @property
    def ceiling_exceeded(self) -> bool:
        total = self.projected_total
        return self.ceiling is not None and total is not None and total > self.ceiling


def _project(used: MonthUsage, elapsed: int, days: int) -> MonthUsage:
    """Month-to-date usage extrapolated linearly to the whole month."""
    if elapsed >= days:
        return used
    factor = Decimal(days) / Decimal(elapsed)

    def scale(value: int) -> int:
        return int((Decimal(value) * factor).quantize(Decimal(1), ROUND_HALF_UP))

    return MonthUsage(bytes=scale(used.bytes), cases=scale(used.cases), events=scale(used.events))


def running_usage(
    session: Session,
    actor: Principal,
    month: str | None = None,
    tenant: str | None = None,
    today: date | None = None,
    prices: PriceTable | None = None,
    with_hosts: bool = True,
    settings: Settings | None = None,
) -> list[RunningUsage]:
    """Month-to-date usage and the projected invoice per visible customer (or one customer)."""
    actor.require("billing.read")
    today = today or today_utc()
    month = month or month_of(today)
    first, last = month_days(month)
    if first > today:
        raise Invalid(f"{month} has not started yet")
    if tenant is not None:
        tenants = [tenant_service.get_tenant(session, actor, tenant)]
    else:
        tenants = _visible_tenants(session, actor)
    accounts = _accounts(session, tenants)
    tenants = [t for t in tenants if accounts[t.id].service_start <= month]
    ids = [t.id for t in tenants]
    days = last.day
    elapsed = days if today > last else today.day
    history = _history(session, rules.month_range(rules.add_months(month, -3), month), ids)
    closed = month in _closed_months(session)
    prices_error = None
    if prices is None:
        try:
            prices = load_prices(settings)
        except Invalid as exc:
            prices_error = exc.message
    hosts: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
    if with_hosts and ids:
        for tid, host, events, size in session.execute(
            select(
                UsageHostDaily.tenant_id,
                UsageHostDaily.host,
                func.sum(UsageHostDaily.events),
                func.sum(UsageHostDaily.bytes),
            )
            .where(
                UsageHostDaily.tenant_id.in_(ids),
                UsageHostDaily.day >= first,
                UsageHostDaily.day <= last,
            )
            .group_by(UsageHostDaily.tenant_id, UsageHostDaily.host)
            .order_by(UsageHostDaily.tenant_id, func.sum(UsageHostDaily.bytes).desc())
        ):
            hosts[tid].append((host, int(events), int(size)))
    out = []
    for t in tenants:
        acct = accounts[t.id]
        used = history.get(t.id, {}).get(month, MonthUsage())
        projected = used if closed else _project(used, elapsed, days)
        bill = None
        if prices is not None:
            bill = _bill(acct, month, history.get(t.id, {}), prices, current=projected)
        out.append(
            RunningUsage(
                tenant=t,
                month=month,
                as_of=min(today, last),
                days_elapsed=elapsed,
                days_in_month=days,
                usage=used,
                projected=projected,
                plan=rules.plan_for(acct.plans, month) or "standard",
                hosts=hosts[t.id],
                bill=bill,
                prices_error=prices_error,
                ceiling=acct.ceiling,
                closed=closed,
            )
        )
    return out


def check_ceilings(
    session: Session,
    actor: Principal = SYSTEM,
    month: str | None = None,
    today: date | None = None,
    prices: PriceTable | None = None,
) -> list[RunningUsage]:
    """Record a 'ceiling' notice (once per customer and month) for every customer whose
    projected spend passes its contract ceiling; return those customers' usage."""
    actor.require("billing.manage")
    prices = prices or load_prices()
    over = [
        u
        for u in running_usage(session, actor, month, None, today, prices, with_hosts=False)
        if u.ceiling_exceeded
    ]
    if not over:
        return []
    done = set(
        session.scalars(
            select(Notification.tenant_id).where(
                Notification.month == over[0].month, Notification.kind == "ceiling"
            )
        )
    )
    fresh = [u for u in over if u.tenant.id not in done]
    for u in fresh:
        detail = {"ceiling": dec(u.ceiling), "projected_total": dec(u.projected_total)}
        session.add(
            Notification(
                tenant_id=u.tenant.id,
                month=u.month,
                kind="ceiling",
                detail=orjson.dumps(detail).decode(),
            )
        )
        audit.record(
            session,
            actor=actor.actor,
            action="billing.ceiling_alert",
            object_type="billing_notification",
            object_id=f"{u.tenant.slug}:{u.month}",
            tenant_id=u.tenant.id,
            detail=detail,
        )
    session.flush()
    return fresh


def notifications(session: Session, actor: Principal, tenant: str) -> list[Notification]:
    actor.require("billing.read")
    target = tenant_service.get_tenant(session, actor, tenant)
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.tenant_id == target.id)
            .order_by(Notification.month, Notification.id)
        )
    )
