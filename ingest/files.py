"""Read events from files, auto-detecting EVTX, JSON array, JSONL and concatenated JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import Any

from ingest.windows import flatten_windows_event, iter_concatenated_json, iter_evtx_file

EVTX_MAGIC = b"ElfFile\x00"


def _normalise(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return flatten_windows_event(obj)


def iter_events_from_file(path: str | PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield events from ``path``; Windows-shaped objects are flattened, others passed as-is.

    Raises ValueError (mentioning the file name and position) for undecodable content and
    OSError for unreadable files.
    """
    p = Path(path)
    name = str(p)
    with p.open("rb") as fh:
        head = fh.read(len(EVTX_MAGIC))
    if head == EVTX_MAGIC:
        yield from iter_evtx_file(p)
        return
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{name}: not an EVTX file and not UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    stripped = text.lstrip()
    if not stripped:
        return
    if stripped[0] == "[":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{name}: invalid JSON array at offset {exc.pos} "
                f"(line {exc.lineno}, column {exc.colno}): {exc.msg}"
            ) from None
        except RecursionError:
            raise ValueError(f"{name}: JSON nested too deeply") from None
        if not isinstance(data, list):
            raise ValueError(f"{name}: expected a JSON array")
        for idx, obj in enumerate(data):
            yield _normalise(obj, f"{name}: array element {idx}")
        return
    if stripped[0] != "{":
        raise ValueError(f"{name}: unrecognised format (not EVTX, JSON array, JSONL or JSON)")
    # JSONL/NDJSON is a special case of concatenated JSON documents.
    try:
        for obj in iter_concatenated_json(text):
            yield flatten_windows_event(obj)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
