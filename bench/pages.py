"""Page latency of the web workspaces with 100,000 cases in PostgreSQL (issue 14: p95 < 200 ms).

Fills a fresh database on the server of SOC_TEST_DATABASE_URL (or --url) with N cases over
several tenants and 90 days (priorities, statuses, SLA due times and clocks, assignees, hosts,
rule ids; alerts for a fifth of the cases and a short timeline for a tenth), bulk inserted
with SQLAlchemy core. Then runs the app in process (TestClient on `create_app`) and times
GETs of every page, signed in as the role that opens it (analyst, customer, finance, admin).
A page that answers 404 (not built yet) is reported "absent" and skipped, so the bench can be
re-run as pages land. Printed per page: p50, p95, max, and p95 / 200 ms (the goal); the
baseline in the same run: the `/api/v1/health` answer through the same app and client.

    eval "$(deploy/services.sh start)"
    .venv/bin/python bench/pages.py [--cases 100000] [--runs 50] [--quick] [--explain]
        [--keep | --reuse soc_bench_xxxxxxxx]

`--keep` leaves the filled database (and a small state file beside it in the temp directory:
the bench users' TOTP secrets and the case timed) so later runs can `--reuse` it instead of
filling 100,000 cases again; a reused database is first upgraded to the newest migration.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import event, insert, select
from sqlalchemy.engine import Engine, make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import soc.models  # noqa: E402,F401  (every table in Base.metadata)
from detections.models import Alert  # noqa: E402
from soc.app import create_app  # noqa: E402
from soc.cases.models import Case, CaseEvent  # noqa: E402
from soc.core.db import Database  # noqa: E402
from soc.core.deps import SESSION_COOKIE  # noqa: E402
from soc.core.errors import Unauthorized  # noqa: E402
from soc.core.migrate import upgrade  # noqa: E402
from soc.core.principal import SYSTEM  # noqa: E402
from soc.core.settings import Settings  # noqa: E402
from tenants import service as tenant_service  # noqa: E402
from tenants.models import User  # noqa: E402

GOAL_MS = 200.0
PASSWORD = "bench-password-123"
DAYS = 90
# Most cases are done; the open ones are what the queue and the dashboard are about.
STATUSES = (
    ["new"] * 6 + ["triage"] * 4 + ["in_progress"] * 6 + ["waiting_on_customer"] * 2
    + ["resolved"] * 12 + ["closed"] * 70
)  # fmt: skip
PRIORITIES = ["P1"] + ["P2"] * 2 + ["P3"] * 3 + ["P4"] * 4
LEVELS = ["low", "medium", "high", "critical"]
ROLES = {"analyst": "soc_analyst", "customer": "customer", "finance": "finance", "admin": "admin"}


@dataclass
class Filled:
    tokens: dict[str, str]
    case_id: int  # a case of the customer's tenant with alerts and a timeline
    assignee: str


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _login(db: Database, username: str, secret: str | None) -> str:
    code = pyotp.TOTP(secret).now() if secret else None
    token, _ = tenant_service.login(db, username, PASSWORD, code, 600)
    return token


def _state_file(name: str) -> Path:
    return Path(tempfile.gettempdir()) / f"{name}.json"


def reuse(url: str, name: str) -> Filled:
    """Sign in again to a database a `--keep` run filled (after upgrading it)."""
    state = json.loads(_state_file(name).read_text())
    upgrade(url)
    db = Database(url)
    tokens: dict[str, str] = {}
    for user in ROLES:
        try:
            tokens[user] = _login(db, user, state["secrets"][user])
        except Unauthorized:  # this TOTP code was used already: wait for the next one
            time.sleep(30.5 - time.time() % 30)
            tokens[user] = _login(db, user, state["secrets"][user])
    db.engine.dispose()
    return Filled(tokens, int(state["case_id"]), "analyst0")


def fill(url: str, count: int, tenants: int, seed: int, keep: str | None = None) -> Filled:
    """Tenants, a user per role (plus a few analysts to assign to) and `count` cases."""
    upgrade(url)
    db = Database(url)
    secrets: dict[str, str | None] = {}
    with db.session() as session:
        for i in range(tenants):
            tenant_service.create_tenant(session, SYSTEM, f"t{i:02d}", f"Tenant {i}")
        for name, role in ROLES.items():
            tenant = "t00" if role == "customer" else None
            user = tenant_service.create_user(session, SYSTEM, name, PASSWORD, role, tenant, None)
            secrets[name] = user.totp_secret
        for i in range(4):
            tenant_service.create_user(
                session, SYSTEM, f"analyst{i}", PASSWORD, "soc_analyst", None, None
            )
        people = list(session.scalars(select(User.id).where(User.role == "soc_analyst")))
        tenant_ids = [1 + i for i in range(tenants)]
    rng = random.Random(seed)
    now = datetime.now(UTC)
    rows = []
    for n in range(count):
        created = now - timedelta(seconds=rng.randint(0, DAYS * 86400))
        status = rng.choice(STATUSES)
        done = status in ("resolved", "closed")
        responded = status != "new"
        touched = created + timedelta(minutes=rng.randint(0, 600))
        rows.append(
            {
                "tenant_id": rng.choice(tenant_ids),
                "rule_id": f"rule-{rng.randint(1, 300)}",
                "title": f"Suspicious activity {n % 997}",
                "level": rng.choice(LEVELS),
                "host": f"host-{rng.randint(1, 5000)}",
                "status": status,
                "assignee_id": rng.choice(people) if responded and rng.random() < 0.8 else None,
                "alert_count": rng.randint(1, 20),
                "first_seen": created,
                "last_seen": created + timedelta(minutes=rng.randint(0, 60)),
                "created_at": created,
                "updated_at": min(touched, now),
                "priority": rng.choice(PRIORITIES),
                "response_due": created + timedelta(hours=1),
                "resolution_due": created + timedelta(hours=8),
                "responded_at": created + timedelta(minutes=rng.randint(2, 90))
                if responded
                else None,
                "response_seconds": rng.randint(120, 5400) if responded else None,
                "resolved_at": created + timedelta(hours=rng.randint(1, 20)) if done else None,
                "resolution_seconds": rng.randint(3600, 72_000) if done else None,
                "closed_at": created + timedelta(hours=30) if status == "closed" else None,
            }
        )
    with db.session() as session:
        for i in range(0, len(rows), 10_000):
            session.execute(insert(Case), rows[i : i + 10_000])
    with db.session() as session:
        ids = list(session.execute(select(Case.id, Case.tenant_id, Case.rule_id, Case.host,
                                          Case.created_at)))  # fmt: skip
        alerts, events = [], []
        for case_id, tenant_id, rule_id, host, created in ids:
            if case_id % 5 == 0:
                for k in range(3):
                    alerts.append(
                        {"tenant_id": tenant_id, "rule_id": rule_id, "rule_title": "Rule",
                         "level": "high", "event_id": f"e{case_id}-{k}", "host": host,
                         "event_time": created, "case_id": case_id, "created_at": created}
                    )  # fmt: skip
            if case_id % 10 == 0:
                for kind in ("created", "comment"):
                    events.append(
                        {"case_id": case_id, "at": created, "actor": "analyst", "kind": kind,
                         "detail": '{"text": "looked at it"}' if kind == "comment" else "{}"}
                    )  # fmt: skip
        for i in range(0, len(alerts), 10_000):
            session.execute(insert(Alert), alerts[i : i + 10_000])
        for i in range(0, len(events), 10_000):
            session.execute(insert(CaseEvent), events[i : i + 10_000])
        target = session.scalar(
            select(Case.id).where(Case.tenant_id == 1, Case.id % 10 == 0).order_by(Case.id.desc())
        )
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    tokens = {name: _login(db, name, secrets[name]) for name in ROLES}
    db.engine.dispose()
    if keep:
        state = {"secrets": secrets, "case_id": int(target or 1), "cases": count}
        _state_file(keep).write_text(json.dumps(state))
    return Filled(tokens, int(target or 1), "analyst0")


def pages(filled: Filled) -> list[tuple[str, str, str]]:
    """(label, role, path) of every page timed."""
    case = filled.case_id
    return [
        ("/cases (default)", "analyst", "/cases"),
        ("/cases status=new", "analyst", "/cases?status=new"),
        ("/cases priority=P1 sla=breached", "analyst", "/cases?priority=P1&sla=breached"),
        ("/cases tenant=3 sort=priority", "analyst", "/cases?tenant=3&sort=priority"),
        ("/cases assignee sort=-sla_due", "analyst", f"/cases?assignee={filled.assignee}"
                                                     "&sort=-sla_due"),
        ("/cases rule+host", "analyst", "/cases?rule=rule-7&host=host-42"),
        ("/cases q=activity 7", "analyst", "/cases?q=activity%207"),
        (f"/cases/{case}", "analyst", f"/cases/{case}"),
        ("/console", "analyst", "/console"),
        ("/events", "analyst", "/events"),
        ("/status", "analyst", "/status"),
        ("/risk", "analyst", "/risk"),
        ("/kri", "analyst", "/kri"),
        ("/portal", "customer", "/portal"),
        (f"/cases/{case} (customer)", "customer", f"/cases/{case}"),
        ("/usage", "customer", "/usage"),
        ("/finance", "finance", "/finance"),
        ("/admin", "admin", "/admin"),
    ]  # fmt: skip


def timed(client: TestClient, path: str, runs: int, warm: int = 3) -> tuple[int, list[float]]:
    status, times = 0, []
    for i in range(runs + warm):
        t0 = time.perf_counter()
        answer = client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
        elapsed = (time.perf_counter() - t0) * 1000
        status = answer.status_code
        if status != 200:
            return status, []
        if i >= warm:
            times.append(elapsed)
    return status, times


class SqlLog:
    """The statements the app runs while `on` (every engine: the app makes its own)."""

    def __init__(self) -> None:
        self.on = False
        self.rows: list[tuple[float, str, object]] = []
        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, many) -> None:  # type: ignore[no-untyped-def]
        conn.info["bench_t0"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, many) -> None:  # type: ignore[no-untyped-def]
        if self.on:
            took = (time.perf_counter() - conn.info.pop("bench_t0", time.perf_counter())) * 1000
            self.rows.append((took, statement, parameters))


def profile(client: TestClient, path: str, log: SqlLog, url: str, plans: bool) -> None:
    """One more GET of a page over the goal: its SQL time, its slowest statements (plans)."""
    log.rows, log.on = [], True
    t0 = time.perf_counter()
    client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
    total = (time.perf_counter() - t0) * 1000
    log.on = False
    sql = sum(r[0] for r in log.rows)
    print(f"    {total:.0f} ms, of which SQL {sql:.0f} ms in {len(log.rows)} statements:")
    slowest = sorted(log.rows, key=lambda r: -r[0])[:3]
    for took, statement, _ in slowest:
        print(f"      {took:6.1f} ms  {' '.join(statement.split())[:150]}")
    if plans and slowest:
        db = Database(url)
        took, statement, parameters = slowest[0]
        with db.engine.connect() as conn:
            plan = conn.exec_driver_sql("EXPLAIN ANALYZE " + statement, parameters).fetchall()  # type: ignore[arg-type]
        for (line,) in plan:
            print("      | " + line)
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10,000 cases, 20 runs")
    parser.add_argument("--tenants", type=int, default=12)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument(
        "--explain", action="store_true", help="EXPLAIN ANALYZE the slowest SQL of a slow page"
    )
    parser.add_argument("--url", default=os.environ.get("SOC_TEST_DATABASE_URL"))
    kept = parser.add_mutually_exclusive_group()
    kept.add_argument("--keep", action="store_true", help="leave the filled database for --reuse")
    kept.add_argument("--reuse", metavar="NAME", help="time a database a --keep run left")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.runs = 10_000, 20
    if not args.url:
        raise SystemExit("set SOC_TEST_DATABASE_URL (deploy/services.sh start prints it) or --url")
    server = make_url(args.url)
    if args.reuse and not _state_file(args.reuse).is_file():
        raise SystemExit(f"no state of a kept database {args.reuse} (run with --keep first)")
    name = args.reuse or f"soc_bench_{uuid.uuid4().hex[:8]}"
    admin = f"host={server.host} port={server.port or 5432} user={server.username} dbname=postgres"
    if not args.reuse:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        started = time.perf_counter()
        if args.reuse:
            filled = reuse(url, name)
            cases = json.loads(_state_file(name).read_text())["cases"]
            print(f"reusing {name} ({cases:,} cases); {args.runs} GETs per page")
        else:
            filled = fill(url, args.cases, args.tenants, args.seed, name if args.keep else None)
            print(
                f"filled {args.cases:,} cases over {args.tenants} tenants and {DAYS} days "
                f"in {time.perf_counter() - started:.1f} s; {args.runs} GETs per page"
                + (f"; kept as {name} (--reuse {name})" if args.keep else "")
            )
        with (
            tempfile.TemporaryDirectory() as tmp,
            TestClient(create_app(Settings(database_url=url, data_dir=Path(tmp)))) as client,
        ):
            log = SqlLog()
            client.cookies.set(SESSION_COOKIE, filled.tokens["analyst"])
            _, health = timed(client, "/api/v1/health", args.runs)
            base = pct(health, 0.95)
            print(
                f"{'page':36} {'role':9} {'p50':>8} {'p95':>8} {'max':>8} {'p95/200ms':>9} "
                f"{'p95/health':>10}"
            )
            print(
                f"{'/api/v1/health (baseline)':36} {'-':9} {statistics.median(health):6.1f}ms "
                f"{base:6.1f}ms {max(health):6.1f}ms {base / GOAL_MS:9.2f} {1.0:10.1f}"
            )
            over: list[str] = []
            for label, role, path in pages(filled):
                client.cookies.set(SESSION_COOKIE, filled.tokens[role])
                status, times = timed(client, path, args.runs)
                if status == 404 and not path.startswith("/cases/"):
                    print(f"{label:36} {role:9} absent (404): not built yet, skipped")
                    continue
                if not times:
                    print(f"{label:36} {role:9} answered {status}: skipped")
                    continue
                p95 = pct(times, 0.95)
                flag = "  OVER" if p95 > GOAL_MS else ""
                print(
                    f"{label:36} {role:9} {statistics.median(times):6.1f}ms {p95:6.1f}ms "
                    f"{max(times):6.1f}ms {p95 / GOAL_MS:9.2f} {p95 / base:10.1f}{flag}"
                )
                if flag:
                    over.append(label)
                    profile(client, path, log, url, args.explain)
            print(f"over the 200 ms p95 goal: {', '.join(over) if over else 'none'}")
    finally:
        if not (args.keep or args.reuse):
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
