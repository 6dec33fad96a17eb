"""Split an ingest request body into log objects, with a reason for every line refused.

NDJSON (one object a line) and a JSON array are accepted. One bad line never stops the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

NDJSON_TYPES = frozenset(
    {
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "application/json-seq",
        "text/plain",
    }
)
JSON_TYPES = frozenset({"application/json"})
ACCEPTED_TYPES = NDJSON_TYPES | JSON_TYPES


@dataclass
class Rejected:
    line: int
    reason: str


@dataclass
class Parsed:
    line: int
    raw: bytes
    obj: dict[str, Any]


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_object(line: int, raw: bytes, max_event_bytes: int) -> Parsed | Rejected:
    if len(raw) > max_event_bytes:
        return Rejected(line, f"event is {len(raw)} bytes; the limit is {max_event_bytes}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejected(line, f"not valid JSON: {exc}")
    if not isinstance(obj, dict):
        return Rejected(line, f"expected a JSON object, got {type(obj).__name__}")
    if not obj:
        return Rejected(line, "empty object")
    return Parsed(line, raw, obj)


def split_ndjson(body: bytes, max_event_bytes: int) -> list[Parsed | Rejected]:
    out: list[Parsed | Rejected] = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        stripped = line.strip()
        if stripped:
            out.append(check_object(number, stripped, max_event_bytes))
    return out


def split_json_array(body: bytes, max_event_bytes: int) -> list[Parsed | Rejected]:
    """A JSON array of objects; items are numbered from 1. A single object is one item."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if body.lstrip()[:1] != b"[":  # several objects a line sent as application/json
            return split_ndjson(body, max_event_bytes)
        return [Rejected(0, f"body is not valid JSON: {exc}")]
    items = value if isinstance(value, list) else [value]
    return [
        check_object(number, orjson.dumps(item), max_event_bytes)
        for number, item in enumerate(items, start=1)
    ]


def split_body(body: bytes, content_type: str, max_event_bytes: int) -> list[Parsed | Rejected]:
    if media_type(content_type) in JSON_TYPES:
        return split_json_array(body, max_event_bytes)
    return split_ndjson(body, max_event_bytes)
