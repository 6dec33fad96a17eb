"""API shapes for ingest answers and event search."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class LineErrorOut(BaseModel):
    line: int
    reason: str


class IngestOut(BaseModel):
    accepted: int
    duplicates: int
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


class EventPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[EventOut]
