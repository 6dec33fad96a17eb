"""Message bodies that carry fields of their own: CEF, LEEF and JSON. Pure, never raises."""

from __future__ import annotations

import re
from typing import Any

import orjson

from ingest.syslog.parse import Bad

_CEF_KEY = re.compile(r"(?:^|(?<= ))([A-Za-z0-9_.\[\]-]{1,64})=")


def _split_header(text: str, parts: int) -> list[str] | None:
    """`parts` pipe-separated fields (\\| and \\\\ escaped), then the rest."""
    out: list[str] = []
    current: list[str] = []
    at = 0
    while at < len(text) and len(out) < parts:
        char = text[at]
        if char == "\\" and text[at + 1 : at + 2] in ("|", "\\"):
            current.append(text[at + 1])
            at += 2
            continue
        if char == "|":
            out.append("".join(current))
            current = []
        else:
            current.append(char)
        at += 1
    if len(out) < parts:
        return None
    out.append(text[at:])
    return out


def _cef_unescape(value: str) -> str:
    return value.replace("\\=", "=").replace("\\n", "\n").replace("\\r", "\r").replace("\\\\", "\\")


def parse_cef(text: str) -> dict[str, Any] | Bad:
    """`CEF:Version|Vendor|Product|Version|SignatureID|Name|Severity|k=v k=v ...`."""
    fields = _split_header(text[4:], 7)
    if fields is None:
        return Bad("CEF header needs 7 '|'-separated fields")
    version, vendor, product, dversion, signature, name, severity, ext = fields
    out: dict[str, Any] = {
        "cef_version": version,
        "device_vendor": vendor,
        "device_product": product,
        "device_version": dversion,
        "signature_id": signature,
        "name": name,
        "cef_severity": severity,
    }
    keys = list(_CEF_KEY.finditer(ext))
    extensions: dict[str, str] = {}
    for i, key in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(ext)
        if ext[key.start() - 1 : key.start()] == "\\":
            continue
        extensions[key.group(1)] = _cef_unescape(ext[key.end() : end].rstrip(" "))
    if ext.strip() and not keys:
        return Bad("CEF extension is not key=value pairs")
    out["extensions"] = extensions
    return out


def parse_leef(text: str) -> dict[str, Any] | Bad:
    """`LEEF:1.0|Vendor|Product|Version|EventID|k=v<TAB>k=v` (LEEF 2.0: a delimiter field)."""
    fields = _split_header(text[5:], 5)
    if fields is None:
        return Bad("LEEF header needs 5 '|'-separated fields")
    version, vendor, product, dversion, event_id, rest = fields
    delimiter = "\t"
    if version.startswith("2"):
        head = _split_header(rest, 1)
        if head is not None and len(head[0]) <= 6:
            spec, rest = head
            if spec.lower().startswith("0x") or spec.lower().startswith("x"):
                try:
                    delimiter = chr(int(spec.lower().lstrip("0").lstrip("x"), 16))
                except ValueError:
                    return Bad(f"LEEF 2.0 delimiter {spec!r} is not a hex character")
            elif spec:
                delimiter = spec[0]
    attributes: dict[str, str] = {}
    for pair in rest.split(delimiter) if rest else []:
        if not pair.strip():
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            return Bad(f"LEEF attribute {pair[:40]!r} is not key=value")
        attributes[key.strip()] = value
    return {
        "leef_version": version,
        "device_vendor": vendor,
        "device_product": product,
        "device_version": dversion,
        "event_id": event_id,
        "attributes": attributes,
    }


def body_fields(message: str) -> tuple[str, dict[str, Any]] | Bad | None:
    """What a syslog message body holds: ("cef"|"leef"|"json", fields), a Bad (it claims
    a format but breaks it) or None (plain text)."""
    at = message.find("CEF:", 0, 64)
    if at >= 0 and (at == 0 or message[at - 1] == " "):
        cef = parse_cef(message[at:])
        return cef if isinstance(cef, Bad) else ("cef", cef)
    at = message.find("LEEF:", 0, 64)
    if at >= 0 and (at == 0 or message[at - 1] == " "):
        leef = parse_leef(message[at:])
        return leef if isinstance(leef, Bad) else ("leef", leef)
    stripped = message.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            value = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            return None  # text that looks like JSON but is not: kept as text
        if isinstance(value, dict):
            return "json", value
    return None
