"""ServiceNow connector against a local Table API that checks every request against the
contract fixtures (tests/cases/itsm_contracts/): create, work notes, impact/urgency, state,
retries without a second ticket, dead letters, inbound state changes (webhook and poll) and a
reopened case opening a new ticket linked to the closed one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient

from soc.cases.connector import deliver_due
from soc.cases.itsm_inbound import poll_servicenow
from soc.cases.models import OutboxMessage
from soc.core.migrate import alembic_config, upgrade
from soc.core.settings import Settings
from soc.services import Services
from tests.cases.itsm_table_api import PASSWORD, TOKEN, USER, TableApi, contract
from tests.cases.test_case_screens import sign_in
from tests.conftest import World
from tests.helpers import key_headers, ndjson, whoami_event

INBOUND = "inbound-shared-secret"
GROUP_A = "287ebd7da9fe198100f92cc8d1d2154e"
CALLER = "6816f79cc0a8016401c5a33be04be441"

# The webhooks are not tenant data: they take the shared secret, tested here (401 without it).
# The case's ticket list has its per-user probe in tests/api/test_isolation.py.
ISOLATION_COVERED = {
    ("POST", "/api/v1/itsm/servicenow/webhook"),
    ("POST", "/api/v1/itsm/4me/webhook"),
    ("GET", "/api/v1/cases/{case_id}/itsm-tickets"),
}


@pytest.fixture
def table_api() -> Iterator[TableApi]:
    api = TableApi("servicenow")
    yield api
    api.stop()


@pytest.fixture
def settings(settings: Settings, table_api: TableApi) -> Settings:
    return settings.model_copy(
        update={
            "itsm_kind": "servicenow",
            "servicenow_url": table_api.url,
            "servicenow_user": USER,
            "servicenow_password": PASSWORD,
            "servicenow_caller": CALLER,
            "servicenow_category": "network",
            "itsm_assignment_groups": {"prov-a": GROUP_A},
            "itsm_inbound_token": INBOUND,
            "itsm_backoff_seconds": 0.02,
            "itsm_backoff_max_seconds": 0.05,
            "itsm_max_attempts": 4,
            "itsm_poll_seconds": 3600.0,  # the test drains the outbox itself
        }
    )


def drain(services: Services, settings: Settings, rounds: int = 60) -> None:
    for _ in range(rounds):
        deliver_due(services.db, settings)
        with services.db.session() as session:
            left = session.query(OutboxMessage).filter(OutboxMessage.state == "pending").count()
        if not left:
            return
        time.sleep(0.03)
    raise AssertionError("outbox did not drain")


def new_case(client: TestClient, world: World, host: str = "h1") -> int:
    client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event(host)),
        headers=key_headers(world.keys["alpha"]),
    )
    items = client.get("/api/v1/cases", headers=world["admin"].headers).json()["items"]
    return next(c["id"] for c in items if c["host"] == host)


def tickets(client: TestClient, world: World, case_id: int) -> list[dict]:
    answer = client.get(f"/api/v1/cases/{case_id}/itsm-tickets", headers=world["admin"].headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def webhook(client: TestClient, body: dict, token: str | None = INBOUND) -> httpx.Response:
    headers = {"X-SOC-Token": token} if token is not None else {}
    return client.post("/api/v1/itsm/servicenow/webhook", json=body, headers=headers)


def test_case_changes_become_table_api_calls(
    client: TestClient,
    world: World,
    services: Services,
    settings: Settings,
    table_api: TableApi,
) -> None:
    case_id = new_case(client, world)
    drain(services, settings)
    [create] = table_api.writes()
    assert (create["method"], create["path"]) == ("POST", "/api/now/table/incident")
    body = create["body"]
    assert body["correlation_id"] == str(case_id) and body["caller_id"] == CALLER
    assert body["category"] == "network" and "priority" not in body
    [ticket] = tickets(client, world, case_id)
    record = table_api.records[ticket["sys_id"]]
    assert ticket["number"] == record["number"] and ticket["number"].startswith("INC")
    assert ticket["state"] == "1" and ticket["table_name"] == "incident"

    admin = world["admin"].headers
    url = f"/api/v1/cases/{case_id}"
    assert client.post(f"{url}/assign", json={"provider": "prov-a"}, headers=admin).is_success
    assert client.post(f"{url}/comments", json={"text": "looked at h1"}, headers=admin).is_success
    answer = client.post(
        f"{url}/priority", json={"impact": "high", "urgency": "high", "reason": "DC"}, headers=admin
    )
    assert answer.json()["priority"] == "P1"
    assert client.post(f"{url}/status", json={"status": "in_progress"}, headers=admin).is_success
    assert client.post(
        f"{url}/status", json={"status": "resolved", "note": "reimaged"}, headers=admin
    ).is_success
    drain(services, settings)
    patches = [c for c in table_api.writes() if c["method"] == "PATCH"]
    assert {c["path"] for c in patches} == {f"/api/now/table/incident/{ticket['sys_id']}"}
    bodies = [c["body"] for c in patches]
    assert bodies[0] == {"assignment_group": GROUP_A}
    assert bodies[1] == {"work_notes": "looked at h1"}
    assert bodies[2]["impact"] == "1" and bodies[2]["urgency"] == "1"
    assert bodies[3] == {"state": "2"}
    assert bodies[4]["state"] == "6" and bodies[4]["close_notes"] == "reimaged"
    assert record["priority"] == "1" and record["state"] == "6"  # ServiceNow's own priority
    assert [n for n in record["journal"] if n[0] == "work_notes"][0][1] == "looked at h1"
    assert tickets(client, world, case_id)[0]["state"] == "6"

    sign_in(client, world, "soc_analyst")
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200
    assert record["number"] in page.text
    assert f"incident.do?sys_id={ticket['sys_id']}" in page.text


def test_retries_make_one_ticket_and_dead_letters_wait_for_a_replay(
    client: TestClient,
    world: World,
    services: Services,
    settings: Settings,
    table_api: TableApi,
) -> None:
    table_api.fail_next, table_api.lose_reply = 1, 1  # a 503, then a create whose reply is lost
    case_id = new_case(client, world)
    drain(services, settings)
    assert len(table_api.records) == 1  # the retry found the ticket by correlation_id
    calls = [(c["method"], c["status"]) for c in table_api.calls]
    assert calls == [("POST", 503), ("GET", 200), ("POST", 500), ("GET", 200)]
    [ticket] = tickets(client, world, case_id)
    assert ticket["sys_id"] in table_api.records

    table_api.fail_next = 10
    admin = world["admin"].headers
    client.post(f"/api/v1/cases/{case_id}/comments", json={"text": "again"}, headers=admin)
    drain(services, settings)
    dead = client.get("/api/v1/itsm/dead-letters", headers=admin).json()
    assert [(d["kind"], d["attempts"]) for d in dead] == [("comment", 4)]
    assert "503" in dead[0]["last_error"]
    table_api.fail_next = 0
    assert client.post(
        f"/api/v1/itsm/dead-letters/{dead[0]['id']}/replay", headers=admin
    ).is_success
    drain(services, settings)
    record = table_api.records[ticket["sys_id"]]
    assert record["journal"] == [("work_notes", "again")]


def test_bad_credentials_are_refused_by_the_table_api(
    client: TestClient,
    world: World,
    services: Services,
    settings: Settings,
    table_api: TableApi,
) -> None:
    wrong = settings.model_copy(update={"servicenow_password": "nope"})
    new_case(client, world)
    drain(services, wrong)
    assert table_api.records == {}
    dead = client.get("/api/v1/itsm/dead-letters", headers=world["admin"].headers).json()
    assert "HTTP 401" in dead[0]["last_error"]
    bearer = settings.model_copy(update={"servicenow_token": TOKEN, "servicenow_user": None})
    client.post(f"/api/v1/itsm/dead-letters/{dead[0]['id']}/replay", headers=world["admin"].headers)
    drain(services, bearer)  # OAuth bearer instead of basic
    assert len(table_api.records) == 1


@pytest.mark.parametrize("db_backend", ["sqlite", "postgresql"])
def test_remote_state_changes_come_back_and_reopen_opens_a_linked_ticket(
    client: TestClient,
    world: World,
    services: Services,
    settings: Settings,
    table_api: TableApi,
) -> None:
    case_id = new_case(client, world)
    drain(services, settings)
    [ticket] = tickets(client, world, case_id)
    sys_id = ticket["sys_id"]

    record = table_api.set_state(sys_id, "3")  # on hold in ServiceNow
    change = {"sys_id": sys_id, "state": "3", "sys_updated_on": record["sys_updated_on"]}
    assert webhook(client, change, token=None).status_code == 401
    assert webhook(client, change, token="wrong").status_code == 401
    assert webhook(client, {**change, "extra": 1}).status_code == 422
    assert webhook(client, {**change, "sys_id": "f" * 32}).status_code == 404
    answer = webhook(client, change)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"case_id": case_id, "status": "waiting_on_customer", "changed": True}
    assert webhook(client, change).json()["changed"] is False  # the same change again

    record = table_api.set_state(sys_id, "6")  # resolved there: found by polling
    assert poll_servicenow(services.db, settings) == 1
    admin = world["admin"].headers
    case = client.get(f"/api/v1/cases/{case_id}", headers=admin).json()
    assert case["status"] == "resolved"
    stale = {"sys_id": sys_id, "state": "2", "sys_updated_on": "2026-12-03 09:00:00"}
    assert webhook(client, stale).json()["changed"] is False  # older than what was seen
    drain(services, settings)
    assert [c for c in table_api.writes() if c["method"] == "PATCH"] == []  # no echo

    record = table_api.set_state(sys_id, "7")  # closed for good there
    close = {"sys_id": sys_id, "state": "7", "sys_updated_on": record["sys_updated_on"]}
    assert webhook(client, close).json()["changed"] is False  # already resolved here
    assert tickets(client, world, case_id)[0]["closed_at"] is not None
    assert client.post(f"/api/v1/cases/{case_id}/reopen", json={}, headers=admin).is_success
    drain(services, settings)
    first, second = tickets(client, world, case_id)
    assert second["previous_id"] == first["id"] and second["sys_id"] != sys_id
    create = [c for c in table_api.writes() if c["method"] == "POST"][-1]["body"]
    assert create["parent"] == sys_id and record["number"] in create["work_notes"]
    assert create["correlation_id"] == str(case_id) and create["state"] == "2"
    # A late change on the old ticket no longer moves the case.
    table_api.set_state(sys_id, "8")
    assert webhook(client, {"sys_id": sys_id, "state": "8"}).json()["changed"] is False


def test_security_incident_table(
    client: TestClient,
    world: World,
    services: Services,
    settings: Settings,
    table_api: TableApi,
) -> None:
    sir = settings.model_copy(update={"servicenow_table": "sn_si_incident"})
    case_id = new_case(client, world)
    drain(services, sir)
    admin = world["admin"].headers
    client.post(f"/api/v1/cases/{case_id}/status", json={"status": "resolved"}, headers=admin)
    drain(services, sir)
    paths = [(c["method"], c["path"]) for c in table_api.writes()]
    [ticket] = tickets(client, world, case_id)
    assert paths == [
        ("POST", "/api/now/table/sn_si_incident"),
        ("PATCH", f"/api/now/table/sn_si_incident/{ticket['sys_id']}"),
    ]
    assert ticket["number"].startswith("SIR") and ticket["state"] == "100"
    assert "caller_id" not in table_api.writes()[0]["body"]  # not a field of that table


def test_the_receiver_holds_the_contract(table_api: TableApi) -> None:
    """The fixtures themselves: documented answers fit the answer schemas, and bodies that
    break the contract are refused as ServiceNow would."""
    jsonschema.validate(
        contract("servicenow_incident_response.json"), contract("servicenow_response.schema.json")
    )
    auth = (USER, PASSWORD)
    url = f"{table_api.url}/api/now/table/incident"
    good = {"short_description": "x", "impact": "2", "urgency": "2", "correlation_id": "1"}
    accept = {"Accept": "application/json"}
    assert httpx.post(url, json=good, auth=("x", "y"), headers=accept).status_code == 401
    assert (
        httpx.post(url, json={**good, "priority": "1"}, auth=auth, headers=accept).status_code
        == 400
    )
    assert httpx.post(url, json={**good, "impact": 2}, auth=auth, headers=accept).status_code == 400
    made = httpx.post(url, json=good, auth=auth, headers=accept)
    assert made.status_code == 201 and made.json()["result"]["priority"] == "3"
    sys_id = made.json()["result"]["sys_id"]
    resolve = httpx.patch(f"{url}/{sys_id}", json={"state": "6"}, auth=auth, headers=accept)
    assert resolve.status_code == 400  # no close_code / close_notes
    assert (
        httpx.patch(f"{url}/{'0' * 32}", json={"state": "2"}, auth=auth, headers=accept).status_code
        == 404
    )


def test_migration_goes_down_and_up(tmp_path: Path) -> None:
    """0018 on SQLite (PostgreSQL runs it in every test's template): the table and its
    one-ticket-per-sys_id rule, gone on the way down, back on the way up."""
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url, "0018")
    engine = sa.create_engine(url)
    try:
        assert "itsm_remote_tickets" in sa.inspect(engine).get_table_names()
        uniques = sa.inspect(engine).get_unique_constraints("itsm_remote_tickets")
        assert [u["column_names"] for u in uniques] == [["system", "sys_id"]]
        command.downgrade(alembic_config(url), "0017")
        assert "itsm_remote_tickets" not in sa.inspect(engine).get_table_names()
        upgrade(url, "0018")
        assert "itsm_remote_tickets" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
