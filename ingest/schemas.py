"""API shapes for ingest answers and event search."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from ingest.events import Event


class LineErrorOut(BaseModel):
    line: int
    reason: str


class IngestOut(BaseModel):
    accepted: int  # lines taken: stored now or already stored
    duplicates: int  # of those, lines whose event was already known
    new: int  # events this request stored and metered (accepted - duplicates)
    rejected: int
    errors: list[LineErrorOut]
    ids: list[str] | None = None


class EventOut(BaseModel):
    id: str
    tenant_id: int
    event_time: datetime
    received_at: datetime
    size: int
    host: str
    data: dict[str, Any]

    @classmethod
    def from_event(cls, event: Event) -> EventOut:
        return cls(
            id=event.id,
            tenant_id=event.tenant_id,
            event_time=event.event_time,
            received_at=event.received_at,
            size=event.size,
            host=event.host,
            data=event.data,
        )


class EventPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[EventOut]
