"""How one notification goes out: an e-mail (SMTP, English and Dutch) or a signed webhook.

Webhook: `POST` of `{"application": {"id", "name"}, "state", "previous", "at", "change_id"}`
with `X-Soc-Signature: sha256=<hex HMAC-SHA256(webhook_secret, raw body)>`, `X-Soc-Timestamp`
(Unix seconds; not signed, informational) and `X-Soc-Delivery` (the notification id). A
receiver verifies the signature over the exact bytes received and dedupes by `change_id`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import httpx
import orjson

from soc.core.db import utcnow
from soc.core.i18n import P_, Message, translate
from soc.core.settings import Settings

SIGNATURE_HEADER = "X-Soc-Signature"
TIMESTAMP_HEADER = "X-Soc-Timestamp"
DELIVERY_HEADER = "X-Soc-Delivery"

STATE_WORDS: dict[str, Message] = {
    "operational": P_("status", "operational"),
    "degraded": P_("status", "degraded"),
    "down": P_("status", "down"),
    "maintenance": P_("status", "in maintenance"),
}


@dataclass(frozen=True)
class Outgoing:
    """A due notification with everything its delivery needs, read before sending."""

    id: int
    attempts: int
    channel: str
    change_id: int
    ci_id: int
    application: str
    state: str
    previous: str
    at: datetime
    email: str | None
    webhook_url: str | None
    webhook_secret: str | None


class Failure(Exception):
    """A failed attempt; `permanent` when retrying cannot help (the row is dead at once)."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.permanent = reason[:2000], permanent


def send(item: Outgoing, settings: Settings, mailer: Mailer, client: httpx.Client) -> None:
    if item.channel == "email" and item.email:
        mailer.send(email_message(item, settings))
    elif item.channel == "webhook" and item.webhook_url:
        if not settings.status_webhook_allow_private:
            refuse_private_target(item.webhook_url)
        post_webhook(client, item)
    else:
        raise Failure(f"the subscription has no {item.channel} target any more", permanent=True)


# --- e-mail --------------------------------------------------------------------------------


def _words(item: Outgoing, lang: str) -> tuple[str, str]:
    def said(state: str) -> str:
        return translate(lang, STATE_WORDS[state]) if state in STATE_WORDS else state

    return said(item.state), said(item.previous)


def email_message(item: Outgoing, settings: Settings) -> EmailMessage:
    """The e-mail in English and Dutch (users have no language setting yet)."""
    app = " ".join(item.application.split())  # no line breaks in a header
    when = item.at.astimezone(ZoneInfo(settings.case_timezone)).strftime("%Y-%m-%d %H:%M %Z")
    en_state, en_prev = _words(item, "en")
    nl_state, nl_prev = _words(item, "nl")
    message = EmailMessage()
    message["Subject"] = f"[Status] {app}: {en_state} (was {en_prev}) / {nl_state}"
    message["From"] = settings.smtp_from
    message["To"] = item.email or ""
    message["Date"] = format_datetime(utcnow())
    domain = settings.smtp_from.rpartition("@")[2] or "localhost"
    message["Message-ID"] = f"<status.{item.change_id}.{item.id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message["Content-Language"] = "en, nl"
    message.set_content(
        f"{app} is {en_state} since {when} (it was {en_prev}).\n\n"
        f"{app} is {nl_state} sinds {when} (het was {nl_prev}).\n\n"
        "-- \n"
        f"You receive this because you subscribed to the status of {app}.\n"
        f"U ontvangt dit omdat u geabonneerd bent op de status van {app}.\n"
    )
    return message


class Mailer:
    """One SMTP connection per delivery run, opened on first use, reopened after an error."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def send(self, message: EmailMessage) -> None:
        try:
            if self.smtp is None:
                self.smtp = self._connect()
            self.smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            self.close()
            reason = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            raise Failure(reason, exc.smtp_code >= 500) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            codes = [code for code, _ in exc.recipients.values()]
            reason = f"SMTP refused the recipient: {exc.recipients}"
            raise Failure(reason, bool(codes) and min(codes) >= 500) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise Failure(f"SMTP: {type(exc).__name__}: {exc}") from exc

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if not s.smtp_host:
            raise Failure("no SMTP relay configured (smtp_host)")
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.status_webhook_timeout_seconds)
        try:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def close(self) -> None:
        if self.smtp is None:
            return
        try:
            self.smtp.quit()
        except (OSError, smtplib.SMTPException):
            self.smtp.close()
        self.smtp = None


# --- webhook -------------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(item: Outgoing) -> bytes:
    return orjson.dumps(
        {
            "application": {"id": item.ci_id, "name": item.application},
            "state": item.state,
            "previous": item.previous,
            "at": item.at.isoformat(),
            "change_id": item.change_id,
        }
    )


def refuse_private_target(url: str) -> None:
    """A webhook may not reach loopback, private, link-local or reserved addresses (no
    requests into the SOC's own network on a subscriber's behalf)."""
    host = httpx.URL(url).host
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise Failure(f"cannot resolve webhook host {host!r}: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise Failure(f"webhook host {host!r} is a non-public address ({address})", True)


def post_webhook(client: httpx.Client, item: Outgoing) -> None:
    body = webhook_body(item)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(item.webhook_secret or "", body),
        TIMESTAMP_HEADER: str(int(time.time())),
        DELIVERY_HEADER: str(item.id),
    }
    try:
        answer = client.post(item.webhook_url or "", content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise Failure(f"{type(exc).__name__}: {exc}") from exc
    if 200 <= answer.status_code < 300:
        return
    permanent = 400 <= answer.status_code < 500 and answer.status_code not in (408, 429)
    raise Failure(f"HTTP {answer.status_code}: {answer.text[:200]}", permanent)
