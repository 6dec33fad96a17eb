"""Accept a batch of log lines for one tenant: parse, normalise, store durably, meter, detect.

Every stored event is metered and goes through detection exactly once, by the batch that
stored it first, even when the request dies half-way (kill -9, a full disk, a pool timeout):

1. a short transaction commits the batch's marker (`ingest_batches`, state pending);
2. the event store stores the events, each new one tagged with the batch;
3. one transaction meters the new events, runs the listeners (detection) on them and removes
   the marker (the batch is done).

A batch still pending after a grace period is recovered (`Ingestor.recover`, at startup and
periodically): the events the store tagged with it are metered and detected and the batch
marked done in one transaction, or abandoned when nothing was stored. A retry of a batch
whose request died finds its events already stored, so they are recorded by the first batch's
recovery, never twice; the batch's state flips from pending only once, so the request and the
recovery never both record it.

A request that fails after storing (detection or the database raised) marks its batch
`failed` on its way out: the tenant's next ingest request records such batches at once (a
shipper's retry is metered before it is answered), and so does the next recovery pass.

What a request answers: `accepted` counts the lines taken (stored now or already stored),
`duplicates` those of them whose event was already known (stored before, or the same line
earlier in this batch), `new` = accepted - duplicates = the events this request stored and
metered. Identical lines are one event: stored once, metered once.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Delete, Update, delete, select, update
from sqlalchemy.orm import Session

from ingest.events import Event, normalise
from ingest.models import ABANDONED, DONE, FAILED, PENDING, RECORDABLE, RECOVERED, IngestBatch
from ingest.parse import Parsed, Rejected, split_body
from ingest.sources import observe as observe_sources
from ingest.store.base import EventStore
from soc.core.db import Database, utcnow
from soc.core.principal import TenantRef
from tenants.metering import meter_hosts, meter_many

log = logging.getLogger(__name__)
# Runs on the events a batch stored first, in the transaction that meters them (the pipeline's
# detect → alerts → cases steps, or their hand-off to the workers).
EventListener = Callable[[Session, TenantRef, Sequence[Event]], object]


@dataclass
class StoredBatch:
    """One batch after the store: an event per accepted item (in order) and the ids it
    stored first."""

    events: list[Event] = field(default_factory=list)
    new_ids: set[str] = field(default_factory=set)

    @property
    def duplicates(self) -> int:
        return len(self.events) - len(self.new_ids)


@dataclass
class IngestResult:
    accepted: int = 0  # lines taken: stored now or already stored
    duplicates: int = 0  # of those, lines whose event was already known
    rejected: list[Rejected] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    @property
    def new(self) -> int:
        return self.accepted - self.duplicates


@dataclass
class RecoveryReport:
    recovered: int = 0  # batches whose stored events were recorded by the recovery
    events: int = 0  # events those batches stored (now metered and detected)
    abandoned: int = 0  # batches that had stored nothing
    failed: int = 0  # batches left pending for the next pass (store down, an error)


def meter_events(session: Session, events: Sequence[Event]) -> None:
    totals: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])
    for event in events:
        bucket = totals[(event.tenant_id, event.received_at.date())]
        bucket[0] += 1
        bucket[1] += event.size
    meter_many(session, [(t, d, count, size) for (t, d), (count, size) in totals.items()])
    # Per host (CI) too: the customer's running usage shows events per CI (billing, issue 6).
    per_host: dict[tuple[int, date, str], list[int]] = defaultdict(lambda: [0, 0])
    for event in events:
        bucket = per_host[(event.tenant_id, event.received_at.date(), event.host)]
        bucket[0] += 1
        bucket[1] += event.size
    meter_hosts(session, [(t, d, h, count, size) for (t, d, h), (count, size) in per_host.items()])
    observe_sources(session, events)


def _unique(events: Sequence[Event]) -> list[Event]:
    """Each event once (the same line twice in a batch is stored, so metered, once)."""
    first: dict[str, Event] = {}
    for event in events:
        first.setdefault(event.id, event)
    return list(first.values())


class Ingestor:
    def __init__(self, store: EventStore, listeners: Sequence[EventListener] = ()) -> None:
        self.store = store
        self.listeners = list(listeners)

    def accept_objects(
        self, session: Session, tenant: TenantRef, items: Sequence[Parsed]
    ) -> StoredBatch:
        """Store parsed objects, then meter and detect the new ones. Commits `session` twice:
        the batch marker before the store write (no database lock is held while the store
        writes), then the record. A failure after the store write marks the batch `failed`
        (recorded by the next request or pass) and raises."""
        received = utcnow()
        events = [normalise(item.obj, item.raw, tenant.id, received) for item in items]
        if not events:
            return StoredBatch()
        batch_id = uuid.uuid4().hex
        marker = IngestBatch(id=batch_id, tenant_id=tenant.id, state=PENDING, created_at=received)
        session.add(marker)
        session.commit()
        new_ids = set(self.store.write(events, batch_id))
        new = [e for e in _unique(events) if e.id in new_ids]
        try:
            self.record(session, tenant, batch_id, new, DONE)
            session.commit()
        except Exception:
            session.rollback()
            self._mark_failed(session, batch_id)
            raise
        if len(new) < len(events):  # a retry: its earlier attempt may have failed half-way
            self.record_failed(session, tenant)
        return StoredBatch(events, {e.id for e in new})

    def _mark_failed(self, session: Session, batch_id: str) -> None:
        try:
            session.execute(
                update(IngestBatch)
                .where(IngestBatch.id == batch_id, IngestBatch.state == PENDING)
                .values(state=FAILED)
                .execution_options(synchronize_session=False)
            )
            session.commit()
        except Exception:  # the database itself is down: the grace period covers it
            session.rollback()
            log.exception("could not mark ingest batch %s failed; recovery will find it", batch_id)

    def record_failed(self, session: Session, tenant: TenantRef) -> int:
        """Record the tenant's batches whose request failed after storing: called by the
        tenant's next request that met duplicates (a shipper's retry). Returns the events."""
        failed = list(
            session.scalars(
                select(IngestBatch.id).where(
                    IngestBatch.tenant_id == tenant.id, IngestBatch.state == FAILED
                )
            )
        )
        session.commit()  # no transaction is held while the store reads
        recorded = 0
        for batch_id in failed:
            events = self.store.events_of_batch(tenant.id, batch_id)
            state = RECOVERED if events else ABANDONED
            if self.record(session, tenant, batch_id, events, state):
                recorded += len(_unique(events))
            session.commit()
        return recorded

    def record(
        self,
        session: Session,
        tenant: TenantRef,
        batch_id: str,
        events: Sequence[Event],
        state: str,
    ) -> bool:
        """Meter and detect the events a batch stored first and end its pending (or failed)
        state, in the caller's transaction. False (nothing recorded) when the batch is no
        longer recordable: the recovery or its request got there first."""
        events = _unique(events)
        pending = (IngestBatch.id == batch_id, IngestBatch.state.in_(RECORDABLE))
        claim: Delete | Update
        if state == DONE:  # the common case leaves no row behind: the table stays small
            claim = delete(IngestBatch).where(*pending)
        else:  # recovered and abandoned batches stay as a trace of what happened
            claim = (
                update(IngestBatch)
                .where(*pending)
                .values(state=state, finished_at=utcnow(), events=len(events))
            )
        done = session.execute(claim.execution_options(synchronize_session=False))
        claimed = cast(CursorResult[Any], done).rowcount
        if not claimed:
            log.warning("ingest batch %s was already recorded; not recording it again", batch_id)
            return False
        if events:
            meter_events(session, events)
            for listener in self.listeners:
                listener(session, tenant, events)
        return True

    def recover(self, db: Database, grace_seconds: float, limit: int = 500) -> RecoveryReport:
        """Record the batches pending for longer than the grace period (their request died
        between storing and recording, or never stored): what the store tagged with each is
        metered and detected, and the batch marked recovered, in one transaction per batch.

        The grace period must exceed the longest ingest request, so a slow request still
        storing is never recovered under it."""
        report = RecoveryReport()
        cutoff = utcnow() - timedelta(seconds=grace_seconds)
        with db.read_session() as session:  # no write lock for the look
            pending = session.execute(
                select(IngestBatch.id, IngestBatch.tenant_id)
                .where(
                    (IngestBatch.state == FAILED)
                    | ((IngestBatch.state == PENDING) & (IngestBatch.created_at < cutoff))
                )
                .order_by(IngestBatch.created_at)
                .limit(limit)
            ).all()
        for batch_id, tenant_id in pending:
            try:
                events = self.store.events_of_batch(tenant_id, batch_id)  # outside any txn
                with db.session() as session:
                    state = RECOVERED if events else ABANDONED
                    if self.record(session, TenantRef(tenant_id), batch_id, events, state):
                        report.recovered += bool(events)
                        report.abandoned += not events
                        report.events += len(_unique(events))
            except Exception:  # the next pass tries again; one batch never stops the others
                log.exception("recovery of ingest batch %s failed; it stays pending", batch_id)
                report.failed += 1
        if pending:
            log.info("ingest recovery: %s", report)
        return report

    def ingest_body(
        self,
        session: Session,
        tenant: TenantRef,
        body: bytes,
        content_type: str,
        max_event_bytes: int,
    ) -> IngestResult:
        result = IngestResult()
        good: list[Parsed] = []
        for item in split_body(body, content_type, max_event_bytes):
            if isinstance(item, Rejected):
                result.rejected.append(item)
            else:
                good.append(item)
        batch = self.accept_objects(session, tenant, good)
        result.accepted = len(batch.events)
        result.duplicates = batch.duplicates
        result.ids = [e.id for e in batch.events]
        return result
