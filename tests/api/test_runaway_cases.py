"""A runaway rule (more alerts per tenant per hour than the limit) opens cases that are not
billed until an analyst confirms them; confirming is audited, in the timeline, and bills."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from soc.core.audit import AuditEntry
from soc.core.principal import SYSTEM
from soc.core.settings import Settings
from soc.services import Services
from tenants.billing import service as billing
from tests.conftest import World
from tests.helpers import key_headers, ndjson, whoami_event

WHOAMI = "e6fb6eac-9ce3-4c04-b51b-cdaed8a36161"


def billed_cases(services: Services, tenant: str) -> int:
    with services.db.session() as session:
        (usage,) = billing.running_usage(session, SYSTEM, tenant=tenant, with_hosts=False)
        return usage.usage.cases


def ingest_hosts(client: TestClient, world: World, hosts: list[str]) -> None:
    answer = client.post(
        "/api/v1/ingest",
        content=ndjson(*[whoami_event(h) for h in hosts]),
        headers=key_headers(world.keys["alpha"]),
    )
    assert answer.status_code == 200, answer.text


def cases(client: TestClient, world: World) -> list[dict]:
    answer = client.get(
        f"/api/v1/cases?rule_id={WHOAMI}&limit=100", headers=world["soc_analyst"].headers
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_runaway_cases_are_not_billed_until_confirmed(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    settings.rule_runaway_alerts_per_hour = 3
    analyst = world["soc_analyst"].headers
    before = billed_cases(services, "alpha")

    ingest_hosts(client, world, ["h-1", "h-2"])  # 2 alerts this hour: an ordinary rule
    ingest_hosts(client, world, ["h-3", "h-4", "h-5"])  # 5 > 3: it runs away
    by_host = {c["host"]: c for c in cases(client, world)}
    assert {h: by_host[h]["billable"] for h in by_host} == {
        "h-1": True,
        "h-2": True,
        "h-3": False,
        "h-4": False,
        "h-5": False,
    }
    assert billed_cases(services, "alpha") == before + 2

    runaway = by_host["h-4"]["id"]
    timeline = client.get(f"/api/v1/cases/{runaway}/timeline", headers=analyst).json()
    created = timeline[0]["detail"]
    assert created["billable"] is False
    assert created["runaway"] == {"alerts_last_hour": 5, "limit": 3}

    # a customer cannot confirm; an analyst can, once
    customer = world["customer-alpha"].headers
    assert (
        client.post(f"/api/v1/cases/{runaway}/confirm", json={}, headers=customer).status_code
        == 403
    )
    confirmed = client.post(
        f"/api/v1/cases/{runaway}/confirm", json={"note": "real intrusion"}, headers=analyst
    )
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert (
        body["billable"] is True and body["confirmed_by"] == f"user:{world['soc_analyst'].username}"
    )
    assert billed_cases(services, "alpha") == before + 3
    again = client.post(f"/api/v1/cases/{runaway}/confirm", json={}, headers=analyst)
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    assert billed_cases(services, "alpha") == before + 3

    kinds = [
        e["kind"] for e in client.get(f"/api/v1/cases/{runaway}/timeline", headers=analyst).json()
    ]
    assert kinds[-1] == "confirmed"
    with services.db.session() as session:
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "case.confirmed")
        ).all()
    assert [a.object_id for a in audited] == [str(runaway)]


def test_split_of_an_unconfirmed_case_is_not_billed(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    settings.rule_runaway_alerts_per_hour = 1
    analyst = world["soc_analyst"].headers
    before = billed_cases(services, "alpha")
    answer = client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("h-9", 5, "one"), whoami_event("h-9", 4, "two")),
        headers=key_headers(world.keys["alpha"]),
    )
    assert answer.status_code == 200
    (case,) = cases(client, world)
    assert case["billable"] is False and case["alert_count"] == 2
    alerts = client.get(f"/api/v1/cases/{case['id']}/alerts", headers=analyst).json()
    split = client.post(
        f"/api/v1/cases/{case['id']}/split", json={"alerts": [alerts[0]["id"]]}, headers=analyst
    )
    assert split.status_code == 201, split.text
    assert split.json()["billable"] is False
    assert billed_cases(services, "alpha") == before
