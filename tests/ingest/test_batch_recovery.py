"""A request that dies after its events are stored but before their meters and alerts are
recorded (kill -9, a full disk, a pool timeout) leaves a pending ingest batch; the recovery
pass meters and detects exactly those events, once, without any retry. The death is injected
between the store write and the record step; the stores and databases are real."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from detections.engine import RuleSet
from detections.models import Alert
from ingest.models import ABANDONED, DONE, PENDING, RECOVERED, IngestBatch
from ingest.store.spool import SpoolingStore
from soc.app import create_app
from soc.core.migrate import upgrade
from soc.core.principal import SYSTEM, TenantRef
from soc.core.settings import Settings
from soc.services import Services, build_services
from tenants import service as tenant_service
from tenants.models import UsageDaily
from tests.helpers import benign_event, key_headers, whoami_event
from tests.services import create_database, drop_database, service_url

NDJSON = "application/x-ndjson"
SAMPLES, BENIGN = 6, 14


class Killed(BaseException):
    """The process dies here (what kill -9 does to the request, minus the process): a
    BaseException, so no `except Exception` of the product runs, as after a real kill."""


def _settings(tmp_path: Path, backend: str, request: pytest.FixtureRequest, **extra) -> Settings:
    options: dict = {"data_dir": tmp_path / "var"}
    if backend == "postgresql+opensearch":
        server = service_url("postgresql")
        name, url = create_database(server)
        request.addfinalizer(lambda: drop_database(server, name))
        prefix = f"soc-recovery-{uuid.uuid4().hex[:8]}"
        options |= {
            "database_url": url,
            "mode": "production",
            "detect_in_worker": False,
            "opensearch_url": service_url("opensearch"),
            "opensearch_index_prefix": prefix,
        }
    return Settings(**(options | extra))


def _build(settings: Settings, ruleset: RuleSet) -> tuple[Services, int, str]:
    upgrade(settings.sqlalchemy_url)
    services = build_services(settings, ruleset=ruleset)
    with services.db.session() as session:
        tenant = tenant_service.create_tenant(session, SYSTEM, "acme", "Acme")
        _, key = tenant_service.create_api_key(session, SYSTEM, "acme", "test")
        tenant_id = tenant.id
    return services, tenant_id, key


def _cleanup(services: Services) -> None:
    store = services.store
    inner = getattr(store, "inner", None)
    if inner is not None and hasattr(inner, "client"):
        inner.client.indices.delete(index=f"{inner.prefix}-*", ignore_unavailable=True)
        inner.client.indices.delete_index_template(name=inner.prefix, ignore=[404])
    services.close()


@pytest.fixture(params=["sqlite", "postgresql+opensearch"])
def env(
    request: pytest.FixtureRequest, tmp_path: Path, builtin_rules: RuleSet
) -> Iterator[tuple[Services, int, str]]:
    """Embedded (SQLite + SQLite event store) and production (PostgreSQL + OpenSearch)."""
    built = _build(_settings(tmp_path, request.param, request), builtin_rules)
    yield built
    _cleanup(built[0])


def body_of_samples() -> bytes:
    """Whoami samples (each raises the built-in whoami rule) among benign events."""
    lines = [whoami_event(f"ws-{i}", marker=f"m{i}") for i in range(SAMPLES)]
    lines += [benign_event(i) for i in range(BENIGN)]
    return b"\n".join(orjson.dumps(line) for line in lines)


def ingest(services: Services, tenant_id: int, body: bytes) -> None:
    with services.db.session() as session:
        services.ingestor.ingest_body(session, TenantRef(tenant_id), body, NDJSON, 1 << 20)


def die_after_store(monkeypatch: pytest.MonkeyPatch, services: Services) -> None:
    """The request's own record step never happens (the recovery's still does)."""
    real = services.ingestor.record

    def dying(session, tenant, batch_id, events, state):  # type: ignore[no-untyped-def]
        if state == DONE:
            raise Killed("died after storing, before recording")
        return real(session, tenant, batch_id, events, state)

    monkeypatch.setattr(services.ingestor, "record", dying)


def stored(services: Services, tenant_id: int) -> int:
    store = getattr(services.store, "inner", services.store)
    refresh = getattr(store, "refresh", None)
    if refresh:
        refresh(tenant_id)
    return services.store.stats(tenant_id).events


def metered(services: Services, tenant_id: int) -> tuple[int, int]:
    with services.db.session() as session:
        events, size = session.execute(
            select(func.coalesce(func.sum(UsageDaily.events), 0), func.coalesce(
                func.sum(UsageDaily.bytes), 0))
            .where(UsageDaily.tenant_id == tenant_id)
        ).one()  # fmt: skip
    return int(events), int(size)


def alerted(services: Services, tenant_id: int) -> list[tuple[str, str]]:
    """(rule id, host) of every alert."""
    with services.db.session() as session:
        rows = session.execute(
            select(Alert.rule_id, Alert.host).where(Alert.tenant_id == tenant_id)
        ).all()
    return sorted((r, h) for r, h in rows)


def batch_states(services: Services) -> list[str]:
    with services.db.session() as session:
        return list(session.scalars(select(IngestBatch.state).order_by(IngestBatch.created_at)))


def whoami_rule(services: Services) -> str:
    (rule,) = [r for r in services.ruleset.rules if "whoami" in r.title.lower()]
    return rule.id


def expected_alerts(services: Services) -> list[tuple[str, str]]:
    return sorted((whoami_rule(services), f"ws-{i}") for i in range(SAMPLES))


def test_recovery_meters_and_detects_what_a_dead_request_stored(
    env: tuple[Services, int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, tenant_id, _ = env
    body = body_of_samples()
    die_after_store(monkeypatch, services)
    with pytest.raises(Killed):
        ingest(services, tenant_id, body)
    monkeypatch.undo()
    total = SAMPLES + BENIGN
    # What the old code left behind for good: stored, never metered, never detected.
    assert stored(services, tenant_id) == total
    assert metered(services, tenant_id) == (0, 0)
    assert alerted(services, tenant_id) == []
    assert batch_states(services) == [PENDING]

    assert services.ingestor.recover(services.db, grace_seconds=60).recovered == 0  # too young
    report = services.ingestor.recover(services.db, grace_seconds=0)
    assert (report.recovered, report.events, report.failed) == (1, total, 0)
    size = len(body) - (total - 1)  # the lines without their newlines
    assert stored(services, tenant_id) == total
    assert metered(services, tenant_id) == (total, size)
    assert alerted(services, tenant_id) == expected_alerts(services)
    assert batch_states(services) == [RECOVERED]

    again = services.ingestor.recover(services.db, grace_seconds=0)  # nothing left to do
    assert (again.recovered, again.abandoned) == (0, 0)
    assert metered(services, tenant_id) == (total, size)


def test_a_retry_after_the_death_does_not_count_twice(
    env: tuple[Services, int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, tenant_id, key = env
    body = body_of_samples()
    total, size = SAMPLES + BENIGN, len(body) - (SAMPLES + BENIGN - 1)
    die_after_store(monkeypatch, services)
    with pytest.raises(Killed):
        ingest(services, tenant_id, body)
    monkeypatch.undo()
    with TestClient(create_app(services.settings, services)) as client:
        for _ in range(2):  # the shipper retries, maybe more than once
            answer = client.post("/api/v1/ingest", content=body, headers=key_headers(key))
            assert answer.status_code == 200, answer.text
            assert (answer.json()["accepted"], answer.json()["duplicates"]) == (total, total)
    # The retries stored nothing new: the events are the first batch's to record.
    assert metered(services, tenant_id) == (0, 0)
    assert services.ingestor.recover(services.db, grace_seconds=0).events == total
    assert stored(services, tenant_id) == total
    assert metered(services, tenant_id) == (total, size)
    assert alerted(services, tenant_id) == expected_alerts(services)
    assert batch_states(services) == [RECOVERED]  # the retries' markers went when recorded


def test_a_death_before_storing_then_a_retry_counts_once(
    env: tuple[Services, int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, tenant_id, _ = env
    body = body_of_samples()
    total, size = SAMPLES + BENIGN, len(body) - (SAMPLES + BENIGN - 1)

    def dead_store(events, batch_id=None):  # type: ignore[no-untyped-def]
        raise Killed("died before the store wrote anything")

    monkeypatch.setattr(services.store, "write", dead_store)
    with pytest.raises(Killed):
        ingest(services, tenant_id, body)
    monkeypatch.undo()
    ingest(services, tenant_id, body)  # the retry stores and records them itself
    report = services.ingestor.recover(services.db, grace_seconds=0)
    assert (report.recovered, report.abandoned) == (0, 1)
    assert stored(services, tenant_id) == total
    assert metered(services, tenant_id) == (total, size)
    assert alerted(services, tenant_id) == expected_alerts(services)
    assert batch_states(services) == [ABANDONED]


def test_a_request_recovered_under_it_does_not_record_again(
    env: tuple[Services, int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request slower than the grace period: the recovery records its batch first, and
    the request's own record step then finds the batch no longer pending."""
    services, tenant_id, _ = env
    body = body_of_samples()
    real = services.ingestor.record

    def recovered_meanwhile(session, tenant_id, batch_id, events, state):  # type: ignore[no-untyped-def]
        if state == DONE:
            monkeypatch.setattr(services.ingestor, "record", real)
            session.commit()  # the request's transaction is not the recovery's
            assert services.ingestor.recover(services.db, grace_seconds=0).recovered == 1
        return real(session, tenant_id, batch_id, events, state)

    monkeypatch.setattr(services.ingestor, "record", recovered_meanwhile)
    ingest(services, tenant_id, body)
    total = SAMPLES + BENIGN
    assert metered(services, tenant_id)[0] == total
    assert alerted(services, tenant_id) == expected_alerts(services)
    assert batch_states(services) == [RECOVERED]


def test_the_server_recovers_at_startup(
    tmp_path: Path, builtin_rules: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a crash the server's own recovery thread runs when it starts (no retry, no beat)."""
    settings = Settings(
        data_dir=tmp_path / "var", ingest_recovery_grace_seconds=0, ingest_recovery_every_seconds=60
    )
    services, tenant_id, _ = _build(settings, builtin_rules)
    try:
        die_after_store(monkeypatch, services)
        with pytest.raises(Killed):
            ingest(services, tenant_id, body_of_samples())
        monkeypatch.undo()
        assert metered(services, tenant_id)[0] == 0
        with TestClient(create_app(settings, services)):
            deadline = time.monotonic() + 30
            while batch_states(services) != [RECOVERED] and time.monotonic() < deadline:
                time.sleep(0.1)
        assert batch_states(services) == [RECOVERED]
        assert metered(services, tenant_id)[0] == SAMPLES + BENIGN
        assert alerted(services, tenant_id) == expected_alerts(services)
    finally:
        services.close()


def test_events_spooled_by_a_dead_request_are_recovered(
    tmp_path: Path, builtin_rules: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenSearch unreachable: the batch went to the disk spool, then the request died. The
    spool carries the batch, so the recovery records the spooled events (as the request would
    have), and the replay later tags them in the store with that batch."""
    settings = Settings(
        data_dir=tmp_path / "var",
        mode="production",
        detect_in_worker=False,
        opensearch_url="http://127.0.0.1:9",  # nothing listens there
    )
    services, tenant_id, _ = _build(settings, builtin_rules)
    try:
        assert isinstance(services.store, SpoolingStore)
        die_after_store(monkeypatch, services)
        with pytest.raises(Killed):
            ingest(services, tenant_id, body_of_samples())
        monkeypatch.undo()
        assert services.store.pending() == SAMPLES + BENIGN
        (batch_id,) = [f.name.rsplit("-", 1)[1].removesuffix(".ndjson")
                       for f in services.store.spooled_files()]  # fmt: skip
        spooled = services.store.events_of_batch(tenant_id, batch_id)
        assert len(spooled) == SAMPLES + BENIGN
        report = services.ingestor.recover(services.db, grace_seconds=0)
        assert (report.recovered, report.events) == (1, SAMPLES + BENIGN)
        assert metered(services, tenant_id)[0] == SAMPLES + BENIGN
        assert alerted(services, tenant_id) == expected_alerts(services)
    finally:
        services.close()


def test_a_failure_after_storing_then_a_replay_meters_each_event_once(
    env: tuple[Services, int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Detection raises after the store write (the request answers 500, the process lives):
    the shipper's replay finds the events known, and records the failed batch at once, so
    every event is metered and detected exactly once before the replay is answered."""
    services, tenant_id, key = env
    body = body_of_samples()
    total, size = SAMPLES + BENIGN, len(body) - (SAMPLES + BENIGN - 1)
    real = services.pipeline.detect

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("detection failed")

    monkeypatch.setattr(services.pipeline, "detect", broken)
    with TestClient(create_app(services.settings, services), raise_server_exceptions=False) as c:
        assert c.post("/api/v1/ingest", content=body, headers=key_headers(key)).status_code == 500
        assert metered(services, tenant_id) == (0, 0)  # the record step rolled back
        monkeypatch.setattr(services.pipeline, "detect", real)
        for _ in range(2):  # the shipper replays, maybe more than once
            answer = c.post("/api/v1/ingest", content=body, headers=key_headers(key)).json()
            assert (answer["accepted"], answer["duplicates"], answer["new"]) == (total, total, 0)
            assert metered(services, tenant_id) == (total, size)
    assert stored(services, tenant_id) == total
    assert alerted(services, tenant_id) == expected_alerts(services)
    assert batch_states(services) == [RECOVERED]
    assert services.ingestor.recover(services.db, grace_seconds=0).events == 0  # nothing left
    assert metered(services, tenant_id) == (total, size)


def test_identical_lines_in_one_batch_are_one_event(env: tuple[Services, int, str]) -> None:
    """The same line twice in a request is stored once and metered once; the answer counts
    it as taken and as a duplicate, on /api/v1/ingest and on _bulk alike."""
    services, tenant_id, key = env
    first, second = orjson.dumps(whoami_event("ws-a", marker="x")), orjson.dumps(benign_event(7))
    body = b"\n".join([first, first, second])
    with TestClient(create_app(services.settings, services)) as client:
        answer = client.post("/api/v1/ingest", content=body, headers=key_headers(key)).json()
        assert (answer["accepted"], answer["duplicates"], answer["new"]) == (3, 1, 2)
        assert stored(services, tenant_id) == 2
        assert metered(services, tenant_id) == (2, len(first) + len(second))
        third = orjson.dumps(benign_event(8))
        bulk = b"".join(b'{"index":{}}\n' + line + b"\n" for line in (third, third, first))
        items = client.post("/es/_bulk", content=bulk, headers=key_headers(key)).json()["items"]
        assert [i["index"]["status"] for i in items] == [201, 200, 200]
    assert stored(services, tenant_id) == 3
    assert metered(services, tenant_id) == (3, len(first) + len(second) + len(third))
