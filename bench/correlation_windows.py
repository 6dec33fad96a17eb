"""Detection throughput with a correlation rule: windows in memory (the old, per-process
behaviour) vs Redis vs the database (SQLite; PostgreSQL too when SOC_TEST_DATABASE_URL is set).

Every event matches a base rule (failed logon) that an event_count correlation references
(group by user over 10 users, threshold 50 in 5 minutes): the worst case, each event is one
window update. The events go through ``Detector.evaluate`` in batches (``--batch``, the
detection task's chunk is 1000) and, for the shared stores, also one event per call (a round
trip each). Wall-clock time, one process; a run without the correlation rule is the floor.

    .venv/bin/python bench/correlation_windows.py [--events 10000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import redis
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from detections.correlation import MemoryWindowStore, WindowStore
from detections.engine import RuleSet
from detections.matcher import Detector
from detections.windows import DatabaseWindowStore, RedisWindowStore
from ingest.events import Event
from soc.core.db import Database, utcnow
from soc.core.migrate import upgrade
from tenants.models import Tenant

BASE = """
title: failed logon
name: failed_logon
id: 5f2c0c1e-0000-4000-8000-000000000001
logsource: {product: windows, service: security}
detection:
  sel: {EventID: 4625}
  condition: sel
"""
CORRELATION = """
title: brute force
id: 5f2c0c1e-0000-4000-8000-0000000000bb
level: high
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [TargetUserName]
  timespan: 5m
  condition: {gte: 50}
"""
Session_ = Callable[[], AbstractContextManager[Session | None]]


def events(count: int) -> list[Event]:
    t0 = datetime.now(UTC) - timedelta(hours=1)
    return [
        Event(
            f"bench-{uuid.uuid4().hex[:8]}-{n}",
            1,
            utcnow(),
            t0 + timedelta(milliseconds=10 * n),
            120,
            "dc-1",
            {"Channel": "Security", "EventID": 4625, "TargetUserName": f"user{n % 10}"},
        )
        for n in range(count)
    ]


def run(detector: Detector, batch: list[Event], size: int, session: Session_) -> tuple[float, int]:
    """(seconds, correlation alerts) for the events in calls of ``size`` events."""
    fired = 0
    started = time.perf_counter()
    for i in range(0, len(batch), size):
        with session() as s:
            matches = detector.evaluate(batch[i : i + size], session=s)
        fired += sum(1 for m in matches if m.related_event_ids)
    return time.perf_counter() - started, fired


@contextmanager
def sqlite_db() -> Iterator[Database]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'soc.db'}"
        upgrade(url)
        yield with_tenant(Database(url))


@contextmanager
def postgresql_db(server: str) -> Iterator[Database]:
    """A scratch database on the PostgreSQL server of ``server`` (dropped afterwards)."""
    parsed = make_url(server)
    admin = f"host={parsed.host} port={parsed.port or 5432} user={parsed.username} dbname=postgres"
    name = f"soc_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        url = parsed.set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        db = with_tenant(Database(url))
        yield db
        db.engine.dispose()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def with_tenant(db: Database) -> Database:
    with db.session() as session:
        session.add(Tenant(id=1, slug="bench", name="Bench"))
    return db


def report(name: str, count: int, seconds: float, fired: int, floor: float) -> None:
    print(
        f"{name:<28} {count / seconds:>10,.0f} events/s  {fired:>4} alerts  "
        f"{seconds / floor:>6.1f}x the memory time"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    n, size = args.events, args.batch
    plain = RuleSet.from_rules([BASE])
    rules = RuleSet.from_rules([BASE, CORRELATION])
    no_session: Session_ = nullcontext

    seconds, _ = run(Detector(plain, MemoryWindowStore()), events(n), size, no_session)
    print(f"{n:,} matching events, batches of {size}; no correlation rule: {n / seconds:,.0f}/s")
    floor, fired = run(Detector(rules, MemoryWindowStore()), events(n), size, no_session)
    report("memory (before)", n, floor, fired, floor)

    url = os.environ.get("SOC_TEST_REDIS_URL") or os.environ.get("SOC_REDIS_URL")
    client: redis.Redis[bytes] = redis.Redis.from_url(url or "redis://127.0.0.1:6379/0")
    prefix = f"soc:bench:{uuid.uuid4().hex}"
    store: WindowStore = RedisWindowStore(client, prefix=prefix)
    for label, calls in ((f"redis, batch {size}", size), ("redis, 1 event a call", 1)):
        seconds, fired = run(Detector(rules, store), events(n), calls, no_session)
        report(label, n, seconds, fired, floor)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)

    databases: list[tuple[str, AbstractContextManager[Database]]] = [("sqlite", sqlite_db())]
    if os.environ.get("SOC_TEST_DATABASE_URL"):
        databases.append(("postgresql", postgresql_db(os.environ["SOC_TEST_DATABASE_URL"])))
    for name, context in databases:
        with context as db:
            detector = Detector(rules, DatabaseWindowStore(db))
            for label, calls in ((f"{name}, batch {size}", size), (f"{name}, 1 event a call", 1)):
                seconds, fired = run(detector, events(n), calls, db.session)
                report(label, n, seconds, fired, floor)


if __name__ == "__main__":
    main()
