"""A syslog message to the parsed object ingest stores: header fields, the body's own
fields (CEF, LEEF, JSON) and the ingest key it carried. Pure, never raises."""

from __future__ import annotations

import re
from typing import Any

from ingest.parse import MAX_DEPTH, too_deep
from ingest.syslog.formats import body_fields
from ingest.syslog.parse import Bad, parse_line
from ingest.syslog.tenancy import SD_ID, take_key

_KEY_ELEMENT = re.compile(rb"\[" + re.escape(SD_ID.encode()) + rb"(?:[^\]\\]|\\.)*\]")


def to_record(data: bytes, max_bytes: int) -> tuple[dict[str, Any], bytes, str | None] | Bad:
    """(fields, raw, key): raw is the line without the key element (its id and size)."""
    try:
        if len(data) > max_bytes:
            return Bad(f"message is {len(data)} bytes; the limit is {max_bytes}")
        fields = parse_line(data)
        if isinstance(fields, Bad):
            return fields
        key = take_key(fields)
        raw = _KEY_ELEMENT.sub(b"", data, count=1) if key is not None else data
        body = body_fields(str(fields.get("message", "")))
        if isinstance(body, Bad):
            return body
        if body is not None:
            kind, values = body
            if kind == "json":
                if too_deep(values, raw):
                    return Bad(f"JSON message nested deeper than {MAX_DEPTH} levels")
                for name, value in values.items():
                    fields.setdefault(name, value)  # the syslog header wins a clash
                fields["message_format"] = "json"
            else:
                fields[kind] = values
        return fields, raw, key
    except Exception as exc:  # a parser bug must answer a reason, never stop a listener
        return Bad(f"could not parse: {type(exc).__name__}")
