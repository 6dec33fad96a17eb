"""Real EVTX files of the SigmaHQ corpus, and larger ones built from their chunks.

EVTX files cannot be concatenated, but their 64 KiB chunks can: a file header with the right
chunk count and checksum, followed by chunks taken from real files, is a valid EVTX file."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from tests.detections.conftest import REGRESSION

HEADER = 4096
CHUNK = 65536


def corpus_evtx() -> list[Path]:
    return sorted(REGRESSION.glob("**/*.evtx"))


def chunks_of(path: Path) -> list[bytes]:
    data = path.read_bytes()
    return [data[i : i + CHUNK] for i in range(HEADER, len(data), CHUNK)]


def build_evtx(chunks: list[bytes], header_from: Path | None = None) -> bytes:
    header = bytearray((header_from or corpus_evtx()[0]).read_bytes()[:HEADER])
    count = len(chunks)
    struct.pack_into("<QQQ", header, 8, 0, max(count - 1, 0), 1 << 32)
    struct.pack_into("<H", header, 42, min(count, 0xFFFF))
    struct.pack_into("<I", header, 124, zlib.crc32(bytes(header[:120])))
    return bytes(header) + b"".join(chunks)


def all_corpus_chunks() -> list[bytes]:
    return [chunk for path in corpus_evtx() for chunk in chunks_of(path)]


def record_offsets(data: bytes, chunk_at: int) -> list[int]:
    """File offsets of the records of the chunk at `chunk_at`."""
    out, pos = [], chunk_at + 512
    while data[pos : pos + 4] == b"**\x00\x00":
        out.append(pos)
        pos += struct.unpack_from("<I", data, pos + 4)[0]
    return out
