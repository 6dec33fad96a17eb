"""Browser-facing defences: the same-origin check and CSRF tokens on cookie writes and on
sign-in, the cookie ignored behind any Authorization header, security headers everywhere."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from soc.app import create_app
from soc.core.settings import Settings
from soc.services import Services
from tests.conftest import PASSWORD, World
from tests.helpers import form_csrf, key_headers, ndjson, whoami_event

EVIL = {"Origin": "https://evil.example"}


@pytest.fixture
def db_backend() -> str:
    return "sqlite"  # nothing here depends on the database engine


def _case(client: TestClient, world: World) -> int:
    answer = client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("csrf-1")),
        headers=key_headers(world.keys["alpha"]),
    )
    assert answer.status_code == 200, answer.text
    return client.get("/api/v1/cases", headers=world["admin"].headers).json()["items"][0]["id"]


def _comments(client: TestClient, world: World, case_id: int) -> list[str]:
    timeline = client.get(f"/api/v1/cases/{case_id}/timeline", headers=world["admin"].headers)
    return [e["detail"].get("text", "") for e in timeline.json() if e["kind"] == "comment"]


def test_a_junk_authorization_header_does_not_unlock_cookie_writes(
    client: TestClient, world: World
) -> None:
    """The same-origin check used to skip any request with an Authorization header, while the
    cookie still authenticated it: a cross-site form cannot set that header, but a sibling
    page's fetch can, and the web pages never looked at the header at all."""
    case_id = _case(client, world)
    client.cookies.set("soc_session", world["soc_analyst"].token)
    csrf = form_csrf(client.get(f"/cases/{case_id}").text)
    for junk in ("junk", "Bearer junk", "Basic eDp5"):
        web = client.post(
            f"/cases/{case_id}/comment",
            data={"text": f"web {junk}", "csrf": csrf},
            headers=EVIL | {"Authorization": junk},
            follow_redirects=False,
        )
        assert web.status_code == 403, junk
        api = client.post(
            f"/api/v1/cases/{case_id}/comments",
            json={"text": f"api {junk}"},
            headers=EVIL | {"Authorization": junk},
        )
        assert api.status_code == 401, junk  # the cookie is not used behind the header
    assert _comments(client, world, case_id) == []
    # A real bearer token still works from anywhere (no cookie semantics involved).
    client.cookies.clear()
    ok = client.post(
        f"/api/v1/cases/{case_id}/comments",
        json={"text": "bearer"},
        headers=EVIL | world["soc_analyst"].headers,
    )
    assert ok.status_code in (200, 201), ok.text


def test_case_forms_need_the_session_token(client: TestClient, world: World) -> None:
    case_id = _case(client, world)
    client.cookies.set("soc_session", world["customer-alpha"].token)
    other_session = form_csrf(client.get(f"/cases/{case_id}").text)
    client.cookies.set("soc_session", world["soc_analyst"].token)
    csrf = form_csrf(client.get(f"/cases/{case_id}").text)
    assert csrf != other_session
    for token in ("", "0" * 64, other_session):
        forged = client.post(
            f"/cases/{case_id}/comment",
            data={"text": f"forged {token}", "csrf": token},
            follow_redirects=False,
        )
        assert forged.status_code == 403 and "another site" in forged.text
    assert client.post("/logout", data={"csrf": ""}, follow_redirects=False).status_code == 403
    done = client.post(
        f"/cases/{case_id}/comment", data={"text": "real", "csrf": csrf}, follow_redirects=False
    )
    assert done.status_code == 303 and "error" not in done.headers["location"]
    assert _comments(client, world, case_id) == ["real"]


def test_sign_in_needs_this_site_and_its_form_token(client: TestClient, world: World) -> None:
    """Login CSRF: another site must not sign a browser into an account of its choosing."""
    form = {"username": "customer-alpha", "password": PASSWORD}
    cross = client.post("/login", data=form, headers=EVIL, follow_redirects=False)
    assert cross.status_code == 403
    csrf = form_csrf(client.get("/").text)
    cross = client.post("/login", data=form | {"csrf": csrf}, headers=EVIL)
    assert cross.status_code == 403 and "soc_session" not in client.cookies
    missing = client.post("/login", data=form, follow_redirects=False)
    assert missing.status_code == 403 and "soc_session" not in missing.cookies
    wrong = client.post("/login", data=form | {"csrf": "x" * 43}, follow_redirects=False)
    assert wrong.status_code == 403 and "another site" in wrong.text
    csrf = form_csrf(wrong.text)  # the refusal page carries a usable form
    signed_in = client.post(
        "/login",
        data=form | {"csrf": csrf},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303 and "soc_session" in signed_in.cookies


def _no_inline_code(html: str) -> bool:
    return "<style" not in html and not re.search(r"<script(?![^>]*\bsrc=)", html)


def test_security_headers_on_every_answer(client: TestClient, world: World) -> None:
    client.cookies.set("soc_session", world["soc_analyst"].token)
    answers = [
        client.get("/"),
        client.get("/cases"),
        client.get("/static/app.js"),
        client.get("/api/v1/health"),
        client.get("/api/v1/no-such-route"),
        client.get("/api/v1/cases", headers={"Authorization": "junk"}),  # 401
        client.post("/logout", headers=EVIL),  # 403 from the same-origin check
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 404, 401, 403]
    for answer in answers:
        csp = answer.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "cdn" not in csp
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
        assert "strict-transport-security" not in answer.headers  # no TLS promised
    assert _no_inline_code(answers[1].text)  # the strict policy does not break the pages
    assert answers[2].headers["content-type"].startswith("text/javascript")
    assert client.get("/static/app.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/../pages.py").status_code == 404
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn.jsdelivr.net" not in docs.text  # offline docs
    docs_csp = docs.headers["content-security-policy"]
    assert "script-src 'self';" in docs_csp and "frame-ancestors 'none'" in docs_csp
    assert "https:" not in client.get("/redoc").headers["content-security-policy"]


def test_hsts_only_with_secure_cookies(settings: Settings, services: Services) -> None:
    services.settings = settings.model_copy(update={"session_cookie_secure": True})
    with TestClient(create_app(services.settings, services)) as client:
        for path in ("/", "/api/v1/health", "/docs"):
            assert client.get(path).headers["strict-transport-security"] == "max-age=31536000"
