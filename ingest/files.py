"""Read events from files and directories, auto-detecting the format by content.

Formats: EVTX, JSON array, JSONL / concatenated JSON (evtx_dump output included), Windows XML
event logs (wevtutil, Event Viewer "Save as XML", Sysmon for Linux syslog lines), auditd raw logs
and CSV (Event Viewer "Save as CSV" and generic). Containers: directories (recursive), zip, tar,
gzip, bzip2 and xz, nested to a bounded depth. Windows-shaped objects are flattened to Sigma field
names (ingest/windows.py); the readers live in ingest/readers/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from ingest.readers.formats import EVTX_MAGIC
from ingest.readers.sources import iter_file
from ingest.readers.sources import iter_inputs as _iter_inputs

__all__ = ["EVTX_MAGIC", "iter_events_from_file", "iter_inputs"]


def iter_inputs(
    paths: Sequence[Path], on_skip: Callable[[str, str], None] | None = None
) -> Iterator[tuple[str, Iterator[dict[str, Any]]]]:
    """One ``(display_name, events)`` per input file, lazily.

    A plain file is named by its path; a directory yields every non-hidden file under it
    (sorted); an archive member is named ``archive.zip!member/path`` (a .gz keeps its own name).
    Files found in a directory or archive whose format is not recognised go to
    ``on_skip(name, reason)``; a file named explicitly is always yielded. Iterating ``events``
    raises ValueError (naming the input and the offset/line/record) for bad content, a refused
    archive member (zip bomb bounds) or an unknown format, and OSError for unreadable files.
    """
    return _iter_inputs(paths, on_skip)


def iter_events_from_file(path: str | PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield events from ``path``; Windows-shaped objects are flattened, others passed as-is.

    Raises ValueError (mentioning the file name and position) for undecodable content and
    OSError for unreadable files. An archive yields its members' events one after another.
    """
    return iter_file(Path(path))
