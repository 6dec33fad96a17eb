"""The operations endpoints over HTTP: provider events (JSON and Alertmanager), share
policies, maintenance, status, CI timelines with security cases, incidents; tenant and
provider isolation on each of them; bad input answered clearly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from soc.services import Services
from tenants.models import Provider, Tenant
from tests.cmdb.topology import add_ci, relate
from tests.conftest import World
from tests.helpers import key_headers, ndjson, whoami_event


@pytest.fixture
def topo(services: Services, world: World) -> dict[str, int]:
    """alpha's app on prov-a's vm on a shared firewall (prov-a); beta's app on prov-b's vm
    on the same firewall; prov-b's private database under beta's app."""
    with services.db.session() as s:
        tenant = {t.slug: t.id for t in s.scalars(select(Tenant))}
        prov = {p.slug: p.id for p in s.scalars(select(Provider))}
        ids = {
            "alpha-app": add_ci(
                s, "Alpha Portal", "application", prov["prov-a"], [tenant["alpha"]]
            ),
            "beta-app": add_ci(s, "Beta Ledger", "application", prov["prov-b"], [tenant["beta"]]),
            "vm-a": add_ci(s, "ws-1", "vm", prov["prov-a"], [tenant["alpha"]]),
            "vm-b": add_ci(s, "vm-b", "vm", prov["prov-b"]),
            "db-b": add_ci(s, "beta-db", "database", prov["prov-b"]),
            "fw": add_ci(
                s, "core-fw", "firewall", prov["prov-a"], [tenant["alpha"], tenant["beta"]]
            ),
        }
        relate(s, ids["alpha-app"], ids["vm-a"], "runs_on")
        relate(s, ids["beta-app"], ids["vm-b"], "runs_on")
        relate(s, ids["beta-app"], ids["db-b"])
        relate(s, ids["vm-a"], ids["fw"])
        relate(s, ids["vm-b"], ids["fw"])
    return ids


def event(ci: Any, severity: str = "critical", state: str = "firing", **kw: Any) -> dict[str, Any]:
    at = kw.pop("time", datetime.now(UTC) - timedelta(minutes=1))
    return {"ci": ci, "severity": severity, "state": state, "time": at.isoformat(), **kw}


def post(client: TestClient, world: World, who: str, body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/ops/events", json=body, headers=world[who].headers)
    assert response.status_code == 200, response.text
    return response.json()


def statuses(client: TestClient, world: World, who: str) -> dict[str, dict[str, Any]]:
    response = client.get("/api/v1/status", headers=world[who].headers)
    assert response.status_code == 200, response.text
    return {a["name"]: a for a in response.json()["applications"]}


def test_shared_firewall_outage_fans_out_but_each_customer_sees_only_its_own(
    client: TestClient, world: World, topo: dict[str, int]
) -> None:
    out = post(client, world, "provider-prov-a", event("core-fw", fingerprint="fw"))
    assert out["applied"] == 1 and out["status_changes"] >= 4
    alpha = statuses(client, world, "customer-alpha")
    beta = statuses(client, world, "customer-beta")
    assert set(alpha) == {"Alpha Portal"} and set(beta) == {"Beta Ledger"}
    assert alpha["Alpha Portal"]["state"] == "down"
    assert [r["name"] for r in alpha["Alpha Portal"]["root_causes"]] == ["core-fw"]
    assert beta["Beta Ledger"]["state"] == "down"
    assert "Alpha" not in str(beta) and "Beta" not in str(alpha)
    assert "beta-db" not in str(alpha)
    incidents = client.get("/api/v1/ops/incidents", headers=world["admin"].headers).json()
    assert len(incidents) == 1 and incidents[0]["tenants"] == ["alpha", "beta"]
    seen = client.get("/api/v1/ops/incidents", headers=world["customer-alpha"].headers).json()
    assert [a["name"] for a in seen[0]["applications"]] == ["Alpha Portal"]
    assert seen[0]["tenants"] == ["alpha"]


def test_foreign_cis_are_404_for_customers_and_providers(
    client: TestClient, world: World, topo: dict[str, int]
) -> None:
    for who, foreign in (
        ("customer-alpha", "beta-app"),
        ("customer-alpha", "db-b"),
        ("customer-beta", "alpha-app"),
        ("provider-prov-a", "db-b"),
    ):
        for path in (
            f"/api/v1/status/cis/{topo[foreign]}",
            f"/api/v1/cmdb/cis/{topo[foreign]}/status",
        ):
            response = client.get(path, headers=world[who].headers)
            assert response.status_code == 404, (who, foreign, path)
    mine = client.get(f"/api/v1/status/cis/{topo['fw']}", headers=world["customer-beta"].headers)
    assert mine.status_code == 200  # the shared firewall under beta's application
    assert "Alpha" not in mine.text
    provider_b = statuses(client, world, "provider-prov-b")
    assert set(provider_b) == {"Beta Ledger"}


def test_alertmanager_webhook_fires_and_resolves(
    client: TestClient, world: World, topo: dict[str, int]
) -> None:
    alert = {
        "status": "firing",
        "labels": {"alertname": "HostDown", "severity": "critical", "instance": "vm-b:9100"},
        "annotations": {"summary": "vm-b unreachable"},
        "startsAt": "2026-06-01T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "abc123",
    }
    body = {"version": "4", "status": "firing", "receiver": "soc", "alerts": [alert]}
    url = "/api/v1/ops/alertmanager"
    fired = client.post(url, json=body, headers=world["provider-prov-b"].headers).json()
    assert fired["outcomes"][0]["outcome"] == "applied"
    assert statuses(client, world, "customer-beta")["Beta Ledger"]["state"] == "down"
    resolved = {**alert, "status": "resolved", "endsAt": "2026-06-01T10:05:00Z"}
    body = {**body, "status": "resolved", "alerts": [resolved]}
    client.post(url, json=body, headers=world["provider-prov-b"].headers)
    assert statuses(client, world, "customer-beta")["Beta Ledger"]["state"] == "operational"


def test_unmatched_events_are_listed_for_the_service_desk_only(
    client: TestClient, world: World, topo: dict[str, int]
) -> None:
    out = post(client, world, "provider-prov-a", [event("nobody"), event(None, fingerprint="x")])
    assert [o["outcome"] for o in out["outcomes"]] == ["unmatched", "unmatched"]
    desk = client.get("/api/v1/ops/events?outcome=unmatched", headers=world["soc_analyst"].headers)
    assert [e["reason"] for e in desk.json()] == ["the event names no CI", "no CI named 'nobody'"]
    assert (
        client.get("/api/v1/ops/events", headers=world["customer-alpha"].headers).status_code == 403
    )
    other = client.get("/api/v1/ops/events", headers=world["provider-prov-b"].headers).json()
    assert other == []  # prov-a's events stay with prov-a


def test_share_policy_is_the_integrators_and_filters_events(
    client: TestClient, world: World, topo: dict[str, int]
) -> None:
    body = {"min_severity": "major", "event_types": ["availability"]}
    url = "/api/v1/ops/share-policies/prov-a"
    assert client.put(url, json=body, headers=world["provider-prov-a"].headers).status_code == 403
    assert client.put(url, json=body, headers=world["admin"].headers).status_code == 200
    out = post(client, world, "provider-prov-a", event("core-fw", event_type="cpu"))
    assert out["outcomes"][0]["outcome"] == "not_shared"
    assert statuses(client, world, "admin")["Alpha Portal"]["state"] == "operational"
    mine = client.get("/api/v1/ops/share-policies", headers=world["provider-prov-a"].headers)
    assert [p["provider"] for p in mine.json()] == ["prov-a"]


def test_maintenance_only_on_own_cis(
    client: TestClient, world: World, topo: dict[str, int]
) -> None:
    now = datetime.now(UTC)
    body = {
        "ci_id": topo["vm-b"],
        "starts_at": (now - timedelta(minutes=5)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
        "title": "patching",
    }
    url = "/api/v1/cmdb/maintenance"
    assert client.post(url, json=body, headers=world["provider-prov-a"].headers).status_code == 404
    made = client.post(url, json=body, headers=world["provider-prov-b"].headers)
    assert made.status_code == 201, made.text
    assert statuses(client, world, "customer-beta")["Beta Ledger"]["state"] == "maintenance"
    backwards = {**body, "ends_at": body["starts_at"]}
    refused = client.post(url, json=backwards, headers=world["provider-prov-b"].headers)
    assert refused.status_code == 422 and "ends after it starts" in refused.text


def test_ci_timeline_shows_security_cases_beside_operational_events(
    client: TestClient, world: World, topo: dict[str, int]
) -> None:
    ingest = client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("ws-1")),
        headers=key_headers(world.keys["alpha"]),
    )
    assert ingest.status_code in (200, 202), ingest.text
    post(client, world, "provider-prov-a", event("ws-1", severity="major", fingerprint="disk"))
    detail = client.get(f"/api/v1/status/cis/{topo['vm-a']}", headers=world["soc_analyst"].headers)
    kinds = {entry["kind"] for entry in detail.json()["timeline"]}
    assert kinds == {"case", "event", "status"}
    beta = client.get(f"/api/v1/status/cis/{topo['fw']}", headers=world["customer-beta"].headers)
    assert all(entry["kind"] != "case" for entry in beta.json()["timeline"])


@pytest.mark.parametrize(
    "body",
    [
        {"ci": "core-fw", "severity": "fatal"},
        {"ci": "core-fw"},
        {"ci": "core-fw", "severity": "critical", "state": "open"},
        {"ci": "core-fw", "severity": "critical", "time": "soon"},
        [{"ci": "core-fw", "severity": "critical", "surprise": 1}],
    ],
)
def test_bad_events_are_refused_and_nothing_is_kept(
    client: TestClient, world: World, topo: dict[str, int], body: Any
) -> None:
    response = client.post(
        "/api/v1/ops/events", json=body, headers=world["provider-prov-a"].headers
    )
    assert response.status_code == 422
    assert client.get("/api/v1/ops/events", headers=world["admin"].headers).json() == []


def test_customers_and_finance_may_not_send_events(
    client: TestClient, world: World, topo: dict[str, int]
) -> None:
    for who in ("customer-alpha", "finance", "authority"):
        response = client.post(
            "/api/v1/ops/events", json=event("core-fw"), headers=world[who].headers
        )
        assert response.status_code == 403, who


def test_maintenance_list_cancel_and_availability_stay_within_scope(
    client: TestClient, world: World, topo: dict[str, int]
) -> None:
    now = datetime.now(UTC)
    body = {
        "ci_id": topo["db-b"],
        "starts_at": (now + timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=1, hours=2)).isoformat(),
    }
    url = "/api/v1/cmdb/maintenance"
    made = client.post(url, json=body, headers=world["provider-prov-b"].headers).json()
    listed = {
        who: [w["ci_id"] for w in client.get(url, headers=world[who].headers).json()]
        for who in ("admin", "customer-beta", "customer-alpha", "provider-prov-a")
    }
    assert listed == {
        "admin": [topo["db-b"]],
        "customer-beta": [topo["db-b"]],
        "customer-alpha": [],
        "provider-prov-a": [],
    }
    for who, status in (("provider-prov-a", 404), ("customer-beta", 403), ("admin", 204)):
        answer = client.delete(f"{url}/{made['id']}", headers=world[who].headers)
        assert answer.status_code == status, who
    month = now.strftime("%Y-%m")
    seen = client.get(
        f"/api/v1/status/availability?month={month}", headers=world["customer-alpha"].headers
    )
    assert [row["application"]["name"] for row in seen.json()] == ["Alpha Portal"]
    foreign = client.get(
        f"/api/v1/status/availability?month={month}&ci_id={topo['beta-app']}",
        headers=world["customer-alpha"].headers,
    )
    assert foreign.status_code == 404
    bad = client.get("/api/v1/status/availability?month=2026-13", headers=world["admin"].headers)
    assert bad.status_code == 422


# Tenant isolation and roles of these routes are tested in this module.
ISOLATION_COVERED = {
    ("POST", "/api/v1/ops/events"),
    ("GET", "/api/v1/ops/events"),
    ("POST", "/api/v1/ops/alertmanager"),
    ("GET", "/api/v1/ops/share-policies"),
    ("PUT", "/api/v1/ops/share-policies/{provider}"),
    ("GET", "/api/v1/ops/incidents"),
    ("POST", "/api/v1/cmdb/maintenance"),
    ("GET", "/api/v1/cmdb/maintenance"),
    ("DELETE", "/api/v1/cmdb/maintenance/{window_id}"),
    ("GET", "/api/v1/status"),
    ("GET", "/api/v1/status/cis/{ci_id}"),
    ("GET", "/api/v1/cmdb/cis/{ci_id}/status"),
    ("GET", "/api/v1/status/availability"),
    ("POST", "/api/v1/problems/{problem_id}/root-cause"),
}


def test_resolved_critical_incident_problem_and_its_root_cause(
    client: TestClient, world: World, topo: dict[str, int]
) -> None:
    post(client, world, "provider-prov-a", event("core-fw", fingerprint="fw"))
    post(
        client,
        world,
        "provider-prov-a",
        event("core-fw", state="resolved", fingerprint="fw", time=datetime.now(UTC)),
    )
    problems = client.get("/api/v1/problems", headers=world["admin"].headers).json()
    (problem,) = [p for p in problems if p["ops_incident_id"] is not None]
    assert sorted(problem["tenants"]) == [1, 2] and problem["case_id"] is None
    alpha = client.get("/api/v1/problems", headers=world["customer-alpha"].headers).json()
    assert [p["tenants"] for p in alpha if p["ops_incident_id"]] == [[1]]  # beta not named
    url = f"/api/v1/problems/{problem['id']}/root-cause"
    body = {"text": "firmware bug in the firewall cluster"}
    assert client.post(url, json=body, headers=world["customer-alpha"].headers).status_code == 403
    done = client.post(url, json=body, headers=world["soc_analyst"].headers)
    assert done.status_code == 200, done.text
    assert done.json()["root_cause_on_time"] is True
    again = client.post(url, json=body, headers=world["soc_analyst"].headers)
    assert again.status_code == 422
    missing = client.post(
        "/api/v1/problems/999/root-cause", json=body, headers=world["admin"].headers
    )
    assert missing.status_code == 404
