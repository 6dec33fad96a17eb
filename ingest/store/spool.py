"""Nothing accepted is lost: while the event store is unreachable, batches go to a local spool
(one fsync'd file per batch, renamed into place atomically) and are replayed in order when the
store answers again. Replays are idempotent because events keep their stable ids. Each line
keeps the ingest batch that spooled it (and each file, one batch, names it), so the replay
tags the stored events with it and the recovery of a batch finds its events while spooled.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from ingest.events import Event
from ingest.store.base import EventStore, StoreBusy

log = logging.getLogger(__name__)


def _default_is_outage(exc: BaseException) -> bool:
    from opensearchpy.exceptions import ConnectionError as OSConnectionError
    from opensearchpy.exceptions import TransportError

    if isinstance(exc, OSConnectionError):  # includes ConnectionTimeout
        return True
    return isinstance(exc, TransportError) and exc.status_code in (429, 502, 503, 504)


def encode_event(event: Event, batch_id: str | None = None) -> bytes:
    row = {
        "id": event.id,
        "tenant_id": event.tenant_id,
        "received_at": event.received_at.isoformat(),
        "event_time": event.event_time.isoformat(),
        "size": event.size,
        "host": event.host,
        "data": event.data,
    }
    if batch_id is not None:
        row["batch_id"] = batch_id
    return orjson.dumps(row)


def decode_event(line: bytes) -> Event:
    return decode_spooled(line)[0]


def decode_spooled(line: bytes) -> tuple[Event, str | None]:
    """An encoded event and the batch that spooled it (None in lines from before batches)."""
    row = orjson.loads(line)
    event = Event(
        id=row["id"],
        tenant_id=row["tenant_id"],
        received_at=datetime.fromisoformat(row["received_at"]),
        event_time=datetime.fromisoformat(row["event_time"]),
        size=row["size"],
        host=row["host"],
        data=row["data"],
    )
    return event, row.get("batch_id")


def _safe(batch_id: str | None) -> str:
    """A batch id as a file-name part (ids are hex; anything else is dropped)."""
    return "".join(c for c in batch_id or "" if c.isalnum())[:64]


class SpoolingStore:
    """An EventStore that falls back to a disk spool when the inner store is unreachable.

    After an outage, new batches are spooled (keeping their order behind the spooled ones)
    until `replay` has drained the spool; the inner store is retried at most every
    `retry_seconds` from the write path, so requests do not each wait on a dead connection.
    """

    def __init__(
        self,
        inner: EventStore,
        spool_dir: Path,
        retry_seconds: float = 5.0,
        max_bytes: int = 1 << 30,
        is_outage: Callable[[BaseException], bool] = _default_is_outage,
    ) -> None:
        self.inner = inner
        self.dir = Path(spool_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.retry_seconds = retry_seconds
        self.max_bytes = max_bytes
        self.is_outage = is_outage
        self._lock = threading.RLock()
        self._seq = 0
        self._next_try = 0.0

    def __getattr__(self, name: str) -> Any:  # search, get, hunt, stats... go to the store
        return getattr(self.inner, name)

    def spooled_files(self) -> list[Path]:
        return sorted(self.dir.glob("*.ndjson"))

    def pending(self) -> int:
        return sum(1 for f in self.spooled_files() for line in f.open("rb") if line.strip())

    def spooled_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.spooled_files())

    def _spool(self, events: Sequence[Event], batch_id: str | None) -> None:
        if self.spooled_bytes() >= self.max_bytes:
            raise StoreBusy(
                f"the event store is unreachable and the local spool is full "
                f"({self.max_bytes} bytes); retry later",
                retry_after=int(self.retry_seconds) + 25,
            )
        self._seq += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}-{_safe(batch_id)}.ndjson"
        tmp = self.dir / (name + ".tmp")
        try:
            with tmp.open("wb") as handle:
                handle.write(b"\n".join(encode_event(e, batch_id) for e in events) + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            tmp.rename(self.dir / name)
        except BaseException:  # a full disk: the part written must not keep the space
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def write(self, events: Sequence[Event], batch_id: str | None = None) -> list[str]:
        if not events:
            return []
        with self._lock:
            # Keep order: new events go behind spooled ones until those are replayed.
            backlog = bool(self.spooled_files())
            if backlog and (time.monotonic() < self._next_try or self.replay() > 0):
                self._spool(events, batch_id)
                return [e.id for e in events]
        try:  # no lock here: concurrent requests write to the store in parallel
            return self.inner.write(events, batch_id)
        except Exception as exc:
            if not self.is_outage(exc):
                raise
            log.warning("event store unreachable (%s); spooling %d events", exc, len(events))
            with self._lock:
                self._next_try = time.monotonic() + self.retry_seconds
                self._spool(events, batch_id)
            return [e.id for e in events]

    def events_of_batch(self, tenant_id: int, batch_id: str) -> list[Event]:
        """While the batch is spooled, its spooled events (all counted new when spooled, as
        `write` answered); once replayed, what the store holds for it."""
        with self._lock:
            files = sorted(self.dir.glob(f"*-{_safe(batch_id)}.ndjson")) if _safe(batch_id) else []
            spooled = [
                event
                for path in files
                for line in path.read_bytes().splitlines()
                if line.strip()
                for event, batch in [decode_spooled(line)]
                if batch == batch_id and event.tenant_id == tenant_id
            ]
            if files:
                return spooled
        return self.inner.events_of_batch(tenant_id, batch_id)

    def replay(self) -> int:
        """Write spooled batches to the store, oldest first; stop at the first outage.
        Returns the number of events still spooled."""
        with self._lock:
            for path in self.spooled_files():
                by_batch: dict[str | None, list[Event]] = {}
                for line in path.read_bytes().splitlines():
                    if line.strip():
                        event, batch = decode_spooled(line)
                        by_batch.setdefault(batch, []).append(event)
                events = [e for batch_events in by_batch.values() for e in batch_events]
                try:
                    for batch, batch_events in by_batch.items():
                        self.inner.write(batch_events, batch)
                except Exception as exc:
                    if not self.is_outage(exc):
                        raise
                    self._next_try = time.monotonic() + self.retry_seconds
                    return self.pending()
                path.unlink()
                log.info("replayed %d spooled events from %s", len(events), path.name)
            return 0
