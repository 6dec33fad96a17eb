"""The Elasticsearch-compatible `_bulk` endpoint: what Beats, Fluent Bit and Vector send."""

from __future__ import annotations

import base64

import orjson
from fastapi.testclient import TestClient

from soc.services import Services
from tests.conftest import PROVIDER_SCOPED, World
from tests.helpers import benign_event, whoami_event

ISOLATION_COVERED = {
    ("GET", "/es/"),
    ("GET", "/es/_cluster/health"),
    ("GET", "/es/_license"),
    ("POST", "/es/_bulk"),
    ("POST", "/es/{index}/_bulk"),
}


def bulk_body(*pairs: tuple[dict, dict | None]) -> bytes:
    lines = []
    for action, doc in pairs:
        lines.append(orjson.dumps(action))
        if doc is not None:
            lines.append(orjson.dumps(doc))
    return b"\n".join(lines) + b"\n"


def es_headers(key: str, scheme: str = "apikey") -> dict[str, str]:
    if scheme == "apikey":  # Elasticsearch API keys travel as base64("id:key")
        auth = "ApiKey " + base64.b64encode(f"key-id:{key}".encode()).decode()
    else:
        auth = "Basic " + base64.b64encode(f"filebeat:{key}".encode()).decode()
    return {"Authorization": auth, "Content-Type": "application/x-ndjson"}


def test_cluster_info_for_version_checks(client: TestClient, world: World) -> None:
    answer = client.get("/es/", headers=es_headers(world.keys["alpha"]))
    assert answer.status_code == 200 and answer.json()["version"]["number"].startswith("8.")
    assert client.get("/es/").status_code == 401
    for path in ("/es/_cluster/health", "/es/_license"):
        assert client.get(path, headers=es_headers(world.keys["alpha"])).status_code == 200
        assert client.get(path, headers=world["admin"].headers).status_code == 401


def test_user_tokens_never_reach_the_shipper_surface(client: TestClient, world: World) -> None:
    """Only an ingest key (one tenant) writes here; no user token, scoped or not, is one."""
    body = bulk_body(({"create": {}}, whoami_event("x")))
    for user in ("admin", *PROVIDER_SCOPED):
        headers = world[user].headers | {"Content-Type": "application/x-ndjson"}
        for method, path in (
            ("GET", "/es/"),
            ("GET", "/es/_cluster/health"),
            ("GET", "/es/_license"),
            ("POST", "/es/_bulk"),
            ("POST", "/es/logs-beta/_bulk"),
        ):
            got = client.request(method, path, content=body, headers=headers).status_code
            assert got == 401, f"{method} {path} as {user}: {got}"


def test_bulk_items_answer_one_by_one_and_detect(
    client: TestClient, world: World, services: Services
) -> None:
    suspicious = whoami_event("es-host")
    body = (
        bulk_body(
            ({"create": {"_index": "logs-windows", "_id": "evt-1"}}, suspicious),
            ({"index": {"_index": "logs-windows"}}, benign_event(1)),
            ({"delete": {"_index": "logs-windows", "_id": "evt-1"}}, None),
            ({"update": {"_id": "evt-1"}}, {"doc": {"x": 1}}),
            ({"index": {}}, {"padding": "x" * 5000}),  # over the 4096-byte test limit
        )
        + b"{not json\n"
    )
    answer = client.post("/es/_bulk", content=body, headers=es_headers(world.keys["alpha"]))
    assert answer.status_code == 200, answer.text
    result = answer.json()
    statuses = [next(iter(item.values()))["status"] for item in result["items"]]
    assert statuses == [201, 201, 400, 400, 400, 400]
    assert result["errors"] is True
    stored_id = result["items"][0]["create"]["_id"]
    assert "not supported" in result["items"][2]["delete"]["error"]["reason"]
    assert services.store.get(1, stored_id) is not None
    cases = client.get("/api/v1/cases", headers=world["soc_analyst"].headers).json()["items"]
    assert [c["host"] for c in cases] == ["es-host"]

    again = client.post(
        "/es/logs/_bulk",
        content=bulk_body(({"create": {"_id": "evt-1"}}, suspicious)),
        headers=es_headers(world.keys["alpha"], scheme="basic"),
    )
    assert again.json()["items"][0]["create"]["status"] == 409  # a replayed create
    assert services.store.stats(1).events == 2


def test_bulk_keys_and_tenants(client: TestClient, world: World, services: Services) -> None:
    body = bulk_body(({"index": {"_index": "beta-logs"}}, benign_event(7)))
    # The index a shipper names never chooses the tenant: the key does.
    assert (
        client.post("/es/_bulk", content=body, headers=es_headers(world.keys["alpha"])).status_code
        == 200
    )
    assert services.store.stats(1).events == 1 and services.store.stats(2).events == 0
    bad = client.post("/es/_bulk", content=body, headers=es_headers("soc_wrong"))
    assert bad.status_code == 401
    user = client.post(
        "/es/_bulk",
        content=body,
        headers={**world["admin"].headers, "Content-Type": "application/x-ndjson"},
    )
    assert user.status_code == 401
    wrong_type = client.post(
        "/es/_bulk",
        content=body,
        headers={**es_headers(world.keys["alpha"]), "Content-Type": "text/csv"},
    )
    assert wrong_type.status_code == 415


def test_a_shipper_id_never_hides_another_event(
    client: TestClient, world: World, services: Services
) -> None:
    """Ids come from the content: the same _id on different documents keeps both; the same
    document twice in one request is created once."""
    twice = benign_event(5)
    body = bulk_body(
        ({"index": {"_id": "X1"}}, {"msg": "first"}),
        ({"index": {"_id": "X1"}}, {"msg": "second"}),
        ({"create": {}}, twice),
        ({"create": {}}, twice),
    )
    result = client.post("/es/_bulk", content=body, headers=es_headers(world.keys["alpha"]))
    statuses = [next(iter(item.values()))["status"] for item in result.json()["items"]]
    assert statuses == [201, 201, 201, 409]
    assert services.store.stats(1).events == 3


def test_control_characters_in_a_host_do_not_fail_the_batch(
    client: TestClient, world: World
) -> None:
    """A NUL in a host name (PostgreSQL text refuses NUL) must not stop detection of the batch."""
    body = bulk_body(
        ({"index": {}}, whoami_event("evil\u0000host")), ({"index": {}}, whoami_event("good-host"))
    )
    answer = client.post("/es/_bulk", content=body, headers=es_headers(world.keys["alpha"]))
    assert answer.status_code == 200
    hosts = {
        c["host"]
        for c in client.get("/api/v1/cases", headers=world["soc_analyst"].headers).json()["items"]
    }
    assert hosts == {"evilhost", "good-host"}


def test_non_ascii_authorization_is_401_not_500(client: TestClient) -> None:
    for header in ("Basic \u00e9\u00e9\u00e9\u00e9", "ApiKey \u00e9x"):
        raw = [(b"authorization", header.encode("utf-8"))]  # bytes on the wire, as a client may
        answer = client.get("/es/", headers=raw)
        assert answer.status_code == 401


def test_too_deep_document_is_one_error_item(
    client: TestClient, world: World, services: Services
) -> None:
    """A document nested 255 levels deep used to fail the whole _bulk with a 500."""
    deep = b'{"a":' * 255 + b"1" + b"}" * 255
    body = b"\n".join(
        [
            orjson.dumps({"index": {}}),
            orjson.dumps(benign_event(1)),
            orjson.dumps({"index": {}}),
            deep,
            orjson.dumps({"create": {}}),
            orjson.dumps(whoami_event("ws-deep")),
        ]
    )
    answer = client.post("/es/_bulk", content=body, headers=es_headers(world.keys["alpha"]))
    assert answer.status_code == 200, answer.text
    items = [next(iter(item.values())) for item in answer.json()["items"]]
    assert [i["status"] for i in items] == [201, 400, 201]
    assert items[1]["error"]["reason"] == "line 4: nested deeper than 64 levels"
    assert services.store.stats(1).events == 2
