"""4me connector against a local requests API that checks every request against the contract
fixtures (tests/cases/itsm_contracts/fourme_*): the same flow as ServiceNow's."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jsonschema
import pytest
from fastapi.testclient import TestClient

from soc.core.settings import Settings
from soc.services import Services
from tests.cases.itsm_table_api import ACCOUNT, TOKEN, TableApi, contract
from tests.cases.test_itsm_servicenow import INBOUND, drain, new_case, tickets
from tests.conftest import World


@pytest.fixture
def table_api() -> Iterator[TableApi]:
    api = TableApi("4me")
    yield api
    api.stop()


@pytest.fixture
def settings(settings: Settings, table_api: TableApi) -> Settings:
    return settings.model_copy(
        update={
            "itsm_kind": "4me",
            "fourme_url": table_api.url,
            "fourme_token": TOKEN,
            "fourme_account": ACCOUNT,
            "fourme_requested_by_id": 58,
            "itsm_assignment_groups": {"prov-a": "14"},
            "itsm_inbound_token": INBOUND,
            "itsm_backoff_seconds": 0.02,
            "itsm_backoff_max_seconds": 0.05,
            "itsm_max_attempts": 4,
            "itsm_poll_seconds": 3600.0,
        }
    )


def test_case_flow_through_the_requests_api(
    client: TestClient,
    world: World,
    services: Services,
    settings: Settings,
    table_api: TableApi,
) -> None:
    table_api.lose_reply = 1  # the first create's reply is lost: found again by sourceID
    case_id = new_case(client, world)
    drain(services, settings)
    assert len(table_api.records) == 1
    [ticket] = tickets(client, world, case_id)
    record = table_api.records[ticket["sys_id"]]
    assert ticket["number"] == str(record["id"]) and ticket["system"] == "4me"
    create = next(c["body"] for c in table_api.calls if c["method"] == "POST")
    assert [(c["method"], c["status"]) for c in table_api.calls] == [("POST", 500), ("GET", 200)]
    assert create["sourceID"] == str(case_id) and create["category"] == "incident"
    assert create["requested_by_id"] == 58

    admin = world["admin"].headers
    url = f"/api/v1/cases/{case_id}"
    client.post(f"{url}/assign", json={"provider": "prov-a"}, headers=admin)
    client.post(f"{url}/comments", json={"text": "checked"}, headers=admin)
    client.post(
        f"{url}/priority", json={"impact": "high", "urgency": "high", "reason": "DC"}, headers=admin
    )
    client.post(f"{url}/status", json={"status": "resolved", "note": "fixed"}, headers=admin)
    drain(services, settings)
    bodies = [c["body"] for c in table_api.writes() if c["method"] == "PATCH"]
    assert bodies[0] == {"team_id": 14}
    assert bodies[1] == {"internal_note": "checked"}
    assert bodies[2] == {"impact": "top", "urgent": True}
    assert bodies[3] == {"status": "completed", "completion_reason": "solved", "note": "fixed"}
    assert record["status"] == "completed"
    client.post(f"{url}/status", json={"status": "closed"}, headers=admin)
    drain(services, settings)
    assert len([c for c in table_api.writes() if c["method"] == "PATCH"]) == 4  # already done

    bad = client.post(
        "/api/v1/itsm/4me/webhook", json={"id": record["id"], "status": "in_progress"}
    )
    assert bad.status_code == 401
    assert client.post(f"{url}/reopen", json={}, headers=admin).is_success
    drain(services, settings)
    first, second = tickets(client, world, case_id)
    assert second["previous_id"] == first["id"]
    again = [c for c in table_api.writes() if c["method"] == "POST"][-1]["body"]
    assert f"#{record['id']}" in again["internal_note"]

    table_api.set_state(second["sys_id"], "waiting_for_customer")
    answer = client.post(
        "/api/v1/itsm/4me/webhook",
        json={"id": int(second["sys_id"]), "status": "waiting_for_customer"},
        headers={"X-SOC-Token": INBOUND},
    )
    assert answer.json() == {"case_id": case_id, "status": "waiting_on_customer", "changed": True}


def test_the_4me_receiver_holds_the_contract(table_api: TableApi) -> None:
    jsonschema.validate(
        contract("fourme_request_response.json"), contract("fourme_response.schema.json")
    )
    url = f"{table_api.url}/v1/requests"
    auth = {"Authorization": f"Bearer {TOKEN}", "X-4me-Account": ACCOUNT}
    good = {"subject": "x", "category": "incident"}
    assert httpx.post(url, json=good).status_code == 401
    assert httpx.post(url, json={**good, "impact": "huge"}, headers=auth).status_code == 422
    made = httpx.post(url, json=good, headers=auth)
    assert made.status_code == 201
    done = httpx.patch(f"{url}/{made.json()['id']}", json={"status": "completed"}, headers=auth)
    assert done.status_code == 422  # completed needs a completion_reason
