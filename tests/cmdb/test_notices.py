"""Outage notices (A5, TA3): the service desk publishes, each affected customer sees the banner
with its own applications only, never another tenant's; planned unavailability alike."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from soc.cmdb.models import OpsIncident
from soc.services import Services
from tests.cmdb.status_fixtures import add_ci, tenant_id
from tests.conftest import World

NOTICES = "/api/v1/status/notices"
ACTIVE = f"{NOTICES}/active"


@pytest.fixture
def apps(services: Services) -> dict[str, int]:
    """Payroll serves alpha, Beta HR serves beta, the shared mail platform serves both; all
    three sit on a firewall of prov-b."""
    fw = add_ci(services.db, "fw-1", "firewall", provider="prov-b")
    return {
        "fw": fw,
        "payroll": add_ci(services.db, "Payroll", tenants=("alpha",), depends_on=(fw,)),
        "hr": add_ci(services.db, "Beta HR", tenants=("beta",), depends_on=(fw,)),
        "mail": add_ci(services.db, "Mail", tenants=("alpha", "beta"), depends_on=(fw,)),
    }


def publish(client: TestClient, world: World, actor: str = "soc_analyst", **body: object) -> int:
    answer = client.post(NOTICES, json={"title": "Outage", **body}, headers=world[actor].headers)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def active(client: TestClient, world: World, actor: str) -> list[dict[str, object]]:
    answer = client.get(ACTIVE, headers=world[actor].headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def test_the_customer_sees_only_notices_about_its_applications(
    client: TestClient, world: World, apps: dict[str, int]
) -> None:
    publish(client, world, title="Payroll down", applications=[apps["payroll"]])
    publish(client, world, title="Beta HR down", applications=[apps["hr"]])

    (seen,) = active(client, world, "customer-alpha")
    assert seen == {
        "title": "Payroll down",
        "body": "",
        "kind": "outage",
        "published_at": seen["published_at"],
        "applications": ["Payroll"],
    }
    assert [n["title"] for n in active(client, world, "customer-beta")] == ["Beta HR down"]
    assert sorted(str(n["title"]) for n in active(client, world, "authority")) == [
        "Beta HR down",
        "Payroll down",
    ]


def test_a_shared_outage_names_no_other_tenant(
    client: TestClient, world: World, services: Services, apps: dict[str, int]
) -> None:
    """An incident on the shared firewall impairs both tenants' applications: each customer's
    banner names its own applications, never beta's (names, ids, tenant)."""
    alpha, beta = tenant_id(services.db, "alpha"), tenant_id(services.db, "beta")
    with services.db.session() as session:
        incident = OpsIncident(
            status="open",
            severity="critical",
            root_causes=[apps["fw"]],
            applications=[apps["payroll"], apps["hr"], apps["mail"]],
            tenants=[alpha, beta],
        )
        session.add(incident)
        session.flush()
        incident_id = incident.id
    notice = publish(
        client, world, title="Network outage", body="We are on it.", incident_id=incident_id
    )

    full = client.get(NOTICES, headers=world["admin"].headers).json()
    (row,) = [n for n in full if n["id"] == notice]
    assert row["tenants"] == sorted([alpha, beta])
    assert row["applications"] == sorted(apps[k] for k in ("payroll", "hr", "mail"))

    answer = client.get(ACTIVE, headers=world["customer-alpha"].headers)
    (seen,) = answer.json()
    assert set(seen) == {"title", "body", "kind", "published_at", "applications"}
    assert seen["applications"] == ["Mail", "Payroll"]
    raw = answer.text
    assert "Beta" not in raw and "beta" not in raw
    assert str(apps["hr"]) not in json.dumps(seen["applications"])
    assert [n["applications"] for n in active(client, world, "customer-beta")] == [
        ["Beta HR", "Mail"]
    ]
    # a provider sees the banners of the tenants it serves, with their applications
    assert [n["applications"] for n in active(client, world, "provider-prov-a")] == [
        ["Mail", "Payroll"]
    ]


def test_the_tenants_come_from_the_applications(
    client: TestClient, world: World, services: Services, apps: dict[str, int]
) -> None:
    notice = publish(client, world, title="Mail slow", applications=[apps["mail"]])
    full = client.get(NOTICES, headers=world["soc_analyst"].headers).json()
    (row,) = [n for n in full if n["id"] == notice]
    assert row["tenants"] == sorted(
        [tenant_id(services.db, "alpha"), tenant_id(services.db, "beta")]
    )
    assert [n["applications"] for n in active(client, world, "customer-alpha")] == [["Mail"]]
    assert [n["applications"] for n in active(client, world, "customer-beta")] == [["Mail"]]


@pytest.mark.parametrize(
    "actor",
    ["customer-alpha", "provider-prov-a", "soc_analyst-prov-a", "authority", "finance"],
)
def test_only_the_service_desk_publishes(
    client: TestClient, world: World, apps: dict[str, int], actor: str
) -> None:
    body = {"title": "Outage", "applications": [apps["payroll"]]}
    answer = client.post(NOTICES, json=body, headers=world[actor].headers)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == "forbidden"


def test_close_and_planned_unavailability(
    client: TestClient, world: World, apps: dict[str, int]
) -> None:
    outage = publish(client, world, "admin", title="Payroll down", applications=[apps["payroll"]])
    planned = publish(
        client,
        world,
        title="Payroll upgrade Saturday 08:00-12:00",
        kind="planned",
        applications=[apps["payroll"]],
    )
    seen = active(client, world, "customer-alpha")
    assert {(n["title"], n["kind"]) for n in seen} == {
        ("Payroll down", "outage"),
        ("Payroll upgrade Saturday 08:00-12:00", "planned"),
    }
    alpha = world["customer-alpha"].headers
    assert client.post(f"{NOTICES}/{outage}/close", headers=alpha).status_code == 403
    closing = client.post(f"{NOTICES}/{outage}/close", headers=world["soc_analyst"].headers)
    assert closing.status_code == 200 and closing.json()["closed_at"]
    again = client.post(f"{NOTICES}/{outage}/close", headers=world["soc_analyst"].headers)
    assert again.status_code == 409
    assert [n["kind"] for n in active(client, world, "customer-alpha")] == ["planned"]
    assert client.post(f"{NOTICES}/999999/close", headers=world["admin"].headers).status_code == (
        404
    )
    open_ids = [n["id"] for n in client.get(NOTICES, headers=world["admin"].headers).json()]
    assert open_ids == [planned]
    every = client.get(NOTICES, params={"include_closed": True}, headers=world["admin"].headers)
    assert sorted(n["id"] for n in every.json()) == sorted([outage, planned])


def test_bad_notices(client: TestClient, world: World, apps: dict[str, int]) -> None:
    desk = world["soc_analyst"].headers

    def post(body: dict[str, object]) -> int:
        return int(client.post(NOTICES, json={"title": "x", **body}, headers=desk).status_code)

    assert post({}) == 422  # neither an incident nor an application
    assert post({"applications": [apps["fw"]]}) == 422  # a firewall is not an application
    assert post({"applications": [999_999]}) == 422
    assert post({"incident_id": 999_999}) == 404
    assert post({"applications": [apps["payroll"]], "kind": "rumour"}) == 422
    assert client.post(NOTICES, json={"title": ""}, headers=desk).status_code == 422
    # the full list (tenant ids) is not for customers or providers
    assert client.get(NOTICES, headers=world["customer-alpha"].headers).status_code == 403
    assert client.get(NOTICES, headers=world["provider-prov-a"].headers).status_code == 403


# Tenant isolation and roles of these routes are tested in this module.
ISOLATION_COVERED = {
    ("GET", "/api/v1/status/notices"),
    ("POST", "/api/v1/status/notices"),
    ("POST", "/api/v1/status/notices/{notice_id}/close"),
    ("GET", "/api/v1/status/notices/active"),
}
