"""Inputs of a forensic run: plain files, directories walked recursively, and archives (zip, tar,
gzip, bzip2, xz, nested to a bounded depth), each file yielded as (display name, lazy events).

Archive members are opened again when their events are iterated, so a caller may hold several
inputs before reading any. Nested archives and EVTX members (the EVTX parser needs a real file)
are spooled to a private temporary directory that lives as long as some input still refers to it.
Decompression is bounded: a member whose declared or actual size, or compression ratio, is absurd
is refused with a reason instead of filling memory or disk.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from ingest.readers.formats import ARCHIVE_KINDS, Format, sniff
from ingest.readers.parsers import iter_format

Event = dict[str, Any]
Input = tuple[str, Iterator[Event]]
OnSkip = Callable[[str, str], None]

# Bounds against archive bombs; module-level so a deployment (or a test) can change them.
MAX_DEPTH = 4  # containers inside containers (a .tar.gz counts two)
MAX_MEMBER_BYTES = 8 * 1024**3  # uncompressed size of one member
MAX_RATIO = 250  # uncompressed / compressed, checked once a member is past RATIO_FLOOR
RATIO_FLOOR = 64 * 1024**2
MAX_MEMBERS = 200_000  # per archive
HEAD_BYTES = 64 * 1024
_COPY_CHUNK = 1024 * 1024


class Refused(ValueError):
    """A member refused by the archive bounds (the message says which bound)."""


@dataclass
class _Spool:
    """A temporary directory removed when the last input referring to it is garbage."""

    tmp: tempfile.TemporaryDirectory[str] = field(
        default_factory=lambda: tempfile.TemporaryDirectory(prefix="soc-inputs-")
    )
    count: int = 0

    def new_path(self, suffix: str) -> Path:
        self.count += 1
        return Path(self.tmp.name) / f"{self.count}{suffix}"


Opener = Callable[[], AbstractContextManager[IO[bytes]]]


@dataclass
class Member:
    """One readable file: on disk (``path``) or inside a container (``opener``)."""

    name: str  # display name, e.g. "logs.zip!dir/a.json"
    hint: str  # base name whose extension hints the format ("a.json" for "a.json.gz")
    opener: Opener
    depth: int = 0
    path: Path | None = None
    compressed: int | None = None  # size of the compressed data, for the ratio bound
    spool: _Spool | None = None

    def open(self) -> AbstractContextManager[IO[bytes]]:
        return self.opener()


class _Bounded(io.RawIOBase):
    """Reads through ``inner``, refusing once more than the bounds were decompressed."""

    def __init__(self, inner: IO[bytes], name: str, compressed: int | None) -> None:
        self.inner = inner
        self.name_ = name
        self.compressed = compressed
        self.total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.inner.read(len(b))
        n = len(data)
        b[:n] = data
        self.total += n
        if self.total > MAX_MEMBER_BYTES:
            raise Refused(
                f"{self.name_}: refused, decompresses to more than {MAX_MEMBER_BYTES} bytes"
            )
        if (
            self.compressed is not None
            and self.total > RATIO_FLOOR
            and self.total > MAX_RATIO * max(self.compressed, 1)
        ):
            raise Refused(
                f"{self.name_}: refused, compression ratio above {MAX_RATIO}:1 "
                f"({self.compressed} bytes expand past {self.total})"
            )
        return n


def _file_member(path: Path) -> Member:
    @contextmanager
    def opener() -> Iterator[IO[bytes]]:
        with path.open("rb") as fh:
            yield fh

    return Member(name=str(path), hint=path.name, opener=opener, path=path)


_CORRUPT = (EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, tarfile.TarError)


def _corrupt(member: Member, exc: BaseException) -> ValueError:
    """Corrupt compressed data as the ValueError the callers expect, naming the member."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ValueError) and text.startswith(member.name):
        return exc
    return ValueError(f"{member.name}: corrupt or truncated compressed data: {text}")


def _head(member: Member) -> bytes:
    try:
        with member.open() as fh:
            return fh.read(HEAD_BYTES)
    except _CORRUPT as exc:
        raise _corrupt(member, exc) from None
    except OSError as exc:
        if isinstance(exc, gzip.BadGzipFile):
            raise _corrupt(member, exc) from None
        raise


def _raising(exc: BaseException) -> Iterator[Event]:
    raise exc
    yield  # pragma: no cover - makes this a generator


def _local_path(member: Member, spool: _Spool, suffix: str) -> Path:
    """A real file holding the member's bytes (the member itself when it is one)."""
    if member.path is not None:
        return member.path
    target = spool.new_path(suffix)
    with member.open() as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, _COPY_CHUNK)
    return target


def _events(member: Member, fmt: Format) -> Iterator[Event]:
    """Lazily the member's events in format ``fmt``."""
    if fmt.kind == "evtx":
        from ingest.windows import iter_evtx_file

        spool = member.spool or _Spool()
        try:
            path = _local_path(member, spool, ".evtx")
        except (*_CORRUPT, gzip.BadGzipFile) as exc:
            raise _corrupt(member, exc) from None
        try:
            yield from iter_evtx_file(path)
        finally:
            if path != member.path:
                path.unlink(missing_ok=True)
        return
    with member.open() as fh:
        yield from iter_format(fh, fmt, member.name)


def _decompressed(member: Member, kind: str) -> Member:
    """The member seen through its gzip/bzip2/xz compression."""
    size = member.path.stat().st_size if member.path is not None else member.compressed

    @contextmanager
    def opener() -> Iterator[IO[bytes]]:
        with ExitStack() as stack:
            raw = stack.enter_context(member.open())
            dec: IO[bytes]
            if kind == "gz":
                dec = cast(IO[bytes], stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb")))
            elif kind == "bz2":
                dec = stack.enter_context(bz2.BZ2File(raw, mode="rb"))
            else:
                dec = stack.enter_context(lzma.LZMAFile(raw, mode="rb"))
            yield io.BufferedReader(_Bounded(dec, member.name, size), _COPY_CHUNK)

    hint = member.hint
    for ext, repl in _COMPRESSED_EXTS:
        if hint.lower().endswith(ext):
            hint = hint[: -len(ext)] + repl
            break
    return Member(
        name=member.name,
        hint=hint,
        opener=opener,
        depth=member.depth + 1,
        compressed=size,
        spool=member.spool,
    )


_COMPRESSED_EXTS = (
    (".tgz", ".tar"),
    (".tbz2", ".tar"),
    (".txz", ".tar"),
    (".gz", ""),
    (".bz2", ""),
    (".xz", ""),
)


def _hidden(parts: Sequence[str]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts if p)


def _zip_members(member: Member, spool: _Spool) -> Iterator[Member | Input]:
    path = _local_path(member, spool, ".zip")
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
    if len(infos) > MAX_MEMBERS:
        raise Refused(f"{member.name}: refused, more than {MAX_MEMBERS} members")
    for info in sorted(infos, key=lambda i: i.filename):
        name = f"{member.name}!{info.filename}"
        if _hidden(info.filename.split("/")):
            continue
        if info.file_size > MAX_MEMBER_BYTES:
            yield (
                name,
                _raising(Refused(f"{name}: refused, declares {info.file_size} bytes uncompressed")),
            )
            continue
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            yield (
                name,
                _raising(
                    Refused(
                        f"{name}: refused, compression ratio above {MAX_RATIO}:1 "
                        f"({info.compress_size} bytes declare {info.file_size})"
                    )
                ),
            )
            continue

        def opener(info: zipfile.ZipInfo = info, name: str = name) -> Any:
            @contextmanager
            def cm() -> Iterator[IO[bytes]]:
                with zipfile.ZipFile(path) as zf, zf.open(info) as fh:
                    yield io.BufferedReader(_Bounded(fh, name, info.compress_size), _COPY_CHUNK)

            return cm()

        yield Member(
            name=name,
            hint=Path(info.filename).name,
            opener=opener,
            depth=member.depth + 1,
            compressed=info.compress_size,
            spool=spool,
        )


def _skip(fh: IO[bytes], count: int) -> None:
    """Read past ``count`` bytes of a stream (seeking where it can)."""
    if fh.seekable():
        fh.seek(count, io.SEEK_CUR)
        return
    while count > 0:
        chunk = fh.read(min(count, _COPY_CHUNK))
        if not chunk:
            return
        count -= len(chunk)


class _TarCursor:
    """One open stream over an uncompressed tar, shared by its members read in order: reading
    the members of a .tar.gz one after another decompresses it once, not once per member. The
    first bytes read of a member are kept, so reading its head to tell the format and then the
    member itself does not start the decompression again."""

    KEEP = 2 * HEAD_BYTES

    def __init__(self, member: Member) -> None:
        self.member = member
        self.stack: ExitStack | None = None
        self.fh: IO[bytes] | None = None
        self.pos = 0
        self.busy = False
        self.recent_at = -1
        self.recent = bytearray()

    def close(self) -> None:
        if self.stack is not None:
            self.stack.close()
        self.stack, self.fh, self.pos = None, None, 0

    def at(self, offset: int) -> tuple[IO[bytes], bytes]:
        """The stream positioned for the member at ``offset``, and bytes to serve first."""
        if (
            self.fh is not None
            and offset == self.recent_at
            and self.pos - offset == len(self.recent)
        ):
            return self.fh, bytes(self.recent)
        if self.fh is None or offset < self.pos:
            self.close()
            self.stack = ExitStack()
            self.fh = self.stack.enter_context(self.member.open())
        fh = self.fh
        _skip(fh, offset - self.pos)
        self.pos = offset
        self.recent_at, self.recent = offset, bytearray()
        return fh, b""

    def record(self, data: bytes) -> None:
        self.pos += len(data)
        if len(self.recent) + len(data) <= self.KEEP:
            self.recent += data
        else:
            self.recent_at = -1  # read too far to replay


class _Slice(io.RawIOBase):
    def __init__(
        self, fh: IO[bytes], size: int, cursor: _TarCursor | None, prefix: bytes = b""
    ) -> None:
        self.fh, self.left, self.cursor = fh, size, cursor
        self.prefix = memoryview(prefix)[:size]
        self.left -= len(self.prefix)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.prefix:
            n = min(len(b), len(self.prefix))
            b[:n] = self.prefix[:n]
            self.prefix = self.prefix[n:]
            return n
        if self.left <= 0:
            return 0
        data = self.fh.read(min(len(b), self.left))
        n = len(data)
        b[:n] = data
        self.left -= n
        if self.cursor is not None:
            self.cursor.record(data)
        return n


def _tar_members(member: Member, spool: _Spool) -> Iterator[Member | Input]:
    infos: list[tarfile.TarInfo] = []
    with member.open() as fh, tarfile.open(fileobj=fh, mode="r|") as tf:
        for info in tf:
            if info.isfile():
                infos.append(info)
                if len(infos) > MAX_MEMBERS:
                    raise Refused(f"{member.name}: refused, more than {MAX_MEMBERS} members")
    cursor = _TarCursor(member)
    for info in sorted(infos, key=lambda i: i.name):
        name = f"{member.name}!{info.name}"
        if _hidden(info.name.split("/")):
            continue

        def opener(info: tarfile.TarInfo = info) -> Any:
            @contextmanager
            def cm() -> Iterator[IO[bytes]]:
                if cursor.busy:  # a member read inside another's read: its own stream
                    with member.open() as fh:
                        _skip(fh, info.offset_data)
                        yield io.BufferedReader(_Slice(fh, info.size, None), _COPY_CHUNK)
                    return
                cursor.busy = True
                try:
                    fh, prefix = cursor.at(info.offset_data)
                    yield io.BufferedReader(_Slice(fh, info.size, cursor, prefix), _COPY_CHUNK)
                finally:
                    cursor.busy = False

            return cm()

        yield Member(
            name=name,
            hint=Path(info.name).name,
            opener=opener,
            depth=member.depth + 1,
            compressed=None,
            spool=spool,
        )


def _expand(member: Member, strict: bool, on_skip: OnSkip | None) -> Iterator[Input]:
    """The inputs of one member: itself, or for a container its members (recursively)."""
    try:
        head = _head(member)
    except (OSError, ValueError) as exc:
        yield member.name, _raising(exc)
        return
    fmt = sniff(head, member.hint)
    if fmt is None:
        reason = "format not recognised"
        if strict:
            yield (
                member.name,
                _raising(
                    ValueError(
                        f"{member.name}: unrecognised format (not EVTX, JSON, XML, CSV, auditd "
                        "or an archive)"
                    )
                ),
            )
        elif on_skip is not None:
            on_skip(member.name, reason)
        return
    if fmt.kind not in ARCHIVE_KINDS:
        yield member.name, _events(member, fmt)
        return
    if member.depth >= MAX_DEPTH:
        yield (
            member.name,
            _raising(Refused(f"{member.name}: refused, archives nested deeper than {MAX_DEPTH}")),
        )
        return
    if fmt.kind in ("gz", "bz2", "xz"):
        yield from _expand(_decompressed(member, fmt.kind), strict, on_skip)
        return
    spool = member.spool or _Spool()
    listing = _zip_members if fmt.kind == "zip" else _tar_members
    members: list[Member | Input] = []
    try:
        members = list(listing(member, spool))
    except (*_CORRUPT, gzip.BadGzipFile, ValueError) as exc:
        yield member.name, _raising(_corrupt(member, exc))
        return
    except OSError as exc:
        yield member.name, _raising(exc)
        return
    for item in members:
        if isinstance(item, Member):
            yield from _expand(item, False, on_skip)
        else:
            yield item


def _walk(directory: Path) -> Iterator[Path]:
    """Every non-hidden regular file under ``directory``, sorted, symlinked dirs not followed."""
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                path = Path(root) / name
                if path.is_file():
                    yield path


def iter_inputs(paths: Sequence[Path], on_skip: OnSkip | None = None) -> Iterator[Input]:
    """One ``(display_name, events)`` per input file; see the module docstring.

    A path named explicitly is always yielded (its events raise when it is missing, unreadable
    or of an unknown format); files found in a directory or an archive whose format is not
    recognised go to ``on_skip(name, reason)`` instead. Iterating ``events`` raises ValueError
    (naming the input and the position) for bad content and OSError for unreadable files.
    """
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for found in _walk(path):
                yield from _expand(_file_member(found), False, on_skip)
        else:
            yield from _expand(_file_member(path), True, on_skip)


def iter_file(path: Path) -> Iterator[Event]:
    """Every event of one file (an archive's members one after another)."""
    for _name, events in _expand(_file_member(path), True, None):
        yield from events
