"""Streaming event parsers per text format; each reads its input in bounded chunks or lines."""

from __future__ import annotations

import io
import json
import lzma
import re
import zlib
from collections.abc import Iterator
from typing import IO, Any

from ingest.readers.formats import Format
from ingest.windows import flatten_windows_event

Event = dict[str, Any]

CHUNK = 1024 * 1024
MAX_DOCUMENT_CHARS = 64 * 1024 * 1024  # one JSON document / XML event / line
_WS = re.compile(r"[ \t\r\n\ufeff]*")
_decoder = json.JSONDecoder()


class _Window:
    """A sliding window over a text stream: reads on demand, forgets what was consumed, and
    remembers the offset and line count of what it forgot (for error positions)."""

    def __init__(self, fh: IO[str]) -> None:
        self.fh = fh
        self.buf = ""
        self.base = 0
        self.lines = 0
        self.eof = False

    def more(self) -> bool:
        if self.eof:
            return False
        data = self.fh.read(max(CHUNK, len(self.buf)))
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def trim(self, pos: int) -> int:
        """Forget buf[:pos]; the new position of ``pos`` (0)."""
        if pos > CHUNK:
            self.lines += self.buf.count("\n", 0, pos)
            self.base += pos
            self.buf = self.buf[pos:]
            return 0
        return pos

    def skip_ws(self, pos: int) -> int:
        while True:
            pos = _WS.match(self.buf, pos).end()  # type: ignore[union-attr]
            if pos < len(self.buf) or not self.more():
                return pos

    def where(self, pos: int) -> str:
        line = self.lines + self.buf.count("\n", 0, pos) + 1
        col = pos - (self.buf.rfind("\n", 0, pos) + 1) + 1
        return f"offset {self.base + pos} (line {line}, column {col})"

    def decode(self, pos: int, name: str, what: str) -> tuple[Any, int]:
        """The JSON value at ``pos`` and the position after it, reading more while it is cut."""
        while True:
            try:
                value, end = _decoder.raw_decode(self.buf, pos)
            except json.JSONDecodeError as exc:
                # Cut by the window's end (not a real error) only when the decoder ran into it.
                cut = exc.pos >= len(self.buf) - 16 or exc.msg.startswith("Unterminated")
                if cut and len(self.buf) - pos < MAX_DOCUMENT_CHARS and self.more():
                    continue
                raise ValueError(
                    f"{name}: invalid JSON {what} at {self.where(exc.pos)}: {exc.msg}"
                ) from None
            except RecursionError:
                raise ValueError(f"{name}: JSON nested too deeply at {self.where(pos)}") from None
            # A number (or literal) ending at the window's end may continue in the next chunk.
            if end == len(self.buf) and not isinstance(value, (dict, list, str)) and self.more():
                continue
            return value, end


def iter_json(fh: IO[str], name: str) -> Iterator[Event]:
    """JSONL / NDJSON / concatenated (pretty-printed) JSON objects, one window at a time."""
    win = _Window(fh)
    pos = 0
    while True:
        pos = win.skip_ws(pos)
        if pos >= len(win.buf):
            return
        start = pos
        value, pos = win.decode(pos, name, "")
        if not isinstance(value, dict):
            raise ValueError(
                f"{name}: expected a JSON object at {win.where(start)}, got {type(value).__name__}"
            )
        yield flatten_windows_event(value)
        pos = win.trim(pos)


def iter_json_array(fh: IO[str], name: str) -> Iterator[Event]:
    """A JSON array of objects, element by element (the whole array is never held)."""
    win = _Window(fh)
    pos = win.skip_ws(0)
    if win.buf[pos : pos + 1] != "[":
        raise ValueError(f"{name}: expected a JSON array at {win.where(pos)}")
    pos = win.skip_ws(pos + 1)
    idx = 0
    if win.buf[pos : pos + 1] == "]":
        pos += 1
    else:
        while True:
            value, pos = win.decode(pos, name, f"array element {idx}")
            if not isinstance(value, dict):
                raise ValueError(
                    f"{name}: array element {idx}: expected a JSON object, "
                    f"got {type(value).__name__}"
                )
            yield flatten_windows_event(value)
            idx += 1
            pos = win.trim(win.skip_ws(pos))
            sep = win.buf[pos : pos + 1]
            if sep == "]":
                pos += 1
                break
            if sep != ",":
                raise ValueError(
                    f"{name}: invalid JSON array at {win.where(pos)}: expected ',' or ']'"
                )
            pos = win.skip_ws(pos + 1)
    pos = win.skip_ws(pos)
    if pos < len(win.buf):
        raise ValueError(f"{name}: invalid JSON array at {win.where(pos)}: extra data")


def iter_format(raw: IO[bytes], fmt: Format, name: str) -> Iterator[Event]:
    """The events of ``raw`` (binary) in text format ``fmt``."""
    counter = _Counting(raw)
    fh = io.TextIOWrapper(
        io.BufferedReader(counter, CHUNK), encoding=fmt.encoding, errors="strict", newline=""
    )
    try:
        if fmt.kind == "json_array":
            yield from iter_json_array(fh, name)
        elif fmt.kind == "json":
            yield from iter_json(fh, name)
        elif fmt.kind == "auditd":
            from ingest.readers.auditd import iter_auditd

            yield from iter_auditd(fh, name)
        elif fmt.kind == "xml":
            from ingest.readers.xmlevents import iter_xml_events

            yield from iter_xml_events(fh, name)
        elif fmt.kind == "csv":
            from ingest.readers.csvevents import iter_csv

            yield from iter_csv(fh, name, fmt.delimiter)
        else:  # pragma: no cover - sniff only answers known kinds
            raise ValueError(f"{name}: no reader for format {fmt.kind}")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{name}: not {fmt.encoding} text (bad byte near offset {counter.total}: {exc.reason})"
        ) from None
    except (EOFError, zlib.error, lzma.LZMAError) as exc:
        raise ValueError(
            f"{name}: corrupt or truncated compressed data near offset {counter.total}: {exc}"
        ) from None
    except OSError as exc:
        if type(exc).__name__ == "BadGzipFile":
            raise ValueError(f"{name}: corrupt gzip data: {exc}") from None
        raise
    finally:
        fh.detach()


class _Counting(io.RawIOBase):
    """Counts the bytes read through it (the position of a decoding error)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.inner.read(len(b))
        n = len(data)
        b[:n] = data
        self.total += n
        return n
