"""One-step tenant onboarding (service and `POST /api/v1/tenants/onboard`), tenant updates and
the user list API: what is created, that a failure anywhere leaves nothing, who may call it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from soc.core.audit import AuditEntry
from soc.core.errors import Invalid
from soc.services import Services
from tenants import onboarding
from tenants.billing import service as billing
from tenants.models import ApiKey, Tenant, User
from tests.api.test_isolation import ALL_USERS
from tests.conftest import SYSTEM, World
from tests.helpers import key_headers, ndjson, whoami_event

ONBOARD = "/api/v1/tenants/onboard"
WHOAMI_RULE = "e6fb6eac-9ce3-4c04-b51b-cdaed8a36161"  # level low


def counts(services: Services) -> dict[str, int]:
    with services.db.session() as session:
        return {
            "tenants": session.scalar(select(func.count()).select_from(Tenant)) or 0,
            "keys": session.scalar(select(func.count()).select_from(ApiKey)) or 0,
            "users": session.scalar(select(func.count()).select_from(User)) or 0,
            "onboard_audits": session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "tenant.onboard")
            )
            or 0,
        }


def body(slug: str = "gamma", **extra: Any) -> dict[str, Any]:
    return {"slug": slug, "name": "Gamma NV", "retention_days": 90, **extra}


def cases_of(client: TestClient, world: World, tenant_id: int) -> list[dict[str, Any]]:
    answer = client.get(
        f"/api/v1/cases?tenant_id={tenant_id}", headers=world["admin"].headers
    ).json()
    return [c for c in answer["items"] if c["tenant_id"] == tenant_id]


def test_onboarding_creates_everything_and_the_key_ingests(
    client: TestClient, world: World, services: Services
) -> None:
    answer = client.post(
        ONBOARD,
        json=body(
            plan="enterprise",
            ceiling="1500.00",
            key_name="winlogbeat",
            portal_users=["gamma-anna", "gamma-ben"],
            rules=[{"selector": "level", "value": "high", "enabled": False}],
        ),
        headers=world["admin"].headers,
    )
    assert answer.status_code == 201, answer.text
    out = answer.json()
    tenant_id = out["tenant"]["id"]
    assert out["tenant"]["slug"] == "gamma" and out["tenant"]["retention_days"] == 90
    assert out["api_key"]["key"]["name"] == "winlogbeat"
    assert out["rules_selected"] >= 4  # the shipped high rules
    assert out["plan"] == "enterprise"
    assert set(out["sla_calendar"]) == {"P1", "P2", "P3", "P4"}
    users = {u["user"]["username"]: u for u in out["portal_users"]}
    assert set(users) == {"gamma-anna", "gamma-ben"}
    assert all(u["user"]["role"] == "customer" for u in users.values())
    assert all(u["user"]["tenant_id"] == tenant_id for u in users.values())
    assert users["gamma-anna"]["initial_password"] != users["gamma-ben"]["initial_password"]

    # The ingest key writes into the new tenant; the low whoami rule (not disabled) fires.
    ingested = client.post(
        "/api/v1/ingest?return_ids=true",
        content=ndjson(whoami_event("gamma-ws-1")),
        headers=key_headers(out["api_key"]["secret"]),
    )
    assert ingested.status_code == 200, ingested.text
    assert ingested.json()["accepted"] == 1
    assert len(cases_of(client, world, tenant_id)) == 1

    # A portal user signs in with the initial password and sees only the new tenant.
    login = client.post(
        "/api/v1/auth/login",
        json={"username": "gamma-anna", "password": users["gamma-anna"]["initial_password"]},
    )
    assert login.status_code == 200, login.text
    me = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {login.json()['token']}"}
    ).json()
    assert me["role"] == "customer" and me["tenant_ids"] == [tenant_id]

    # The plan and the ceiling went through the billing service.
    with services.db.session() as session:
        account = billing.account(session, SYSTEM, "gamma")
        assert account.plans[-1][1] == "enterprise"
        assert account.ceiling == Decimal("1500")
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "tenant.onboard"))
        assert entry is not None and entry.tenant_id == tenant_id
        assert "gamma-anna" in entry.detail


def test_disabled_rules_do_not_fire_for_the_new_tenant(client: TestClient, world: World) -> None:
    out = client.post(
        ONBOARD,
        json=body(rules=[{"selector": "rule", "value": WHOAMI_RULE, "enabled": False}]),
        headers=world["admin"].headers,
    ).json()
    assert out["rules_selected"] == 1
    ingested = client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("g-1")),
        headers=key_headers(out["api_key"]["secret"]),
    )
    assert ingested.json()["accepted"] == 1
    assert cases_of(client, world, out["tenant"]["id"]) == []
    # The other tenants keep the rule: alpha's whoami still makes a case.
    client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("a-1")),
        headers=key_headers(world.keys["alpha"]),
    )
    assert len(cases_of(client, world, 1)) == 1


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({"portal_users": ["gamma-ok", "admin"]}, 409),  # a taken username, after the tenant
        ({"rules": [{"selector": "rule", "value": "no-such-rule", "enabled": False}]}, 404),
        ({"portal_users": ["gamma-x", "gamma-x"]}, 422),
        ({"slug": "alpha"}, 409),
        ({"slug": "Not A Slug"}, 422),
        ({"plan": "platinum"}, 422),
        ({"retention_days": 400}, 422),
        ({"ceiling": "-5"}, 422),
    ],
)
def test_a_failure_anywhere_creates_nothing(
    client: TestClient, world: World, services: Services, extra: dict[str, Any], status: int
) -> None:
    before = counts(services)
    answer = client.post(ONBOARD, json=body(**extra), headers=world["admin"].headers)
    assert answer.status_code == status, answer.text
    assert "error" in answer.json() or "detail" in answer.json()
    assert counts(services) == before
    assert client.get("/api/v1/tenants/gamma", headers=world["admin"].headers).status_code == 404


def test_an_injected_failure_in_the_billing_step_rolls_everything_back(
    client: TestClient, world: World, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan is set after the tenant, its key and its rules: a failure there undoes them."""

    def broken(*args: Any, **kwargs: Any) -> None:
        raise Invalid("billing is down (injected)")

    monkeypatch.setattr(onboarding.billing, "decide_plan", broken)
    before = counts(services)
    answer = client.post(
        ONBOARD,
        json=body(
            plan="enterprise",
            portal_users=["gamma-c"],
            rules=[{"selector": "level", "value": "low", "enabled": False}],
        ),
        headers=world["admin"].headers,
    )
    assert answer.status_code == 422
    assert "injected" in answer.text
    assert counts(services) == before
    with services.db.session() as session:
        assert session.scalar(select(User).where(User.username == "gamma-c")) is None


def test_only_admins_onboard(client: TestClient, world: World, services: Services) -> None:
    before = counts(services)
    for user in ALL_USERS:
        if user == "admin":
            continue
        answer = client.post(ONBOARD, json=body(), headers=world[user].headers)
        assert answer.status_code == 403, (user, answer.text)
    assert client.post(ONBOARD, json=body()).status_code == 401
    assert counts(services) == before


def test_update_tenant_and_list_users(client: TestClient, world: World) -> None:
    admin = world["admin"].headers
    changed = client.patch(
        "/api/v1/tenants/beta", json={"name": "Beta BV", "retention_days": 30}, headers=admin
    )
    assert changed.status_code == 200
    assert changed.json()["name"] == "Beta BV" and changed.json()["retention_days"] == 30
    assert client.get("/api/v1/tenants/beta", headers=admin).json()["retention_days"] == 30
    assert (
        client.patch("/api/v1/tenants/beta", json={"retention_days": 0}, headers=admin).status_code
        == 422
    )
    assert (
        client.patch("/api/v1/tenants/nope", json={"name": "x"}, headers=admin).status_code == 404
    )
    assert (
        client.patch(
            "/api/v1/tenants/beta", json={"name": "x"}, headers=world["customer-beta"].headers
        ).status_code
        == 403
    )
    users = client.get("/api/v1/users?tenant=alpha", headers=admin).json()
    assert {u["username"] for u in users} == {"customer-alpha", "risk_owner-alpha"}
    assert all(u["active"] for u in users)
    assert client.get("/api/v1/users", headers=world["soc_analyst"].headers).status_code == 403
    assert client.get("/api/v1/users?role=wizard", headers=admin).status_code == 422
