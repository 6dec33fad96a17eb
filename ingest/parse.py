"""Split an ingest request body into log objects, with a reason for every line refused.

NDJSON (one object a line) and a JSON array are accepted. One bad line never stops the rest:
whatever is parsed here must also store, detect and answer later, so anything that could fail
further down (nesting deeper than orjson writes back, which it reads to 1024 levels but writes
to 254; recursion in the Windows flattening) is refused here, per line, with its reason.
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
# Deepest nesting of objects and arrays accepted in an event. Real logs nest a few levels;
# orjson writes at most 254 and OpenSearch maps 20 (deeper events are kept unindexed).
MAX_DEPTH = 64


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


def too_deep(value: Any, raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """True when objects and arrays nest deeper than `limit` (the event itself is level 1).

    Counting brackets in the raw bytes (fast, in C) bounds the depth from above, so only the
    rare event with more than `limit` brackets is walked, without recursion."""
    if raw.count(b"{") + raw.count(b"[") <= limit:
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def check_value(line: int, raw: bytes, obj: Any, max_event_bytes: int) -> Parsed | Rejected:
    """An already decoded item: an object of a storable size and depth, or the reason not."""
    if len(raw) > max_event_bytes:
        return Rejected(line, f"event is {len(raw)} bytes; the limit is {max_event_bytes}")
    if not isinstance(obj, dict):
        return Rejected(line, f"expected a JSON object, got {type(obj).__name__}")
    if not obj:
        return Rejected(line, "empty object")
    if too_deep(obj, raw):
        return Rejected(line, f"nested deeper than {MAX_DEPTH} levels")
    return Parsed(line, raw, obj)


def check_object(line: int, raw: bytes, max_event_bytes: int) -> Parsed | Rejected:
    if len(raw) > max_event_bytes:
        return Rejected(line, f"event is {len(raw)} bytes; the limit is {max_event_bytes}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejected(line, f"not valid JSON: {exc}")
    return check_value(line, raw, obj, max_event_bytes)


def _array_item(line: int, item: Any, max_event_bytes: int) -> Parsed | Rejected:
    """One item of a JSON array, written back to bytes (its raw form and stable id)."""
    try:
        raw = orjson.dumps(item)
    except orjson.JSONEncodeError as exc:  # what orjson reads, it writes unless too deep
        too_deep_now = "recursion" in str(exc).lower()
        reason = f"nested deeper than {MAX_DEPTH} levels" if too_deep_now else str(exc)
        return Rejected(line, reason)
    return check_value(line, raw, item, max_event_bytes)


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
        _array_item(number, item, max_event_bytes) for number, item in enumerate(items, start=1)
    ]


def split_body(body: bytes, content_type: str, max_event_bytes: int) -> list[Parsed | Rejected]:
    if media_type(content_type) in JSON_TYPES:
        return split_json_array(body, max_event_bytes)
    return split_ndjson(body, max_event_bytes)
