"""Windows XML event logs: ``wevtutil qe /f:xml`` output, Event Viewer "Save as XML"
(``<Events><Event xmlns=...>``), a bare sequence of ``<Event>`` elements, and Sysmon for Linux
(syslog lines whose message is an ``<Event>``, or its XML alone).

Each ``<Event>`` element is cut out of the text stream and parsed on its own, so memory stays
bounded by one event, text between events (a syslog prefix, other daemons' lines, the
``<Events>`` wrapper) is ignored, and no DTD ever reaches the parser: undefined entities are an
error, entity expansion (the "billion laughs") cannot happen. The element is turned into the
evtx_dump JSON shape and flattened by ingest/windows.py, so the fields are those of the EVTX path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError

from ingest.windows import flatten_windows_event

try:  # refuses DTDs and entity declarations outright
    from defusedxml.ElementTree import fromstring as _fromstring
except ImportError:  # pragma: no cover - the chunks never carry a DTD, expat alone is safe
    from xml.etree.ElementTree import fromstring as _fromstring

Event = dict[str, Any]

CHUNK = 1024 * 1024
MAX_EVENT_CHARS = 16 * 1024 * 1024
_START = re.compile(r"<Event[\s>/]")
_END = "</Event>"
_DTD = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.I)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


_DECIMAL = re.compile(r"^(?:0|[1-9][0-9]{0,18})$")


def _scalar(text: str) -> Any:
    """A leaf's text typed as the EVTX path types it: XML keeps no types, and the binary
    format's integers are what decimal text was written from."""
    return int(text) if _DECIMAL.match(text) else text


def _convert(el: Element) -> Any:
    """An element in evtx_dump's JSON shape: ``#attributes``, ``#text`` and children by tag."""
    attrs = {_local(k): _scalar(v) for k, v in el.attrib.items() if not k.startswith("xmlns")}
    children = list(el)
    text = el.text or ""
    if not children and not attrs:
        return _scalar(text) if text != "" else None
    out: dict[str, Any] = {}
    if attrs:
        out["#attributes"] = attrs
    for child in children:
        key = _local(child.tag)
        value = _convert(child)
        if key in out:
            prev = out[key]
            if isinstance(prev, list) and key == "Data":
                prev.append(value)
            else:
                out[key] = [prev, value]
        else:
            out[key] = [value] if key == "Data" else value
    if not children and text != "":
        out["#text"] = _scalar(text)
    return out


def event_from_xml(text: str) -> Event:
    """The flattened event of one ``<Event>`` element (ValueError when it is not well formed)."""
    try:
        # A character reference keeps a \r that XML's end-of-line handling would drop.
        root = _fromstring(text.replace("\r", "&#13;"))
    except ParseError as exc:
        raise ValueError(f"invalid XML: {exc}") from None
    except Exception as exc:  # defusedxml's DTDForbidden / EntitiesForbidden
        raise ValueError(f"refused XML: {type(exc).__name__}") from None
    if _local(root.tag) != "Event":
        raise ValueError(f"expected an <Event> element, got <{_local(root.tag)}>")
    try:
        body = _convert(root)
    except RecursionError:
        raise ValueError("elements nested too deeply") from None
    if not isinstance(body, dict) or not isinstance(body.get("System"), dict):
        raise ValueError("<Event> without a <System> element")
    return flatten_windows_event({"Event": body})


def iter_xml_events(fh: IO[str], name: str) -> Iterator[Event]:
    """The ``<Event>`` elements of a text stream, one at a time."""
    buf = ""
    base = 0  # offset of buf[0] in the stream
    lines = 0  # newlines before buf
    eof = False
    record = 0
    pos = 0
    while True:
        start_m = _START.search(buf, pos)
        end = buf.find(_END, start_m.start()) if start_m else -1
        if start_m is None or end < 0:
            if _DTD.search(buf, pos):
                where = base + _DTD.search(buf, pos).start()  # type: ignore[union-attr]
                raise ValueError(f"{name}: offset {where}: a DTD or entity declaration is refused")
            keep = start_m.start() if start_m else max(len(buf) - 16, pos)
            if len(buf) - keep > MAX_EVENT_CHARS:
                raise ValueError(
                    f"{name}: record {record + 1} at offset {base + keep}: "
                    f"an <Event> longer than {MAX_EVENT_CHARS} characters"
                )
            lines += buf.count("\n", 0, keep)
            base += keep
            buf = buf[keep:]
            pos = 0
            if eof:
                if start_m is not None:
                    raise ValueError(
                        f"{name}: record {record + 1} at offset {base}: <Event> not closed"
                    )
                return
            data = fh.read(CHUNK)
            if not data:
                eof = True
            buf += data
            continue
        record += 1
        stop = end + len(_END)
        chunk = buf[start_m.start() : stop]
        try:
            yield event_from_xml(chunk)
        except ValueError as exc:
            line = lines + buf.count("\n", 0, start_m.start()) + 1
            raise ValueError(
                f"{name}: record {record} at offset {base + start_m.start()} (line {line}): {exc}"
            ) from None
        pos = stop
