"""auditd raw logs (/var/log/audit/audit.log): one event per record, as ``ausearch -i`` reads
hex-encoded strings, so Sigma's auditd rules (``type``, ``a0``, ``exe``, ``comm``, ``key``, ...)
match the raw file.

A record ``type=SYSCALL msg=audit(1700000000.123:4567): arch=c000003e syscall=59 ... key="x"``
becomes ``{"type": "SYSCALL", "timestamp": "2023-11-14T22:13:20.123Z", "serial": 4567,
"arch": "c000003e", "syscall": "59", ..., "key": "x"}``; values stay strings as in the log.
The enriched part (after the 0x1d separator: ``SYSCALL=execve AUID="alice"``) is kept under its
upper-case names, and the inner ``msg='op=... res=success'`` of user-space records is split into
its fields too (never overwriting the record's own).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

Event = dict[str, Any]

MAX_LINE_CHARS = 1024 * 1024
_HEADER = re.compile(
    r"^(?:node=(?P<node>\S+) )?type=(?P<type>[A-Za-z0-9_]+) "
    r"msg=audit\((?P<sec>\d+)(?:\.(?P<frac>\d+))?:(?P<serial>\d+)\):\s?"
)
_FIELD = re.compile(r"([A-Za-z_][\w\-\[\]]*)=(\"[^\"]*\"|'[^']*'|\S*)")
_HEX = re.compile(r"^(?:[0-9A-F]{2})+$")
# Fields auditd writes hex-encoded when they hold a space, a quote or a control character.
_ENCODED = frozenset(
    {"proctitle", "name", "cwd", "comm", "exe", "path", "data", "cmd", "acct", "key", "ocomm"}
    | {"old", "new", "root_dir", "dir", "file", "vm", "watch", "sauid", "grp"}
)
# The syscall names Sigma's auditd rules test (``SYSCALL: memfd_create``) as the enriched log
# format writes them, for raw logs that only carry the number (x86_64 and aarch64).
_SYSCALLS: dict[str, dict[str, str]] = {
    "c000003e": {
        "0": "read",
        "1": "write",
        "2": "open",
        "3": "close",
        "41": "socket",
        "42": "connect",
        "43": "accept",
        "49": "bind",
        "50": "listen",
        "56": "clone",
        "57": "fork",
        "58": "vfork",
        "59": "execve",
        "62": "kill",
        "63": "uname",
        "82": "rename",
        "87": "unlink",
        "90": "chmod",
        "92": "chown",
        "99": "sysinfo",
        "101": "ptrace",
        "103": "syslog",
        "105": "setuid",
        "133": "mknod",
        "135": "personality",
        "165": "mount",
        "175": "init_module",
        "176": "delete_module",
        "257": "openat",
        "259": "mknodat",
        "263": "unlinkat",
        "268": "fchmodat",
        "272": "unshare",
        "308": "setns",
        "313": "finit_module",
        "319": "memfd_create",
        "321": "bpf",
        "322": "execveat",
    },
    "c00000b7": {
        "33": "mknodat",
        "35": "unlinkat",
        "56": "openat",
        "92": "personality",
        "97": "unshare",
        "105": "init_module",
        "106": "delete_module",
        "116": "syslog",
        "117": "ptrace",
        "129": "kill",
        "160": "uname",
        "179": "sysinfo",
        "198": "socket",
        "200": "bind",
        "203": "connect",
        "220": "clone",
        "221": "execve",
        "268": "setns",
        "273": "finit_module",
        "279": "memfd_create",
        "280": "bpf",
        "281": "execveat",
    },
}
_EXECVE_ARG = re.compile(r"^a\d+(?:\[\d+\])?$")


def _decode_hex(value: str, field: str) -> str:
    text = bytes.fromhex(value).decode("utf-8", errors="replace")
    if field == "proctitle":
        return text.replace("\x00", " ").rstrip()
    if field == "key":
        return text.replace("\x01", ",")  # several keys of one rule
    return text


def _fields(text: str, rtype: str, out: Event, overwrite: bool = True) -> None:
    execve = rtype == "EXECVE"
    for match in _FIELD.finditer(text):
        key, raw = match.group(1), match.group(2)
        if raw[:1] in ('"', "'") and len(raw) >= 2:
            value = raw[1:-1]
        elif (key in _ENCODED or (execve and _EXECVE_ARG.match(key))) and _HEX.match(raw):
            value = _decode_hex(raw, key)
        else:
            value = raw
        if overwrite or key not in out:
            out[key] = value


def parse_line(line: str) -> Event:
    """One audit record; ValueError (with the reason) when the line is not one."""
    if len(line) > MAX_LINE_CHARS:
        raise ValueError(f"record longer than {MAX_LINE_CHARS} characters")
    m = _HEADER.match(line)
    if m is None:
        raise ValueError("not an audit record (expected 'type=... msg=audit(seconds:serial):')")
    rtype = m.group("type")
    frac = (m.group("frac") or "")[:6]
    try:
        when = datetime.fromtimestamp(int(m.group("sec")), UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"timestamp {m.group('sec')} out of range") from None
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"
    event: Event = {"type": rtype, "timestamp": stamp, "serial": int(m.group("serial"))}
    if m.group("node"):
        event["node"] = m.group("node")
    body = line[m.end() :]
    body, _, enriched = body.partition("\x1d")
    _fields(body, rtype, event)
    inner = event.get("msg")
    if isinstance(inner, str) and "=" in inner:
        _fields(inner, rtype, event, overwrite=False)
    if enriched:
        _fields(enriched, "", event, overwrite=False)
    if "SYSCALL" not in event and rtype == "SYSCALL":
        named = _SYSCALLS.get(str(event.get("arch", "")).lower(), {}).get(
            str(event.get("syscall", ""))
        )
        if named:
            event["SYSCALL"] = named
    return event


def iter_auditd(fh: IO[str], name: str) -> Iterator[Event]:
    """The records of an audit.log, line by line; blank lines are skipped."""
    number = 0
    while True:
        line = fh.readline(MAX_LINE_CHARS + 1)  # bounded: a file without newlines is no risk
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise ValueError(f"{name}: line {number}: longer than {MAX_LINE_CHARS} characters")
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        try:
            yield parse_line(line)
        except ValueError as exc:
            raise ValueError(f"{name}: line {number}: {exc}") from None
