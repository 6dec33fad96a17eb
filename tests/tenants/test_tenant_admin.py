"""A tenant's local administrator (`tenant_admin`): it manages the people of its own tenant with
the roles it may grant, never another tenant's users and never a role above its own; every
change audited. A role change or a disable ends the user's sessions at once."""

from __future__ import annotations

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select

from soc.core.audit import AuditEntry
from soc.services import Services
from tests.conftest import PASSWORD, World

MEMBERS = "/api/v1/tenants/{tenant}/members"

# Routes whose isolation and roles these tests and tests/tenants/test_sessions.py prove: a
# tenant administrator of alpha gets 404 for beta and its users, 403 for roles above its own.
ISOLATION_COVERED = {
    ("POST", "/api/v1/tenants/{tenant}/members"),
    ("PATCH", "/api/v1/tenants/{tenant}/members/{username}"),
    ("POST", "/api/v1/tenants/{tenant}/members/{username}/password"),
    ("POST", "/api/v1/tenants/{tenant}/members/{username}/totp"),
    ("GET", "/api/v1/tenants/{tenant}/members/{username}/sessions"),
    ("DELETE", "/api/v1/tenants/{tenant}/members/{username}/sessions"),
    ("PUT", "/api/v1/users/{username}/role"),
    ("GET", "/api/v1/users/{username}/sessions"),
    ("DELETE", "/api/v1/users/{username}/sessions"),
    ("GET", "/api/v1/auth/sessions"),
    ("DELETE", "/api/v1/auth/sessions/{session_id}"),
    ("POST", "/api/v1/auth/sessions/end-others"),
}


def login(client: TestClient, username: str, password: str, secret: str | None = None) -> str:
    body = {"username": username, "password": password}
    if secret:
        body["totp"] = pyotp.TOTP(secret).now()
    answer = client.post("/api/v1/auth/login", json=body)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_tenant_admin(client: TestClient, world: World, tenant: str, name: str) -> dict[str, str]:
    """An admin creates the tenant's local administrator; it signs in (TOTP is required)."""
    made = client.post(
        MEMBERS.format(tenant=tenant),
        json={"username": name, "role": "tenant_admin"},
        headers=world["admin"].headers,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["totp_secret"], "a tenant administrator must use TOTP"
    return bearer(login(client, name, body["initial_password"], body["totp_secret"]))


def test_a_tenant_admin_manages_its_own_people_only(
    client: TestClient, world: World, services: Services
) -> None:
    local = make_tenant_admin(client, world, "alpha", "ta-alpha")
    me = client.get("/api/v1/auth/me", headers=local).json()
    assert (me["role"], me["tenant_ids"]) == ("tenant_admin", [1])

    made = client.post(
        MEMBERS.format(tenant="alpha"),
        json={"username": "alice", "role": "customer", "email": "alice@alpha.example"},
        headers=local,
    )
    assert made.status_code == 201, made.text
    alice = made.json()
    assert alice["user"]["tenant_id"] == 1 and alice["totp_secret"] is None
    alice_token = login(client, "alice", alice["initial_password"])

    # Never another tenant, nor a role above its own; an unknown role or field is a 422.
    refused = {
        ("beta", "customer"): 404,
        ("alpha", "soc_analyst"): 403,
        ("alpha", "admin"): 403,
        ("alpha", "finance"): 403,
        ("alpha", "authority"): 403,
        ("alpha", "wizard"): 422,
    }
    for (tenant, role), status in refused.items():
        answer = client.post(
            MEMBERS.format(tenant=tenant), json={"username": f"x-{role}", "role": role},
            headers=local,
        )  # fmt: skip
        assert answer.status_code == status, (tenant, role, answer.text)
    extra = client.post(
        MEMBERS.format(tenant="alpha"),
        json={"username": "bob", "role": "customer", "tenant": "beta"},
        headers=local,
    )
    assert extra.status_code == 422
    listed = client.get("/api/v1/users", headers=admin_headers(world)).json()
    names = {u["username"] for u in listed}
    assert "alice" in names and not names & {f"x-{r}" for _, r in refused} and "bob" not in names

    # Its tenant's people, listed; another tenant's and its users: not found.
    members = client.get(MEMBERS.format(tenant="alpha"), headers=local).json()
    assert {m["username"] for m in members} == {
        "alice", "customer-alpha", "risk_owner-alpha", "ta-alpha"
    }  # fmt: skip
    assert client.get(MEMBERS.format(tenant="beta"), headers=local).status_code == 404
    beta_user = MEMBERS.format(tenant="beta") + "/customer-beta"
    assert client.patch(beta_user, json={"active": False}, headers=local).status_code == 404
    moved = MEMBERS.format(tenant="alpha") + "/customer-beta"
    assert client.patch(moved, json={"active": False}, headers=local).status_code == 404
    for path in ("/password", "/totp"):
        assert client.post(beta_user + path, headers=local).status_code == 404
    assert client.delete(beta_user + "/sessions", headers=local).status_code == 404
    assert client.get(f"{beta_user}/sessions", headers=local).status_code == 404
    assert client.get("/api/v1/auth/me", headers=world["customer-beta"].headers).status_code == 200

    # The admin's own user routes stay the admin's.
    assert client.get("/api/v1/users", headers=local).status_code == 403
    created = client.post(
        "/api/v1/users",
        json={"username": "sneaky", "password": PASSWORD, "role": "admin"},
        headers=local,
    )
    assert created.status_code == 403
    assert client.put(
        "/api/v1/users/alice/role", json={"role": "admin"}, headers=local
    ).status_code == 403  # fmt: skip
    assert client.delete("/api/v1/users/alice/sessions", headers=local).status_code == 403

    # Role changes: within the grantable roles only; and the role change ends the sessions.
    alice_path = MEMBERS.format(tenant="alpha") + "/alice"
    for role in ("admin", "soc_analyst"):
        answer = client.patch(alice_path, json={"role": role}, headers=local)
        assert answer.status_code == 403, role
    assert client.get("/api/v1/auth/me", headers=bearer(alice_token)).status_code == 200
    changed = client.patch(alice_path, json={"role": "risk_owner"}, headers=local)
    assert changed.status_code == 200 and changed.json()["user"]["role"] == "risk_owner"
    assert client.get("/api/v1/auth/me", headers=bearer(alice_token)).status_code == 401

    # Password and TOTP resets give the new secret once; disabling ends the sessions.
    password = client.post(alice_path + "/password", headers=local).json()["password"]
    alice_token = login(client, "alice", password)
    assert client.patch(alice_path, json={"active": False}, headers=local).json()["user"][
        "active"
    ] is False  # fmt: skip
    assert client.get("/api/v1/auth/me", headers=bearer(alice_token)).status_code == 401
    assert client.patch(alice_path, json={"active": True}, headers=local).status_code == 200
    secret = client.post(alice_path + "/totp", headers=local).json()["totp_secret"]
    login(client, "alice", password, secret)

    # Not itself: no disabling its own account, no changing its own role.
    own = MEMBERS.format(tenant="alpha") + "/ta-alpha"
    assert client.patch(own, json={"active": False}, headers=local).status_code == 409
    assert client.patch(own, json={"role": "customer"}, headers=local).status_code == 409

    # Audited, with the tenant administrator as the actor.
    with services.db.session() as session:
        actions = {
            e.action
            for e in session.scalars(select(AuditEntry).where(AuditEntry.actor == "user:ta-alpha"))
        }
    assert {
        "user.create", "user.role_change", "user.password_reset", "user.disable", "user.enable",
        "user.totp_reset",
    } <= actions  # fmt: skip


def admin_headers(world: World) -> dict[str, str]:
    return world["admin"].headers


def test_a_member_with_a_role_above_is_read_only_to_the_tenant_admin(
    client: TestClient, world: World
) -> None:
    """A user of the tenant whose role the local administrator may not grant (an analyst
    scoped to the tenant, made by the integrator) is listed but cannot be touched."""
    made = client.post(
        "/api/v1/users",
        json={"username": "analyst-at-alpha", "password": PASSWORD, "role": "finance",
              "tenant": "alpha"},
        headers=admin_headers(world),
    )  # fmt: skip
    assert made.status_code == 201, made.text
    local = make_tenant_admin(client, world, "alpha", "ta-alpha2")
    listed = {
        m["username"]: m for m in client.get(MEMBERS.format(tenant="alpha"), headers=local).json()
    }
    assert listed["analyst-at-alpha"]["manageable"] is False
    path = MEMBERS.format(tenant="alpha") + "/analyst-at-alpha"
    assert client.patch(path, json={"active": False}, headers=local).status_code == 403
    assert client.post(path + "/password", headers=local).status_code == 403
    # Other roles get no member management at all.
    for user in ("customer-alpha", "risk_owner-alpha", "soc_analyst", "authority"):
        answer = client.get(MEMBERS.format(tenant="alpha"), headers=world[user].headers)
        assert answer.status_code == 403, user


def test_a_role_change_by_an_admin_ends_the_sessions_at_once(
    client: TestClient, world: World
) -> None:
    old = world["customer-alpha"].headers
    assert client.get("/api/v1/cases", headers=old).status_code == 200
    answer = client.put(
        "/api/v1/users/customer-alpha/role",
        json={"role": "risk_owner"},
        headers=admin_headers(world),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["user"]["role"] == "risk_owner"
    assert client.get("/api/v1/auth/me", headers=old).status_code == 401
    fresh = bearer(login(client, "customer-alpha", PASSWORD))
    assert client.get("/api/v1/auth/me", headers=fresh).json()["role"] == "risk_owner"
    # A role that does not fit the scope, an unknown user or role, one's own role: refused.
    admin = admin_headers(world)

    def put(user: str, role: str) -> int:
        path = f"/api/v1/users/{user}/role"
        return client.put(path, json={"role": role}, headers=admin).status_code

    assert put("soc_analyst", "customer") == 422  # a customer needs a tenant
    assert put("customer-beta", "provider") == 422  # a provider user needs a provider
    assert put("nobody", "customer") == 404
    assert put("customer-beta", "wizard") == 422
    assert put("admin", "soc_analyst") == 409
    # A role that needs TOTP, given without it, comes with a secret, shown once.
    promoted = client.put(
        "/api/v1/users/finance/role", json={"role": "soc_analyst"}, headers=admin
    ).json()
    assert promoted["totp_secret"]
    assert client.get("/api/v1/auth/me", headers=world["finance"].headers).status_code == 401
