"""A user's sessions: listed with when, where from and which browser; ended one by one or all
the others; an admin ends a user's. (Login and lockout: tests/api/test_auth.py.)"""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from soc.core.db import utcnow
from soc.services import Services
from tenants.models import AuthToken
from tests.conftest import PASSWORD, World
from tests.tenants.test_tenant_admin import bearer


def sign_in(client: TestClient, username: str, agent: str) -> str:
    answer = client.post(
        "/api/v1/auth/login",
        json={"username": username, "password": PASSWORD},
        headers={"User-Agent": agent},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def test_a_user_lists_and_ends_its_own_sessions(
    client: TestClient, world: World, services: Services
) -> None:
    laptop = bearer(sign_in(client, "customer-alpha", "Firefox on the laptop"))
    phone = bearer(sign_in(client, "customer-alpha", "Safari on the phone"))
    listed = client.get("/api/v1/auth/sessions", headers=laptop).json()
    assert len(listed) == 3  # the world's own, the laptop's, the phone's
    by_agent = {s["user_agent"]: s for s in listed}
    assert by_agent["Firefox on the laptop"]["current"] is True
    assert by_agent["Safari on the phone"]["current"] is False
    assert by_agent["Firefox on the laptop"]["ip"] == "testclient"
    assert all(s["last_used_at"] for s in by_agent.values())

    # Last use is kept, at most once a minute: a session used now shows a fresher time.
    with services.db.session() as session:
        session.execute(update(AuthToken).values(last_used_at=utcnow() - timedelta(hours=2)))
    client.get("/api/v1/auth/me", headers=phone)
    again = {s["user_agent"]: s for s in client.get("/api/v1/auth/sessions", headers=laptop).json()}
    phone_used = again["Safari on the phone"]["last_used_at"]
    assert phone_used > again[None]["last_used_at"]  # the world's token was not used since

    # End one: it answers 401 at once, the others go on; someone else's is not found.
    phone_id = by_agent["Safari on the phone"]["id"]
    assert client.delete(f"/api/v1/auth/sessions/{phone_id}", headers=laptop).status_code == 204
    assert client.get("/api/v1/auth/me", headers=phone).status_code == 401
    assert client.get("/api/v1/auth/me", headers=laptop).status_code == 200
    assert client.delete(f"/api/v1/auth/sessions/{phone_id}", headers=laptop).status_code == 404
    other = client.get("/api/v1/auth/sessions", headers=world["customer-beta"].headers).json()
    foreign = other[0]["id"]
    assert client.delete(f"/api/v1/auth/sessions/{foreign}", headers=laptop).status_code == 404
    assert client.get("/api/v1/auth/me", headers=world["customer-beta"].headers).status_code == 200
    assert client.delete("/api/v1/auth/sessions/0", headers=laptop).status_code == 422

    # End all the others: this one stays.
    ended = client.post("/api/v1/auth/sessions/end-others", headers=laptop).json()
    assert ended == {"ended": 1}
    assert client.get("/api/v1/auth/me", headers=world["customer-alpha"].headers).status_code == 401
    assert [s["current"] for s in client.get("/api/v1/auth/sessions", headers=laptop).json()] == [
        True
    ]


def test_an_admin_ends_a_users_sessions(client: TestClient, world: World) -> None:
    admin = world["admin"].headers
    second = bearer(sign_in(client, "risk_owner-beta", "curl"))
    listed = client.get("/api/v1/users/risk_owner-beta/sessions", headers=admin).json()
    assert len(listed) == 2 and not any(s["current"] for s in listed)
    for user in ("customer-alpha", "soc_analyst", "authority"):
        headers = world[user].headers
        assert (
            client.get("/api/v1/users/risk_owner-beta/sessions", headers=headers).status_code == 403
        )
        assert (
            client.delete("/api/v1/users/risk_owner-beta/sessions", headers=headers).status_code
            == 403
        )
    assert client.delete("/api/v1/users/risk_owner-beta/sessions", headers=admin).json() == {
        "ended": 2
    }
    for headers in (second, world["risk_owner-beta"].headers):
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    assert client.get("/api/v1/users/nobody/sessions", headers=admin).status_code == 404
    # Signing in again works as before.
    assert (
        client.get(
            "/api/v1/auth/me", headers=bearer(sign_in(client, "risk_owner-beta", "x"))
        ).status_code
        == 200
    )
