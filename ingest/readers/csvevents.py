"""CSV event exports with a header row: each row a dict keyed by the header.

Event Viewer's "Save as CSV" (``Level,Date and Time,Source,Event ID,Task Category`` and the
message as an unnamed last column) is mapped to the EVTX path's names: ``EventID`` (int),
``Provider_Name``, ``Level``, ``TaskCategory``, ``Message`` and ``TimeCreated`` (ISO 8601 when the
date is in the US format Event Viewer writes, else as written; the export carries no time zone).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

Event = dict[str, Any]

WINDOWS_HEADER = ["Level", "Date and Time", "Source", "Event ID", "Task Category"]
_WINDOWS_NAMES = {
    "Level": "Level",
    "Date and Time": "TimeCreated",
    "Source": "Provider_Name",
    "Event ID": "EventID",
    "Task Category": "TaskCategory",
}
_DATE_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%d-%m-%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S")


def _when(text: str) -> str:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).isoformat()
        except ValueError:
            continue
    return text


def _windows_row(row: list[str], line: int, name: str) -> Event:
    event: Event = {}
    for header, value in zip(WINDOWS_HEADER, row, strict=False):
        key = _WINDOWS_NAMES[header]
        if key == "EventID":
            try:
                event[key] = int(value.strip())
            except ValueError:
                raise ValueError(
                    f"{name}: line {line}: Event ID {value!r} is not a number"
                ) from None
        elif key == "TimeCreated":
            event[key] = _when(value)
        else:
            event[key] = value
    rest = row[len(WINDOWS_HEADER) :]
    if rest:
        event["Message"] = rest[0] if len(rest) == 1 else "\n".join(rest)
    return event


def iter_csv(fh: IO[str], name: str, delimiter: str = ",") -> Iterator[Event]:
    """The rows of a CSV file after its header, one at a time."""
    reader = csv.reader(fh, delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return
        header = [h.strip().lstrip("\ufeff") for h in header]
        windows = header[: len(WINDOWS_HEADER)] == WINDOWS_HEADER
        keys = [h or f"column_{i + 1}" for i, h in enumerate(header)]
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if windows:
                yield _windows_row(row, reader.line_num, name)
                continue
            event: Event = dict(zip(keys, row, strict=False))
            if len(row) > len(keys):
                event["_extra"] = row[len(keys) :]
            yield event
    except csv.Error as exc:
        raise ValueError(f"{name}: line {reader.line_num}: invalid CSV: {exc}") from None
