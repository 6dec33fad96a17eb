"""Cases: grouping, list filters and paging, workflow, assignment, comments, timeline, audit."""

from __future__ import annotations

from fastapi.testclient import TestClient

from soc.services import Services
from tests.conftest import World
from tests.helpers import key_headers, ndjson, whoami_event


def raise_cases(client: TestClient, world: World, tenant: str, *events: dict) -> None:
    answer = client.post(
        "/api/v1/ingest", content=ndjson(*events), headers=key_headers(world.keys[tenant])
    )
    assert answer.status_code == 200, answer.text


def only_case(client: TestClient, world: World) -> dict:
    items = client.get("/api/v1/cases", headers=world["soc_analyst"].headers).json()["items"]
    assert len(items) == 1
    return items[0]


def test_alerts_group_by_tenant_rule_and_host_within_window(
    client: TestClient, world: World
) -> None:
    raise_cases(
        client,
        world,
        "alpha",
        whoami_event("h1", 50, "a"),
        whoami_event("h1", 40, "b"),  # same case
        whoami_event("h2", 45, "c"),  # other host: own case
        whoami_event("h1", 200, "d"),
    )  # same host, 150 min earlier: outside 60 min
    raise_cases(client, world, "beta", whoami_event("h1", 41, "e"))  # other tenant
    listing = client.get("/api/v1/cases?limit=10", headers=world["soc_analyst"].headers).json()
    groups = sorted((c["tenant_id"], c["host"], c["alert_count"]) for c in listing["items"])
    assert groups == [(1, "h1", 1), (1, "h1", 2), (1, "h2", 1), (2, "h1", 1)]


def test_list_filters_and_paging(client: TestClient, world: World) -> None:
    raise_cases(client, world, "alpha", *[whoami_event(f"h{i}", 5 + i) for i in range(5)])
    headers = world["soc_analyst"].headers
    page1 = client.get("/api/v1/cases?limit=2&offset=0", headers=headers).json()
    page3 = client.get("/api/v1/cases?limit=2&offset=4", headers=headers).json()
    assert page1["total"] == 5 and len(page1["items"]) == 2 and len(page3["items"]) == 1
    assert page1["items"][0]["host"] == "h0"  # newest first
    by_host = client.get("/api/v1/cases?host=h3", headers=headers).json()
    assert [c["host"] for c in by_host["items"]] == ["h3"]
    assert client.get("/api/v1/cases?status=closed", headers=headers).json()["total"] == 0
    assert client.get("/api/v1/cases?q=whoami", headers=headers).json()["total"] == 5
    bad = client.get("/api/v1/cases?status=bogus", headers=headers)
    assert bad.status_code == 422


def test_workflow_assign_comment_and_timeline(
    client: TestClient, world: World, services: Services
) -> None:
    raise_cases(client, world, "alpha", whoami_event("h1"))
    case = only_case(client, world)
    analyst = world["soc_analyst"].headers
    url = f"/api/v1/cases/{case['id']}"

    assigned = client.post(
        f"{url}/assign", json={"assignee": "soc_analyst", "provider": "prov-a"}, headers=analyst
    )
    assert assigned.status_code == 200 and assigned.json()["provider_id"] == 1
    for status in ("triage", "in_progress", "resolved", "closed"):
        moved = client.post(f"{url}/status", json={"status": status}, headers=analyst)
        assert moved.status_code == 200, moved.text
        assert moved.json()["status"] == status
    skipped = client.post(f"{url}/status", json={"status": "resolved"}, headers=analyst)
    assert skipped.status_code == 422 and "can move to: triage" in skipped.json()["detail"]
    reopened = client.post(f"{url}/reopen", json={"note": "came back"}, headers=analyst)
    assert reopened.json()["status"] == "triage"
    comment = client.post(f"{url}/comments", json={"text": "looked at it"}, headers=analyst)
    assert comment.status_code == 201 and comment.json()["detail"] == {"text": "looked at it"}

    kinds = [e["kind"] for e in client.get(f"{url}/timeline", headers=analyst).json()]
    assert kinds == [
        "created",
        "assigned",
        "status",
        "status",
        "status",
        "status",
        "reopened",
        "comment",
    ]
    audit = client.get("/api/v1/audit/verify", headers=world["admin"].headers).json()
    assert audit["ok"] is True
    from soc.core.audit import AuditEntry

    with services.db.session() as session:
        actions = [
            a for (a,) in session.query(AuditEntry.action).filter(AuditEntry.object_type == "case")
        ]
    assert actions.count("case.status") == 4 and "case.comment" in actions


def test_case_alerts_and_events(client: TestClient, world: World) -> None:
    raise_cases(client, world, "alpha", whoami_event("h1", 9, "x"), whoami_event("h1", 8, "y"))
    case = only_case(client, world)
    analyst = world["soc_analyst"].headers
    alerts = client.get(f"/api/v1/cases/{case['id']}/alerts", headers=analyst).json()
    assert len(alerts) == 2 and {a["rule_title"] for a in alerts} == {"SOC - Whoami Execution"}
    events = client.get(f"/api/v1/cases/{case['id']}/events", headers=analyst).json()
    assert sorted(e["data"]["CommandLine"] for e in events) == ["whoami /all x", "whoami /all y"]


def test_invalid_assignments_and_empty_comment(client: TestClient, world: World) -> None:
    raise_cases(client, world, "alpha", whoami_event("h1"))
    url = f"/api/v1/cases/{only_case(client, world)['id']}"
    analyst = world["soc_analyst"].headers
    assert client.post(f"{url}/assign", json={}, headers=analyst).status_code == 422
    no_user = client.post(f"{url}/assign", json={"assignee": "nobody"}, headers=analyst)
    assert no_user.status_code == 422
    customer = client.post(f"{url}/assign", json={"assignee": "customer-alpha"}, headers=analyst)
    assert customer.status_code == 422
    assert client.post(f"{url}/comments", json={"text": ""}, headers=analyst).status_code == 422
    blank = client.post(f"{url}/comments", json={"text": "   "}, headers=analyst)
    assert blank.status_code == 422
