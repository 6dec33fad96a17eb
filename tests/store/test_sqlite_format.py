"""The SQLite store's file format: a file of the former WITHOUT ROWID format is converted in
place on open, with every event, its batch and the once-per-tenant dedupe intact."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from ingest.events import Event, normalise
from ingest.store.sqlite import INSERT, LEGACY_SCHEMA, SQLiteEventStore, _us

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def event(i: int, tenant_id: int = 1) -> Event:
    obj = {"@timestamp": (NOW - timedelta(minutes=i)).isoformat(), "host": f"h{i % 3}", "n": i}
    return normalise(obj, orjson.dumps(obj), tenant_id, NOW)


def legacy_file(path: Path, rows: list[tuple[Event, str | None]], batch_column: bool) -> None:
    """A file as the former code wrote it (optionally from before the batch_id column)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    schema = LEGACY_SCHEMA
    if not batch_column:
        schema = schema.replace("    batch_id TEXT,\n", "").split(
            "CREATE INDEX IF NOT EXISTS ix_events_batch"
        )[0]
    conn.executescript(schema)
    columns = 8 if batch_column else 7
    insert = INSERT if batch_column else INSERT.replace(", batch_id", "").replace(",?)", ")")
    for e, batch in rows:
        values = (e.id, e.tenant_id, _us(e.event_time), _us(e.received_at), e.size, e.host)
        conn.execute(insert, (*values, orjson.dumps(e.data), batch)[:columns])
    conn.close()


def table_sql(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(
            conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()[0]
        )
    finally:
        conn.close()


def test_legacy_file_is_converted_with_events_batches_and_dedupe(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    first = [event(i) for i in range(40)]
    other_tenant = [event(i, tenant_id=2) for i in range(5)]  # same ids, another tenant
    legacy_file(
        path,
        [(e, "batch-a" if i < 20 else "batch-b") for i, e in enumerate(first)]
        + [(e, None) for e in other_tenant],
        batch_column=True,
    )
    assert "WITHOUT ROWID" in table_sql(path)

    store = SQLiteEventStore(path)
    try:
        assert "WITHOUT ROWID" not in table_sql(path)
        assert store.stats(1).events == 40 and store.stats(2).events == 5
        for e in first + other_tenant:
            got = store.get(e.tenant_id, e.id)
            assert got is not None
            assert (got.data, got.size, got.host, got.event_time, got.received_at) == (
                e.data,
                e.size,
                e.host,
                e.event_time,
                e.received_at,
            )
        assert {e.id for e in store.events_of_batch(1, "batch-a")} == {e.id for e in first[:20]}
        assert {e.id for e in store.events_of_batch(1, "batch-b")} == {e.id for e in first[20:]}
        # Dedupe survives: stored events stay stored once and keep their first batch.
        assert store.write(first[:10] + [event(100)], batch_id="batch-c") == [event(100).id]
        assert store.stats(1).events == 41
        assert [e.id for e in store.events_of_batch(1, "batch-c")] == [event(100).id]
        # Time order and keyset paging read from the new indexes.
        assert [e.id for e in store.search(1, limit=3).events] == [e.id for e in first[:3]]
        assert store.search(1, limit=1, offset=40).events[0].id == event(100).id
    finally:
        store.close()

    reopened = SQLiteEventStore(path)  # a second open finds the new format: nothing to do
    try:
        assert reopened.stats(1).events == 41
        assert reopened.write(first) == []
    finally:
        reopened.close()


def test_legacy_file_from_before_batches_is_converted(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    events = [event(i) for i in range(10)]
    legacy_file(path, [(e, None) for e in events], batch_column=False)
    store = SQLiteEventStore(path)
    try:
        assert store.stats(1).events == 10
        assert store.events_of_batch(1, "x") == []
        assert store.write(events) == []
    finally:
        store.close()


def test_new_file_dedupes_within_and_across_batches(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.sqlite")
    try:
        one = event(1)
        assert sorted(store.write([one, one, event(2)], batch_id="a")) == sorted(
            [one.id, event(2).id]
        )
        assert store.write([event(3), one], batch_id="b") == [event(3).id]
        assert store.stats(1).events == 3
        assert [e.id for e in store.events_of_batch(1, "a")] and store.get(1, one.id) is not None
        assert {e.id for e in store.events_of_batch(1, "b")} == {event(3).id}
    finally:
        store.close()
