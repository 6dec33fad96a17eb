"""Normalise one incoming log object into a stored event: stable id, times, size, host."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingest.windows import flatten_windows_event, is_windows_event

TIME_FIELDS = ("@timestamp", "timestamp", "TimeCreated", "UtcTime", "EventTime", "time", "ts")
HOST_FIELDS = ("Computer", "hostname", "host_name", "Hostname", "ComputerName", "host")
# Earliest and latest event times we believe; outside this the receive time is used instead.
_MIN_TIME = datetime(1990, 1, 1, tzinfo=UTC)
_MAX_FUTURE_DAYS = 2


@dataclass
class Event:
    id: str
    tenant_id: int
    received_at: datetime
    event_time: datetime
    size: int
    host: str
    data: dict[str, Any] = field(repr=False)


def stable_id(tenant_id: int, raw: bytes) -> str:
    """Same tenant and same raw bytes give the same id, so a replayed batch never duplicates."""
    return hashlib.sha256(str(tenant_id).encode() + b"\x00" + raw).hexdigest()[:32]


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, dict):  # evtx-style {"#attributes": {"SystemTime": ...}}
        attributes = value.get("#attributes")
        value = value.get("SystemTime") or (
            attributes.get("SystemTime") if isinstance(attributes, dict) else None
        )
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            seconds = value / 1000 if value > 1e11 else value  # epoch milliseconds or seconds
            parsed = datetime.fromtimestamp(seconds, UTC)
        elif isinstance(value, str) and value:
            parsed = datetime.fromisoformat(value.strip())
        else:
            return None
        # Inside the try: converting e.g. 0001-01-01T00:00+01:00 to UTC overflows.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None


def event_time_of(data: dict[str, Any], received_at: datetime) -> datetime:
    for name in TIME_FIELDS:
        parsed = parse_time(data.get(name))
        if parsed and parsed >= _MIN_TIME and (parsed - received_at).days < _MAX_FUTURE_DAYS:
            return parsed
    return received_at


def host_of(data: dict[str, Any]) -> str:
    for name in HOST_FIELDS:
        value = data.get(name)
        if isinstance(value, dict):
            value = value.get("name") or value.get("hostname")
        if isinstance(value, str) and value:
            return value[:255]
    return ""


def normalise(
    obj: dict[str, Any],
    raw: bytes,
    tenant_id: int,
    received_at: datetime,
    supplied_id: str | None = None,
) -> Event:
    """A stored event; the id is the shipper's own (`supplied_id`, or an `_id` field) when it
    gives one, else derived from tenant and raw bytes."""
    data = flatten_windows_event(obj) if is_windows_event(obj) else obj
    if supplied_id is None and isinstance(obj.get("_id"), str):
        supplied_id = obj["_id"]
    return Event(
        id=supplied_id[:64] if supplied_id else stable_id(tenant_id, raw),
        tenant_id=tenant_id,
        received_at=received_at,
        event_time=event_time_of(data, received_at),
        size=len(raw),
        host=host_of(data),
        data=data,
    )
