"""RFC 5424 and RFC 3164 syslog lines to event fields; pure, never raises.

`parse_line` answers a dict of fields or a `Bad` with the reason. RFC 3164 is what real
senders call "BSD syslog": anything after a valid PRI is accepted (a missing timestamp or
host is allowed, as rsyslog does), so only a missing/invalid PRI or undecodable bytes fail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

FACILITIES = [
    *("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron"),
    *("authpriv", "ftp", "ntp", "security", "console", "solaris-cron"),
    *(f"local{n}" for n in range(8)),
]
SEVERITIES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]
NIL = "-"
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_BSD_TIME = re.compile(r"([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) ")
_TAG = re.compile(r"([^\s:\[\]]{1,48})(?:\[([^\]\s]{1,128})\])?: ?")
_SD_NAME = re.compile(r"[^= \]\"]{1,32}")


@dataclass
class Bad:
    reason: str


def _pri(line: str) -> tuple[int, int] | Bad:
    if not line.startswith("<"):
        return Bad("no PRI: a syslog message starts with <facility*8+severity>")
    end = line.find(">", 1, 5)
    digits = line[1:end] if end > 0 else ""
    if not digits.isdigit() or not digits.isascii() or (len(digits) > 1 and digits[0] == "0"):
        return Bad("invalid PRI: expected <0> to <191>")
    value = int(digits)
    if value > 191:
        return Bad(f"PRI {value} is over 191")
    return value, end + 1


def _header(pri: int) -> dict[str, Any]:
    facility, severity = divmod(pri, 8)
    return {
        "facility": FACILITIES[facility],
        "facility_code": facility,
        "severity": SEVERITIES[severity],
        "severity_code": severity,
    }


# Per message only a copy of these is made: the PRI text and the header fields it stands for
# are a closed set of 192.
_PRI_OF = {f"<{value}>": value for value in range(192)}
_HEADERS = {
    kind: [_header(value) | {"syslog_format": kind} for value in range(192)]
    for kind in ("rfc5424", "rfc3164")
}


def parse_line(data: bytes, now: datetime | None = None) -> dict[str, Any] | Bad:
    """One syslog message (without framing) to fields: facility, severity, host, app,
    procid, msgid, structured_data, message (and @timestamp when the line has one)."""
    try:
        line = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        try:  # RFC 3164 senders use 8-bit charsets; Latin-1 keeps every byte
            line = data.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
            return Bad(f"not text: bad byte at offset {exc.start}")
    line = line.rstrip("\r\n\x00")
    if line.startswith("\ufeff"):
        line = line[1:]
    end = line.find(">", 1, 5) + 1
    value = _PRI_OF.get(line[:end]) if end else None
    if value is None:
        pri = _pri(line)
        assert isinstance(pri, Bad)  # every valid PRI is in _PRI_OF
        return pri
    rest = line[end:]
    if rest.startswith("1 "):
        return _rfc5424(value, rest[2:])
    return _rfc3164(value, rest, now or datetime.now(UTC))


def _word(text: str, at: int) -> tuple[str, int] | Bad:
    end = text.find(" ", at)
    if end < 0:
        return Bad("RFC 5424 header is cut short")
    word = text[at:end]
    if not word:
        return Bad("RFC 5424 header has an empty field (two spaces)")
    return word, end + 1


def _header_fault(text: str) -> Bad:
    """Why the five RFC 5424 header fields after the version are not there."""
    at = 0
    for _ in range(5):
        word = _word(text, at)
        if isinstance(word, Bad):
            return word
        at = word[1]
    raise AssertionError("header is complete")  # pragma: no cover - callers checked


def _rfc5424(pri: int, text: str) -> dict[str, Any] | Bad:
    # TIMESTAMP HOSTNAME APP-NAME PROCID MSGID, then STRUCTURED-DATA and MSG
    parts = text.split(" ", 5)
    if len(parts) < 6 or not all(parts[:5]):
        return _header_fault(text)
    stamp, host, app, procid, msgid, rest = parts
    out = _HEADERS["rfc5424"][pri].copy()
    if stamp != NIL:
        try:
            parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            return Bad(f"RFC 5424 timestamp {stamp[:40]!r} is not RFC 3339")
        if parsed.tzinfo is None:
            return Bad("RFC 5424 timestamp has no time zone")
        if parsed.tzinfo is not UTC:
            parsed = parsed.astimezone(UTC)
        out["@timestamp"] = parsed.isoformat()
    if host != NIL:
        if len(host) > 255:
            return Bad("RFC 5424 host is over 255 characters")
        out["host"] = host
    if app != NIL:
        if len(app) > 48:
            return Bad("RFC 5424 app is over 48 characters")
        out["app"] = app
    if procid != NIL:
        if len(procid) > 128:
            return Bad("RFC 5424 procid is over 128 characters")
        out["procid"] = procid
    if app != NIL:
        out["program"] = app  # the name Sigma's linux syslog shape looks for
    if msgid != NIL:
        out["msgid"] = msgid[:32]
    if rest.startswith("- ") or rest == NIL:  # no structured data: the common case
        message = rest[2:]
    else:
        sd = parse_sd(rest, 0)
        if isinstance(sd, Bad):
            return sd
        elements, at = sd
        if elements:
            out["structured_data"] = elements
        message = rest[at + 1 :] if rest[at : at + 1] == " " else rest[at:]
    if message.startswith("\ufeff"):
        message = message[1:]
    out["message"] = message
    return out


def parse_sd(text: str, at: int) -> tuple[dict[str, dict[str, str]], int] | Bad:
    """RFC 5424 STRUCTURED-DATA at `at`: `-` or `[id k="v" ...]...`; returns the elements and
    where the message starts."""
    if text[at : at + 1] == NIL:
        return {}, at + 1
    elements: dict[str, dict[str, str]] = {}
    if text[at : at + 1] != "[":
        return Bad("RFC 5424 structured data must be '-' or start with '['")
    while text[at : at + 1] == "[":
        name = _SD_NAME.match(text, at + 1)
        if name is None:
            return Bad("RFC 5424 structured data element without a valid SD-ID")
        params: dict[str, str] = {}
        at = name.end()
        while True:
            if text[at : at + 1] == "]":
                at += 1
                break
            if text[at : at + 1] != " ":
                return Bad("RFC 5424 structured data: expected ' ' or ']' in an element")
            key = _SD_NAME.match(text, at + 1)
            if key is None or text[key.end() : key.end() + 2] != '="':
                return Bad('RFC 5424 structured data: expected name="value"')
            at = key.end() + 2
            value: list[str] = []
            while True:
                if at >= len(text):
                    return Bad("RFC 5424 structured data: unterminated value")
                char = text[at]
                if char == "\\" and text[at + 1 : at + 2] in ('"', "\\", "]"):
                    value.append(text[at + 1])
                    at += 2
                elif char == '"':
                    at += 1
                    break
                else:
                    value.append(char)
                    at += 1
            params[key.group()] = "".join(value)
        elements.setdefault(name.group(), {}).update(params)
    return elements, at


def _bsd_time(text: str, now: datetime) -> tuple[str, int] | None:
    match = _BSD_TIME.match(text)
    if match is None or match.group(1) not in _MONTHS:
        return None
    month = _MONTHS[match.group(1)]
    try:
        stamp = datetime(
            now.year,
            month,
            int(match.group(2)),
            int(match.group(3)),
            int(match.group(4)),
            int(match.group(5)),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if (stamp - now).days > 31:  # December's message read in January
        stamp = stamp.replace(year=now.year - 1)
    return stamp.isoformat(), match.end()


def _rfc3164(pri: int, text: str, now: datetime) -> dict[str, Any]:
    out = _HEADERS["rfc3164"][pri].copy()
    stamp = _bsd_time(text, now)
    if stamp is None:  # an RFC 3339 stamp (rsyslog's RSYSLOG_ForwardFormat) is common too
        first = text.split(" ", 1)[0]
        if len(first) >= 19 and first[4:5] == "-" and first[10:11] == "T":
            try:
                parsed = datetime.fromisoformat(first.replace("Z", "+00:00"))
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=UTC)
                stamp = parsed.astimezone(UTC).isoformat(), len(first) + 1
            except ValueError:
                stamp = None
    if stamp is not None:
        out["@timestamp"] = stamp[0]
        text = text[stamp[1] :]
        host, sep, after = text.partition(" ")
        if sep and host and not host.endswith(":") and "[" not in host and len(host) <= 255:
            out["host"] = host
            text = after
    tag = None if text.startswith(("CEF:", "LEEF:")) else _TAG.match(text)
    if tag is not None:
        out["app"] = out["program"] = tag.group(1)
        if tag.group(2):
            out["procid"] = tag.group(2)
        text = text[tag.end() :]
    out["message"] = text
    return out
