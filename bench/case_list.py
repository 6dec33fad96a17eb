"""Case-list API latency with 100,000 cases in PostgreSQL (issue 5: p95 under 100 ms).

Fills a fresh database on the server of SOC_TEST_DATABASE_URL (or --url) with cases over 20
tenants and a year, then times GET /api/v1/cases through the whole app (routing, auth, tenancy,
SLA clocks, JSON) for an analyst and a customer with typical filters, against a baseline in the
same run: the same count and page queries as plain SQL on a psycopg connection.

    eval "$(deploy/services.sh start)"
    .venv/bin/python bench/case_list.py [--cases 100000] [--runs 200]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from soc.app import create_app
from soc.cases.models import Case
from soc.core.db import Database
from soc.core.migrate import upgrade
from soc.core.principal import SYSTEM
from soc.core.settings import Settings
from tenants import service as tenant_service

PASSWORD = "bench-password-123"
STATUSES = ["new"] * 8 + ["triage"] * 4 + ["in_progress"] * 6 + ["resolved"] * 12 + ["closed"] * 70


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fill(url: str, count: int, tenants: int) -> dict[str, str]:
    """Tenants, an analyst and a customer (their tokens), and `count` cases."""
    upgrade(url)
    db = Database(url)
    tokens: dict[str, str] = {}
    with db.session() as session:
        for i in range(tenants):
            tenant_service.create_tenant(session, SYSTEM, f"t{i:02d}", f"Tenant {i}")
        analyst = tenant_service.create_user(
            session, SYSTEM, "analyst", PASSWORD, "soc_analyst", None, None
        )
        tenant_service.create_user(session, SYSTEM, "customer", PASSWORD, "customer", "t00", None)
    code = pyotp.TOTP(analyst.totp_secret or "").now()
    tokens["analyst"], _ = tenant_service.login(db, "analyst", PASSWORD, code, 600)
    tokens["customer"], _ = tenant_service.login(db, "customer", PASSWORD, None, 600)
    rng = random.Random(5)
    now = datetime.now(UTC)
    rows = []
    for n in range(count):
        created = now - timedelta(seconds=rng.randint(0, 365 * 86400))
        status = rng.choice(STATUSES)
        priority = rng.choice(["P1", "P2", "P2", "P3", "P3", "P3", "P4", "P4", "P4", "P4"])
        done = status in ("resolved", "closed")
        rows.append(
            {
                "tenant_id": rng.randint(1, tenants),
                "rule_id": f"rule-{rng.randint(1, 300)}",
                "title": f"Suspicious activity {n % 997}",
                "level": rng.choice(["low", "medium", "high", "critical"]),
                "host": f"host-{rng.randint(1, 5000)}",
                "status": status,
                "alert_count": rng.randint(1, 20),
                "first_seen": created,
                "last_seen": created + timedelta(minutes=rng.randint(0, 60)),
                "created_at": created,
                "updated_at": created,
                "priority": priority,
                "response_due": created + timedelta(hours=1),
                "resolution_due": created + timedelta(hours=8),
                "responded_at": created + timedelta(minutes=10) if status != "new" else None,
                "response_seconds": 600 if status != "new" else None,
                "resolved_at": created + timedelta(hours=3) if done else None,
                "resolution_seconds": 3 * 3600 if done else None,
            }
        )
    with db.session() as session:
        for i in range(0, len(rows), 10_000):
            session.execute(insert(Case), rows[i : i + 10_000])
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE cases")
        conn.commit()
    db.engine.dispose()
    return tokens


SCENARIOS = [
    ("analyst, newest 50", "analyst", {}),
    ("analyst, status=new", "analyst", {"status": "new"}),
    ("analyst, priority=P1", "analyst", {"priority": "P1"}),
    ("analyst, tenant_id=7 page 3", "analyst", {"tenant_id": 7, "offset": 100}),
    ("customer (own tenant)", "customer", {}),
]


def sql_for(params: dict, tenant: int | None) -> tuple[str, str, list]:
    where, args = ["TRUE"], []
    for column in ("status", "priority", "tenant_id"):
        if column in params:
            where.append(f"{column} = %s")
            args.append(params[column])
    if tenant is not None:
        where.append("tenant_id = %s")
        args.append(tenant)
    clause = " AND ".join(where)
    page = (
        f"SELECT * FROM cases WHERE {clause} ORDER BY last_seen DESC, id DESC "
        f"LIMIT 50 OFFSET {int(params.get('offset', 0))}"
    )
    return f"SELECT count(*) FROM cases WHERE {clause}", page, args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--url", default=os.environ.get("SOC_TEST_DATABASE_URL"))
    args = parser.parse_args()
    if not args.url:
        raise SystemExit("set SOC_TEST_DATABASE_URL (deploy/services.sh start prints it) or --url")
    server = make_url(args.url)
    name = f"soc_bench_{uuid.uuid4().hex[:8]}"
    admin = f"host={server.host} port={server.port or 5432} user={server.username} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        started = time.perf_counter()
        tokens = fill(url, args.cases, args.tenants)
        print(f"filled {args.cases:,} cases in {time.perf_counter() - started:.1f} s")
        raw = url.replace("postgresql+psycopg://", "postgresql://")
        with (
            tempfile.TemporaryDirectory() as tmp,
            TestClient(create_app(Settings(database_url=url, data_dir=Path(tmp)))) as client,
            psycopg.connect(raw) as conn,
        ):
            print(
                f"{'scenario':32} {'API p50':>8} {'API p95':>8} {'SQL p50':>8} {'SQL p95':>8} ratio"
            )
            for label, who, params in SCENARIOS:
                headers = {"Authorization": f"Bearer {tokens[who]}"}
                api: list[float] = []
                for i in range(args.runs + 20):
                    t0 = time.perf_counter()
                    answer = client.get("/api/v1/cases", params=params, headers=headers)
                    elapsed = (time.perf_counter() - t0) * 1000
                    assert answer.status_code == 200, answer.text
                    if i >= 20:
                        api.append(elapsed)
                count_sql, page_sql, sql_args = sql_for(params, 1 if who == "customer" else None)
                base: list[float] = []
                for i in range(args.runs + 20):
                    t0 = time.perf_counter()
                    conn.execute(count_sql, sql_args).fetchone()
                    conn.execute(page_sql, sql_args).fetchall()
                    elapsed = (time.perf_counter() - t0) * 1000
                    if i >= 20:
                        base.append(elapsed)
                print(
                    f"{label:32} {statistics.median(api):7.1f}ms {pct(api, 0.95):7.1f}ms "
                    f"{statistics.median(base):7.1f}ms {pct(base, 0.95):7.1f}ms "
                    f"{pct(api, 0.95) / pct(base, 0.95):5.1f}x"
                )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
