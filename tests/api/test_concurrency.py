"""No request holds the write lock for longer than its writes: reads take no lock, a long hunt
runs as a job while everyone else goes on, and a database that stays busy past the short
timeout answers 503 busy with Retry-After, never a 500 after half a minute."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request

from soc.core import audit
from soc.core.audit import AuditEntry
from soc.core.db import ReadOnlySessionError
from soc.core.deps import db_session
from soc.core.settings import Settings
from soc.services import Services
from tests.conftest import World
from tests.helpers import key_headers, ndjson, whoami_event

WHOAMI = "e6fb6eac-9ce3-4c04-b51b-cdaed8a36161"
BUSY_TIMEOUT = 1.0
RULE = """title: Net tool
id: 0b4e2f8e-5a55-4c2b-9d2e-7d1a6f0c0003
status: test
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\\net.exe'
    condition: selection
level: medium
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Short waits, so a test of contention takes a second, not half a minute."""
    return settings.model_copy(
        update={"db_busy_timeout_seconds": BUSY_TIMEOUT, "db_pool_timeout_seconds": 0.5}
    )


def request(method: str) -> Request:
    return Request(
        {"type": "http", "method": method, "headers": [], "path": "/", "query_string": b""}
    )


def write_audit(services: Services, n: int) -> None:
    with services.db.session() as session:
        audit.record(session, actor="test", action="test.write", object_type="t", object_id=n)


def test_an_open_read_request_never_blocks_a_writer(services: Services, world: World) -> None:
    reading = db_session(request("GET"), services.db)
    session = next(reading)
    try:
        session.execute(select(AuditEntry.id).limit(1)).all()  # its transaction is open now
        started = time.monotonic()
        writer = threading.Thread(target=write_audit, args=(services, 1))
        writer.start()
        writer.join(10)
        assert not writer.is_alive()
        assert time.monotonic() - started < BUSY_TIMEOUT / 2  # no wait for a lock at all
        # the reader keeps its snapshot (and can go on reading) while the writer committed
        session.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    finally:
        reading.close()
    with services.db.read_session() as after:
        assert after.scalar(select(AuditEntry).where(AuditEntry.action == "test.write"))


def test_a_read_session_refuses_to_write(services: Services, world: World) -> None:
    """A GET that writes would do so without the write lock (a forked audit chain): it fails
    loudly instead."""
    with pytest.raises(ReadOnlySessionError), services.db.read_session() as session:
        audit.record(session, actor="test", action="test.write", object_type="t", object_id=1)
    with services.db.read_session() as session:
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "test.write")) is None


def test_a_long_hunt_blocks_no_one(
    client: TestClient, world: World, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingested = client.post(
        "/api/v1/ingest",
        content=ndjson(*[whoami_event(f"ws-{i}") for i in range(3)]),
        headers=key_headers(world.keys["alpha"]),
    )
    assert ingested.status_code == 200
    scanning, release = threading.Event(), threading.Event()
    hunt = services.store.hunt

    def slow_hunt(*args: object, **kwargs: object) -> object:  # a scan that takes long
        scanning.set()
        release.wait(30)
        return hunt(*args, **kwargs)

    monkeypatch.setattr(services.store, "hunt", slow_hunt)
    analyst = world["soc_analyst"].headers
    answers: dict[str, object] = {}

    def start() -> None:
        answers["hunt"] = client.post(
            "/api/v1/rules/hunt?tenant=alpha", json={"rule_id": WHOAMI, "days": 1}, headers=analyst
        )

    starter = threading.Thread(target=start)
    starter.start()
    try:
        assert scanning.wait(10)
        starter.join(5)
        assert not starter.is_alive(), "the hunt request waited for the scan"
        job = answers["hunt"].json()  # type: ignore[attr-defined]
        # while the scan runs: other tenants' ingest, writes and reads answer at once
        began = time.monotonic()
        beta = client.post(
            "/api/v1/ingest",
            content=ndjson(whoami_event("b-1")),
            headers=key_headers(world.keys["beta"]),
        )
        assert beta.status_code == 200, beta.text
        state = client.post(
            "/api/v1/rules/state?tenant=beta",
            json={"selector": "rule", "value": WHOAMI, "enabled": True},
            headers=world["admin"].headers,
        )
        assert state.status_code == 200, state.text
        assert client.get("/api/v1/health").json()["status"] in ("ok", "degraded")
        assert client.get("/api/v1/cases", headers=analyst).status_code == 200
        assert time.monotonic() - began < 5
        running = client.get(f"/api/v1/jobs/{job['id']}", headers=analyst).json()
        assert running["state"] == "running" and running["progress"]["total"] == 3
    finally:
        release.set()
    deadline = time.monotonic() + 30
    while running["state"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.05)
        running = client.get(f"/api/v1/jobs/{job['id']}", headers=analyst).json()
    assert running["state"] == "done" and running["result"]["scanned"] == 3


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_write_lock_held_elsewhere_answers_503_busy(
    client: TestClient, world: World, settings: Settings
) -> None:
    """Another process holds SQLite's write lock past the busy timeout: writes answer 503 with
    Retry-After (JSON) within about that timeout; reads and health are served as usual."""
    analyst = world["soc_analyst"].headers
    change = {"selector": "rule", "value": WHOAMI, "enabled": True}
    holder = sqlite3.connect(settings.data_dir / "soc.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        began = time.monotonic()
        answer = client.post("/api/v1/rules/state?tenant=alpha", json=change, headers=analyst)
        assert time.monotonic() - began < BUSY_TIMEOUT + 3
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "busy" and answer.headers["retry-after"] == "2"
        ingest = client.post(
            "/api/v1/ingest",
            content=ndjson(whoami_event()),
            headers=key_headers(world.keys["beta"]),
        )
        assert ingest.status_code == 503 and ingest.json()["error"] == "busy"
        assert "retry-after" in ingest.headers
        assert client.get("/api/v1/health").status_code == 200
        assert client.get("/api/v1/rules?tenant=alpha", headers=analyst).status_code == 200
        assert client.get("/api/v1/cases", headers=analyst).status_code == 200
        # a POST that writes nothing (authentication is a read) needs no lock either
        checked = client.post("/api/v1/rules/validate", json={"yaml": RULE}, headers=analyst)
        assert checked.status_code == 200, checked.text
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    again = client.post("/api/v1/rules/state?tenant=alpha", json=change, headers=analyst)
    assert again.status_code == 200


def test_no_free_connection_answers_503_busy(
    client: TestClient, world: World, services: Services
) -> None:
    held = []
    try:
        while True:  # every pooled connection (and the overflow) taken
            try:
                held.append(services.db.engine.raw_connection())
            except PoolTimeout:
                break
        answer = client.get("/api/v1/cases", headers=world["soc_analyst"].headers)
        assert answer.status_code == 503 and answer.json()["error"] == "busy"
        assert answer.headers["retry-after"] == "2"
    finally:
        for connection in held:
            connection.close()
    assert client.get("/api/v1/cases", headers=world["soc_analyst"].headers).status_code == 200
