"""Read a binary EVTX file chunk by chunk, with the file offset of every record it cannot read.

The `evtx` parser run over a whole file names a corrupt record by its number only, and a chunk
whose header or string table is damaged ends with one error for all its records. Parsing each
64 KiB chunk on its own (the file header plus that chunk, in memory) bounds memory to one chunk
whatever the file's size, pins every error to a chunk, and lets the next chunk be read after a
damaged one. Record offsets come from walking the chunk's record headers here.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from os import PathLike
from typing import Any, BinaryIO

import orjson

from ingest.windows import flatten_windows_event

EVTX_MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
RECORD_MAGIC = b"\x2a\x2a\x00\x00"
HEADER_BLOCK = 4096
CHUNK_SIZE = 65536
CHUNK_HEADER = 512
_RECORD_NUMBER = re.compile(r"record (?:number|id) (\d+)", re.IGNORECASE)
_CHUNK_OFFSET = re.compile(r"Offset 0x([0-9a-fA-F]+)")


NOT_EVTX = "not an EVTX file (it does not start with the 'ElfFile' signature)"


class NotEvtx(ValueError):
    """The file does not start with the EVTX magic or its header is short."""


@dataclass
class EvtxRecord:
    record: int  # the record number (EventRecordID of the record header)
    offset: int  # where its record header starts in the file
    event: dict[str, Any]  # flattened to Sigma field names (ingest.windows)


@dataclass
class EvtxError:
    record: int | None  # the record number when the parser names it
    offset: int  # the record's offset in the file, else the chunk's
    reason: str


def check_header(head: bytes) -> None:
    """Raise NotEvtx unless `head` (the file's first bytes) starts an EVTX file."""
    if head[: len(EVTX_MAGIC)] != EVTX_MAGIC:
        raise NotEvtx(NOT_EVTX)
    if len(head) < HEADER_BLOCK:
        raise NotEvtx(f"EVTX file header is {len(head)} bytes; it must be {HEADER_BLOCK}")


def _single_chunk_header(header: bytes) -> bytes:
    """The file header rewritten for a file of one chunk (chunk numbers 0..0, checksum)."""
    out = bytearray(header[:HEADER_BLOCK])
    struct.pack_into("<QQ", out, 8, 0, 0)
    struct.pack_into("<H", out, 42, 1)
    struct.pack_into("<I", out, 124, zlib.crc32(bytes(out[:120])))
    return bytes(out)


def _record_offsets(chunk: bytes) -> dict[int, int]:
    """Record number → offset in the chunk, following record headers until one is broken."""
    offsets: dict[int, int] = {}
    pos = CHUNK_HEADER
    while pos + 24 <= len(chunk) and chunk[pos : pos + 4] == RECORD_MAGIC:
        size, number = struct.unpack_from("<IQ", chunk, pos + 4)
        offsets[number] = pos
        if size < 24 or pos + size > len(chunk):
            break
        pos += size
    return offsets


def _error(
    exc: BaseException, chunk_at: int, offsets: dict[int, int], after: int | None
) -> EvtxError:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    named = _RECORD_NUMBER.search(reason)
    number = int(named.group(1)) if named else None
    if number is None and after is not None:  # a broken header right after the last good one
        candidates = sorted(n for n in offsets if n > after)
        number = candidates[0] if candidates else None
    if number is not None and number in offsets:
        return EvtxError(number, chunk_at + offsets[number], reason)
    inner = _CHUNK_OFFSET.search(reason)
    offset = chunk_at + int(inner.group(1), 16) if inner else chunk_at
    return EvtxError(number, offset, reason)


def _parse_chunk(header: bytes, chunk: bytes, chunk_at: int) -> Iterator[EvtxRecord | EvtxError]:
    import evtx  # the Rust parser: imported where used, the API process may never need it

    offsets = _record_offsets(chunk)
    try:
        parser = evtx.PyEvtxParser(io.BytesIO(header + chunk), number_of_threads=1)
        records = iter(parser.records_json())
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - OSError, RuntimeError, a Rust panic
        yield _error(exc, chunk_at, offsets, None)
        return
    last: int | None = None
    while True:
        try:
            record: Any = next(records)
        except StopIteration:
            return
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - a Rust panic is a BaseException too
            error = _error(exc, chunk_at, offsets, last)
            yield error  # one bad record, or the rest of the chunk unreadable
            if error.record is None or "record number" not in error.reason:
                return  # the chunk could not be walked further
            last = error.record
            continue
        number = int(record.get("event_record_id") or 0)
        last = number
        offset = chunk_at + offsets.get(number, CHUNK_HEADER)
        try:
            data = orjson.loads(record["data"])
        except (KeyError, TypeError, orjson.JSONDecodeError) as exc:
            yield EvtxError(number, offset, f"record rendered as bad JSON: {exc}")
            continue
        if isinstance(data, dict):
            yield EvtxRecord(number, offset, flatten_windows_event(data))


def iter_evtx_stream(fh: BinaryIO) -> Iterator[EvtxRecord | EvtxError]:
    """Every record of an open EVTX file in order, or an error with its offset for what could
    not be read; the rest of the file is still read. Raises NotEvtx for a file that is not EVTX
    at all."""
    header = fh.read(HEADER_BLOCK)
    check_header(header)
    block = struct.unpack_from("<H", header, 40)[0]
    if block > HEADER_BLOCK:  # the chunks start after the header block
        fh.read(block - HEADER_BLOCK)
        at = block
    else:
        at = HEADER_BLOCK
    single = _single_chunk_header(header)
    while True:
        chunk = fh.read(CHUNK_SIZE)
        if not chunk:
            return
        if chunk[: len(CHUNK_MAGIC)] != CHUNK_MAGIC:
            if chunk.count(0) != len(chunk):  # zeroed chunks are unused space: no error
                yield EvtxError(None, at, "not an EVTX chunk (bad 'ElfChnk' signature)")
        elif len(chunk) < CHUNK_SIZE:
            yield EvtxError(None, at, f"truncated chunk ({len(chunk)} of {CHUNK_SIZE} bytes)")
        else:
            yield from _parse_chunk(single, chunk, at)
        at += len(chunk)


def iter_evtx_path(path: str | PathLike[str]) -> Iterator[EvtxRecord | EvtxError]:
    with open(path, "rb") as fh:
        yield from iter_evtx_stream(fh)
