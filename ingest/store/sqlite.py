"""Embedded event store: one SQLite file (WAL), events as JSON, indexed by tenant and time.

Hunts evaluate the Sigma rule's Python predicate over the tenant's events in the time range,
streamed in chunks so memory stays flat.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ingest.events import Event
from ingest.store.base import HuntQuery, SearchPage, StoreStats

COLUMNS = "id, tenant_id, event_us, received_us, size, host, data, batch_id"
# A rowid table: rows append in arrival order and only the (tenant_id, id) index takes the
# random hash ids, so an insert touches one random page of a narrow index instead of one of the
# whole table (about half the CPU of the former WITHOUT ROWID table keyed by the hash). The
# time index carries id so keyset paging (event_us, id) needs no sort.
TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    id TEXT NOT NULL,
    tenant_id INTEGER NOT NULL,
    event_us INTEGER NOT NULL,
    received_us INTEGER NOT NULL,
    size INTEGER NOT NULL,
    host TEXT NOT NULL,
    data BLOB NOT NULL,
    -- The ingest batch that first stored the event (recovery of batches whose request died
    -- before meters and alerts were recorded).
    batch_id TEXT
);
"""
INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS ux_events_tenant_id ON events (tenant_id, id);
CREATE INDEX IF NOT EXISTS ix_events_tenant_time ON events (tenant_id, event_us, id);
CREATE INDEX IF NOT EXISTS ix_events_batch ON events (tenant_id, batch_id);
"""
# The format before: one WITHOUT ROWID table keyed (tenant_id, id); older files also lack
# batch_id. Such a file is converted on open (_migrate); tests and bench/syslog.py build it.
LEGACY_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT NOT NULL,
    tenant_id INTEGER NOT NULL,
    event_us INTEGER NOT NULL,
    received_us INTEGER NOT NULL,
    size INTEGER NOT NULL,
    host TEXT NOT NULL,
    data BLOB NOT NULL,
    batch_id TEXT,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_events_tenant_time ON events (tenant_id, event_us);
CREATE INDEX IF NOT EXISTS ix_events_batch ON events (tenant_id, batch_id);
"""
INSERT = (
    "INSERT OR IGNORE INTO events "
    "(id, tenant_id, event_us, received_us, size, host, data, batch_id) VALUES (?,?,?,?,?,?,?,?)"
)
_CHUNK = 2000


def _us(value: datetime) -> int:
    return int(value.timestamp() * 1_000_000)


def _dt(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, UTC)


class SQLiteEventStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # Ids are hashes, so every insert lands on a random page of the (tenant_id, id) index:
        # past the default 2 MB of cache each one is a read first. Pages are taken as used, so
        # a small store stays small in memory.
        self._conn.execute("PRAGMA cache_size=-65536")
        # Checkpoint every ~40 MB of WAL instead of 4 MB: an index page touched by several
        # batches in between is copied back once (10-15% less CPU per write at 100,000+
        # events); readers look the WAL up through its shared-memory index, so the longer WAL
        # costs them little. Durability is the same (see README, Performance).
        self._conn.execute("PRAGMA wal_autocheckpoint=10000")
        self._open_schema()

    def _open_schema(self) -> None:
        """Create the tables of a new file, or convert a file of the former format."""
        if "WITHOUT ROWID" in self._table_sql().upper():
            self._migrate()
        self._conn.executescript(TABLE.format(name="events") + INDEXES)

    def _table_sql(self) -> str:
        row = self._conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'"
        ).fetchone()
        return str(row[0]) if row else ""

    def _migrate(self) -> None:
        """Copy the WITHOUT ROWID table into a rowid table and swap them, in one transaction:
        a crash midway leaves the old file as it was, and a second process opening the file
        at the same time waits on the write lock and then finds the new format. Rows go in
        time order, so the rowid order follows the time index."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            if "WITHOUT ROWID" in self._table_sql().upper():  # not converted by another opener
                columns = {row[1] for row in self._conn.execute("PRAGMA table_info(events)")}
                if "batch_id" not in columns:
                    self._conn.execute("ALTER TABLE events ADD COLUMN batch_id TEXT")
                self._conn.execute("DROP TABLE IF EXISTS events_rowid")
                self._conn.execute(TABLE.format(name="events_rowid"))
                self._conn.execute(
                    f"INSERT INTO events_rowid ({COLUMNS}) SELECT {COLUMNS} FROM events "
                    "ORDER BY tenant_id, event_us, id"
                )
                self._conn.execute("DROP TABLE events")  # and its indexes
                self._conn.execute("ALTER TABLE events_rowid RENAME TO events")
                for statement in INDEXES.strip().splitlines():
                    self._conn.execute(statement)
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def write(self, events: Sequence[Event], batch_id: str | None = None) -> list[str]:
        if not events:
            return []
        # In key order: consecutive inserts land on the same pages of the (tenant_id, id)
        # index; the first of equal ids still goes first.
        rows = sorted(
            (
                (
                    event.id,
                    event.tenant_id,
                    _us(event.event_time),
                    _us(event.received_at),
                    event.size,
                    event.host,
                    orjson.dumps(event.data),
                    batch_id,
                )
                for event in events
            ),
            key=lambda row: (row[1], row[0]),
        )
        new_ids: list[str] = []
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                unique = len({(row[1], row[0]) for row in rows})
                if self._conn.executemany(INSERT, rows).rowcount == unique:
                    new_ids = list(dict.fromkeys(row[0] for row in rows))  # all new
                else:  # some were stored before (a replay): which ones, row by row
                    self._conn.execute("ROLLBACK")
                    self._conn.execute("BEGIN IMMEDIATE")
                    for row in rows:
                        if self._conn.execute(INSERT, row).rowcount:
                            new_ids.append(row[0])
                self._conn.execute("COMMIT")
            except BaseException:
                # SQLite may already have rolled back (disk full): a ROLLBACK then fails with
                # "cannot rollback" and would hide the error that matters.
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        return new_ids

    @staticmethod
    def _row_to_event(row: tuple[Any, ...]) -> Event:
        id_, tenant_id, event_us, received_us, size, host, data = row[:7]  # not batch_id
        return Event(
            id=id_,
            tenant_id=tenant_id,
            received_at=_dt(received_us),
            event_time=_dt(event_us),
            size=size,
            host=host,
            data=orjson.loads(data),
        )

    def get(self, tenant_id: int, event_id: str) -> Event | None:
        found = self.get_many(tenant_id, [event_id])
        return found[0] if found else None

    def get_many(self, tenant_id: int, event_ids: Sequence[str]) -> list[Event]:
        out: list[Event] = []
        ids = list(event_ids)
        with self._lock:
            for i in range(0, len(ids), 500):
                part = ids[i : i + 500]
                marks = ",".join("?" * len(part))
                rows = self._conn.execute(
                    f"SELECT * FROM events WHERE tenant_id = ? AND id IN ({marks})",
                    (tenant_id, *part),
                ).fetchall()
                out.extend(self._row_to_event(r) for r in rows)
        return sorted(out, key=lambda e: e.event_time)

    @staticmethod
    def _where(
        tenant_id: int, start: datetime | None, end: datetime | None, text: str | None
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = ["tenant_id = ?"]
        params: list[Any] = [tenant_id]
        if start is not None:
            clauses.append("event_us >= ?")
            params.append(_us(start))
        if end is not None:
            clauses.append("event_us < ?")
            params.append(_us(end))
        if text:
            clauses.append("CAST(data AS TEXT) LIKE ? ESCAPE '\\'")
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(f"%{escaped}%")
        return " AND ".join(clauses), params

    def search(
        self,
        tenant_id: int,
        start: datetime | None = None,
        end: datetime | None = None,
        text: str | None = None,
        limit: int = 100,
        offset: int = 0,
        *,
        host: str | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> SearchPage:
        where, params = self._where(tenant_id, start, end, text)
        if host:
            where += " AND lower(host) = lower(?)"
            params.append(host)
        for name, value in (fields or {}).items():
            # The top-level key (quoted in the JSON path, so dots and spaces stay in the name).
            where += " AND lower(CAST(json_extract(data, ?) AS TEXT)) = lower(?)"
            params.extend(['$."' + name.replace('"', "") + '"', str(value)])
        with self._lock:
            total = self._conn.execute(
                f"SELECT count(*) FROM events WHERE {where}", params
            ).fetchone()[0]
            rows = self._conn.execute(
                f"SELECT * FROM events WHERE {where} ORDER BY event_us DESC, id LIMIT ? OFFSET ?",
                (*params, limit, offset),
            ).fetchall()
        return SearchPage(total=total, events=[self._row_to_event(r) for r in rows])

    def _iter_range(
        self, tenant_id: int, start: datetime | None, end: datetime | None
    ) -> Iterator[Event]:
        """The tenant's events in [start, end) in (event_us, id) order, read in pages by
        keyset: each page starts where the last one ended (ties on event_us broken by id), so
        the 500th page costs what the first does. The start bound is only in the first query:
        next to a row-value bound on the same column, SQLite's planner would seek by the
        start and filter every row before the cursor (OFFSET-like cost)."""
        first_where, params = self._where(tenant_id, start, end, None)
        rest_where, rest_params = self._where(tenant_id, None, end, None)
        rows = self._page(f"{first_where} ORDER BY event_us, id LIMIT ?", (*params, _CHUNK))
        while rows:
            for row in rows:
                yield self._row_to_event(row)
            last_us, last_id = rows[-1][2], rows[-1][0]
            rows = self._page(
                f"{rest_where} AND (event_us, id) > (?, ?) ORDER BY event_us, id LIMIT ?",
                (*rest_params, last_us, last_id, _CHUNK),
            )

    def _page(self, where_order_limit: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(
                f"SELECT * FROM events WHERE {where_order_limit}", params
            ).fetchall()

    def hunt(
        self,
        tenant_id: int,
        rule: HuntQuery,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Event]:
        return [e for e in self._iter_range(tenant_id, start, end) if rule.matches(e.data)]

    def events_of_batch(self, tenant_id: int, batch_id: str) -> list[Event]:
        """The events this batch stored first (a replayed event keeps its first batch)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM events WHERE tenant_id = ? AND batch_id = ?", (tenant_id, batch_id)
            ).fetchall()
        return [self._row_to_event(r) for r in rows]

    def retention(self, tenant_id: int, older_than: datetime) -> int:
        with self._lock:
            cur = self._conn.execute(
                "DELETE FROM events WHERE tenant_id = ? AND event_us < ?",
                (tenant_id, _us(older_than)),
            )
            return cur.rowcount

    def stats(self, tenant_id: int) -> StoreStats:
        with self._lock:
            count, size, first, last = self._conn.execute(
                "SELECT count(*), coalesce(sum(size), 0), min(event_us), max(event_us) "
                "FROM events WHERE tenant_id = ?",
                (tenant_id,),
            ).fetchone()
        return StoreStats(
            events=count,
            bytes=size,
            first_event=_dt(first) if first else None,
            last_event=_dt(last) if last else None,
        )
