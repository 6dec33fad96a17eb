"""A full disk: ingest answers 507 JSON with Retry-After (the real error, not SQLite's
"cannot rollback"), and the health check reports the free space and says degraded when low."""

from __future__ import annotations

import errno
import shutil
import sqlite3
from collections import namedtuple

import pytest
from fastapi.testclient import TestClient

from soc.core.settings import MIB, Settings
from soc.services import Services
from tests.conftest import World
from tests.helpers import key_headers, ndjson, whoami_event

Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def db_backend() -> str:
    return "sqlite"  # the event store and the disk are what these tests exercise


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"disk_min_free_bytes": 64 * MIB})


def bulk(*events: dict) -> bytes:
    return b"".join(b'{"create": {}}\n' + ndjson(e) for e in events)


@pytest.mark.parametrize(
    "error",
    [
        sqlite3.OperationalError("database or disk is full"),
        OSError(errno.ENOSPC, "No space left on device"),  # e.g. the spool
    ],
    ids=["sqlite-full", "enospc"],
)
def test_full_disk_at_ingest_answers_507_with_retry_after(
    client: TestClient,
    world: World,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
) -> None:
    def full(*_args: object, **_kwargs: object) -> list[str]:
        raise error

    monkeypatch.setattr(services.store, "write", full)
    headers = key_headers(world.keys["alpha"])
    for path, body in (("/api/v1/ingest", ndjson(whoami_event())), ("/es/_bulk", bulk({"a": 1}))):
        answer = client.post(path, content=body, headers=headers)
        assert answer.status_code == 507, (path, answer.text)
        assert answer.json()["error"] == "disk_full", path
        assert answer.headers["retry-after"] == "300"


def test_a_really_full_event_store_answers_507_not_cannot_rollback(
    client: TestClient, world: World, services: Services
) -> None:
    """SQLite's own disk-full (its file may not grow): the store's rollback must not replace
    the error with "cannot rollback - no transaction is active"."""
    store = services.store._conn  # type: ignore[attr-defined]
    pages = store.execute("PRAGMA page_count").fetchone()[0]
    store.execute(f"PRAGMA max_page_count = {pages}")
    headers = key_headers(world.keys["alpha"])
    events = [whoami_event(f"ws-{i}", marker="x" * 400) for i in range(200)]
    try:
        answer = client.post("/api/v1/ingest", content=ndjson(*events), headers=headers)
        assert answer.status_code == 507, answer.text
        assert answer.json()["error"] == "disk_full" and "retry-after" in answer.headers
        assert client.get("/api/v1/health").status_code == 200
    finally:
        store.execute("PRAGMA max_page_count = 1073741823")
    again = client.post("/api/v1/ingest", content=ndjson(*events), headers=headers)
    assert again.status_code == 200 and again.json()["accepted"] == 200


def test_health_reports_the_disk_and_degrades_when_low(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.disk_usage(settings.data_dir)
    health = client.get("/api/v1/health").json()
    disk = health["disk"]
    assert disk["min_free_bytes"] == 64 * MIB and disk["total_bytes"] == real.total
    assert abs(disk["free_bytes"] - real.free) < 512 * MIB
    assert health["status"] == ("ok" if real.free >= 64 * MIB else "degraded")

    monkeypatch.setattr(shutil, "disk_usage", lambda _path: Usage(10 << 30, 10 << 30, MIB))
    low = client.get("/api/v1/health")
    assert low.status_code == 200
    assert low.json()["status"] == "degraded"
    assert low.json()["disk"] | {"path": None} == {
        "status": "low",
        "path": None,
        "free_bytes": MIB,
        "total_bytes": 10 << 30,
        "min_free_bytes": 64 * MIB,
    }
