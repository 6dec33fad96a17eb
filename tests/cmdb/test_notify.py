"""Status subscriptions (A5, TA3): exactly one notification per application status change, by
e-mail through a real local SMTP server and by a signed webhook to a real local receiver;
retries with backoff, dead after the last attempt. On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from soc.cmdb import notify
from soc.cmdb.events import EventInput, receive
from soc.cmdb.models import StatusChange, StatusNotification
from soc.core.db import Database
from soc.core.principal import SYSTEM
from soc.core.settings import Settings
from soc.services import Services
from tests.cmdb.status_fixtures import (
    SmtpServer,
    WebhookReceiver,
    add_ci,
    free_port,
    status_change,
)
from tests.conftest import World

T0 = datetime(2026, 5, 5, 8, 20, tzinfo=UTC)  # 10:20 in Brussels
SUBS = "/api/v1/status/subscriptions"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(free_port())
    receiver.start()
    yield receiver
    receiver.stop()


def delivery_settings(settings: Settings, smtp_port: int, **extra: object) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_from": "status@soc.example",
            "status_webhook_timeout_seconds": 2.0,
            "status_webhook_allow_private": True,  # the receiver is on 127.0.0.1
            **extra,
        }
    )


def subscribe(
    client: TestClient, world: World, ci_id: int, email: str | None, url: str | None
) -> dict[str, object]:
    body = {"ci_id": ci_id, "email": email, "webhook_url": url}
    answer = client.post(SUBS, json=body, headers=world["customer-alpha"].headers)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def rows(services: Services) -> list[StatusNotification]:
    with services.db.read_session() as session:
        return list(session.scalars(select(StatusNotification).order_by(StatusNotification.id)))


def queued_at(services: Services) -> datetime:
    """When the notifications were queued (the clock the backoff counts from)."""
    return min(r.created_at for r in rows(services))


def test_one_email_and_one_signed_webhook_per_change(
    client: TestClient,
    world: World,
    services: Services,
    settings: Settings,
    smtp: SmtpServer,
    hook: WebhookReceiver,
) -> None:
    app = add_ci(services.db, "Payroll", tenants=("alpha",))
    made = subscribe(client, world, app, "klant@alpha.example", hook.url)
    secret = str(made["webhook_secret"])
    assert len(secret) == 64
    listed = client.get(SUBS, headers=world["customer-alpha"].headers).json()
    assert [s["id"] for s in listed] == [made["id"]]
    assert "webhook_secret" not in listed[0] and secret not in json.dumps(listed)

    change = status_change(services.db, app, "down", "operational", T0)
    with services.db.session() as session:  # the same change queued again: nothing new
        again = session.get(StatusChange, change)
        assert again is not None
        assert notify.enqueue(session, [again, again]) == 0
    assert sorted(r.channel for r in rows(services)) == ["email", "webhook"]

    send = delivery_settings(settings, smtp.port)
    created = queued_at(services)
    assert notify.deliver_pending(services.db, send, now=created) == 2
    assert notify.deliver_pending(services.db, send, now=created + timedelta(hours=1)) == 0
    assert {r.state for r in rows(services)} == {"sent"}

    (mail,) = smtp.inbox.messages()
    assert smtp.inbox.envelopes[0].rcpt_tos == ["klant@alpha.example"]
    assert smtp.inbox.envelopes[0].mail_from == "status@soc.example"
    assert "Payroll" in mail["Subject"] and "down (was operational)" in mail["Subject"]
    text = mail.get_content()
    assert "Payroll is down since 2026-05-05 10:20 CEST (it was operational)" in text
    assert "Payroll is onbeschikbaar sinds 2026-05-05 10:20 CEST" in text

    (post,) = hook.received
    expected = "sha256=" + hmac.new(secret.encode(), post.body, hashlib.sha256).hexdigest()
    assert post.headers["X-Soc-Signature"] == expected
    assert int(post.headers["X-Soc-Timestamp"]) > 0
    assert json.loads(post.body) == {
        "application": {"id": app, "name": "Payroll"},
        "state": "down",
        "previous": "operational",
        "at": T0.isoformat(),
        "change_id": change,
    }
    forged = hmac.new(b"another secret", post.body, hashlib.sha256).hexdigest()
    assert post.headers["X-Soc-Signature"] != "sha256=" + forged


def test_retry_until_the_receivers_come_back(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    """Both receivers down: attempts fail and back off; once they listen, one delivery each."""
    smtp, hook = SmtpServer(free_port()), WebhookReceiver(free_port())
    app = add_ci(services.db, "Payroll", tenants=("alpha",))
    subscribe(client, world, app, "klant@alpha.example", hook.url)
    status_change(services.db, app, "down", "operational", T0)
    send = delivery_settings(settings, smtp.port, status_notify_max_attempts=5)

    created = queued_at(services)
    assert notify.deliver_pending(services.db, send, now=created) == 0
    failed = rows(services)
    assert [(r.state, r.attempts) for r in failed] == [("pending", 1), ("pending", 1)]
    assert all(r.last_error for r in failed)
    # not due yet: no attempt at all (the backoff holds)
    assert notify.deliver_pending(services.db, send, now=created + timedelta(seconds=5)) == 0
    assert [r.attempts for r in rows(services)] == [1, 1]

    smtp.start()
    hook.start()
    try:
        later = created + timedelta(seconds=notify.BACKOFF_BASE_SECONDS)
        assert notify.deliver_pending(services.db, send, now=later) == 2
        assert notify.deliver_pending(services.db, send, now=later + timedelta(hours=2)) == 0
        assert len(smtp.inbox.envelopes) == 1 and len(hook.received) == 1
        assert [(r.state, r.last_error) for r in rows(services)] == [("sent", None)] * 2
    finally:
        smtp.stop()
        hook.stop()


def test_dead_after_the_last_attempt(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    hook = WebhookReceiver(free_port(), status=503)
    hook.start()
    try:
        app = add_ci(services.db, "Payroll", tenants=("alpha",))
        subscribe(client, world, app, None, hook.url)
        status_change(services.db, app, "degraded", "operational", T0)
        send = delivery_settings(settings, free_port(), status_notify_max_attempts=3)
        created = queued_at(services)
        for hours in range(6):
            notify.deliver_pending(services.db, send, now=created + timedelta(hours=hours))
        (row,) = rows(services)
        assert (row.state, row.attempts) == ("dead", 3)
        assert row.last_error is not None and "HTTP 503" in row.last_error
        assert len(hook.received) == 3
    finally:
        hook.stop()


def test_a_permanent_refusal_is_dead_at_once(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    hook = WebhookReceiver(free_port(), status=410)
    hook.start()
    try:
        app = add_ci(services.db, "Payroll", tenants=("alpha",))
        subscribe(client, world, app, None, hook.url)
        status_change(services.db, app, "down", "operational", T0)
        notify.deliver_pending(services.db, delivery_settings(settings, free_port()))
        (row,) = rows(services)
        assert (row.state, row.attempts) == ("dead", 1) and len(hook.received) == 1
    finally:
        hook.stop()


def test_concurrent_deliverers_send_once(
    client: TestClient,
    world: World,
    services: Services,
    settings: Settings,
    smtp: SmtpServer,
    hook: WebhookReceiver,
) -> None:
    app = add_ci(services.db, "Payroll", tenants=("alpha",))
    subscribe(client, world, app, "klant@alpha.example", hook.url)
    for minute in range(5):
        status_change(services.db, app, "down", "operational", T0 + timedelta(minutes=minute))
    send = delivery_settings(settings, smtp.port)
    sent: list[int] = []
    threads = [
        threading.Thread(target=lambda: sent.append(notify.deliver_pending(services.db, send)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent.append(notify.deliver_pending(services.db, send))  # whatever a busy one skipped
    assert sum(sent) == 10
    assert len(smtp.inbox.envelopes) == 5 and len(hook.received) == 5
    assert len({json.loads(p.body)["change_id"] for p in hook.received}) == 5


def test_another_process_delivering_holds_this_one_back(
    client: TestClient,
    world: World,
    services: Services,
    settings: Settings,
    db_backend: str,
    hook: WebhookReceiver,
) -> None:
    """PostgreSQL: the advisory lock another process holds while it delivers."""
    if db_backend != "postgresql":
        pytest.skip("one process per SQLite database")
    app = add_ci(services.db, "Payroll", tenants=("alpha",))
    subscribe(client, world, app, None, hook.url)
    status_change(services.db, app, "down", "operational", T0)
    send = delivery_settings(settings, free_port())
    other = Database(services.db.url)  # another process's pool
    try:
        with other.engine.connect() as conn:
            key = {"key": notify.DELIVERER_LOCK_KEY}
            assert conn.execute(text("SELECT pg_try_advisory_lock(:key)"), key).scalar()
            assert notify.deliver_pending(services.db, send) == 0
            assert conn.execute(text("SELECT pg_advisory_unlock(:key)"), key).scalar()
        assert notify.deliver_pending(services.db, send) == 1
        assert len(hook.received) == 1
    finally:
        other.engine.dispose()


def test_ta3_one_update_when_the_outage_is_resolved(
    client: TestClient,
    world: World,
    services: Services,
    settings: Settings,
    smtp: SmtpServer,
    hook: WebhookReceiver,
) -> None:
    """TA1's chain (Payroll → vm-42 → fw-1): the subscriber hears of the outage once and of
    its resolution once, whatever the duplicates of the provider's events."""
    fw = add_ci(services.db, "fw-1", "firewall", provider="prov-b")
    vm = add_ci(services.db, "vm-42", "vm", provider="prov-a", depends_on=(fw,))
    app = add_ci(services.db, "Payroll", tenants=("alpha",), depends_on=(vm,))
    made = subscribe(client, world, app, "klant@alpha.example", hook.url)
    send = delivery_settings(settings, smtp.port)
    engine = services.cmdb_engine

    def event(state: str, minutes: int) -> None:
        when = T0 + timedelta(minutes=minutes)
        item = EventInput("fw-1-link", "critical", state, when, ci=str(fw), provider="prov-b")
        with services.db.session() as session:
            receive(session, settings, engine, SYSTEM, [item], now=when)

    event("firing", 0)
    event("firing", 0)  # the provider's retry: a duplicate
    assert notify.deliver_pending(services.db, send) == 2
    event("resolved", 30)
    event("resolved", 30)
    assert notify.deliver_pending(services.db, send) == 2
    assert notify.deliver_pending(services.db, send) == 0
    states = [(json.loads(p.body)["previous"], json.loads(p.body)["state"]) for p in hook.received]
    assert states == [("operational", "down"), ("down", "operational")]
    assert len(smtp.inbox.envelopes) == 2
    with services.db.read_session() as session:
        changes = session.scalar(
            select(func.count()).select_from(StatusChange).where(StatusChange.ci_id == app)
        )
    assert changes == 2
    assert len(rows(services)) == 4 and made["id"]


# --- subscriptions: who may follow what -------------------------------------------------------


def test_subscribe_only_to_a_visible_application(
    client: TestClient, world: World, services: Services
) -> None:
    mine = add_ci(services.db, "Payroll", tenants=("alpha",))
    theirs = add_ci(services.db, "Beta HR", tenants=("beta",))
    component = add_ci(services.db, "db-1", "database", provider="prov-a")
    alpha = world["customer-alpha"].headers

    def post(body: dict[str, object], headers: dict[str, str] = alpha) -> int:
        return int(client.post(SUBS, json=body, headers=headers).status_code)

    assert post({"ci_id": theirs, "email": "k@alpha.example"}) == 404  # beta's: not found
    assert post({"ci_id": component, "email": "k@alpha.example"}) == 404  # not an application
    assert post({"ci_id": 999_999, "email": "k@alpha.example"}) == 404
    assert post({"ci_id": mine}) == 422  # no channel
    assert post({"ci_id": mine, "email": "not an address"}) == 422
    assert post({"ci_id": mine, "webhook_url": "file:///etc/passwd"}) == 422
    assert post({"ci_id": mine, "email": "k@alpha.example"}) == 201
    assert post({"ci_id": mine, "email": "k@alpha.example"}) == 409  # once per user
    assert post({"ci_id": theirs, "email": "k@beta.example"}, world["customer-beta"].headers) == (
        201
    )

    own = client.get(SUBS, headers=alpha).json()
    assert [s["application"] for s in own] == ["Payroll"]
    everyone = client.get(SUBS, headers=world["admin"].headers).json()
    assert sorted(s["application"] for s in everyone) == ["Beta HR", "Payroll"]

    beta_sub = next(s["id"] for s in everyone if s["application"] == "Beta HR")
    assert client.delete(f"{SUBS}/{beta_sub}", headers=alpha).status_code == 404
    assert client.delete(f"{SUBS}/{own[0]['id']}", headers=alpha).status_code == 204
    assert client.get(SUBS, headers=alpha).json() == []


def test_unsubscribing_drops_the_undelivered(
    client: TestClient, world: World, services: Services, settings: Settings, smtp: SmtpServer
) -> None:
    app = add_ci(services.db, "Payroll", tenants=("alpha",))
    made = subscribe(client, world, app, "klant@alpha.example", None)
    status_change(services.db, app, "down", "operational", T0)
    headers = world["customer-alpha"].headers
    assert client.delete(f"{SUBS}/{made['id']}", headers=headers).status_code == 204
    assert notify.deliver_pending(services.db, delivery_settings(settings, smtp.port)) == 0
    assert smtp.inbox.envelopes == [] and rows(services) == []


def test_webhooks_to_private_addresses_are_refused_by_default(settings: Settings) -> None:
    from soc.cmdb.channels import Failure, refuse_private_target

    for url in ("http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://[::1]/x", "http://localhost/"):
        with pytest.raises(Failure, match="non-public address") as refused:
            refuse_private_target(url)
        assert refused.value.permanent
    assert settings.status_webhook_allow_private is False


# Tenant isolation and roles of these routes are tested in this module.
ISOLATION_COVERED = {
    ("GET", "/api/v1/status/subscriptions"),
    ("POST", "/api/v1/status/subscriptions"),
    ("DELETE", "/api/v1/status/subscriptions/{subscription_id}"),
}
