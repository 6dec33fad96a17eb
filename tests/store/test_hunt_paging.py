"""Hunts read a tenant's range page by page by keyset (time, id): every event exactly once,
ties on the timestamp included, and the last page costs what the first does (no OFFSET-like
rescans from the start of the range)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.events import Event, normalise
from ingest.store.base import EventStore
from ingest.store.sqlite import SQLiteEventStore

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
START = NOW - timedelta(hours=1)


class MatchAll:
    """A hunt query every event matches, in both stores' terms."""

    id = "match-all"
    sigma_rule = None

    def matches(self, event: dict[str, Any]) -> bool:
        return True

    def query_for(self, store_kind: str) -> dict[str, Any]:
        return {"match_all": {}}


def make(n: int, when: datetime, tenant_id: int = 1) -> Event:
    obj = {"n": n, "@timestamp": when.isoformat()}
    return normalise(obj, orjson.dumps(obj), tenant_id, NOW)


@pytest.fixture(params=["sqlite", "opensearch"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    if request.param == "sqlite":
        sqlite = SQLiteEventStore(tmp_path / "events.sqlite")
        yield sqlite
        sqlite.close()
    else:
        yield request.getfixturevalue("os_store")


def test_a_hunt_reads_every_event_once_across_pages_and_ties(store: EventStore) -> None:
    # 4,500 events on 9 timestamps (500 share each): pages of 2,000 end inside ties.
    inside = [make(i, START + timedelta(minutes=i % 9)) for i in range(4500)]
    edges = [
        make(-1, START - timedelta(microseconds=1)),  # before the range
        make(-2, START + timedelta(minutes=30)),  # at the end: excluded
    ]
    other_tenant = [make(i, START + timedelta(minutes=i % 9), tenant_id=2) for i in range(50)]
    store.write(inside + edges + other_tenant)
    refresh = getattr(store, "refresh", None)
    if refresh:
        refresh()
    found = store.hunt(1, MatchAll(), START, START + timedelta(minutes=30))
    ids = [e.id for e in found]
    assert len(ids) == len(set(ids)) == 4500
    assert set(ids) == {e.id for e in inside}
    times = [e.event_time for e in found]
    assert times == sorted(times)


def test_the_last_page_costs_what_the_first_does(tmp_path: Path) -> None:
    """Counted in SQLite virtual-machine steps (deterministic, unlike a timer): with OFFSET,
    or a cursor the planner cannot seek to, page k re-reads the k pages before it."""
    store = SQLiteEventStore(tmp_path / "events.sqlite")
    store.write([make(i, START + timedelta(milliseconds=i)) for i in range(20_000)])
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    store._conn.set_progress_handler(count, 100)
    per_page: list[int] = []
    before = 0
    for n, _ in enumerate(store._iter_range(1, START, NOW), 1):
        if n % 2000 == 0:  # a page of 2,000 was fetched before this event was yielded
            per_page.append(steps[0] - before)
            before = steps[0]
    store._conn.set_progress_handler(None, 0)
    store.close()
    assert len(per_page) == 10
    assert max(per_page) < 3 * per_page[0], per_page
