"""The admin console pages: who may open them, each form's change (CSRF, 303), secrets shown
once, the one-step onboarding from the form, and the Dutch and English text."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from soc.services import Services
from tenants.models import Tenant, User
from tests.cases.test_queue_pages import signed
from tests.conftest import World
from tests.helpers import form_csrf, key_headers, ndjson, whoami_event

PAGES = (
    "/admin",
    "/admin/tenants",
    "/admin/users",
    "/admin/keys",
    "/admin/providers",
    "/admin/onboard",
)
HTML = {"Accept": "text/html"}


def secrets_of(page: str) -> dict[str, str]:
    """The label -> value pairs of a page that shows secrets once."""
    pairs = re.findall(r"<dt>([^<]*)</dt><dd><code>([^<]*)</code></dd>", page)
    return {html.unescape(k): html.unescape(v) for k, v in pairs}


def can_login(client: TestClient, username: str, password: str) -> bool:
    answer = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    return answer.status_code == 200


def post(client: TestClient, path: str, data: dict[str, str], page: str = "/admin"):
    csrf = form_csrf(client.get(page).text)
    return client.post(path, data={**data, "csrf": csrf}, follow_redirects=False)


def test_admin_sees_every_page_and_the_log_sources(client: TestClient, world: World) -> None:
    client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("alpha-dc-1")),
        headers=key_headers(world.keys["alpha"]),
    )
    signed(client, world, "admin")
    for path in PAGES:
        answer = client.get(path, headers=HTML)
        assert answer.status_code == 200, path
        assert 'aria-current="page"' in answer.text
    home = client.get("/admin").text
    assert "Log sources per tenant" in home
    row = re.search(r'<tr data-tenant="alpha">(.*?)</tr>', home, re.S)
    assert row and "alpha-dc-1" in row.group(1) and "sending" in row.group(1)
    beta = re.search(r'<tr data-tenant="beta">(.*?)</tr>', home, re.S)
    assert beta and "No events in the last 30 days." in beta.group(1)


def test_admin_home_lists_declared_sources_and_uncovered_hosts(
    client: TestClient, world: World
) -> None:
    for host in ("alpha-dc-1", "alpha-web-7"):
        client.post(
            "/api/v1/ingest",
            content=ndjson(whoami_event(host)),
            headers=key_headers(world.keys["alpha"]),
        )
    declared = client.post(
        "/api/v1/log-sources",
        json={"name": "Domain controllers", "kind": "windows", "host_pattern": "alpha-dc-*",
              "tenant": "alpha"},
        headers=world["admin"].headers,
    )  # fmt: skip
    assert declared.status_code == 201, declared.text
    signed(client, world, "admin")
    home = client.get("/admin").text
    row = re.search(rf'<tr data-source="{declared.json()["id"]}">(.*?)</tr>', home, re.S)
    assert row and "Domain controllers" in row.group(1) and "alpha-dc-*" in row.group(1)
    assert "sending" in row.group(1) and "alpha" in row.group(1)
    assert 'data-unknown="alpha-web-7"' in home and 'data-unknown="alpha-dc-1"' not in home
    dutch = client.get("/admin?lang=nl").text
    assert "Aangemelde logbronnen" in dutch


def test_others_get_the_html_403_page_in_their_language(client: TestClient, world: World) -> None:
    for user in ("soc_analyst", "customer-alpha", "finance", "authority"):
        signed(client, world, user)
        for path in PAGES:
            answer = client.get(path, headers=HTML)
            assert answer.status_code == 403, (user, path)
            assert "The admin console is for administrators." in answer.text
            assert "text/html" in answer.headers["content-type"]
    signed(client, world, "soc_analyst")
    dutch = client.get("/admin?lang=nl", headers=HTML)
    assert dutch.status_code == 403
    assert "The admin console is for administrators." not in dutch.text
    assert "De beheerconsole is voor beheerders." in dutch.text
    assert 'lang="nl"' in dutch.text
    # A forged form from an analyst changes nothing either.
    refused = client.post("/admin/tenants", data={"slug": "x", "name": "X", "csrf": "nope"})
    assert refused.status_code == 403
    client.cookies.clear()
    assert client.get("/admin", follow_redirects=False).status_code == 303


def test_dutch_and_english_text(client: TestClient, world: World) -> None:
    signed(client, world, "admin")
    english = client.get("/admin?lang=en").text
    dutch = client.get("/admin?lang=nl").text
    assert "Onboard a tenant" in english and "Log sources per tenant" in english
    assert "Onboard a tenant" not in dutch and "Log sources per tenant" not in dutch
    assert 'lang="nl"' in dutch
    assert "Logbronnen per klant" in dutch and "Een klant onboarden" in dutch


def test_tenant_forms(client: TestClient, world: World, services: Services) -> None:
    signed(client, world, "admin")
    made = post(
        client, "/admin/tenants", {"slug": "delta", "name": "Delta", "retention_days": "60"}
    )
    assert made.status_code == 303
    assert "message=" in made.headers["location"]
    edited = post(client, "/admin/tenants/delta", {"name": "Delta NV", "retention_days": "30"})
    assert edited.status_code == 303
    with services.db.session() as session:
        delta = session.scalar(select(Tenant).where(Tenant.slug == "delta"))
        assert delta is not None and (delta.name, delta.retention_days) == ("Delta NV", 30)
    taken = post(client, "/admin/tenants", {"slug": "delta", "name": "Again"})
    assert taken.status_code == 303 and "error=" in taken.headers["location"]
    shown = client.get(taken.headers["location"]).text
    assert 'id="admin-error"' in shown and "already exists" in shown
    # The same refusal on a Dutch page is in Dutch: the error's template, its values put back.
    client.get("/admin?lang=nl")
    again = post(client, "/admin/tenants", {"slug": "delta", "name": "Opnieuw"})
    dutch = client.get(again.headers["location"]).text
    assert "klant &#39;delta&#39; bestaat al" in dutch or "klant 'delta' bestaat al" in dutch
    client.get("/admin?lang=en")
    bad = post(client, "/admin/tenants/delta", {"retention_days": "400"})
    assert "error=" in bad.headers["location"]
    forged = client.post("/admin/tenants", data={"slug": "eps", "name": "E", "csrf": "forged"})
    assert forged.status_code == 403
    with services.db.session() as session:
        assert session.scalar(select(Tenant).where(Tenant.slug == "eps")) is None


def test_user_forms_create_disable_and_reset(client: TestClient, world: World) -> None:
    signed(client, world, "admin")
    made = post(
        client, "/admin/users", {"username": "alpha-new", "role": "customer", "tenant": "alpha"}
    )
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    first = secrets_of(made.text)["Initial password"]
    assert can_login(client, "alpha-new", first)

    reset = post(client, "/admin/users/alpha-new/password", {})
    assert reset.status_code == 200
    second = secrets_of(reset.text)["New password"]
    assert second != first
    assert not can_login(client, "alpha-new", first)
    assert can_login(client, "alpha-new", second)

    totp = post(client, "/admin/users/alpha-new/totp", {})
    assert len(secrets_of(totp.text)["TOTP secret"]) >= 16
    assert not can_login(client, "alpha-new", second)  # now a TOTP code is required too

    off = post(client, "/admin/users/alpha-new/disable", {})
    assert off.status_code == 303 and "message=" in off.headers["location"]
    listed = client.get("/admin/users?tenant=alpha").text
    row = re.search(r'<tr id="user-alpha-new">(.*?)</tr>', listed, re.S)
    assert row and "disabled" in row.group(1) and "/enable" in row.group(1)
    # The admin cannot lock themselves out.
    self_off = post(client, "/admin/users/admin/disable", {})
    assert "error=" in self_off.headers["location"]


def test_key_and_provider_forms(client: TestClient, world: World) -> None:
    signed(client, world, "admin")
    made = post(client, "/admin/keys", {"tenant": "beta", "name": "syslog"})
    assert made.status_code == 200
    secret = secrets_of(made.text)["Ingest key"]
    sent = client.post(
        "/api/v1/ingest", content=ndjson(whoami_event()), headers=key_headers(secret)
    )
    assert sent.status_code == 200
    keys = client.get("/admin/keys").text
    key_id = re.findall(r'<tr id="key-(\d+)"><td>syslog</td>', keys)[0]
    revoked = post(client, f"/admin/keys/{key_id}/revoke", {})
    assert revoked.status_code == 303
    refused = client.post(
        "/api/v1/ingest", content=ndjson(whoami_event()), headers=key_headers(secret)
    )
    assert refused.status_code == 401

    provider = post(client, "/admin/providers", {"slug": "prov-z", "name": "Zed"})
    assert provider.status_code == 303
    assert 'id="provider-prov-z"' in client.get("/admin/providers").text


def test_onboarding_form_then_the_key_ingests(
    client: TestClient, world: World, services: Services
) -> None:
    signed(client, world, "admin")
    csrf = form_csrf(client.get("/admin/onboard").text)
    done = client.post(
        "/admin/onboard",
        data={
            "csrf": csrf,
            "slug": "omega",
            "name": "Omega BV",
            "retention_days": "120",
            "plan": "enterprise",
            "ceiling": "900,50",
            "disable_level": ["informational", "high"],
            "portal_users": "omega-ann\nomega-bob\n",
        },
        follow_redirects=False,
    )
    assert done.status_code == 200, done.text
    shown = secrets_of(done.text)
    assert set(shown) >= {"Ingest key", "Password of omega-ann", "Password of omega-bob"}
    sent = client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("om-1")),
        headers=key_headers(shown["Ingest key"]),
    )
    assert sent.status_code == 200 and sent.json()["accepted"] == 1
    assert can_login(client, "omega-ann", shown["Password of omega-ann"])

    # Again with the same slug: an error on the form, and no half-made users.
    again = client.post(
        "/admin/onboard",
        data={"csrf": csrf, "slug": "omega", "name": "Omega 2", "portal_users": "omega-cid"},
        follow_redirects=False,
    )
    assert again.status_code == 303 and again.headers["location"].startswith(
        "/admin/onboard?error="
    )
    with services.db.session() as session:
        assert session.scalar(select(User).where(User.username == "omega-cid")) is None
    # A later failure (a taken username) leaves no tenant behind either.
    late = client.post(
        "/admin/onboard",
        data={"csrf": csrf, "slug": "sigma", "name": "Sigma", "portal_users": "omega-ann"},
        follow_redirects=False,
    )
    assert "error=" in late.headers["location"]
    with services.db.session() as session:
        assert session.scalar(select(Tenant).where(Tenant.slug == "sigma")) is None
