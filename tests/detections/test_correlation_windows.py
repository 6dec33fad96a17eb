"""Correlation windows in a shared store (Redis, SQLite, PostgreSQL): several Detectors (as
several workers) share each window, a new Detector (a restart) continues it, entries past the
timespan do not count, stale windows expire, and concurrent writers neither lose an entry nor
fire twice. Real services only (SOC_TEST_REDIS_URL, SOC_TEST_DATABASE_URL)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from detections.correlation import CorrelationRule, MemoryWindowStore, WindowStore
from detections.engine import RuleSet
from detections.matcher import Detector, Match
from detections.models import Alert, CorrelationWindow
from detections.windows import DatabaseWindowStore, RedisWindowStore
from ingest.events import Event
from soc.core.db import Database, utcnow
from soc.core.migrate import upgrade
from tenants.models import Tenant
from tests.detections.test_correlation_rules import BASE, correlation, fail
from tests.services import create_database, drop_database, service_url

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
OK = {"EventID": 4624, "TargetUserName": "bob"}


def event_count(threshold: int, timespan: str = "5m") -> str:
    return correlation(
        "  type: event_count\n  rules: [failed_logon]\n  group-by: [TargetUserName]\n"
        f"  timespan: {timespan}\n  condition: {{gte: {threshold}}}\n"
    )


@dataclass
class Backend:
    """One shared store backend; ``store()`` is a new client of it (a worker, a restart)."""

    kind: str
    store: Callable[..., WindowStore]
    db: Database | None = None
    client: redis.Redis[bytes] | None = None

    def session(self) -> AbstractContextManager[Session | None]:
        return self.db.session() if self.db is not None else nullcontext()


@pytest.fixture(scope="module")
def pg_template() -> Iterator[tuple[str, str]]:
    server = service_url("postgresql")
    name, url = create_database(server)
    upgrade(url)
    yield server, name
    drop_database(server, name)


def _database(url: str, migrate: bool) -> Database:
    if migrate:
        upgrade(url)
    db = Database(url)
    with db.session() as session:
        session.add_all([Tenant(id=1, slug="t1", name="T1"), Tenant(id=2, slug="t2", name="T2")])
    return db


@pytest.fixture(params=["redis", "sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    kind = request.param
    if kind == "redis":
        client: redis.Redis[bytes] = redis.Redis.from_url(service_url("redis"))
        prefix = f"soc:test:{uuid.uuid4().hex}"
        yield Backend(
            kind, lambda **kw: RedisWindowStore(client, prefix=prefix, **kw), None, client
        )
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()
        return
    if kind == "sqlite":
        db = _database(f"sqlite:///{tmp_path / 'soc.db'}", migrate=True)
        yield Backend(kind, lambda **kw: DatabaseWindowStore(db, **kw), db)
        db.engine.dispose()
        return
    server, template = request.getfixturevalue("pg_template")
    name, url = create_database(server, template)
    db = _database(url, migrate=False)  # copied from a migrated template
    yield Backend(kind, lambda **kw: DatabaseWindowStore(db, **kw), db)
    db.engine.dispose()
    drop_database(server, name)


def ruleset(corr: str) -> RuleSet:
    rules = RuleSet.from_rules([BASE, corr])
    assert not rules.errors, rules.errors
    return rules


def ev(n: int, seconds: float, data: dict[str, Any], tenant: int = 1) -> Event:
    body = {"Channel": "Security", **data}
    when = T0 + timedelta(seconds=seconds)
    return Event(f"e{n}", tenant, utcnow(), when, 100, "ws-1", body)


def correlated(backend: Backend, detector: Detector, *events: Event) -> list[Match]:
    with backend.session() as session:
        matches = detector.evaluate(events, session=session)
    return [m for m in matches if isinstance(m.rule, CorrelationRule)]


def test_two_workers_share_one_window_and_fire_once(backend: Backend) -> None:
    rules = ruleset(event_count(4))
    first, second = Detector(rules, backend.store()), Detector(rules, backend.store())
    hits: list[Match] = []
    for n in range(7):
        hits += correlated(backend, (first, second)[n % 2], ev(n, n, fail("bob")))
    assert [(m.event.id, m.related_event_ids) for m in hits] == [("e3", ["e0", "e1", "e2", "e3"])]


def test_a_restarted_worker_continues_the_window(backend: Backend) -> None:
    rules = ruleset(event_count(3))
    assert correlated(backend, Detector(rules, backend.store()), ev(0, 0, fail("bob"))) == []
    assert correlated(backend, Detector(rules, backend.store()), ev(1, 1, fail("bob"))) == []
    restarted = Detector(rules, backend.store())
    hits = correlated(backend, restarted, ev(2, 2, fail("eve")), ev(3, 3, fail("bob")))
    assert [m.related_event_ids for m in hits] == [["e0", "e1", "e3"]]


def test_entries_past_the_timespan_do_not_count(backend: Backend) -> None:
    rules = ruleset(event_count(3, "1m"))
    a, b = Detector(rules, backend.store()), Detector(rules, backend.store())
    assert correlated(backend, a, ev(0, 0, fail("bob")), ev(1, 50, fail("bob"))) == []
    assert correlated(backend, b, ev(2, 70, fail("bob"))) == []  # e0 left the window
    assert correlated(backend, a, ev(3, 5, fail("bob"))) == []  # late, outside the window
    hits = correlated(backend, b, ev(4, 100, fail("bob")))
    assert [m.related_event_ids for m in hits] == [["e1", "e2", "e4"]]


def test_windows_are_per_tenant_and_group(backend: Backend) -> None:
    rules = ruleset(event_count(2))
    a, b = Detector(rules, backend.store()), Detector(rules, backend.store())
    assert correlated(backend, a, ev(0, 0, fail("bob"), tenant=1)) == []
    assert correlated(backend, b, ev(1, 1, fail("bob"), tenant=2)) == []
    assert correlated(backend, b, ev(2, 2, fail("eve"), tenant=1)) == []
    hits = correlated(backend, b, ev(3, 3, fail("bob"), tenant=1))
    assert [m.related_event_ids for m in hits] == [["e0", "e3"]]


def test_value_count_and_temporal_are_shared(backend: Backend) -> None:
    spray = ruleset(
        correlation(
            "  type: value_count\n  rules: [failed_logon]\n  group-by: [IpAddress]\n"
            "  timespan: 10m\n  condition: {gte: 3, field: TargetUserName}\n"
        )
    )
    a, b = Detector(spray, backend.store()), Detector(spray, backend.store())
    users = ["a", "a", "b", "a", "c"]
    hits = [
        h
        for n, u in enumerate(users)
        for h in correlated(backend, (a, b)[n % 2], ev(n, n, fail(u)))
    ]
    assert [m.related_event_ids for m in hits] == [["e0", "e1", "e2", "e3", "e4"]]
    for kind, first, then, expected in [
        ("temporal", OK, fail("bob"), 1),
        ("temporal_ordered", OK, fail("bob"), 0),
        ("temporal_ordered", fail("bob"), OK, 1),
    ]:
        rules = ruleset(
            correlation(
                f"  type: {kind}\n  rules: [failed_logon, success_logon]\n"
                "  group-by: [TargetUserName]\n  timespan: 1m\n"
            ).replace("0000000000aa", uuid.uuid4().hex[:12])  # a window of its own
        )
        a, b = Detector(rules, backend.store()), Detector(rules, backend.store())
        assert correlated(backend, a, ev(10, 0, first)) == []
        assert len(correlated(backend, b, ev(11, 5, then))) == expected, kind


def test_a_replayed_batch_alerts_once_and_counts_once(backend: Backend) -> None:
    """A task run again (its worker died before the commit, or after): the event that
    completed the burst answers the same burst (same rule, same event: one alert), the other
    events do not enter a new window."""
    rules = ruleset(event_count(3))
    batch = [ev(n, n, fail("bob")) for n in range(3)]
    first = correlated(backend, Detector(rules, backend.store()), *batch)
    again = correlated(backend, Detector(rules, backend.store()), *batch)
    assert [(m.event.id, m.related_event_ids) for m in first + again] == [
        ("e2", ["e0", "e1", "e2"]),
        ("e2", ["e0", "e1", "e2"]),
    ]
    detector = Detector(rules, backend.store())
    assert correlated(backend, detector, ev(3, 3, fail("bob")), ev(4, 4, fail("bob"))) == []
    assert [m.event.id for m in correlated(backend, detector, ev(5, 5, fail("bob")))] == ["e5"]


def test_concurrent_workers_never_lose_an_entry_nor_fire_twice(backend: Backend) -> None:
    """Eight threads, each with its own store client, add 25 events each to one window of
    threshold 10: exactly 20 bursts, every event in exactly one."""
    rules = ruleset(event_count(10))
    bursts: list[list[str]] = []
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        detector = Detector(rules, backend.store())
        try:
            for i in range(25):
                n = w * 25 + i
                for m in correlated(backend, detector, ev(n, n / 10, fail("bob"))):
                    bursts.append(m.related_event_ids)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(bursts) == 20 and all(len(b) == 10 for b in bursts)
    assert sorted(e for b in bursts for e in b) == sorted(f"e{n}" for n in range(200))


def test_stale_windows_expire(backend: Backend) -> None:
    rules = ruleset(event_count(2, "1s"))
    store = backend.store(grace=timedelta(0))
    detector = Detector(rules, store)
    assert correlated(backend, detector, ev(0, 0, fail("bob")), ev(1, 0, fail("eve"))) == []
    if backend.client is not None:
        assert isinstance(store, RedisWindowStore)
        keys = list(backend.client.scan_iter(f"{store.prefix}:*"))
        ttls = [backend.client.pttl(k) for k in keys]
        assert keys and all(0 < ttl <= 1000 for ttl in ttls), ttls
        time.sleep(1.1)
        assert not any(backend.client.exists(k) for k in keys)
        assert store.expire(utcnow()) == 0
    else:
        assert backend.db is not None
        assert store.expire(utcnow() - timedelta(seconds=5)) == 0
        assert store.expire(utcnow() + timedelta(seconds=2)) == 2
        with backend.db.session() as session:
            assert session.scalar(select(func.count()).select_from(CorrelationWindow)) == 0
    # the expired entries are gone: one more event does not reach the threshold
    assert correlated(backend, detector, ev(2, 0.5, fail("bob"))) == []


def test_memory_store_expires_and_is_what_the_engine_defaults_to() -> None:
    rules = ruleset(event_count(2))
    store = MemoryWindowStore()
    detector = Detector(rules, store)
    assert detector.evaluate([ev(0, 0, fail("bob"))]) != []
    assert store.expire(utcnow()) == 0
    assert store.expire(utcnow() + timedelta(minutes=7)) == 1
    assert [m for m in detector.evaluate([ev(1, 1, fail("bob"))]) if m.related_event_ids] == []


def test_embedded_ingest_keeps_windows_in_the_database(tmp_path: Path) -> None:
    """Embedded mode end to end: two ingest requests, each with half of a burst, through the
    pipeline (the windows join the ingest transaction on SQLite): one correlation alert, and
    the window is a row of the database."""
    from soc.core.principal import TenantRef
    from soc.core.settings import Settings
    from soc.services import build_services
    from tests.helpers import ndjson, whoami_event
    from tests.worker.test_correlation_workers import BASE_ID, BASE_RULE

    settings = Settings(data_dir=tmp_path / "var")
    upgrade(settings.sqlalchemy_url)
    corr = BASE_RULE.read_text() + (
        "---\ntitle: whoami burst\nid: 0b6f3e0e-1111-4222-8333-444455556666\nlevel: high\n"
        f"correlation:\n  type: event_count\n  rules: [{BASE_ID}]\n  group-by: [Computer]\n"
        "  timespan: 10m\n  condition: {gte: 3}\n"
    )
    services = build_services(settings, RuleSet.from_rules([corr]))
    assert isinstance(services.detector.windows, DatabaseWindowStore)
    with services.db.session() as session:
        session.add(Tenant(id=1, slug="acme", name="Acme"))
    for half in (("a", "b"), ("c", "d")):
        body = ndjson(*(whoami_event("ws-9", 2, m) for m in half))
        services.pipeline.ingest_body(TenantRef(1), body, "application/x-ndjson")
    with services.db.read_session() as session:
        alerts = list(session.scalars(select(Alert).where(Alert.rule_id.like("0b6f3e0e-%"))))
        windows = session.scalar(select(func.count()).select_from(CorrelationWindow))
    services.close()
    assert len(alerts) == 1 and len(orjson.loads(alerts[0].related_event_ids or "[]")) == 3
    assert windows == 1
