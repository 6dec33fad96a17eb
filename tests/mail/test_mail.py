"""The e-mail outbox against a real local SMTP server (aiosmtpd): STARTTLS and AUTH, implicit
TLS, each reader's language, a relay that is down (queued, retried, sent once), one that
hangs (a request still answers at once), dead letters and their replay, and one mail per
kind of notice the product produces."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from risk.notifications import Notice, notify
from soc.app import background_threads
from soc.celery_app import celery_app
from soc.core.db import utcnow
from soc.core.mail_outbox import Mail, MailMessage, deliver_due, enqueue, replay
from soc.core.principal import SYSTEM
from soc.core.settings import Settings
from soc.services import Services
from tenants.billing.closing import _notify_eligible
from tenants.mail import set_mail_profile
from tenants.models import Provider, Tenant, User
from tests.billing.conftest import example_prices
from tests.cmdb.status_fixtures import add_ci
from tests.conftest import World
from tests.smtp_server import HungServer, Inbox, Login, SmtpServer, free_port, self_signed

NOTICES = "/api/v1/status/notices"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No embedded deliverer during these tests: each test delivers when it means to."""
    prices = example_prices()
    return settings.model_copy(update={"mail_poll_seconds": 3600.0, "billing_prices": prices})


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


def relay(settings: Settings, port: int, **extra: object) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_from": "soc@soc.example",
            "smtp_timeout_seconds": 5.0,
            **extra,
        }
    )


def profile(
    services: Services, username: str, email: str, lang: str | None = "en", **kw: Any
) -> None:
    with services.db.session() as session:
        set_mail_profile(session, SYSTEM, username, email, lang, kw.get("opt_out"))


def rows(services: Services) -> list[MailMessage]:
    with services.db.read_session() as session:
        return list(session.scalars(select(MailMessage).order_by(MailMessage.id)))


def queue_one(services: Services, key: str = "test.1", to: str = "a@x.example") -> int:
    mail = Mail(key, "test", to, "en", "Hello", "Body text")
    with services.db.session() as session:
        return enqueue(session, [mail, mail])


def by_id(services: Services, model: Any, **where: object) -> int:
    with services.db.read_session() as session:
        column, value = next(iter(where.items()))
        return int(session.scalar(select(model.id).where(getattr(model, column) == value)) or 0)


# --- transport -----------------------------------------------------------------------------


def test_starttls_and_auth_deliver_once(
    services: Services, settings: Settings, tmp_path: Path
) -> None:
    cert = self_signed(tmp_path)
    login = Login("soc-mailer", "s3cret-pass")
    server = SmtpServer(free_port(), "starttls", cert, login)
    server.start()
    try:
        assert queue_one(services) == 1 and queue_one(services) == 0  # one per key and address
        base = relay(
            settings,
            server.port,
            smtp_starttls=True,
            smtp_ca_file=str(cert[0]),
            smtp_username="soc-mailer",
        )
        # A wrong password is the relay's setup, not the message's fault: kept for a retry.
        assert (
            deliver_due(services.db, settings=base.model_copy(update={"smtp_password": "no"})) == 0
        )
        (row,) = rows(services)
        assert row.state == "pending" and row.attempts == 1 and "535" in (row.last_error or "")
        good = base.model_copy(update={"smtp_password": "s3cret-pass"})
        later = utcnow() + timedelta(minutes=5)
        assert deliver_due(services.db, good, now=later) == 1
        assert deliver_due(services.db, good, now=later + timedelta(hours=2)) == 0
    finally:
        server.stop()
    assert login.logins == ["soc-mailer"]
    (mail,) = server.inbox.messages()
    assert server.inbox.envelopes[0].rcpt_tos == ["a@x.example"]
    assert mail["Subject"] == "Hello" and mail["Auto-Submitted"] == "auto-generated"
    assert mail["Message-ID"].startswith("<mail.") and mail["Content-Language"] == "en"
    (row,) = rows(services)
    assert row.state == "sent" and row.sent_at is not None and row.last_error is None


def test_implicit_tls_and_an_untrusted_certificate(
    services: Services, settings: Settings, tmp_path: Path
) -> None:
    cert = self_signed(tmp_path)
    server = SmtpServer(free_port(), "implicit", cert)
    server.start()
    try:
        queue_one(services)
        untrusted = relay(settings, server.port, smtp_ssl=True)  # the system CAs only
        assert deliver_due(services.db, untrusted) == 0
        assert "CERTIFICATE_VERIFY_FAILED" in (rows(services)[0].last_error or "")
        trusted = untrusted.model_copy(update={"smtp_ca_file": str(cert[0])})
        assert deliver_due(services.db, trusted, now=utcnow() + timedelta(minutes=5)) == 1
    finally:
        server.stop()
    assert len(server.inbox.envelopes) == 1


# --- retries -------------------------------------------------------------------------------


@pytest.mark.parametrize("db_backend", ["sqlite", "postgresql"])
def test_relay_down_the_mail_waits_and_goes_once_when_it_is_back(
    services: Services, settings: Settings
) -> None:
    server = SmtpServer(free_port())  # not started: connection refused
    send = relay(settings, server.port, mail_backoff_seconds=30.0)
    queue_one(services)
    assert deliver_due(services.db, send) == 0
    (row,) = rows(services)
    assert (
        row.state == "pending" and row.attempts == 1 and "Connection refused" in str(row.last_error)
    )
    assert timedelta(seconds=25) < row.next_at - utcnow() <= timedelta(seconds=30)
    assert deliver_due(services.db, send) == 0  # not due yet: no attempt
    assert rows(services)[0].attempts == 1
    server.start()
    try:
        assert deliver_due(services.db, send, now=utcnow() + timedelta(seconds=31)) == 1
        assert deliver_due(services.db, send, now=utcnow() + timedelta(days=1)) == 0
    finally:
        server.stop()
    assert len(server.inbox.envelopes) == 1 and rows(services)[0].state == "sent"


def test_dead_letter_after_the_last_attempt_and_replay(
    services: Services, settings: Settings
) -> None:
    server = SmtpServer(free_port())
    send = relay(settings, server.port, mail_max_attempts=2)
    queue_one(services)
    assert deliver_due(services.db, send) == 0
    assert deliver_due(services.db, send, now=utcnow() + timedelta(hours=1)) == 0
    (row,) = rows(services)
    assert row.state == "dead" and row.attempts == 2
    assert deliver_due(services.db, send, now=utcnow() + timedelta(days=1)) == 0
    with services.db.session() as session:
        assert replay(session) == 1
    server.start()
    try:
        assert deliver_due(services.db, send) == 1
    finally:
        server.stop()
    with services.db.session() as session:
        assert replay(session) == 0  # a sent mail is never sent again
    assert len(server.inbox.envelopes) == 1


class Refusing(Inbox):
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:  # noqa: N802, E501
        return "550 5.1.1 no such mailbox"


def test_a_permanent_refusal_is_dead_at_once(services: Services, settings: Settings) -> None:
    server = SmtpServer(free_port())
    server.inbox = Refusing()
    server.start()
    try:
        queue_one(services)
        assert deliver_due(services.db, relay(settings, server.port)) == 0
    finally:
        server.stop()
    (row,) = rows(services)
    assert row.state == "dead" and row.attempts == 1 and "550" in (row.last_error or "")


# --- notices, readers, languages -----------------------------------------------------------


def test_outage_notice_reaches_each_customer_in_their_language(
    client: TestClient, world: World, services: Services, settings: Settings, smtp: SmtpServer
) -> None:
    shared = add_ci(services.db, "Mail platform", tenants=("alpha", "beta"))
    profile(services, "customer-alpha", "klant@alpha.example", "nl")
    profile(services, "customer-beta", "customer@beta.example", "en")
    profile(services, "risk_owner-alpha", "risk@alpha.example", "en")  # not a customer user
    answer = client.post(
        NOTICES,
        json={"title": "Mail down", "body": "We are on it.", "applications": [shared]},
        headers=world["soc_analyst"].headers,
    )
    assert answer.status_code == 201, answer.text
    assert deliver_due(services.db, relay(settings, smtp.port)) == 2
    got = {
        e.rcpt_tos[0]: m for e, m in zip(smtp.inbox.envelopes, smtp.inbox.messages(), strict=True)
    }
    assert set(got) == {"klant@alpha.example", "customer@beta.example"}
    dutch, english = got["klant@alpha.example"], got["customer@beta.example"]
    assert dutch["Subject"] == "[Status] Storing: Mail down" and dutch["Content-Language"] == "nl"
    assert "Getroffen toepassingen: Mail platform" in dutch.get_content()
    assert "U ontvangt deze e-mail" in dutch.get_content()
    assert english["Subject"] == "[Status] Outage: Mail down"
    assert "Affected applications: Mail platform" in english.get_content()


def test_a_request_answers_at_once_while_the_relay_hangs(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    hung = HungServer()
    try:
        app = add_ci(services.db, "Payroll", tenants=("alpha",))
        profile(services, "customer-alpha", "klant@alpha.example")
        queue_one(services)
        send = relay(settings, hung.port, smtp_timeout_seconds=4.0)
        deliverer = threading.Thread(target=deliver_due, args=(services.db, send))
        deliverer.start()
        time.sleep(0.1)  # the deliverer is now waiting for the relay's greeting
        started = time.perf_counter()
        answer = client.post(
            NOTICES,
            json={"title": "Payroll down", "applications": [app]},
            headers=world["soc_analyst"].headers,
        )
        took = time.perf_counter() - started
        assert answer.status_code == 201, answer.text
        assert took < 2.0 and deliverer.is_alive(), took  # the relay keeps it for 4 s
        deliverer.join(timeout=10)
    finally:
        hung.close()
    states = {(r.kind, r.state, r.attempts) for r in rows(services)}
    assert states == {("test", "pending", 1), ("outage_notice", "pending", 0)}
    assert "timed out" in str(rows(services)[0].last_error)


def test_sla_warning_mails_the_analysts_while_unassigned(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    from soc.cases.warnings import send_breach_warnings
    from tests.cases.test_case_clocks import raise_case

    profile(services, "soc_analyst", "analyst@soc.example", "nl")
    profile(services, "customer-alpha", "klant@alpha.example")  # not who must act
    case = raise_case(client, world)
    due = datetime.fromisoformat(case["sla"]["response"]["due"])
    with services.db.session() as session:
        assert (
            len(send_breach_warnings(session, due - timedelta(minutes=30), settings=settings)) == 1
        )
    (row,) = rows(services)
    assert (row.kind, row.recipient, row.language) == ("sla_warning", "analyst@soc.example", "nl")
    assert row.subject == f"[SLA] Case {case['id']}: reactie verloopt over 30 minuten"
    assert row.key == f"case.{case['id']}.sla.response.{int(due.timestamp())}"


def test_ceiling_early_warning_mails_customer_and_finance_once(
    client: TestClient, world: World, services: Services
) -> None:
    profile(services, "customer-alpha", "klant@alpha.example", "nl")
    profile(services, "finance", "finance@soc.example")
    profile(services, "customer-beta", "customer@beta.example")  # not over its ceiling
    finance = world["finance"].headers
    base = "/api/v1/billing"
    put = client.put(f"{base}/tenants/alpha/account", json={"ceiling": "100.00"}, headers=finance)
    assert put.status_code == 200
    for _ in range(2):
        checked = client.post(f"{base}/ceilings/check", headers=finance)
        assert checked.status_code == 200, checked.text
    mails = {r.recipient: r for r in rows(services)}
    assert set(mails) == {"klant@alpha.example", "finance@soc.example"}
    assert {r.kind for r in mails.values()} == {"billing_ceiling"}
    assert "boven het plafond" in mails["klant@alpha.example"].subject
    assert "€\xa0100,00" in mails["klant@alpha.example"].body
    assert "€100.00" in mails["finance@soc.example"].body


def test_enterprise_eligibility_mails_once_per_episode_in_the_tenants_language(
    world: World, services: Services
) -> None:
    profile(services, "customer-beta", "customer@beta.example", None)  # no language of its own
    with services.db.session() as session:
        beta = session.scalars(select(Tenant).where(Tenant.slug == "beta")).one()
        beta.language = "nl"
        bill = SimpleNamespace(avg_gb_3m=Decimal("12.5"), avg_cases_3m=Decimal("40"))
        assert _notify_eligible(session, "2026-10", [(beta, bill)]) == ["beta"]
        assert _notify_eligible(session, "2026-10", [(beta, bill)]) == []
    (row,) = rows(services)
    assert row.kind == "billing_enterprise_eligible" and row.recipient == "customer@beta.example"
    assert row.subject == "[Facturatie] Beta komt in aanmerking voor enterprise SIEM"
    assert "12,5 GB per dag" in row.body and row.language == "nl"


@pytest.mark.parametrize("db_backend", ["sqlite", "postgresql"])
def test_risk_notices_mail_each_party_and_respect_the_opt_out(
    world: World, services: Services
) -> None:
    profile(services, "risk_owner-alpha", "owner@alpha.example", "nl")
    profile(services, "customer-alpha", "klant@alpha.example", opt_out=True)
    profile(services, "authority", "authority@gov.example")
    profile(services, "provider-prov-a", "desk@prov-a.example")
    owner = by_id(services, User, username="risk_owner-alpha")
    alpha = by_id(services, Tenant, slug="alpha")
    prov_a = by_id(services, Provider, slug="prov-a")
    with services.db.session() as session:
        notify(
            session,
            [
                Notice("owner", "early_warning", "action", 7, "Due soon.", user_id=owner),
                Notice("customer", "risk_aligned", "risk", 3, "Aligned.", tenant_id=alpha),
                Notice("authority", "alignment_needed", "risk", 3, "Align it."),
                Notice("provider", "review_due", "risk", 3, "Review.", provider_id=prov_a),
            ],
        )
    got = sorted((r.recipient, r.subject) for r in rows(services))
    assert got == [
        ("authority@gov.example", "[Risk register] alignment needed: risk 3"),
        ("desk@prov-a.example", "[Risk register] review due: risk 3"),
        ("owner@alpha.example", "[Risicoregister] risico afgestemd: risico 3"),
        ("owner@alpha.example", "[Risicoregister] vroegtijdige waarschuwing: actie 7"),
    ]


def test_delivery_runs_in_beat_and_in_the_embedded_server(services: Services) -> None:
    import soc.tasks  # noqa: F401  (registers the tasks)

    schedule = celery_app.conf.beat_schedule
    assert schedule["mail-deliver"]["task"] == "soc.tasks.mail_deliver"
    assert "soc.tasks.mail_deliver" in celery_app.tasks
    names = [t.name for t in background_threads(services, threading.Event())]
    assert "mail-outbox" in names
