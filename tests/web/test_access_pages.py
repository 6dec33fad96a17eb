"""The pages of people and access: a tenant administrator lands on its users' page, creates
users of its own tenant only with the roles it may grant, in English and Dutch; the access
overview page; one's own sessions page, ending a session."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from soc.core.principal import Principal, Scope
from soc.services import Services
from soc.web.shell import landing_for, nav_for
from tenants.models import User
from tests.cases.test_queue_pages import signed
from tests.conftest import World
from tests.helpers import form_csrf
from tests.tenants.test_admin_pages import secrets_of
from tests.tenants.test_tenant_admin import make_tenant_admin

HTML = {"Accept": "text/html"}


def as_cookie(client: TestClient, headers: dict[str, str]) -> None:
    client.cookies.clear()
    client.cookies.set("soc_session", headers["Authorization"].removeprefix("Bearer "))


def post(client: TestClient, path: str, data: dict[str, str], page: str):
    csrf = form_csrf(client.get(page).text)
    return client.post(path, data={**data, "csrf": csrf}, follow_redirects=False)


def exists(services: Services, username: str) -> bool:
    with services.db.session() as session:
        return session.scalar(select(User).where(User.username == username)) is not None


def test_the_tenant_admin_lands_on_its_page_with_its_menu() -> None:
    local = Principal("user:ta", "tenant_admin", 9, Scope.of_tenants(1))
    assert landing_for(local) == "/team"
    assert {i["href"] for i in nav_for(local, "en")} == {"/team", "/access"}
    words = {i["href"]: i["label"] for i in nav_for(local, "nl")}
    assert words == {"/team": "Onze gebruikers", "/access": "Toegangsoverzicht"}
    admin = Principal("user:admin", "admin")
    assert "/access" in {i["href"] for i in nav_for(admin, "en")}
    customer = Principal("user:c", "customer", 3, Scope.of_tenants(1))
    assert not {"/team", "/access"} & {i["href"] for i in nav_for(customer, "en")}


def test_the_team_page_creates_only_what_the_tenant_admin_may(
    client: TestClient, world: World, services: Services
) -> None:
    local = make_tenant_admin(client, world, "alpha", "ta-alpha")
    as_cookie(client, local)
    page = client.get("/team", headers=HTML)
    assert page.status_code == 200
    assert 'id="member-customer-alpha"' in page.text and "customer-beta" not in page.text
    roles = set(re.findall(r'<option value="([a-z_]+)"', page.text))
    assert roles == {"customer", "risk_owner", "tenant_admin"}
    dutch = client.get("/team?lang=nl", headers=HTML).text
    assert "Onze gebruikers" in dutch and "Nieuwe gebruiker" in dutch
    client.get("/team?lang=en", headers=HTML)  # the language is remembered: back to English

    # A role above its own, or another tenant: refused with the reason, nothing created.
    above = post(
        client, "/team/alpha/members", {"username": "pg-x", "role": "soc_analyst"}, "/team"
    )
    assert above.status_code == 303 and "error=" in above.headers["location"]
    other = post(client, "/team/beta/members", {"username": "pg-y", "role": "customer"}, "/team")
    assert other.status_code == 303 and "error=" in other.headers["location"]
    assert not exists(services, "pg-x") and not exists(services, "pg-y")
    shown = client.get(above.headers["location"], headers=HTML).text
    assert 'id="admin-error"' in shown

    # A customer of its own tenant: the initial password is shown once.
    made = post(client, "/team/alpha/members", {"username": "pg-anna", "role": "customer"}, "/team")
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    assert secrets_of(made.text)["Username"] == "pg-anna"
    assert secrets_of(made.text)["Initial password"]
    with services.db.session() as session:
        anna = session.scalar(select(User).where(User.username == "pg-anna"))
        assert anna is not None and (anna.role, anna.tenant_id) == ("customer", 1)

    # Another tenant's user cannot be acted on through the form either.
    beta = post(client, "/team/beta/members/customer-beta/disable", {}, "/team")
    assert beta.status_code == 303 and "error=" in beta.headers["location"]
    with services.db.session() as session:
        user = session.scalar(select(User).where(User.username == "customer-beta"))
        assert user is not None and user.active
    role = post(client, "/team/alpha/members/pg-anna/role", {"role": "admin"}, "/team")
    assert "error=" in role.headers["location"]
    role = post(client, "/team/alpha/members/pg-anna/role", {"role": "risk_owner"}, "/team")
    assert "message=" in role.headers["location"]

    # The access overview of its tenant only; a customer gets the HTML 403 page.
    overview = client.get("/access", headers=HTML).text
    assert 'id="access-pg-anna"' in overview and "customer-beta" not in overview
    assert 'id="approvers-alpha"' in overview and 'id="approvers-beta"' not in overview
    signed(client, world, "customer-alpha")
    refused = client.get("/access", headers=HTML)
    assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
    assert client.get("/team", headers=HTML).status_code == 403


def test_the_admin_opens_any_tenants_team_page_and_the_overview(
    client: TestClient, world: World
) -> None:
    signed(client, world, "admin")
    assert "Choose the tenant" in client.get("/team", headers=HTML).text
    beta = client.get("/team?tenant=beta", headers=HTML).text
    assert 'id="member-customer-beta"' in beta and "customer-alpha" not in beta
    overview = client.get("/access?lang=nl", headers=HTML).text
    assert "Toegangsoverzicht" in overview and 'id="access-customer-beta"' in overview
    assert "/api/v1/access?format=csv" in overview
    # The CSV link works with the page's session cookie.
    assert client.get("/api/v1/access?format=csv").status_code == 200


def test_my_sessions_page_ends_a_session(client: TestClient, world: World) -> None:
    signed(client, world, "customer-alpha")
    page = client.get("/sessions", headers={**HTML, "User-Agent": "pytest-browser"})
    assert page.status_code == 200 and "This session" in page.text
    assert 'id="who" href="/sessions"' in page.text
    ids = re.findall(r'<tr id="session-(\d+)" class="current"', page.text)
    assert len(ids) == 1
    ended = post(client, f"/sessions/{ids[0]}/end", {}, "/sessions")
    assert ended.status_code == 303
    assert client.get("/api/v1/auth/me", headers=world["customer-alpha"].headers).status_code == 401
    assert client.get("/sessions", headers=HTML, follow_redirects=False).status_code == 303
    assert "Mijn sessies" in _dutch_sessions(client, world)


def _dutch_sessions(client: TestClient, world: World) -> str:
    signed(client, world, "customer-beta")
    return client.get("/sessions?lang=nl", headers=HTML).text
