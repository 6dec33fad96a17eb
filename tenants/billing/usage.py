"""Usage for billing: the month's meters (frozen figures once closed), the bill of a month
from an account's usage history, month-to-date usage with its projection, and ceiling alerts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from soc.core import audit
from soc.core.errors import Invalid
from soc.core.i18n import N_
from soc.core.principal import SYSTEM, Principal
from soc.core.settings import Settings
from tenants.billing import months, rules
from tenants.billing.accounts import Account, accounts_of, visible_tenants
from tenants.billing.models import Invoice, Notification
from tenants.billing.months import closed_months, load_prices, month_days, month_of
from tenants.billing.notice_mail import mail_ceiling
from tenants.billing.rules import MonthBill, MonthUsage, PriceTable, dec
from tenants.models import Tenant, UsageDaily, UsageHostDaily
from tenants.tenancy import get_tenant


def metered(
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


def usage_history(
    session: Session, months: Sequence[str], tenant_ids: Sequence[int] | None
) -> dict[int, dict[str, MonthUsage]]:
    """Usage per tenant and month: frozen figures for closed months, meters otherwise."""
    closed = closed_months(session) & set(months)
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
        for tid, used in metered(session, month, tenant_ids).items():
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


def bill_for(
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


def billable_tenants(session: Session, month: str) -> tuple[list[Tenant], dict[int, Account]]:
    tenants = list(session.scalars(select(Tenant).order_by(Tenant.slug)))
    accounts = accounts_of(session, tenants)
    billable = [t for t in tenants if accounts[t.id].service_start <= month]
    return billable, accounts


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


def _host_usage(
    session: Session, ids: Sequence[int], first: date, last: date
) -> defaultdict[int, list[tuple[str, int, int]]]:
    """(host, events, bytes) per tenant between two days, the biggest host first."""
    hosts: defaultdict[int, list[tuple[str, int, int]]] = defaultdict(list)
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
    return hosts


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
    today = today or months.today_utc()
    month = month or month_of(today)
    first, last = month_days(month)
    if first > today:
        raise Invalid(N_("{month} has not started yet"), month=month)
    if tenant is not None:
        tenants = [get_tenant(session, actor, tenant)]
    else:
        tenants = visible_tenants(session, actor)
    accounts = accounts_of(session, tenants)
    tenants = [t for t in tenants if accounts[t.id].service_start <= month]
    ids = [t.id for t in tenants]
    days = last.day
    elapsed = days if today > last else today.day
    history = usage_history(session, rules.month_range(rules.add_months(month, -3), month), ids)
    closed = month in closed_months(session)
    prices_error = None
    if prices is None:
        try:
            prices = load_prices(settings)
        except Invalid as exc:
            prices_error = exc.message
    hosts = _host_usage(session, ids, first, last) if with_hosts and ids else defaultdict(list)
    out = []
    for t in tenants:
        acct = accounts[t.id]
        used = history.get(t.id, {}).get(month, MonthUsage())
        projected = used if closed else _project(used, elapsed, days)
        bill = None
        if prices is not None:
            bill = bill_for(acct, month, history.get(t.id, {}), prices, current=projected)
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
        ceiling, total = u.ceiling, u.projected_total
        assert ceiling is not None and total is not None  # both set: ceiling_exceeded
        detail = {"ceiling": dec(ceiling), "projected_total": dec(total)}
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
        mail_ceiling(session, u.tenant, u.month, ceiling, total)
    session.flush()
    return fresh
