"""Windows event log ingestion: flattening of evtx_dump-style JSON to Sigma field names.

EventData/UserData names lose their spaces (`Threat Name` → `ThreatName`, as Zircolite does), so
the names Sigma rules use match without any per-event cost in the matcher.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from os import PathLike
from typing import Any

log = logging.getLogger(__name__)

_ATTRS = "#attributes"
_TEXT = "#text"
_MAX_CONSECUTIVE_ERRORS = 1000


def _unwrap(value: Any) -> Any:
    """Return the scalar content of an XML-ish node ({"#text": ...} / {"#attributes": ...})."""
    if isinstance(value, dict):
        if _TEXT in value:
            return _unwrap(value[_TEXT])
        if set(value) == {_ATTRS}:
            return None
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def _attrs(node: Any) -> dict[str, Any]:
    """Return the attribute dict of a node, or {}."""
    if isinstance(node, dict):
        attrs = node.get(_ATTRS)
        if isinstance(attrs, dict):
            return attrs
    return {}


def _event_root(obj: Any) -> dict[str, Any] | None:
    """Return the dict holding "System" (the <Event> element) or None."""
    if not isinstance(obj, dict):
        return None
    inner = obj.get("Event")
    if isinstance(inner, dict) and isinstance(inner.get("System"), dict):
        return inner
    if isinstance(obj.get("System"), dict):
        return obj
    return None


def is_windows_event(obj: Any) -> bool:
    """True if ``obj`` is a raw (nested) Windows event as produced by evtx_dump / pyevtx."""
    return _event_root(obj) is not None


def _to_int(value: Any) -> Any:
    """Convert numeric strings to int, leave anything else unchanged."""
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            return value
    return value


def _flatten_system(system: dict[str, Any], out: dict[str, Any]) -> None:
    for key, node in system.items():
        attrs = _attrs(node)
        if key == "Provider":
            if "Name" in attrs:
                out["Provider_Name"] = attrs["Name"]
            for k in ("Guid", "EventSourceName"):
                if k in attrs:
                    out[f"Provider_{k}"] = attrs[k]
        elif key == "EventID":
            out["EventID"] = _to_int(_unwrap(node))
            if "Qualifiers" in attrs:
                out["EventID_Qualifiers"] = attrs["Qualifiers"]
        elif key == "TimeCreated":
            if "SystemTime" in attrs:
                out["TimeCreated"] = str(attrs["SystemTime"])
        elif key in ("Execution", "Security", "Correlation"):
            for k, v in attrs.items():
                out[f"{key}_{k}"] = v
        else:
            val = _unwrap(node)
            if isinstance(val, dict):
                for k, v in val.items():
                    if k != _ATTRS:
                        out[f"{key}_{k}"] = _unwrap(v)
            else:
                out[key] = val
    if "Security_UserID" in out:
        out.setdefault("UserID", out["Security_UserID"])


def _put(out: dict[str, Any], key: str, value: Any, section: str) -> None:
    """Store a data field without clobbering System fields."""
    if key in out:
        out[f"{section}_{key}"] = value
    else:
        out[key] = value


def _field_name(name: str) -> str:
    """A data field's name as Sigma rules spell it: without spaces (Defender's `Threat Name` is
    `ThreatName`), as Zircolite's flattening does. Done once here, at ingest, so the matcher's
    field look-up stays a plain dict get and events without spaces pay nothing."""
    if " " not in name:
        return name
    return name.replace(" ", "") or name


def despace_flat_windows(obj: dict[str, Any]) -> dict[str, Any]:
    """A Windows event a shipper already flattened (`Channel` and `EventID` at the top, e.g.
    NXLog or a script) with its data names as Windows renders them: the same names without
    spaces. Other events, and those without a spaced name, come back as they are."""
    if "Channel" not in obj or "EventID" not in obj or not any(" " in k for k in obj):
        return obj
    return {_field_name(key): value for key, value in obj.items()}


def _flatten_data(data: Any, out: dict[str, Any], section: str) -> None:
    """Flatten an EventData-like dict (named fields, Data lists, #text) into ``out``."""
    if data is None:
        return
    if not isinstance(data, dict):
        _put(out, "Data", _unwrap(data), section)
        return
    unnamed: list[Any] = []
    for key, node in data.items():
        if key == _ATTRS:
            continue
        if key == _TEXT:
            val = _unwrap(node)
            unnamed.extend(val if isinstance(val, list) else [val])
            continue
        if key == "Data":
            items = node if isinstance(node, list) else [node]
            for item in items:
                name = _attrs(item).get("Name")
                if name:
                    name = str(name)
                    name = name.replace(" ", "") or name if " " in name else name
                    _put(out, name, _unwrap(item), section)
                else:
                    val = _unwrap(item)
                    unnamed.extend(val if isinstance(val, list) else [val])
            continue
        # Inline, not _field_name(): this runs for every data field of every event.
        _put(out, key.replace(" ", "") or key if " " in key else key, _unwrap(node), section)
    if unnamed:
        _put(out, "Data", unnamed[0] if len(unnamed) == 1 else unnamed, section)


def flatten_windows_event(obj: dict[str, Any]) -> dict[str, Any]:
    """Flatten a nested Windows event into a flat dict keyed by Sigma field names.

    Non-Windows objects are returned unchanged.
    """
    root = _event_root(obj)
    if root is None:
        return obj
    out: dict[str, Any] = {}
    _flatten_system(root["System"], out)
    if "EventData" in root:
        _flatten_data(root["EventData"], out, "EventData")
    user_data = root.get("UserData")
    if isinstance(user_data, dict):
        for key, element in user_data.items():
            if key == _ATTRS:
                continue
            if isinstance(element, dict):
                _flatten_data(element, out, "UserData")
            else:
                _put(out, key, _unwrap(element), "UserData")
    for key in ("RenderingInfo", "ProcessingErrorData", "DebugData", "BinaryEventData"):
        if key in root:
            _put(out, key, root[key], "Event")
    return out


def iter_concatenated_json(text: str) -> Iterator[dict[str, Any]]:
    """Yield JSON values from text holding several concatenated JSON documents.

    Raises ValueError naming the offset (and line/column) of malformed input.
    """
    decoder = json.JSONDecoder()
    pos = 0
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n\ufeff":
            pos += 1
        if pos >= n:
            return
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"invalid JSON at offset {exc.pos} (line {exc.lineno}, column {exc.colno}): "
                f"{exc.msg}"
            ) from None
        except RecursionError:
            raise ValueError(f"JSON nested too deeply at offset {pos}") from None
        if not isinstance(value, dict):
            line = text.count("\n", 0, pos) + 1
            raise ValueError(
                f"expected a JSON object at offset {pos} (line {line}), got {type(value).__name__}"
            )
        yield value
        pos = end


def iter_evtx_file(path: str | PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield flattened events of a binary .evtx file; corrupt records are skipped with a warning."""
    import evtx

    with open(path, "rb"):  # surface missing/unreadable files as OSError
        pass
    try:
        parser = evtx.PyEvtxParser(str(path))
    except Exception as exc:  # noqa: BLE001 - pyevtx reports header problems as OSError
        raise ValueError(f"{path}: not a valid EVTX file: {exc}") from None
    records = iter(parser.records_json())
    errors = 0
    while True:
        try:
            record: Any = next(records)
        except StopIteration:
            return
        except Exception as exc:  # pyevtx raises RuntimeError & co. for corrupt records
            errors += 1
            log.warning("%s: skipping unreadable EVTX record: %s", path, exc)
            if errors >= _MAX_CONSECUTIVE_ERRORS:
                log.warning("%s: too many consecutive corrupt records, giving up", path)
                return
            continue
        errors = 0
        try:
            data = json.loads(record["data"])
        except (KeyError, TypeError, ValueError) as exc:
            log.warning(
                "%s: skipping EVTX record %s with bad JSON: %s",
                path,
                record.get("event_record_id") if isinstance(record, dict) else "?",
                exc,
            )
            continue
        if isinstance(data, dict):
            yield flatten_windows_event(data)
