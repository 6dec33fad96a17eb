"""Benchmark: the monthly billing close for many customers over many months of usage.

Builds a fresh SQLite database with N customers and M months of daily meters (bytes, events,
cases), then closes every month in order (one invoice per customer and month, with the rolling
averages, tiers and notifications), and compares with a baseline in the same process: the pure
rules (`rules.bill_series`) over the same monthly usage held in memory. Prints seconds and the
ratio; also checks that both give the same grand total.

    .venv/bin/python bench/billing_close.py --customers 1000 --months 36
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from soc.core.db import Database  # noqa: E402
from soc.core.migrate import upgrade  # noqa: E402
from tenants.billing import rules, service  # noqa: E402
from tenants.billing.models import PlanDecision  # noqa: E402
from tenants.models import Tenant, UsageDaily  # noqa: E402

PRICES = Path(__file__).resolve().parents[1] / "docs" / "billing-prices.example.json"


def build(db: Database, customers: int, months: list[str], seed: int) -> dict:
    """Insert tenants, a few plan decisions and daily meters; return the monthly usage."""
    rnd = random.Random(seed)
    first_day = date.fromisoformat(months[0] + "-01")
    monthly: dict[str, dict[str, rules.MonthUsage]] = {}
    plans: dict[str, list[tuple[str, str]]] = {}
    with db.session() as session:
        session.execute(
            insert(Tenant),
            [
                {
                    "slug": f"c{i:05d}",
                    "name": f"Customer {i}",
                    "retention_days": 365,
                    "default_impact": "medium",
                    "created_at": datetime(first_day.year, first_day.month, 1, tzinfo=UTC),
                }
                for i in range(1, customers + 1)
            ],
        )
        rows = []
        decisions = []
        for tid in range(1, customers + 1):
            slug = f"c{tid:05d}"
            gb_per_day = rnd.choice((0.05, 0.2, 0.4, 1.5, 6.0))  # small to large consumers
            cases_per_day = rnd.choice((0.02, 0.08, 0.5, 2.0))
            plans[slug] = [(months[0], "standard")]
            if gb_per_day >= 1.5 or cases_per_day >= 2.0:
                move = months[rnd.randrange(1, len(months))]
                plans[slug].append((move, "enterprise"))
                decisions.append(
                    {
                        "tenant_id": tid,
                        "effective_month": move,
                        "plan": "enterprise",
                        "decided_by": "bench",
                        "decided_at": datetime.now(UTC),
                        "note": "",
                    }
                )
            per_month = monthly[slug] = {}
            day = first_day
            for month in months:
                size = cases = events = 0
                while service.month_of(day) == month:
                    b = int(gb_per_day * 1e9 * rnd.uniform(0.5, 1.5))
                    c = int(cases_per_day + rnd.random())
                    e = b // 700
                    rows.append({"tenant_id": tid, "day": day, "events": e, "bytes": b, "cases": c})
                    size, cases, events = size + b, cases + c, events + e
                    day += timedelta(days=1)
                per_month[month] = rules.MonthUsage(bytes=size, cases=cases, events=events)
            if len(rows) > 200_000:
                session.execute(insert(UsageDaily), rows)
                rows = []
        if rows:
            session.execute(insert(UsageDaily), rows)
        if decisions:
            session.execute(insert(PlanDecision), decisions)
    return {"usage": monthly, "plans": plans}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    prices = rules.PriceTable.parse(json.loads(PRICES.read_text()))
    months = rules.month_range("2022-01", rules.add_months("2022-01", args.months - 1))

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        db = Database(url)
        started = time.perf_counter()
        data = build(db, args.customers, months, args.seed)
        built = time.perf_counter() - started
        days = sum(
            1
            for _ in range(
                (
                    date.fromisoformat(months[-1] + "-28") - date.fromisoformat(months[0] + "-01")
                ).days
            )
        )
        print(
            f"data: {args.customers} customers x {args.months} months "
            f"(~{args.customers * days:,} daily meter rows) built in {built:.1f} s"
        )

        # Baseline: the pure rules over the same monthly usage, in memory.
        started = time.perf_counter()
        baseline_total = Decimal(0)
        for slug, usage in data["usage"].items():
            for bill in rules.bill_series(
                slug, usage, data["plans"][slug], prices, months[0], months[-1]
            ):
                baseline_total += bill.total or 0
        baseline = time.perf_counter() - started

        # One close: the last month for every customer, its history read from the meters
        # (no month closed before), rolled back afterwards.
        started = time.perf_counter()
        with db.sessions() as session:
            single = service.close_month(session, months[-1], prices, today=date(2100, 1, 1))
            session.rollback()
        one_close = time.perf_counter() - started

        started = time.perf_counter()
        close_total = Decimal(0)
        invoices = blocked = 0
        for month in months:
            with db.session() as session:
                result = service.close_month(session, month, prices, today=date(2100, 1, 1))
            close_total += result.total
            invoices += result.issued
            blocked += len(result.blocked)
        closing = time.perf_counter() - started
        db.engine.dispose()

    print(f"baseline, pure rules in memory (all months): {baseline:.2f} s")
    print(
        f"one close, {months[-1]} with {args.months} months of meters behind it: "
        f"{one_close:.2f} s ({single.issued:,} invoices)"
    )
    print(
        f"close of all {args.months} months: {closing:.2f} s "
        f"({invoices:,} invoices, {blocked} blocked, "
        f"{closing / args.months * 1000:.0f} ms per month)"
    )
    print(f"ratio close / baseline: {closing / baseline:.1f}")
    print(
        f"grand total: close {close_total} / rules {baseline_total} "
        f"({'same' if close_total == baseline_total else 'DIFFERENT'})"
    )
    print(
        f"goal under 5 s: one close {'met' if one_close < 5 else 'NOT met'}, "
        f"all {args.months} closes {'met' if closing < 5 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
