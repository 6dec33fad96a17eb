"""The EventStore contract, run on both implementations: SQLite and a real OpenSearch node."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from detections.engine import RuleSet
from detections.hunting import HuntRule
from ingest.events import Event, normalise
from ingest.store.base import EventStore
from ingest.store.sqlite import SQLiteEventStore
from soc.services import BUILTIN_RULES
from tests.helpers import benign_event, whoami_event

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "opensearch"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    if request.param == "sqlite":
        sqlite = SQLiteEventStore(tmp_path / "events.sqlite")
        yield sqlite
        sqlite.close()
    else:
        yield request.getfixturevalue("os_store")


def refreshed(store: EventStore) -> EventStore:
    refresh = getattr(store, "refresh", None)
    if refresh:
        refresh()
    return store


def event(obj: dict, tenant_id: int = 1, days_ago: int = 0) -> Event:
    obj = obj | {"@timestamp": (NOW - timedelta(days=days_ago)).isoformat()}
    return normalise(obj, orjson.dumps(obj), tenant_id, NOW)


def test_write_is_idempotent_and_tenant_scoped(store: EventStore) -> None:
    batch = [event(benign_event(i)) for i in range(5)]
    assert sorted(store.write(batch)) == sorted(e.id for e in batch)
    assert store.write(batch) == []  # replay: nothing new
    assert store.write([event(benign_event(1), tenant_id=2)]) != []
    refreshed(store)
    assert store.stats(1).events == 5
    assert store.stats(2).events == 1
    assert store.get(1, batch[0].id) is not None
    assert store.get(2, batch[0].id) is None
    got = store.get(1, batch[2].id)
    assert got is not None and got.data == batch[2].data and got.size == batch[2].size
    assert got.event_time == batch[2].event_time


def test_search_by_time_text_and_paging(store: EventStore) -> None:
    store.write(
        [event(benign_event(i), days_ago=i) for i in range(6)]
        + [event(whoami_event(marker="needle-XYZ"), days_ago=1)]
    )
    refreshed(store)
    everything = store.search(1, limit=3)
    assert everything.total == 7 and len(everything.events) == 3
    assert everything.events[0].event_time >= everything.events[-1].event_time  # newest first
    recent = store.search(1, start=NOW - timedelta(days=2, hours=1))
    assert recent.total == 4
    found = store.search(1, text="needle-xyz")
    assert found.total == 1 and found.events[0].data["CommandLine"].endswith("needle-XYZ")
    assert store.search(2).total == 0


def test_retention_removes_only_old_days(store: EventStore) -> None:
    store.write([event(benign_event(i), days_ago=i * 10) for i in range(5)])  # 0..40 days
    refreshed(store)
    removed = store.retention(1, NOW - timedelta(days=25))
    refreshed(store)
    assert removed == 2
    assert store.stats(1).events == 3


def test_hunt_with_a_sigma_rule(store: EventStore) -> None:
    rules = RuleSet.from_dirs([BUILTIN_RULES])
    whoami = next(r for r in rules.rules if "Whoami" in r.title)
    store.write(
        [
            event(benign_event(1)),
            event(whoami_event("h1", marker="a")),
            event(whoami_event("h2", marker="b"), days_ago=3),
            event(whoami_event("h3"), tenant_id=2),
        ]
    )
    refreshed(store)
    hits = store.hunt(1, HuntRule(whoami))
    assert sorted(e.host for e in hits) == ["h1", "h2"]
    recent = store.hunt(1, HuntRule(whoami), start=NOW - timedelta(days=1))
    assert [e.host for e in recent] == ["h1"]
