"""Ingest one EVTX file from disk in batches, through the same store → meter → detect path as
NDJSON, with every unreadable record reported by its offset.

Each record becomes the event its flattened JSON is (`orjson.dumps` of the Sigma-named
fields): the same bytes `soc ingest` sends as NDJSON for the same file, so the stable event id
is the same whichever way a file arrives and a replay (or a retry after a 503) stores nothing
twice and meters nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from os import PathLike

import orjson

from ingest.evtx_reader import EvtxError, iter_evtx_path
from ingest.parse import Parsed, Rejected, check_value
from ingest.service import StoredBatch

BATCH_RECORDS = 1000  # records a store batch: one marker and one metering transaction each
MAX_ERRORS = 100  # errors listed in an answer; the count covers them all

IngestItems = Callable[[Sequence[Parsed]], StoredBatch]


@dataclass
class EvtxFileResult:
    name: str
    size: int
    accepted: int = 0  # records taken: stored now or already stored
    duplicates: int = 0  # of those, records whose event was already known
    rejected: int = 0  # records (or chunks) that could not be read or stored
    errors: list[EvtxError] = field(default_factory=list)  # the first MAX_ERRORS

    @property
    def new(self) -> int:
        return self.accepted - self.duplicates

    def reject(self, error: EvtxError) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(error)


def ingest_evtx_file(
    ingest_items: IngestItems,
    path: str | PathLike[str],
    name: str,
    size: int,
    max_event_bytes: int,
    batch_records: int = BATCH_RECORDS,
) -> EvtxFileResult:
    """Read the file chunk by chunk and store its records `batch_records` at a time. A store
    failure (StoreBusy & co.) propagates; the batches before it stay stored, so a retry of the
    whole file finds them as duplicates."""
    result = EvtxFileResult(name, size)
    batch: list[Parsed] = []

    def flush() -> None:
        stored = ingest_items(batch)
        result.accepted += len(stored.events)
        result.duplicates += stored.duplicates
        batch.clear()

    for item in iter_evtx_path(path):
        if isinstance(item, EvtxError):
            result.reject(item)
            continue
        raw = orjson.dumps(item.event)
        checked = check_value(item.record, raw, item.event, max_event_bytes)
        if isinstance(checked, Rejected):
            result.reject(EvtxError(item.record, item.offset, checked.reason))
            continue
        batch.append(checked)
        if len(batch) >= batch_records:
            flush()
    if batch:
        flush()
    return result
