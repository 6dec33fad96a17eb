"""Benchmark: the daily DWH export of a year of data, and the monthly KRI reports.

(a) Builds a fresh SQLite database (bulk inserts) with N customers' daily usage for D days,
C cases, A risk actions (and a tenth as many risks and non-conformities), N x K x M KRI values
and times the first daily export (`kri.dwh.export_day`: everything up to the cut-off, CSV +
JSON Lines + manifest). Baseline in the same process: a naive row-by-row ORM export of the
same tables (every row loaded as an object, a dict per row, csv.DictWriter + json.dumps).
Target (issue 13): < 30 s for a year of data.

(b) The monthly reports of one period (2026-12) for N customers x K KRIs (plus the providers
and the end to end), HTML + PDF, published by `kri.reports.publish_month` with its PDFs
rendered by every core (kri.report_pool) and a commit every 10 reports. Baselines in the same
process: the same reports of the previous month (2026-11, the same volume) published with one
worker (serial render), and building the customer reports' content only (no render, nothing
stored). Target: < 60 s for 200 customers x 30 KRIs.

    .venv/bin/python bench/kri.py --customers 200 --days 365 --cases 50000 --actions 5000
    .venv/bin/python bench/kri.py --customers 200 --skip-dwh
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kri import dwh  # noqa: E402
from kri.models import KriDefinition, KriValue  # noqa: E402
from risk.models import Risk, RiskAction, RiskNonConformity  # noqa: E402
from soc.cases.models import Case  # noqa: E402
from soc.core.db import Database  # noqa: E402
from soc.core.migrate import upgrade  # noqa: E402
from soc.core.principal import SYSTEM  # noqa: E402
from soc.core.settings import Settings  # noqa: E402
from tenants.models import Provider, Tenant, UsageDaily  # noqa: E402

START = date(2026, 1, 1)
PROVIDERS = 5


def _at(rnd: random.Random, days: int) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rnd.randrange(days * 86400))


def build(db: Database, args: argparse.Namespace) -> int:
    """Insert the year of data; return the number of rows inserted."""
    rnd = random.Random(args.seed)
    n, days = args.customers, args.days
    t0 = datetime(2025, 12, 1, tzinfo=UTC)
    tenants = [{"slug": f"c{i:04d}", "name": f"C {i}", "created_at": t0} for i in range(1, n + 1)]
    providers = [{"slug": f"p{i}", "name": f"P {i}", "created_at": t0} for i in range(1, 6)]
    usage = [
        {"tenant_id": t, "day": START + timedelta(days=d), "events": rnd.randrange(1, 10**6),
         "bytes": rnd.randrange(1, 10**9), "cases": rnd.randrange(0, 5)}
        for t in range(1, n + 1) for d in range(days)
    ]  # fmt: skip
    cases = []
    for _ in range(args.cases):
        at = _at(rnd, days)
        closed = rnd.random() < 0.8
        end = at + timedelta(hours=rnd.randrange(1, 72))
        cases.append(
            {"tenant_id": rnd.randrange(1, n + 1), "rule_id": "r", "title": "case",
             "level": "high", "first_seen": at, "last_seen": at, "created_at": at,
             "updated_at": end if closed else at, "priority": rnd.choice(["P1", "P2", "P3", "P4"]),
             "status": "closed" if closed else "in_progress", "closed_at": end if closed else None,
             "resolved_at": end if closed else None, "responded_at": at + timedelta(minutes=20),
             "response_seconds": 1200,
             "resolution_seconds": rnd.randrange(3600, 200_000) if closed else None,
             "response_due": at + timedelta(hours=1), "resolution_due": at + timedelta(hours=8),
             "provider_id": rnd.randrange(1, PROVIDERS + 1)}
        )  # fmt: skip
    common = {"scope": "specific", "created_by": "bench"}
    risks = [
        {"title": f"risk {i}", "category": "operational", "source": "audit", "likelihood": 3,
         "impact": 3, "residual_likelihood": 2, "residual_impact": 2, "created_at": _at(rnd, days),
         "updated_at": _at(rnd, days), **common}
        for i in range(args.actions // 10)
    ]  # fmt: skip
    ncs = [
        {"title": f"nc {i}", "kind": "process", "source": "kri",
         "tenant_id": rnd.randrange(1, n + 1),
         "created_at": _at(rnd, days), "updated_at": _at(rnd, days), **common}
        for i in range(args.actions // 10)
    ]  # fmt: skip
    actions = [
        {"register": "corrective_action", "title": f"a {i}",
         "tenant_id": rnd.randrange(1, n + 1), "due": START + timedelta(days=rnd.randrange(days)),
         "status": rnd.choice(["open", "handled"]),
         "created_at": _at(rnd, days), "updated_at": _at(rnd, days), **common}
        for i in range(args.actions)
    ]  # fmt: skip
    kris = [
        {"id": f"k{k:02d}", "name_en": f"KRI {k}", "name_nl": f"KRI {k}",
         "direction": "higher_better",
         "norm": "95", "green": "95", "amber": "90", "scope": "customer", "source": "computed",
         "domain": f"d{k % 4}", "weight": "1"}
        for k in range(1, args.kris + 1)
    ]  # fmt: skip
    values = [
        {"kri_id": f"k{k:02d}", "period": f"2026-{m:02d}", "tenant_id": t,
         "value": f"{rnd.uniform(80, 100):.1f}", "source": "computed",
         "submitted_at": datetime(2026, m, 28, tzinfo=UTC), "due": date(2026, m, 28),
         "on_time": True, "rag": "green", "achievement": "100.0", "met": True}
        for t in range(1, n + 1) for k in range(1, args.kris + 1) for m in range(1, args.months + 1)
    ]  # fmt: skip
    with db.session() as session:
        for model, rows in (
            (Tenant, tenants), (Provider, providers), (UsageDaily, usage), (Case, cases),
            (Risk, risks), (RiskNonConformity, ncs), (RiskAction, actions),
            (KriDefinition, kris), (KriValue, values),
        ):  # fmt: skip
            for i in range(0, len(rows), 5000):
                session.execute(insert(model), rows[i : i + 5000])
    return sum(map(len, (usage, cases, risks, ncs, actions, values)))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def naive_export(db: Database, out: Path) -> int:
    """Baseline: every row as an ORM object, one dict per row, csv.DictWriter + json.dumps."""
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    models: list[Any] = [Case, Risk, RiskAction, RiskNonConformity, KriValue, UsageDaily]
    with db.session() as session:
        for model in models:
            cols = [c.key for c in model.__table__.columns]
            name = model.__tablename__
            with (
                (out / f"{name}.csv").open("w", newline="") as fc,
                (out / f"{name}.jsonl").open("w") as fj,
            ):
                writer = csv.DictWriter(fc, fieldnames=cols + ["tenant"])
                writer.writeheader()
                for obj in session.scalars(select(model)):
                    row = {c: _plain(getattr(obj, c)) for c in cols}
                    tid = getattr(obj, "tenant_id", None)
                    tenant = session.get(Tenant, tid) if tid else None
                    row["tenant"] = tenant.slug if tenant else None
                    writer.writerow(row)
                    fj.write(json.dumps(row, default=str) + "\n")
                    total += 1
    return total


def bench_export(db: Database, settings: Settings, out: Path) -> None:
    day = START + timedelta(days=365)
    now = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    t = time.perf_counter()
    with db.session() as session:
        row = dwh.export_day(session, settings, day, out / "feed", now)
        rows = dict(row.rows)
    feed = time.perf_counter() - t
    t = time.perf_counter()
    naive = naive_export(db, out / "naive")
    base = time.perf_counter() - t
    total = sum(rows.values())
    print(f"(a) DWH export of {day}: {total} rows in {feed:.2f} s ({total / feed:,.0f} rows/s)")
    print("    " + ", ".join(f"{k} {v}" for k, v in rows.items()))
    print(f"    baseline naive ORM row-by-row export: {naive} rows in {base:.2f} s")
    print(f"    ratio feed / baseline: {feed / base:.2f}   target < 30 s")


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the render workers): on a
    shared machine the wall time depends on the other load, this less."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _publish(db: Database, settings: Settings, period: str, workers: int | None) -> float:
    from kri import reports

    now = datetime(2027, 1, 10, tzinfo=UTC)
    cpu = _cpu()
    t = time.perf_counter()
    with db.session() as session:
        made = reports.publish_month(
            session, SYSTEM, settings, period, now, workers=workers, commit_every=10
        )
        count = len(made)
    took = time.perf_counter() - t
    print(
        f"    {period} with {workers or 'all'} worker(s): {count} published in {took:.2f} s "
        f"({count / took:.2f} reports/s; CPU {_cpu() - cpu:.1f} s, workers included)"
    )
    return took


def bench_reports(db: Database, settings: Settings, args: argparse.Namespace) -> None:
    from kri import reports
    from kri.report_pool import default_workers

    now = datetime(2027, 1, 10, tzinfo=UTC)
    slugs = [f"c{i:04d}" for i in range(1, args.customers + 1)]
    t = time.perf_counter()
    with db.session() as session:
        for slug in slugs:
            reports.build(session, settings, "customer", "2026-12", slug, now)
    base = time.perf_counter() - t
    count = args.customers + PROVIDERS + 1
    workers = args.workers or default_workers(count)
    print(
        f"(b) monthly reports, HTML + PDF: {args.customers} customers x {args.kris} KRIs, "
        f"{PROVIDERS} providers, end to end ({count} reports), {workers} worker(s)"
    )
    print(f"    content only ({args.customers} customer reports, no render): {base:.2f} s")
    serial = None if args.skip_serial else _publish(db, settings, "2026-11", 1)
    took = _publish(db, settings, "2026-12", workers)
    print(f"    publish_month 2026-12: {took:.2f} s ({count / took:.2f} reports/s)   target < 60 s")
    print(f"    ratio publish / content only: {took / base:.2f}")
    if serial is not None:
        print(f"    ratio parallel / serial (same reports, 2026-11 serial): {took / serial:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--actions", type=int, default=5_000)
    parser.add_argument("--kris", type=int, default=30)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--skip-reports", action="store_true")
    parser.add_argument("--skip-dwh", action="store_true", help="only part (b)")
    parser.add_argument("--skip-serial", action="store_true", help="no serial baseline in (b)")
    parser.add_argument("--workers", type=int, default=0, help="render workers (0: every core)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "var")
        settings.data_dir.mkdir(parents=True)
        upgrade(settings.sqlalchemy_url)
        db = Database(settings.sqlalchemy_url)
        t = time.perf_counter()
        inserted = build(db, args)
        print(f"built {inserted} rows in {time.perf_counter() - t:.1f} s")
        if not args.skip_dwh:
            bench_export(db, settings, Path(tmp))
        if not args.skip_reports:
            bench_reports(db, settings, args)
        db.engine.dispose()


if __name__ == "__main__":
    main()
