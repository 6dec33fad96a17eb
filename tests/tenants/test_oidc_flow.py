"""OpenID Connect sign-in against the real local provider (deploy/oidc.sh: `oidc-provider`
from npm): the code flow with PKCE over HTTP, the claims' mapping to a role and tenant, the
"no access" answer, the ID token's checks on tokens the provider itself signed, tampered, and
the logout at the provider. The browser journey is tests/web/test_oidc_browser.py."""

from __future__ import annotations

import base64
import html
import os
import re
import time
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select

from soc.core.audit import AuditEntry
from soc.core.settings import Settings
from soc.services import Services
from soc.web.pages import form_token
from tenants import oidc
from tenants.models import OidcIdentity, User
from tenants.oidc_config import IdentityProvider, providers
from tests.conftest import World
from tests.helpers import key_headers, ndjson, whoami_event
from tests.services import service_url

# The callback's public base: the provider's client is "native", so any loopback port
# matches its registered http://127.0.0.1/ URIs (the test client itself is not contacted).
BASE = "http://127.0.0.1:8123"


def idp_config(issuer: str, secret: str, tenant_a: str, tenant_b: str) -> dict[str, Any]:
    """The provider of deploy/oidc (client "soc"), its users' groups mapped as in the README."""
    return {
        "name": "testidp",
        "display_name": "Test IdP",
        "issuer": issuer,
        "client_id": "soc",
        "client_secret": secret,
        "scopes": ["openid", "profile", "email", "groups"],
        "claim": "groups",
        "mappings": [
            {"value": "soc-test-customer-a", "role": "customer", "tenant": tenant_a},
            {"value": "soc-test-customer-b", "role": "customer", "tenant": tenant_b},
            {"value": "soc-test-analysts", "role": "soc_analyst"},
        ],
    }


def issuer_and_secret() -> tuple[str, str]:
    issuer = service_url("oidc")
    return issuer, os.environ.get("SOC_TEST_OIDC_CLIENT_SECRET", "soc-test-secret")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    issuer, secret = issuer_and_secret()
    return settings.model_copy(
        update={
            "oidc_providers": [idp_config(issuer, secret, "alpha", "beta")],
            "oidc_redirect_base_url": BASE,
        }
    )


@pytest.fixture
def idp(settings: Settings) -> IdentityProvider:
    return providers(settings)[0]


def at_provider(authorize_url: str, login: str) -> str:
    """Sign `login` in at the provider's own login form (over HTTP, as a browser would) and
    return the callback URL it sends the browser back to."""
    with httpx.Client(timeout=10) as browser:
        url = authorize_url
        for _ in range(12):
            answer = browser.get(url)
            while answer.is_redirect:
                url = urljoin(url, answer.headers["location"])
                if url.startswith(BASE):
                    return url
                answer = browser.get(url)
            form = re.search(r'<form[^>]*action="([^"]+)"', answer.text)
            assert form, answer.text[:500]
            fields = dict(
                re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', answer.text)
            )
            answer = browser.post(
                urljoin(url, form.group(1)), data={**fields, "login": login, "password": "any"}
            )
            assert answer.is_redirect, answer.text[:500]
            url = urljoin(url, answer.headers["location"])
            if url.startswith(BASE):
                return url
    raise AssertionError("the provider never sent the browser back")


def sign_in(client: TestClient, login: str) -> httpx.Response:
    """The whole journey: soc's login link, the provider, soc's callback."""
    started = client.get("/oidc/testidp/login", follow_redirects=False)
    assert started.status_code == 303, started.text
    back = at_provider(started.headers["location"], login)
    parts = urlsplit(back)
    return client.get(f"{parts.path}?{parts.query}", follow_redirects=False)


def raise_case(client: TestClient, world: World, tenant: str, host: str) -> None:
    answer = client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event(host)),
        headers=key_headers(world.keys[tenant]),
    )
    assert answer.status_code == 200, answer.text


def audit_actions(services: Services, action: str) -> list[dict[str, Any]]:
    with services.db.session() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return [orjson.loads(r.detail) for r in rows]


def test_claims_map_to_the_customer_of_one_tenant(
    client: TestClient, world: World, services: Services
) -> None:
    raise_case(client, world, "alpha", "oidc-alpha-host")
    raise_case(client, world, "beta", "oidc-beta-host")
    answer = sign_in(client, "customer-a")
    assert answer.status_code == 200, answer.text
    assert "url=/portal" in answer.text  # the customer's start page, same-site navigation
    cases = client.get("/api/v1/cases").json()["items"]  # with the new session cookie
    hosts = {c["host"] for c in cases}
    assert "oidc-alpha-host" in hosts and "oidc-beta-host" not in hosts
    assert client.get("/api/v1/auth/me").json()["role"] == "customer"
    with services.db.session() as session:
        user = session.scalars(select(User).where(User.auth_source == "oidc")).one()
        assert (user.username, user.email) == ("customer-a", "customer-a@a.example")
        identity = session.scalars(select(OidcIdentity)).one()
        assert (identity.subject, identity.user_id, identity.provider) == (
            "customer-a",
            user.id,
            "testidp",
        )
    logins = audit_actions(services, "user.login")
    assert {"method": "oidc", "provider": "testidp"}.items() <= logins[-1].items()
    # The same person again: the same user, no second one.
    assert sign_in(client, "customer-a").status_code == 200
    with services.db.session() as session:
        users = session.scalars(select(User).where(User.auth_source == "oidc")).all()
        assert [u.id for u in users] == [user.id]


def test_no_mapped_claim_gets_the_no_access_page(client: TestClient, services: Services) -> None:
    answer = sign_in(client, "nobody")
    assert answer.status_code == 403
    assert 'data-reason="no_access"' in answer.text and "No access" in answer.text
    assert "session" not in answer.cookies and "soc_session" not in answer.cookies
    with services.db.session() as session:
        assert session.scalars(select(User).where(User.auth_source == "oidc")).all() == []
    refused = audit_actions(services, "user.oidc_refused")
    assert refused[-1]["reason"] == "no_access" and refused[-1]["values"] == ["staff"]
    dutch = client.get("/oidc/testidp/login?lang=nl", follow_redirects=False)
    parts = urlsplit(at_provider(dutch.headers["location"], "nobody"))
    nl = client.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    assert nl.status_code == 403 and "Geen toegang" in nl.text


def test_logout_ends_the_session_and_goes_to_the_providers_end_session(
    client: TestClient, world: World, settings: Settings
) -> None:
    assert sign_in(client, "analyst").status_code == 200
    token = client.cookies.get("soc_session") or next(iter(client.cookies.values()))
    assert client.get("/api/v1/auth/me").status_code == 200
    answer = client.post("/logout", data={"csrf": form_token(token)}, follow_redirects=False)
    # The browser goes on to the provider (a page's navigation: CSP form-action 'self' would
    # stop a redirect of the sign-out form).
    assert answer.status_code == 200, answer.text
    found = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', answer.text)
    assert found, answer.text
    location = html.unescape(found.group(1))
    assert "soc_session=" in answer.headers["set-cookie"]  # the cookie is cleared
    target = urlsplit(location)
    issuer = settings.oidc_providers[0]["issuer"]
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{issuer}/session/end"
    query = parse_qs(target.query)
    assert query["post_logout_redirect_uri"] == [f"{BASE}/"] and query["client_id"] == ["soc"]
    assert query["id_token_hint"][0].count(".") == 2
    assert (
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    # The provider accepts the request: its sign-out confirmation, not an error page.
    confirm = httpx.get(location, timeout=10)
    assert confirm.status_code == 200 and "logout" in confirm.text.lower()


def test_a_local_session_logs_out_locally(client: TestClient, world: World) -> None:
    token = world["admin"].token
    client.cookies.set("soc_session", token)
    answer = client.post("/logout", data={"csrf": form_token(token)}, follow_redirects=False)
    assert answer.headers["location"] == "/"


def test_a_changed_state_or_a_missing_flow_is_refused(
    client: TestClient, services: Services
) -> None:
    started = client.get("/oidc/testidp/login", follow_redirects=False)
    back = urlsplit(at_provider(started.headers["location"], "customer-a"))
    query = parse_qs(back.query)
    forged = client.get(f"{back.path}?code={query['code'][0]}&state=other", follow_redirects=False)
    assert forged.status_code == 401 and 'data-reason="state_mismatch"' in forged.text
    # A refusal ends the flow (its cookie goes): the next check starts a new one.
    again = client.get("/oidc/testidp/login", follow_redirects=False)
    back = urlsplit(at_provider(again.headers["location"], "customer-a"))
    assert "iss=" in back.query  # the provider names itself in its answer (RFC 9207)
    mixed = client.get(f"{back.path}?{back.query.replace('iss=', 'iss=x')}", follow_redirects=False)
    assert mixed.status_code == 401, mixed.text
    assert re.search(r"data-reason=\"(\w+)\"", mixed.text).group(1) == "issuer_mismatch"
    client.cookies.clear()
    lost = client.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert lost.status_code == 401 and 'data-reason="no_flow"' in lost.text
    reasons = [d["reason"] for d in audit_actions(services, "user.oidc_refused")]
    assert reasons[-2:] == ["state_mismatch", "issuer_mismatch"]  # no flow: not audited


# --- the ID token's checks, on tokens the real provider signed --------------------------


@pytest.fixture(scope="module")
def real_token() -> tuple[IdentityProvider, oidc.Flow, dict[str, Any]]:
    """A token set the provider issued for a real code flow (module-wide: one sign-in)."""
    issuer, secret = issuer_and_secret()
    provider = IdentityProvider.model_validate(idp_config(issuer, secret, "alpha", "beta"))
    url, flow = oidc.start(provider, f"{BASE}/oidc/testidp/callback")
    assert "code_challenge_method=S256" in url and "nonce=" in url
    back = parse_qs(urlsplit(at_provider(url, "customer-a")).query)
    assert back["state"] == [flow.state]
    return provider, flow, oidc.exchange(provider, flow, back["code"][0])


def check(
    provider: IdentityProvider, token: str, *, nonce: str, client_id: str = "soc", **kw: Any
) -> dict[str, Any]:
    return oidc.validate_id_token(
        token,
        keys=oidc.key_set(provider),
        issuer=provider.issuer,
        client_id=client_id,
        nonce=nonce,
        skew_seconds=60,
        **kw,
    )


def test_the_providers_token_holds(real_token: Any) -> None:
    provider, flow, token = real_token
    claims = check(provider, token["id_token"], nonce=flow.nonce)
    assert claims["sub"] == "customer-a" and claims["groups"] == ["soc-test-customer-a", "staff"]


def _refusal(call: Any) -> str:
    with pytest.raises(oidc.OidcRefused) as caught:
        call()
    return caught.value.reason


def test_a_tampered_id_token_is_refused(real_token: Any) -> None:
    provider, flow, token = real_token
    header, payload, signature = token["id_token"].split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    # A claim changed under the provider's signature.
    forged = base64.urlsafe_b64encode(orjson.dumps({**claims, "groups": ["soc-test-analysts"]}))
    edited = f"{header}.{forged.decode().rstrip('=')}.{signature}"
    assert _refusal(lambda: check(provider, edited, nonce=flow.nonce)) == "bad_signature"
    # The signature itself changed.
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    broken = f"{header}.{payload}.{flipped}"
    assert _refusal(lambda: check(provider, broken, nonce=flow.nonce)) == "bad_signature"
    # Meant for another client, or for another sign-in.
    assert (
        _refusal(lambda: check(provider, token["id_token"], nonce=flow.nonce, client_id="other"))
        == "invalid_aud"
    )
    assert _refusal(lambda: check(provider, token["id_token"], nonce="other")) == "invalid_nonce"
    assert _refusal(lambda: check(provider, token["id_token"], nonce="")) == "invalid_nonce"
    # Read after it expired, past the tolerated clock skew; within the skew it still holds.
    assert (
        _refusal(
            lambda: check(provider, token["id_token"], nonce=flow.nonce, now=claims["exp"] + 61)
        )
        == "expired"
    )
    assert check(provider, token["id_token"], nonce=flow.nonce, now=claims["exp"] + 59)


def test_a_token_signed_by_another_key_or_issuer_is_refused(real_token: Any) -> None:
    provider, flow, token = real_token
    claims = check(provider, token["id_token"], nonce=flow.nonce)
    provider_kid = oidc.key_set(provider)["keys"][0]["kid"]
    stranger = RSAKey.generate_key(2048)
    for kid, reason in ((provider_kid, "bad_signature"), ("not-the-providers", "unknown_key")):
        signed = jwt.encode({"alg": "RS256", "kid": kid}, claims, stranger)
        assert _refusal(lambda signed=signed: check(provider, signed, nonce=flow.nonce)) == reason
    # An unsigned token ("alg": "none") is never accepted.
    head = base64.urlsafe_b64encode(b'{"alg":"none"}').decode().rstrip("=")
    body = base64.urlsafe_b64encode(orjson.dumps(claims)).decode().rstrip("=")
    assert _refusal(lambda: check(provider, f"{head}.{body}.", nonce=flow.nonce)) == "bad_signature"
    # The provider's own signature, but another issuer named in the claims cannot be made:
    # check it the other way round, expecting another issuer.
    other = provider.model_copy(update={"issuer": "https://elsewhere.example"})
    assert (
        _refusal(
            lambda: oidc.validate_id_token(
                token["id_token"],
                keys=oidc.key_set(provider),
                issuer=other.issuer,
                client_id="soc",
                nonce=flow.nonce,
                skew_seconds=60,
            )
        )
        == "invalid_iss"
    )
    assert time.time() < claims["exp"]
