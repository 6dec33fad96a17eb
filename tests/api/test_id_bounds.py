"""Row ids past 64 bits: the database cannot hold them, so every API route answers 422 and the
web pages 404, never a 500 (SQLite's driver raises OverflowError on binding them)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from soc.app import create_app
from soc.cases.connector import signed_headers
from soc.core.settings import Settings
from tests.conftest import World
from tests.helpers import form_csrf, key_headers, ndjson, whoami_event

TOO_BIG = 2**64
SECRET = "id-bounds-webhook-secret"
FILL = {"tenant": "alpha", "month": "2026-01", "rule_id": "x", "source_field": "x"}


def id_routes() -> list[tuple[str, str, str, bool]]:
    """(method, path, id parameter, is it a row id) for every API route with an id in its
    path, read from the schema so that routes added later are covered too."""
    spec = create_app(Settings(database_url="sqlite://")).openapi()
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", []):
                name = param["name"]
                if param["in"] == "path" and (name == "id" or name.endswith("_id")):
                    row_id = param["schema"].get("type") == "integer"
                    found.append((method.upper(), path, name, row_id))
    return found


ID_ROUTES = id_routes()


def test_the_schema_has_id_routes() -> None:
    # cases, alerts, evidence, exceptions, api keys, dead letters...
    assert sum(row_id for *_, row_id in ID_ROUTES) >= 15


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"itsm_inbound_secret": SECRET})


@pytest.mark.parametrize(("method", "path", "param", "row_id"), ID_ROUTES)
def test_an_id_past_64_bits_in_a_path_is_refused(
    client: TestClient, world: World, method: str, path: str, param: str, row_id: bool
) -> None:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(TOO_BIG) if name == param else FILL.get(name, "1")

    url = re.sub(r"\{(\w+)\}", value, path)
    answer = client.request(method, url, headers=world["admin"].headers)
    if not row_id:  # a text id (a Sigma rule's): simply not found
        assert answer.status_code < 500, answer.text
        return
    assert answer.status_code == 422, answer.text
    assert f"path.{param}" in answer.json()["detail"]


def _case(client: TestClient, world: World) -> int:
    answer = client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("big-1")),
        headers=key_headers(world.keys["alpha"]),
    )
    assert answer.status_code == 200, answer.text
    items = client.get("/api/v1/cases", headers=world["admin"].headers).json()["items"]
    return items[0]["id"]


def test_ids_past_64_bits_in_merge_split_and_webhook_bodies(
    client: TestClient, world: World
) -> None:
    case_id = _case(client, world)
    admin = world["admin"].headers
    for big in (2**63, TOO_BIG):  # the first value past the database's range, and 2**64
        for action, body in (("merge", {"sources": [big]}), ("split", {"alerts": [big]})):
            answer = client.post(f"/api/v1/cases/{case_id}/{action}", json=body, headers=admin)
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"] == "invalid"
        raw = b'{"case_id": %d, "status": "triage"}' % big
        hook = client.post(
            "/api/v1/itsm/webhook", content=raw, headers=signed_headers(SECRET, f"n-{big}", raw)
        )
        assert hook.status_code == 422, hook.text


def test_web_case_urls_past_64_bits_are_not_found(client: TestClient, world: World) -> None:
    _case(client, world)
    client.cookies.set("soc_session", world["soc_analyst"].token)
    for ref in (str(TOO_BIG), "abc", "²"):
        page = client.get(f"/cases/{ref}")
        assert page.status_code == 404 and 'id="error-title"' in page.text
    csrf = form_csrf(client.get("/cases").text)
    for action, form in (("comment", {"text": "hi"}), ("status", {"status": "triage"})):
        answer = client.post(f"/cases/{TOO_BIG}/{action}", data=form | {"csrf": csrf})
        assert answer.status_code == 404
    for tenant_id in (str(TOO_BIG), "²"):  # an unusable filter is ignored
        queue = client.get("/cases", params={"tenant_id": tenant_id})
        assert queue.status_code == 200 and "big-1" in queue.text
