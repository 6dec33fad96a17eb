"""Telling an input's format from its first bytes, with the file name's extension as a hint."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

EVTX_MAGIC = b"ElfFile\x00"
ARCHIVE_KINDS = frozenset({"zip", "tar", "gz", "bz2", "xz"})
TEXT_KINDS = ("json_array", "json", "xml", "auditd", "csv")

_AUDITD = re.compile(r"^(?:node=\S+ )?type=[A-Z0-9_]+ msg=audit\(\d+(?:\.\d+)?:\d+\)", re.M)
_XML_EVENT = re.compile(r"<Event[\s>]")
_CSV_EXTS = (".csv", ".tsv")
WINDOWS_CSV = "Level,Date and Time,Source,Event ID"
_DELIMS = ",;\t"
_HEADER_FIELD = re.compile(r"^[\w .@\-/()#:\[\]]{1,128}$")
# Without a .csv name only identifier-like column names count: a syslog line with a comma in
# it is not a header.
_STRICT_FIELD = re.compile(r"^[A-Za-z_@][\w.@\-]{0,63}$")


@dataclass(frozen=True)
class Format:
    kind: str  # "evtx", an ARCHIVE_KINDS member or a TEXT_KINDS member
    encoding: str = "utf-8"
    delimiter: str = ","


def _encoding(head: bytes) -> tuple[str, bytes] | None:
    """(codec, BOM-less head) of text, or None when the head is not text."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", head[3:]
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16", head
    if b"\x00" in head[:4096]:
        return None
    return "utf-8", head


def _text_of(head: bytes, codec: str) -> str | None:
    decoder = codecs.getincrementaldecoder(codec)()
    try:
        # final=False: a multi-byte character cut by the head's end is not an error.
        return decoder.decode(head, final=False)
    except UnicodeDecodeError:
        return None


def _csv_delimiter(text: str, hint: str) -> str | None:
    """The delimiter of a CSV whose first line is a header, or None when it does not look so."""
    lines = text.splitlines()
    if not lines:
        return None
    header = lines[0]
    by_ext = hint.lower().endswith(_CSV_EXTS)
    for delim in ("\t" if hint.lower().endswith(".tsv") else "") + _DELIMS:
        names = [n.strip().strip('"') for n in header.split(delim)]
        field = _HEADER_FIELD if by_ext or header.startswith(WINDOWS_CSV) else _STRICT_FIELD
        if len(names) < 2 or not all(field.match(n) for n in names if n):
            continue
        if sum(1 for n in names if n) < 2:
            continue
        if by_ext or header.startswith(WINDOWS_CSV):
            return delim
        # Without the extension: demand a second line with as many fields.
        if len(lines) > 1 and lines[1].count(delim) >= header.count(delim) > 0:
            return delim
    return None


def sniff(head: bytes, hint: str = "") -> Format | None:
    """The format of a file starting with ``head``, or None when it is not recognised."""
    if head.startswith(EVTX_MAGIC):
        return Format("evtx")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return Format("zip")
    if head.startswith(b"\x1f\x8b"):
        return Format("gz")
    if head.startswith(b"BZh") and len(head) > 3 and head[3:4].isdigit():
        return Format("bz2")
    if head.startswith(b"\xfd7zXZ\x00"):
        return Format("xz")
    if len(head) >= 262 and head[257:262] == b"ustar":
        return Format("tar")
    enc = _encoding(head)
    if enc is None:
        return None
    codec, body = enc
    text = _text_of(body, codec)
    if text is None:
        return None
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        return Format("json", codec)  # empty: no events, whatever it was meant to be
    first = stripped[0]
    if first == "[":
        return Format("json_array", codec)
    if first == "{":
        return Format("json", codec)
    if _AUDITD.search(stripped[:4096]):
        return Format("auditd", codec)
    if _XML_EVENT.search(text):
        return Format("xml", codec)
    if first == "<":
        return None
    delim = _csv_delimiter(stripped, hint)
    if delim is not None:
        return Format("csv", codec, delim)
    return None
