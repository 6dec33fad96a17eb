"""Login with argon2 passwords, TOTP for admins and analysts, enrolment, tokens, logout."""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pyotp
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import select

from soc.app import create_app
from soc.core.audit import AuditEntry
from soc.core.db import utcnow
from soc.core.settings import Settings
from soc.services import Services
from tenants.login_guard import LoginGuard
from tenants.models import User
from tenants.service import LOGIN_REFUSED as REFUSED
from tests.conftest import PASSWORD, World
from tests.helpers import benign_event, form_csrf, key_headers, ndjson


def test_passwords_are_argon2_hashed(world: World, services: Services) -> None:
    with services.db.session() as session:
        user = session.query(User).filter_by(username="admin").one()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_admin_needs_a_valid_totp_code(client: TestClient, world: World) -> None:
    secret = world["admin"].totp_secret
    assert secret
    base = {"username": "admin", "password": PASSWORD}
    assert client.post("/api/v1/auth/login", json=base).status_code == 401
    wrong = client.post("/api/v1/auth/login", json=base | {"totp": "000000"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == REFUSED
    good = client.post("/api/v1/auth/login", json=base | {"totp": pyotp.TOTP(secret).now()})
    assert good.status_code == 200 and good.json()["role"] == "admin"


def test_wrong_password_and_unknown_user_look_the_same(client: TestClient, world: World) -> None:
    wrong = client.post("/api/v1/auth/login", json={"username": "finance", "password": "nope"})
    unknown = client.post("/api/v1/auth/login", json={"username": "ghost", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_customer_without_totp_can_enrol_and_then_needs_it(
    client: TestClient, world: World
) -> None:
    customer = world["customer-alpha"]
    assert customer.totp_secret is None
    started = client.post("/api/v1/auth/totp/enroll", headers=customer.headers)
    assert started.status_code == 200 and started.json()["uri"].startswith("otpauth://")
    secret = started.json()["secret"]
    bad = client.post("/api/v1/auth/totp/verify", json={"code": "123456"}, headers=customer.headers)
    assert bad.status_code == 422
    totp = pyotp.TOTP(secret)
    enrolment_code = totp.at(time.time() - totp.interval)  # still accepted (clock drift)
    ok = client.post(
        "/api/v1/auth/totp/verify", json={"code": enrolment_code}, headers=customer.headers
    )
    assert ok.status_code == 204
    base = {"username": customer.username, "password": PASSWORD}
    assert client.post("/api/v1/auth/login", json=base).status_code == 401
    # The code that confirmed the enrolment is spent: it does not log in again.
    reused = client.post("/api/v1/auth/login", json=base | {"totp": enrolment_code})
    assert reused.status_code == 401
    assert client.post("/api/v1/auth/login", json=base | {"totp": totp.now()}).status_code == 200
    again = client.post("/api/v1/auth/totp/enroll", headers=customer.headers)
    assert again.status_code == 409


def test_me_and_logout_revokes_the_token(
    client: TestClient, world: World, services: Services
) -> None:
    analyst = world["soc_analyst"]
    me = client.get("/api/v1/auth/me", headers=analyst.headers).json()
    assert me == {
        "username": "soc_analyst",
        "role": "soc_analyst",
        "tenant_id": None,
        "provider_id": None,
        "scope": "all",
        "tenant_ids": None,
    }
    assert client.post("/api/v1/auth/logout", headers=analyst.headers).status_code == 204
    assert client.get("/api/v1/auth/me", headers=analyst.headers).status_code == 401
    from soc.core.audit import AuditEntry

    with services.db.session() as session:
        logouts = session.query(AuditEntry).filter_by(action="user.logout").all()
    assert [e.actor for e in logouts] == ["user:soc_analyst"]


def test_new_user_validation(client: TestClient, world: World) -> None:
    admin = world["admin"].headers
    cases = [
        ({"username": "x1", "password": "short", "role": "customer", "tenant": "alpha"}, 422),
        ({"username": "x2", "password": "long-enough-pw", "role": "wizard"}, 422),
        ({"username": "x3", "password": "long-enough-pw", "role": "customer"}, 422),
        (
            {"username": "x4", "password": "long-enough-pw", "role": "customer", "tenant": "nope"},
            404,
        ),
        ({"username": "admin", "password": "long-enough-pw", "role": "finance"}, 409),
    ]
    for body, status in cases:
        answer = client.post("/api/v1/users", json=body, headers=admin)
        assert answer.status_code == status, (body, answer.text)
    created = client.post(
        "/api/v1/users",
        headers=admin,
        json={"username": "x5", "password": "long-enough-pw", "role": "soc_analyst"},
    )
    assert created.status_code == 201 and created.json()["totp_secret"]


def test_api_keys_are_stored_hashed_and_shown_once(client: TestClient, world: World) -> None:
    admin = world["admin"].headers
    created = client.post("/api/v1/tenants/alpha/apikeys", json={"name": "beats"}, headers=admin)
    assert created.status_code == 201
    secret = created.json()["secret"]
    listed = client.get("/api/v1/tenants/alpha/apikeys", headers=admin).json()
    assert all("secret" not in k for k in listed)
    assert secret not in str(listed)
    assert any(secret.startswith(k["prefix"]) for k in listed)


def test_health_and_web_pages(client: TestClient, world: World) -> None:
    health = client.get("/api/v1/health").json()
    assert health["status"] == "ok" and health["rules_loaded"] >= 5
    page = client.get("/")
    assert page.status_code == 200 and "Sign in" in page.text
    assert "Aanmelden" in client.get("/?lang=nl").text
    csrf = form_csrf(page.text)
    failed = client.post("/login", data={"username": "finance", "password": "bad", "csrf": csrf})
    # The page was last asked for in Dutch: the refusal is Dutch too, the same one answer.
    assert failed.status_code == 401
    assert "ongeldige gebruikersnaam, wachtwoord of code" in failed.text
    signed_in = client.post(
        "/login", data={"username": "customer-alpha", "password": PASSWORD, "csrf": csrf}
    )
    # A customer lands on its portal, made for it.
    assert signed_in.status_code == 200 and signed_in.url.path == "/portal"
    assert 'id="nav-portal"' in signed_in.text


def test_a_totp_code_works_once(client: TestClient, world: World) -> None:
    secret = world["admin"].totp_secret
    assert secret
    body = {"username": "admin", "password": PASSWORD, "totp": pyotp.TOTP(secret).now()}
    assert client.post("/api/v1/auth/login", json=body).status_code == 200
    replayed = client.post("/api/v1/auth/login", json=body)
    assert replayed.status_code == 401 and replayed.json()["detail"] == REFUSED


def test_roles_that_require_totp_cannot_log_in_without_it(
    client: TestClient, world: World, services: Services
) -> None:
    from soc.core.principal import SYSTEM
    from tenants import service as tenant_service

    with services.db.session() as session:  # created while TOTP was not required for analysts
        tenant_service.create_user(
            session, SYSTEM, "late-analyst", PASSWORD, "soc_analyst", totp_required_roles=()
        )
    answer = client.post(
        "/api/v1/auth/login", json={"username": "late-analyst", "password": PASSWORD}
    )
    # The caller learns nothing (not even that the password was right); the audit log and the
    # server log hold the reason for the operator.
    assert answer.status_code == 401 and answer.json()["detail"] == REFUSED
    assert failure_reasons(services, "late-analyst") == ["totp_not_enrolled"]


def test_users_scoped_to_a_tenant_never_act_across_tenants(
    client: TestClient, world: World, services: Services
) -> None:
    """An admin or finance user scoped to one tenant cannot create tenants or users, see the
    ITSM outbox of every tenant, or close everyone's billing month."""
    from soc.core.principal import SYSTEM
    from tenants import service as tenant_service

    with services.db.session() as session:
        secret = tenant_service.create_user(
            session, SYSTEM, "alpha-admin", PASSWORD, "admin", tenant="alpha"
        ).totp_secret
        tenant_service.create_user(
            session, SYSTEM, "alpha-finance", PASSWORD, "finance", tenant="alpha"
        )
    assert secret
    logins = {
        "alpha-admin": {
            "username": "alpha-admin",
            "password": PASSWORD,
            "totp": pyotp.TOTP(secret).now(),
        },
        "alpha-finance": {"username": "alpha-finance", "password": PASSWORD},
    }
    headers = {}
    for name, body in logins.items():
        answer = client.post("/api/v1/auth/login", json=body)
        assert answer.status_code == 200, answer.text
        headers[name] = {"Authorization": f"Bearer {answer.json()['token']}"}
    admin, finance = headers["alpha-admin"], headers["alpha-finance"]
    created = client.post("/api/v1/tenants", json={"slug": "gamma", "name": "G"}, headers=admin)
    assert created.status_code == 403
    new_user = {"username": "x9", "password": "long-enough-pw", "role": "admin"}
    assert client.post("/api/v1/users", headers=admin, json=new_user).status_code == 403
    assert client.get("/api/v1/itsm/dead-letters", headers=admin).status_code == 403
    assert client.post("/api/v1/billing/months/2020-01/close", headers=finance).status_code == 403


def failure_reasons(services: Services, username: str) -> list[str]:
    """The reasons of the audited failed logins of a username, oldest first."""
    with services.db.session() as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "user.login_failed")
            .order_by(AuditEntry.id)
        )
        details = [orjson.loads(e.detail) for e in entries]
    return [d["reason"] for d in details if d["username"] == username]


def permissive_guard(app: Any, services: Services, **overrides: Any) -> None:
    """No rate limits (a test that needs every attempt to reach the password check). The
    running app's routers and its edge read the guard from `app.state`."""
    limits = {"user_failures": 10**6, "ip_failures": 10**6, "lockout_failures": 10**6}
    services.login_guard = app.state.login_guard = LoginGuard(**(limits | overrides))


def test_fifty_wrong_passwords_then_the_right_one_fails(client: TestClient, world: World) -> None:
    body = {"username": "customer-alpha", "password": "wrong-password-guess"}
    answers = [client.post("/api/v1/auth/login", json=body) for _ in range(50)]
    statuses = [a.status_code for a in answers]
    # The first ten are checked (and fail); after them the username is refused before any
    # password check, with the time to wait.
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 300
    assert answers[-1].json()["error"] == "too_many_requests"
    right = client.post("/api/v1/auth/login", json=body | {"password": PASSWORD})
    assert right.status_code != 200


def test_the_ip_limit_covers_many_usernames(client: TestClient, world: World) -> None:
    statuses = [
        client.post(
            "/api/v1/auth/login", json={"username": f"ghost-{n}", "password": "guess-guess-guess"}
        ).status_code
        for n in range(31)
    ]
    assert statuses[:30] == [401] * 30 and statuses[30] == 429


def test_an_address_over_its_limit_is_refused_before_the_request_is_read(
    client: TestClient, world: World
) -> None:
    """Once an address is over its limit, its logins are refused at the edge: even a body that
    the route would answer 422 gets the 429, so a flood of them costs no parsing or routing."""
    for n in range(30):
        client.post("/api/v1/auth/login", json={"username": f"ghost-{n}", "password": "guess-x"})
    refused = client.post(
        "/api/v1/auth/login", content=b"not json", headers={"Content-Type": "application/json"}
    )
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"] == "too_many_requests"
    assert 0 < int(refused.headers["Retry-After"]) <= 300
    assert refused.headers["X-Frame-Options"] == "DENY"  # edge answers carry the headers too


def test_lockout_is_persisted_audited_and_refuses_the_right_password(
    client: TestClient, world: World, services: Services
) -> None:
    permissive_guard(client.app, services, lockout_failures=3, lockout_minutes=15)
    body = {"username": "finance", "password": "wrong-password-guess"}
    for _ in range(3):
        assert client.post("/api/v1/auth/login", json=body).status_code == 401
    right = client.post("/api/v1/auth/login", json=body | {"password": PASSWORD})
    assert right.status_code == 401 and right.json()["detail"] == REFUSED
    assert failure_reasons(services, "finance") == ["wrong_password"] * 3 + ["locked"]
    with services.db.session() as session:
        user = session.scalar(select(User).where(User.username == "finance"))
        assert user is not None and user.locked_until is not None
        assert user.locked_until > utcnow() + timedelta(minutes=14)
        locks = session.scalars(select(AuditEntry).where(AuditEntry.action == "user.locked"))
        assert [orjson.loads(e.detail)["username"] for e in locks] == ["finance"]
        user.locked_until = utcnow() - timedelta(seconds=1)  # the lock has run out
    again = client.post("/api/v1/auth/login", json=body | {"password": PASSWORD})
    assert again.status_code == 200
    with services.db.session() as session:
        user = session.scalar(select(User).where(User.username == "finance"))
        assert user is not None and user.failed_logins == 0 and user.locked_until is None


def test_too_many_logins_at_once_answer_429_instead_of_queueing(
    client: TestClient, world: World, services: Services
) -> None:
    permissive_guard(client.app, services, hash_slots=1, hash_queue=0)
    guard = services.login_guard
    with guard.hashing():  # the one slot is taken (a login in progress)
        busy = client.post("/api/v1/auth/login", json={"username": "finance", "password": "x"})
    assert busy.status_code == 429 and busy.headers["Retry-After"] == "1"
    assert failure_reasons(services, "finance") == []  # refused before any check
    free = client.post("/api/v1/auth/login", json={"username": "finance", "password": PASSWORD})
    assert free.status_code == 200


@dataclass
class LiveServer:
    url: str
    server: uvicorn.Server


@pytest.fixture
def live_server(settings: Settings, services: Services) -> Iterator[LiveServer]:
    """The app on a real socket (uvicorn in a thread), for concurrent clients."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings, services), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield LiveServer(f"http://127.0.0.1:{port}", server)
    server.should_exit = True
    thread.join(timeout=10)


def test_a_login_flood_does_not_stall_other_requests(
    live_server: LiveServer, world: World, services: Services
) -> None:
    """Four clients send wrong passwords for a real user as fast as they can, each one going
    through argon2 (no rate limit here); meanwhile the analyst's case list and a shipper's
    ingest, which needs the database's write lock, still answer quickly: no transaction is
    open during a password check (before, each waited for the logins' argon2)."""
    permissive_guard(live_server.server.config.app, services, hash_slots=1, hash_queue=8)
    stop = threading.Event()
    refused: list[int] = []

    def flood() -> None:
        with httpx.Client(base_url=live_server.url, timeout=30) as http:
            while not stop.is_set():
                answer = http.post(
                    "/api/v1/auth/login", json={"username": "finance", "password": "not-it-at-all"}
                )
                refused.append(answer.status_code)

    def timed_requests(http: httpx.Client, n: int) -> list[float]:
        """Seconds for the analyst's case list and for a one-event ingest."""
        started = time.perf_counter()
        cases = http.get("/api/v1/cases", headers=world["soc_analyst"].headers)
        listed = time.perf_counter()
        ingest = http.post(
            "/api/v1/ingest",
            content=ndjson(benign_event(n)),
            headers=key_headers(world.keys["alpha"]),
        )
        assert cases.status_code == 200 and ingest.status_code == 200, ingest.text
        return [listed - started, time.perf_counter() - listed]

    flooders = [threading.Thread(target=flood) for _ in range(4)]
    timings: list[float] = []
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        timed_requests(http, 0)  # warm up (first queries and connections): not measured
        for thread in flooders:
            thread.start()
        try:
            time.sleep(1.0)  # the flood is under way
            for n in range(1, 13):
                timings += timed_requests(http, n)
        finally:
            stop.set()
            for thread in flooders:
                thread.join(timeout=30)
    assert refused.count(401) >= 2  # the flood really ran password checks
    assert set(refused) <= {401, 429}
    timings.sort()
    p95 = timings[round(0.95 * (len(timings) - 1))]
    assert p95 < 1.0, f"p95 {p95:.3f} s during the login flood; all: {timings}"


def test_every_refusal_gets_one_answer(client: TestClient, world: World) -> None:
    """Wrong password, unknown user, and for a TOTP user the right password with no code or a
    wrong one: the same status and body, so a password cannot be confirmed without the code."""
    admin = {"username": "admin", "password": PASSWORD}
    bodies = [
        {"username": "admin", "password": "wrong-password-guess", "totp": "000000"},
        {"username": "nobody-here", "password": "wrong-password-guess"},
        admin,
        admin | {"totp": "000000"},
        admin | {"totp": ""},
    ]
    answers = [client.post("/api/v1/auth/login", json=body) for body in bodies]
    assert {a.status_code for a in answers} == {401}
    assert [a.json() for a in answers] == [{"error": "unauthorized", "detail": REFUSED}] * 5


def test_an_unknown_user_costs_as_much_as_a_wrong_password(
    client: TestClient, world: World, services: Services
) -> None:
    """Timing must not tell whether a username exists: unknown users are checked against a
    dummy argon2 hash (before, 7 ms against 375 ms)."""
    permissive_guard(client.app, services)

    def seconds(username: str) -> float:
        started = time.perf_counter()
        answer = client.post(
            "/api/v1/auth/login", json={"username": username, "password": "wrong-guess-here"}
        )
        assert answer.status_code == 401
        return time.perf_counter() - started

    seconds("warm-up-ghost")  # the dummy hash is made on first use
    known = statistics.median(seconds("finance") for _ in range(5))
    unknown = statistics.median(seconds(f"ghost-{n}") for n in range(5))
    assert unknown > 0.5 * known, (unknown, known)


def test_failed_logins_are_audited_and_kept(
    client: TestClient, world: World, services: Services
) -> None:
    """The audit entry of a refused login is written in its own transaction: the refusal does
    not roll it back."""
    client.post("/api/v1/auth/login", json={"username": "finance", "password": "nope-nope"})
    client.post("/api/v1/auth/login", json={"username": "ghost", "password": "nope-nope"})
    admin = {"username": "admin", "password": PASSWORD, "totp": "000000"}
    client.post("/api/v1/auth/login", json=admin)
    with services.db.session() as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "user.login_failed")
            .order_by(AuditEntry.id)
        )
        details = [(e.actor, orjson.loads(e.detail)) for e in entries]
        user = session.scalar(select(User).where(User.username == "finance"))
        assert user is not None and user.failed_logins == 1
    assert details == [
        ("user:finance", {"reason": "wrong_password", "username": "finance", "ip": "testclient"}),
        ("user:ghost", {"reason": "unknown_user", "username": "ghost", "ip": "testclient"}),
        ("user:admin", {"reason": "totp_invalid", "username": "admin", "ip": "testclient"}),
    ]


def test_the_password_policy_names_the_rule(client: TestClient, world: World) -> None:
    admin = world["admin"].headers
    refused = {
        "eleven-char": "at least 12 characters",
        " " * 16: "whitespace",
        "the-newcomer-account": "username",
        "1qaz2wsx3edc": "common",  # 12 characters, on the shipped list
    }
    for password, rule in refused.items():
        body = {"username": "newcomer", "password": password, "role": "finance"}
        answer = client.post("/api/v1/users", json=body, headers=admin)
        assert answer.status_code == 422, (password, answer.text)
        assert answer.json()["error"] == "weak_password" and rule in answer.json()["detail"]
    body = {"username": "newcomer", "password": "quiet-harbour-lamp", "role": "finance"}
    assert client.post("/api/v1/users", json=body, headers=admin).status_code == 201


def test_totp_enrolment_ends_the_sessions_opened_before_it(
    client: TestClient, world: World
) -> None:
    """Sessions opened with the password alone end once TOTP is enrolled; the session that
    confirmed the enrolment stays."""
    customer = world["customer-alpha"]
    login = client.post(
        "/api/v1/auth/login", json={"username": customer.username, "password": PASSWORD}
    )
    assert login.status_code == 200
    current = {"Authorization": f"Bearer {login.json()['token']}"}
    secret = client.post("/api/v1/auth/totp/enroll", headers=current).json()["secret"]
    code = pyotp.TOTP(secret).now()
    assert (
        client.post("/api/v1/auth/totp/verify", json={"code": code}, headers=current).status_code
        == 204
    )
    assert client.get("/api/v1/auth/me", headers=customer.headers).status_code == 401
    assert client.get("/api/v1/auth/me", headers=current).status_code == 200
