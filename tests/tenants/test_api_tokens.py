"""Integrations' API tokens end to end through the API, the page and the CLI: shown once and
kept as a hash, acting as their user cut to their scopes, expiring, revocable, stopped with
their user, last use written at most once a minute. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from soc.cli import app as cli_app
from soc.core.db import Database, utcnow
from soc.core.principal import SYSTEM
from soc.core.settings import get_settings
from soc.services import Services
from tenants import api_tokens
from tenants import service as tenant_service
from tenants.api_tokens_model import ApiToken
from tenants.security import sha256_hex
from tests.conftest import World
from tests.helpers import key_headers, ndjson, whoami_event

OWN = "/api/v1/auth/api-tokens"
ALL = "/api/v1/api-tokens"

# The token routes' tenant isolation: a token is its owner's alone (test_others_tokens_are_
# not_found and test_admin_lists_and_revokes_every_token); the scope list is the same for all.
ISOLATION_COVERED = {
    ("DELETE", "/api/v1/auth/api-tokens/{token_id}"),
    ("DELETE", "/api/v1/api-tokens/{token_id}"),
    ("GET", "/api/v1/auth/api-token-scopes"),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make(
    client: TestClient, world: World, user: str, scopes: list[str], days: int = 30
) -> dict[str, object]:
    answer = client.post(
        OWN,
        json={"name": f"{user} robot", "scopes": scopes, "expires_days": days},
        headers=world[user].headers,
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def ingest_one_case_each(client: TestClient, world: World) -> dict[str, int]:
    for tenant in ("alpha", "beta"):
        answer = client.post(
            "/api/v1/ingest",
            content=ndjson(whoami_event(f"{tenant}-host")),
            headers=key_headers(world.keys[tenant]),
        )
        assert answer.status_code in (200, 202), answer.text
    cases = client.get("/api/v1/cases", headers=world["admin"].headers).json()["items"]
    return {("alpha" if c["tenant_id"] == 1 else "beta"): c["id"] for c in cases}


def stored(services: Services, token_id: int) -> ApiToken:
    with services.db.read_session() as session:
        row = session.get(ApiToken, token_id)
        assert row is not None
        return row


def test_shown_once_kept_as_hash_and_listed_with_last_use(
    client: TestClient, world: World, services: Services
) -> None:
    made = make(client, world, "customer-alpha", ["cases:read", "billing:read"])
    secret = str(made["token"])
    assert secret.startswith("soct_") and made["prefix"] == secret[:12]
    assert made["scopes"] == ["cases:read", "billing:read"] and made["state"] == "active"
    row = stored(services, int(str(made["id"])))
    assert row.token_hash == sha256_hex(secret) and secret not in repr(vars(row))
    listed = client.get(OWN, headers=world["customer-alpha"].headers).json()
    assert [t["id"] for t in listed] == [made["id"]]
    assert "token" not in listed[0] and secret not in str(listed)
    assert listed[0]["last_used_at"] is None

    assert client.get("/api/v1/cases", headers=bearer(secret)).status_code == 200
    first = stored(services, row.id).last_used_at
    assert first is not None
    # A second call within the minute writes nothing (the throttle), a call after it does.
    assert client.get("/api/v1/cases", headers=bearer(secret)).status_code == 200
    assert stored(services, row.id).last_used_at == first
    assert not api_tokens.record_use(services.db, row.id, first + timedelta(seconds=30))
    assert api_tokens.record_use(services.db, row.id, first + timedelta(seconds=61))
    assert stored(services, row.id).last_used_at == first + timedelta(seconds=61)
    shown = client.get(OWN, headers=world["customer-alpha"].headers).json()[0]
    assert shown["last_used_at"] is not None


def test_a_token_acts_as_its_user_cut_to_its_scopes(
    client: TestClient, world: World, services: Services
) -> None:
    cases = ingest_one_case_each(client, world)
    reader = str(make(client, world, "customer-alpha", ["cases:read"])["token"])
    writer = str(make(client, world, "customer-alpha", ["cases:write"])["token"])
    seen = client.get("/api/v1/cases", headers=bearer(reader)).json()["items"]
    assert {c["id"] for c in seen} == {cases["alpha"]}  # the user's tenant only
    assert client.get(f"/api/v1/cases/{cases['beta']}", headers=bearer(writer)).status_code == 404
    comment = {"text": "seen by the integration"}
    path = f"/api/v1/cases/{cases['alpha']}/comments"
    assert client.post(path, json=comment, headers=bearer(reader)).status_code == 403  # scope
    assert client.post(path, json=comment, headers=bearer(writer)).status_code == 201
    # The scope opens the route, the role still decides: customers do not assign cases.
    assign = client.post(
        f"/api/v1/cases/{cases['alpha']}/assign",
        json={"provider": "prov-a"},
        headers=bearer(writer),
    )
    assert assign.status_code == 403
    # No scope of this token opens billing, and no scope at all opens the identity routes.
    assert client.get("/api/v1/billing/usage", headers=bearer(writer)).status_code == 403
    assert client.get("/api/v1/auth/me", headers=bearer(writer)).status_code == 403
    # A token is a bearer credential only: as a session cookie it is nobody.
    client.cookies.set("soc_session", writer)
    assert client.get("/api/v1/cases").status_code == 401
    client.cookies.clear()


def test_tokens_cannot_make_or_revoke_tokens(client: TestClient, world: World) -> None:
    made = make(client, world, "admin", ["cases:write", "ingest"])
    secret, token_id = str(made["token"]), made["id"]
    body = {"name": "child", "scopes": ["cases:read"], "expires_days": 1}
    assert client.post(OWN, json=body, headers=bearer(secret)).status_code == 403
    assert client.delete(f"{OWN}/{token_id}", headers=bearer(secret)).status_code == 403
    assert client.get(ALL, headers=bearer(secret)).status_code == 403


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "x", "scopes": ["cases:read"]}, 422),  # no expiry
        ({"name": "x", "scopes": ["cases:read"], "expires_days": 0}, 422),
        ({"name": "x", "scopes": ["cases:read"], "expires_days": 366}, 422),  # over the setting
        ({"name": "x", "scopes": [], "expires_days": 5}, 422),
        ({"name": "x", "scopes": ["cases:delete"], "expires_days": 5}, 422),
        ({"name": " ", "scopes": ["cases:read"], "expires_days": 5}, 422),
        ({"name": "x", "scopes": ["cases:read"], "expires_days": 5, "owner": "admin"}, 422),
    ],
)
def test_bad_requests_are_422(
    client: TestClient, world: World, body: dict[str, object], status: int
) -> None:
    answer = client.post(OWN, json=body, headers=world["customer-alpha"].headers)
    assert answer.status_code == status, answer.text


def test_revoked_expired_and_disabled_stop_at_once(
    client: TestClient, world: World, services: Services
) -> None:
    kept, revoked, expired = (make(client, world, "soc_analyst", ["cases:read"]) for _ in range(3))
    ok = client.get("/api/v1/cases", headers=bearer(str(kept["token"])))
    assert ok.status_code == 200
    gone = client.delete(f"{OWN}/{revoked['id']}", headers=world["soc_analyst"].headers)
    assert gone.status_code == 204
    with services.db.session() as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == expired["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    for made in (revoked, expired):
        refused = client.get("/api/v1/cases", headers=bearer(str(made["token"])))
        assert refused.status_code == 401
    states = {
        t["id"]: t["state"] for t in client.get(OWN, headers=world["soc_analyst"].headers).json()
    }
    assert states == {kept["id"]: "active", revoked["id"]: "revoked", expired["id"]: "expired"}
    with services.db.session() as session:
        tenant_service.set_active(session, SYSTEM, "soc_analyst", False)
    assert client.get("/api/v1/cases", headers=bearer(str(kept["token"]))).status_code == 401


def test_others_tokens_are_not_found(client: TestClient, world: World) -> None:
    beta = make(client, world, "customer-beta", ["cases:read"])
    for user in ("customer-alpha", "admin", "provider-prov-b"):
        answer = client.delete(f"{OWN}/{beta['id']}", headers=world[user].headers)
        assert answer.status_code == 404, user
        mine = client.get(OWN, headers=world[user].headers).json()
        assert beta["id"] not in [t["id"] for t in mine]
    still = client.get("/api/v1/cases", headers=bearer(str(beta["token"])))
    assert still.status_code == 200


def test_admin_lists_and_revokes_every_token(client: TestClient, world: World) -> None:
    beta = make(client, world, "customer-beta", ["cases:read"])
    alpha = make(client, world, "customer-alpha", ["kri:read"])
    for user in ("customer-beta", "soc_analyst", "authority", "provider-prov-b"):
        assert client.get(ALL, headers=world[user].headers).status_code == 403, user
        answer = client.delete(f"{ALL}/{beta['id']}", headers=world[user].headers)
        assert answer.status_code == 403, user
    everyone = client.get(ALL, headers=world["admin"].headers).json()
    assert {t["id"]: t["username"] for t in everyone} == {
        alpha["id"]: "customer-alpha",
        beta["id"]: "customer-beta",
    }
    one = client.get(f"{ALL}?username=customer-beta", headers=world["admin"].headers).json()
    assert [t["id"] for t in one] == [beta["id"]]
    assert client.get(f"{ALL}?username=nobody", headers=world["admin"].headers).status_code == 404
    assert client.delete(f"{ALL}/{beta['id']}", headers=world["admin"].headers).status_code == 204
    assert client.get("/api/v1/cases", headers=bearer(str(beta["token"]))).status_code == 401
    assert client.delete(f"{ALL}/999999", headers=world["admin"].headers).status_code == 404


def test_scope_catalogue_is_served(client: TestClient, world: World) -> None:
    scopes = client.get("/api/v1/auth/api-token-scopes", headers=world["finance"].headers).json()
    names = [s["name"] for s in scopes]
    assert names[:2] == ["cases:read", "cases:write"] and "status:read" in names
    assert {"name", "description", "tags", "write"} <= set(scopes[0])


def test_the_account_page_creates_lists_and_revokes(
    client: TestClient, world: World, services: Services
) -> None:
    from soc.web.chrome import form_token

    session_token = world["customer-alpha"].token
    client.cookies.set("soc_session", session_token)
    csrf = form_token(session_token)
    page = client.get("/account/api-tokens")
    assert page.status_code == 200 and "cases:write" in page.text
    made = client.post(
        "/account/api-tokens",
        data={"csrf": csrf, "name": "ticket sync", "scopes": ["cases:read"], "expires_days": "7"},
    )
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    secret = made.text.split('id="new-token">')[1].split("<")[0]
    assert secret.startswith("soct_")
    listed = client.get("/account/api-tokens").text
    assert "ticket sync" in listed and secret not in listed
    with services.db.read_session() as session:
        token_id = session.scalar(select(ApiToken.id).where(ApiToken.name == "ticket sync"))
    forged = client.post(f"/account/api-tokens/{token_id}/revoke", data={"csrf": "x"})
    assert forged.status_code == 403
    done = client.post(
        f"/account/api-tokens/{token_id}/revoke", data={"csrf": csrf}, follow_redirects=False
    )
    assert done.status_code == 303
    client.cookies.clear()
    assert client.get("/api/v1/cases", headers=bearer(secret)).status_code == 401
    client.cookies.set("soc_session", session_token)
    refused = client.post(
        "/account/api-tokens",
        data={"csrf": csrf, "name": "x", "scopes": ["cases:read"], "expires_days": "9999"},
        follow_redirects=False,
    )
    assert refused.status_code == 303 and "error=" in refused.headers["location"]


def test_cli_creates_lists_and_revokes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_backend: str
) -> None:
    if db_backend != "sqlite":
        pytest.skip("the CLI's own database: once is enough")
    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        assert runner.invoke(cli_app, ["migrate"]).exit_code == 0
        db = Database(get_settings().sqlalchemy_url)
        with db.session() as session:
            tenant_service.create_user(session, SYSTEM, "robot", "correct-horse-battery", "finance")
        made = runner.invoke(
            cli_app,
            ["tokens", "create", "--user", "robot", "--name", "erp", "--scope", "billing:read"],
        )
        assert made.exit_code == 0, made.output
        secret = made.output.split("(shown once): ")[1].strip()
        with db.read_session() as session:
            row = session.scalar(select(ApiToken))
            assert row is not None and row.token_hash == sha256_hex(secret)
        listed = runner.invoke(cli_app, ["tokens", "list", "--user", "robot"])
        assert "erp" in listed.output and "active" in listed.output and secret not in listed.output
        bad = runner.invoke(
            cli_app, ["tokens", "create", "--user", "robot", "--name", "x", "--scope", "nope"]
        )
        assert bad.exit_code == 1 and "unknown API token scope" in bad.output
        gone = runner.invoke(cli_app, ["tokens", "revoke", "--user", "robot"])
        assert gone.exit_code == 0 and "1 token(s)" in gone.output
        assert "revoked" in runner.invoke(cli_app, ["tokens", "list"]).output
        db.engine.dispose()
    finally:
        get_settings.cache_clear()
