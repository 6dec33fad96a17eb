"""Small builders shared by API tests."""

from __future__ import annotations

import re
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


def form_csrf(html: str) -> str:
    """The CSRF token of a served web form (every POST form carries one)."""
    match = re.search(r'name="csrf" value="([^"]*)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def hunt_via_api(client: Any, headers: dict[str, str], tenant: str, body: dict) -> dict:
    """Start a retro-hunt (202 with its job), poll the job to its end, return its result."""
    import time

    started = client.post(f"/api/v1/rules/hunt?tenant={tenant}", json=body, headers=headers)
    assert started.status_code == 202, started.text
    job = started.json()
    assert started.headers["location"] == f"/api/v1/jobs/{job['id']}"
    deadline = time.monotonic() + 30
    while job["state"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.05)
        job = client.get(f"/api/v1/jobs/{job['id']}", headers=headers).json()
    assert job["state"] == "done", job
    assert job["progress"]["done"] == job["progress"]["total"] == job["result"]["scanned"]
    return job["result"]
