"""How one notification goes out: an e-mail (SMTP, English and Dutch, through
`soc.core.mail`) or a signed webhook.

Webhook: `POST` of `{"application": {"id", "name"}, "state", "previous", "at", "change_id"}`
with `X-Soc-Signature: sha256=<hex HMAC-SHA256(webhook_secret, raw body)>`, `X-Soc-Timestamp`
(Unix seconds; not signed, informational) and `X-Soc-Delivery` (the notification id). A
receiver verifies the signature over the exact bytes received and dedupes by `change_id`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import httpx
import orjson

from soc.core.i18n import P_, Message, translate
from soc.core.mail import Failure, Mailer, compose
from soc.core.settings import Settings

SIGNATURE_HEADER = "X-Soc-Signature"
TIMESTAMP_HEADER = "X-Soc-Timestamp"
DELIVERY_HEADER = "X-Soc-Delivery"
__all__ = ["Failure", "Mailer", "Outgoing", "send", "email_message"]

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
    """The e-mail in English and Dutch: a subscription's address need not be its user's, nor
    read in the user's language."""
    app = " ".join(item.application.split())  # no line breaks in a header
    when = item.at.astimezone(ZoneInfo(settings.case_timezone)).strftime("%Y-%m-%d %H:%M %Z")
    en_state, en_prev = _words(item, "en")
    nl_state, nl_prev = _words(item, "nl")
    body = (
        f"{app} is {en_state} since {when} (it was {en_prev}).\n\n"
        f"{app} is {nl_state} sinds {when} (het was {nl_prev}).\n\n"
        "-- \n"
        f"You receive this because you subscribed to the status of {app}.\n"
        f"U ontvangt dit omdat u geabonneerd bent op de status van {app}.\n"
    )
    subject = f"[Status] {app}: {en_state} (was {en_prev}) / {nl_state}"
    message_id = f"status.{item.change_id}.{item.id}"
    return compose(settings, item.email or "", subject, body, message_id, "en, nl")


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
