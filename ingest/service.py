"""Accept a batch of log lines for one tenant: parse, normalise, store durably, meter.

Listeners (detection) run after the events are stored, in the same database transaction as the
meters, so a request either answers with everything recorded or fails as a whole and can be
replayed: stored events are idempotent by their stable ids.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from ingest.events import Event, normalise
from ingest.parse import Parsed, Rejected, split_body
from ingest.store.base import EventStore
from soc.db import utcnow
from tenants.metering import meter_hosts, meter_many

EventListener = Callable[[Session, int, Sequence[Event]], None]


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


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


class Ingestor:
    def __init__(self, store: EventStore, listeners: Sequence[EventListener] = ()) -> None:
        self.store = store
        self.listeners = list(listeners)

    def accept_objects(
        self, session: Session, tenant_id: int, items: Sequence[Parsed]
    ) -> tuple[list[Event], list[str]]:
        """Store parsed objects; return all events and the ids that were new."""
        received = utcnow()
        events = [normalise(item.obj, item.raw, tenant_id, received) for item in items]
        new_ids = set(self.store.write(events))
        meter_events(session, [e for e in events if e.id in new_ids])
        for listener in self.listeners:
            listener(session, tenant_id, events)
        return events, [e.id for e in events if e.id in new_ids]

    def ingest_body(
        self,
        session: Session,
        tenant_id: int,
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
        events, new_ids = self.accept_objects(session, tenant_id, good)
        result.accepted = len(events)
        result.duplicates = len(events) - len(new_ids)
        result.ids = [e.id for e in events]
        return result
