"""Analyst screens (server-rendered): queue with filters, priority and SLA; case detail with
matched fields highlighted; triage actions through forms; Dutch and English."""

from __future__ import annotations

import pyotp
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, World
from tests.helpers import form_csrf, key_headers, ndjson, whoami_event


def sign_in(client: TestClient, world: World, user: str) -> None:
    actor = world[user]
    code = pyotp.TOTP(actor.totp_secret).now() if actor.totp_secret else ""
    csrf = form_csrf(client.get("/").text)
    answer = client.post(
        "/login",
        data={"username": user, "password": PASSWORD, "totp": code, "csrf": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def test_queue_detail_and_triage_forms(client: TestClient, world: World) -> None:
    client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("ws-7", 5, "x"), whoami_event("ws-8", 6, "y")),
        headers=key_headers(world.keys["alpha"]),
    )
    client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("b-1")),
        headers=key_headers(world.keys["beta"]),
    )
    sign_in(client, world, "soc_analyst")
    queue = client.get("/cases")
    assert queue.status_code == 200
    assert "ws-7" in queue.text and 'class="P4"' in queue.text and "data-due=" in queue.text
    filtered = client.get("/cases?q=ws-8&priority=P4")
    assert "ws-8" in filtered.text and "ws-7" not in filtered.text
    assert "b-1" not in client.get("/cases?status=closed").text
    case_id = next(
        c["id"]
        for c in client.get("/api/v1/cases?host=ws-7").json()["items"]  # cookie session
    )
    detail = client.get(f"/cases/{case_id}")
    assert detail.status_code == 200
    assert '<mark class="matched">C:\\Windows\\System32\\whoami.exe</mark>' in detail.text
    assert "whoami /all x" in detail.text and "CommandLine" in detail.text
    csrf = form_csrf(detail.text)
    for path, form in (
        ("assign", {"assignee": "soc_analyst", "provider": "prov-a"}),
        ("comment", {"text": "looked at the parent process"}),
        ("status", {"status": "resolved", "note": "benign admin"}),
    ):
        moved = client.post(
            f"/cases/{case_id}/{path}", data=form | {"csrf": csrf}, follow_redirects=False
        )
        assert moved.status_code == 303 and "error" not in moved.headers["location"]
    after = client.get(f"/cases/{case_id}").text
    assert "looked at the parent process" in after and 'data-status="resolved">Resolved' in after
    wrong = client.post(f"/cases/{case_id}/status", data={"status": "triage", "csrf": csrf})
    assert "can move to" in wrong.text  # the error is shown on the case page
    dutch = client.get("/cases?lang=nl")
    assert "Prioriteit" in dutch.text and "Beveiligingsincidenten" in dutch.text
    assert "Tijdlijn" in client.get(f"/cases/{case_id}").text  # the choice is remembered


def test_customer_sees_only_own_cases_on_screens(client: TestClient, world: World) -> None:
    client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("b-1")),
        headers=key_headers(world.keys["beta"]),
    )
    sign_in(client, world, "customer-alpha")
    assert "b-1" not in client.get("/cases").text
    assert client.get("/cases/1").status_code == 404
    csrf = form_csrf(client.get("/cases").text)
    refused = client.post(
        "/cases/1/comment", data={"text": "hi", "csrf": csrf}, follow_redirects=False
    )
    assert "error" in refused.headers["location"]
    client.cookies.clear()
    assert client.get("/cases", follow_redirects=False).status_code == 303


def test_cookie_writes_from_another_site_are_refused(client: TestClient, world: World) -> None:
    """CSRF: a POST carrying the session cookie must come from this site's own pages."""
    client.cookies.set("soc_session", world["soc_analyst"].token)
    evil = client.post("/logout", headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    csrf = form_csrf(client.get("/cases").text)
    same = client.post(
        "/logout",
        data={"csrf": csrf},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert same.status_code == 303
