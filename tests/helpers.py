"""Small builders shared by API tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

NDJSON = {"Content-Type": "application/x-ndjson"}
SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"


def whoami_event(host: str = "ws-1", minutes_ago: int = 5, marker: str = "") -> dict[str, Any]:
    """A flattened Sysmon process creation that the built-in whoami rule detects."""
    when = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {
        "EventID": 1,
        "Channel": SYSMON_CHANNEL,
        "Provider_Name": "Microsoft-Windows-Sysmon",
        "Computer": host,
        "Image": "C:\\Windows\\System32\\whoami.exe",
        "CommandLine": f"whoami /all {marker}".strip(),
        "@timestamp": when.isoformat(),
    }


def benign_event(n: int = 0) -> dict[str, Any]:
    return {
        "EventID": 1,
        "Channel": SYSMON_CHANNEL,
        "Computer": "ws-1",
        "Image": "C:\\Windows\\notepad.exe",
        "CommandLine": f"notepad {n}",
    }


def ndjson(*objs: Any) -> bytes:
    return b"\n".join(orjson.dumps(o) for o in objs) + b"\n"


def key_headers(key: str, content_type: str = "application/x-ndjson") -> dict[str, str]:
    return {"X-API-Key": key, "Content-Type": content_type}
