"""The Elasticsearch/OpenSearch `_bulk` body: action lines each followed by a document line.

`index` and `create` actions carry a document; `delete` and `update` are refused per item (a
SIEM does not let shippers change stored evidence). Each item stands alone: a bad pair is one
error item and the rest go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ingest.parse import Parsed, Rejected, check_object

DOCUMENT_ACTIONS = ("index", "create")
NO_DOCUMENT_ACTIONS = ("delete",)


@dataclass
class BulkItem:
    action: str
    index: str | None
    doc_id: str | None
    parsed: Parsed | None = None
    error: str | None = None


def _action(line: bytes) -> tuple[str, dict[str, Any]] | str:
    """(action, metadata) or a reason."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"action line is not valid JSON: {exc}"
    if not isinstance(value, dict) or len(value) != 1:
        return "an action line is one object with one key: index, create, update or delete"
    ((action, meta),) = value.items()
    if not isinstance(meta, dict):
        return f"the '{action}' action needs an object of metadata"
    return action, meta


def split_bulk(body: bytes, max_event_bytes: int) -> list[BulkItem]:
    lines = [(n, line.strip()) for n, line in enumerate(body.split(b"\n"), start=1)]
    lines = [(n, line) for n, line in lines if line]
    items: list[BulkItem] = []
    i = 0
    while i < len(lines):
        number, line = lines[i]
        i += 1
        parsed_action = _action(line)
        if isinstance(parsed_action, str):
            items.append(BulkItem("index", None, None, error=f"line {number}: {parsed_action}"))
            continue
        action, meta = parsed_action
        index = meta.get("_index") if isinstance(meta.get("_index"), str) else None
        doc_id = meta.get("_id") if isinstance(meta.get("_id"), str | int) else None
        doc_id = str(doc_id)[:64] if doc_id is not None else None
        if action in NO_DOCUMENT_ACTIONS:
            items.append(
                BulkItem(
                    action,
                    index,
                    doc_id,
                    error="delete is not supported: "
                    "stored events are evidence and are removed by retention only",
                )
            )
            continue
        if i >= len(lines):
            items.append(
                BulkItem(
                    action,
                    index,
                    doc_id,
                    error=f"line {number}: the '{action}' action has no document",
                )
            )
            continue
        doc_number, doc_line = lines[i]
        i += 1
        if action not in DOCUMENT_ACTIONS:
            items.append(
                BulkItem(
                    action, index, doc_id, error=f"'{action}' is not supported; use index or create"
                )
            )
            continue
        checked = check_object(doc_number, doc_line, max_event_bytes)
        if isinstance(checked, Rejected):
            items.append(
                BulkItem(action, index, doc_id, error=f"line {checked.line}: {checked.reason}")
            )
            continue
        items.append(BulkItem(action, index, doc_id, parsed=checked))
    return items
