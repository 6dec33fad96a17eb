"""POST /api/v1/ingest: formats, per-line errors, limits, keys; good lines stored and detected."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient

from soc.services import Services
from tests.conftest import World
from tests.helpers import benign_event, key_headers, ndjson, whoami_event


def cases_of(client: TestClient, world: World) -> list[dict]:
    answer = client.get("/api/v1/cases", headers=world["soc_analyst"].headers)
    assert answer.status_code == 200
    return answer.json()["items"]


def test_ndjson_with_bad_lines_keeps_the_good_ones_and_detects_them(
    client: TestClient, world: World, services: Services
) -> None:
    body = (
        ndjson(benign_event(1))
        + b"{not json\n"
        + b"[1, 2]\n"
        + ndjson(whoami_event("ws-9"))
        + b"\n"  # blank lines are skipped, not errors
        + b'"a string"\n'
    )
    answer = client.post("/api/v1/ingest", content=body, headers=key_headers(world.keys["alpha"]))
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["accepted"] == 2
    assert result["rejected"] == 3
    assert [e["line"] for e in result["errors"]] == [2, 3, 6]
    assert "not valid JSON" in result["errors"][0]["reason"]
    assert "expected a JSON object" in result["errors"][1]["reason"]
    stats = services.store.stats(tenant_id=1)
    assert stats.events == 2
    cases = cases_of(client, world)
    assert [(c["host"], c["title"]) for c in cases] == [("ws-9", "SOC - Whoami Execution")]


def test_json_array_is_accepted(client: TestClient, world: World) -> None:
    body = orjson.dumps([benign_event(1), benign_event(2), 5])
    answer = client.post(
        "/api/v1/ingest",
        content=body,
        headers=key_headers(world.keys["alpha"], "application/json"),
    )
    assert answer.status_code == 200
    assert answer.json()["accepted"] == 2
    assert answer.json()["errors"] == [{"line": 3, "reason": "expected a JSON object, got int"}]


def test_evtx_dump_shaped_event_is_flattened(client: TestClient, world: World) -> None:
    nested = {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                "EventID": 1,
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": "ws-7",
                "TimeCreated": {"#attributes": {"SystemTime": "2026-11-20T10:00:00.000000Z"}},
            },
            "EventData": {"Image": "C:\\Windows\\System32\\whoami.exe", "CommandLine": "whoami"},
        }
    }
    answer = client.post(
        "/api/v1/ingest?return_ids=true",
        content=ndjson(nested),
        headers=key_headers(world.keys["alpha"]),
    )
    assert answer.status_code == 200
    event_id = answer.json()["ids"][0]
    stored = client.get(
        f"/api/v1/events/{event_id}?tenant=alpha", headers=world["soc_analyst"].headers
    ).json()
    assert stored["data"]["Image"].endswith("whoami.exe")
    assert stored["data"]["EventID"] == 1
    assert stored["data"]["Provider_Name"] == "Microsoft-Windows-Sysmon"
    assert stored["host"] == "ws-7"
    assert stored["event_time"].startswith("2026-11-20T10:00:00")
    assert [c["host"] for c in cases_of(client, world)] == ["ws-7"]


def test_event_record_carries_id_times_and_size(
    client: TestClient, world: World, services: Services
) -> None:
    line = orjson.dumps(benign_event(3))
    answer = client.post(
        "/api/v1/ingest?return_ids=true",
        content=line + b"\n",
        headers=key_headers(world.keys["alpha"]),
    )
    event = services.store.get(1, answer.json()["ids"][0])
    assert event is not None
    assert event.size == len(line)
    assert event.tenant_id == 1
    assert event.received_at.tzinfo is not None
    assert event.event_time == event.received_at  # no time field: received time is used


def test_replayed_batch_is_not_stored_or_metered_twice(
    client: TestClient, world: World, services: Services
) -> None:
    body = ndjson(benign_event(1), whoami_event("ws-2"))
    headers = key_headers(world.keys["alpha"])
    first = client.post("/api/v1/ingest", content=body, headers=headers).json()
    second = client.post("/api/v1/ingest", content=body, headers=headers).json()
    assert (first["accepted"], first["duplicates"]) == (2, 0)
    assert (second["accepted"], second["duplicates"]) == (2, 2)
    assert services.store.stats(1).events == 2
    usage = client.get("/api/v1/tenants/alpha/usage", headers=world["admin"].headers).json()
    assert sum(day["events"] for day in usage) == 2
    assert sum(day["bytes"] for day in usage) == len(body) - 2  # minus the two newlines
    assert cases_of(client, world)[0]["alert_count"] == 1


def test_oversized_event_is_refused_alone(client: TestClient, world: World) -> None:
    big = benign_event(1) | {"padding": "x" * 5000}  # settings fixture: 4096-byte limit
    answer = client.post(
        "/api/v1/ingest",
        content=ndjson(benign_event(2), big),
        headers=key_headers(world.keys["alpha"]),
    )
    assert answer.status_code == 200
    assert answer.json()["accepted"] == 1
    assert "limit is 4096" in answer.json()["errors"][0]["reason"]


def test_only_bad_lines_is_422(client: TestClient, world: World) -> None:
    answer = client.post(
        "/api/v1/ingest", content=b"nope\n", headers=key_headers(world.keys["alpha"])
    )
    assert answer.status_code == 422
    assert answer.json()["rejected"] == 1


def test_oversized_request_is_413(client: TestClient, world: World) -> None:
    body = ndjson(*[benign_event(i) | {"pad": "y" * 1000} for i in range(250)])
    answer = client.post("/api/v1/ingest", content=body, headers=key_headers(world.keys["alpha"]))
    assert answer.status_code == 413
    assert "limit" in answer.json()["detail"]


@pytest.mark.parametrize("content_type", ["text/csv", "application/xml", ""])
def test_wrong_content_type_is_415(client: TestClient, world: World, content_type: str) -> None:
    headers = {"X-API-Key": world.keys["alpha"]}
    if content_type:
        headers["Content-Type"] = content_type
    answer = client.post("/api/v1/ingest", content=ndjson(benign_event()), headers=headers)
    assert answer.status_code == 415
    assert "application/x-ndjson" in answer.json()["detail"]


def test_empty_body_is_400ish(client: TestClient, world: World) -> None:
    answer = client.post(
        "/api/v1/ingest", content=b"  \n", headers=key_headers(world.keys["alpha"])
    )
    assert answer.status_code == 422
    assert "empty" in answer.json()["detail"]


def test_missing_bad_and_revoked_keys_are_401(client: TestClient, world: World) -> None:
    body = ndjson(benign_event())
    missing = client.post(
        "/api/v1/ingest", content=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert missing.status_code == 401
    bad = client.post("/api/v1/ingest", content=body, headers=key_headers("soc_wrong"))
    assert bad.status_code == 401 and "unknown API key" in bad.json()["detail"]
    revoke = client.delete(
        f"/api/v1/apikeys/{world.key_ids['alpha']}", headers=world["admin"].headers
    )
    assert revoke.status_code == 200 and revoke.json()["revoked_at"]
    revoked = client.post("/api/v1/ingest", content=body, headers=key_headers(world.keys["alpha"]))
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    still_fine = client.post(
        "/api/v1/ingest", content=body, headers=key_headers(world.keys["beta"])
    )
    assert still_fine.status_code == 200


def test_user_token_cannot_ingest(client: TestClient, world: World) -> None:
    answer = client.post(
        "/api/v1/ingest",
        content=ndjson(benign_event()),
        headers={**world["admin"].headers, "Content-Type": "application/x-ndjson"},
    )
    assert answer.status_code == 401


def test_event_search_by_text_and_time(client: TestClient, world: World) -> None:
    client.post(
        "/api/v1/ingest",
        content=ndjson(benign_event(1), whoami_event("h", 3, "zz_mark")),
        headers=key_headers(world.keys["alpha"]),
    )
    analyst = world["soc_analyst"].headers
    found = client.get("/api/v1/events?tenant=alpha&q=zz_mark", headers=analyst).json()
    assert found["total"] == 1 and found["items"][0]["data"]["CommandLine"].endswith("zz_mark")
    everything = client.get("/api/v1/events?tenant=alpha", headers=analyst).json()
    assert everything["total"] == 2
    naive = client.get("/api/v1/events?tenant=alpha&start=2026-01-01T00:00:00", headers=analyst)
    assert naive.status_code == 422


def nested(depth: int) -> bytes:
    """An object nested `depth` levels deep: orjson reads 1024 levels but writes only 254."""
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("content_type", ["application/x-ndjson", "application/json"])
def test_too_deep_event_is_refused_alone(
    client: TestClient, world: World, services: Services, content_type: str
) -> None:
    """One 255-level line used to fail the whole batch with a 500 (orjson cannot write it back
    to store it), so the good lines were never stored and a retrying shipper was stuck."""
    good = [orjson.dumps(benign_event(1)), orjson.dumps(whoami_event("ws-deep"))]
    if content_type == "application/json":
        body = b"[" + b",".join([good[0], nested(255), good[1], nested(65)]) + b"]"
    else:
        body = b"\n".join([good[0], nested(255), good[1], nested(65), nested(600)])
    answer = client.post(
        "/api/v1/ingest", content=body, headers=key_headers(world.keys["alpha"], content_type)
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["accepted"] == 2
    lines = [2, 4] if content_type == "application/json" else [2, 4, 5]
    assert [e["line"] for e in result["errors"]] == lines
    assert {e["reason"] for e in result["errors"]} == {"nested deeper than 64 levels"}
    assert services.store.stats(1).events == 2
    assert [c["host"] for c in cases_of(client, world)] == ["ws-deep"]
