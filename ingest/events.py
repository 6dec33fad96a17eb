"""Normalise one incoming log object into a stored event: stable id, times, size, host."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingest.windows import despace_flat_windows, flatten_windows_event, is_windows_event

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
            return clean_text(value)[:255]
    return ""


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_text(value: str) -> str:
    """Without control characters (NUL above all: PostgreSQL text refuses it, and one such
    value must not fail the relational part of a batch)."""
    if value.isprintable():  # no control character in it: the common case, without a regex
        return value
    return _CONTROL.sub("", value)


def normalise(obj: dict[str, Any], raw: bytes, tenant_id: int, received_at: datetime) -> Event:
    """A stored event. Its id derives from tenant and raw bytes only: a shipper's own `_id`
    never names it, so two different events can never share an id and hide one another."""
    data = flatten_windows_event(obj) if is_windows_event(obj) else despace_flat_windows(obj)
    return Event(
        id=stable_id(tenant_id, raw),
        tenant_id=tenant_id,
        received_at=received_at,
        event_time=event_time_of(data, received_at),
        size=len(raw),
        host=host_of(data),
        data=data,
    )
