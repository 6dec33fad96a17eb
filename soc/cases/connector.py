"""ITSM connector: every case change goes out as signed JSON through an outbox; status
changes come back through a signed webhook.

Signature (both directions): header `X-SOC-Signature: sha256=<hex>` where hex is
HMAC-SHA256(secret, "<X-SOC-Timestamp>.<X-SOC-Nonce>.<raw body>"); `X-SOC-Timestamp` is Unix
seconds, `X-SOC-Nonce` the message's idempotency key (also sent as `Idempotency-Key`).
Delivery is at-least-once with a stable idempotency key per change, so a receiver that keeps
the keys it has applied sees every change exactly once. Failed attempts back off
exponentially; after `itsm_max_attempts` a message is dead-lettered until an admin replays it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import httpx
import orjson
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from soc.cases import itsm_delivery
from soc.cases.models import Case, InboundNonce, OutboxMessage
from soc.core import audit
from soc.core.db import Database, utcnow
from soc.core.errors import Conflict, NotFound, Unauthorized
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.models import Provider, Tenant

log = logging.getLogger(__name__)
ITSM_ACTOR = "itsm"
SIGNATURE_HEADER = "X-SOC-Signature"
TIMESTAMP_HEADER = "X-SOC-Timestamp"
NONCE_HEADER = "X-SOC-Nonce"


def sign(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + nonce.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str, nonce: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    timestamp = str(int(now if now is not None else time.time()))
    return {
        "Content-Type": "application/json",
        "Idempotency-Key": nonce,
        NONCE_HEADER: nonce,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, nonce, body),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def snapshot(session: Session, case: Case) -> dict[str, Any]:
    tenant = session.get(Tenant, case.tenant_id)
    provider = session.get(Provider, case.provider_id) if case.provider_id else None
    return {
        "id": case.id,
        "tenant": tenant.slug if tenant else None,
        "title": case.title,
        "status": case.status,
        "priority": case.priority,
        "impact": case.impact,
        "urgency": case.urgency,
        "level": case.level,
        "host": case.host,
        "provider": provider.slug if provider else None,
        "assignee_id": case.assignee_id,
        "escalation_level": case.escalation_level,
        "response_due": _iso(case.response_due),
        "resolution_due": _iso(case.resolution_due),
    }


def enabled(settings: Settings) -> bool:
    """Whether case changes go out at all: the chosen ITSM tool has an address."""
    if settings.itsm_kind == "servicenow":
        return bool(settings.servicenow_url)
    if settings.itsm_kind == "4me":
        return bool(settings.fourme_url)
    return bool(settings.itsm_url)


def enqueue(
    session: Session,
    settings: Settings,
    case: Case,
    actor: str,
    kind: str,
    detail: dict[str, Any],
) -> OutboxMessage | None:
    """Queue one case change for the ITSM tool (when a connector URL is set). Changes that
    came from the ITSM tool itself are not echoed back."""
    if not enabled(settings) or actor == ITSM_ACTOR:
        return None
    key = uuid.uuid4().hex
    now = utcnow()
    payload = {
        "idempotency_key": key,
        "kind": kind,
        "at": now.isoformat(),
        "actor": actor,
        "case": snapshot(session, case),
        "detail": detail,
    }
    message = OutboxMessage(
        idempotency_key=key,
        case_id=case.id,
        tenant_id=case.tenant_id,
        kind=kind,
        payload=orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode(),
        state="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(message)
    return message


def backoff(settings: Settings, attempts: int) -> timedelta:
    seconds = settings.itsm_backoff_seconds * (2 ** max(0, attempts - 1))
    return timedelta(seconds=min(seconds, settings.itsm_backoff_max_seconds))


def _post(client: httpx.Client, settings: Settings, key: str, payload: str) -> str | None:
    """One attempt; None on success (2xx), else the reason."""
    body = payload.encode()
    headers = signed_headers(settings.itsm_secret or "", key, body)
    try:
        answer = client.post(settings.itsm_url or "", content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if 200 <= answer.status_code < 300:
        return None
    return f"HTTP {answer.status_code}: {answer.text[:200]}"


class Claimed(NamedTuple):
    """A leased outbox message: what delivery needs, read before the lease commits."""

    message_id: int
    case_id: int
    key: str
    payload: str


def _claim(db: Database, settings: Settings, now: datetime, batch: int) -> list[Claimed]:
    """Lease the due messages (oldest first; a case's later changes only behind its earlier
    ones) so that concurrent deliverers never send the same message at the same time."""
    lease = now + timedelta(seconds=settings.itsm_timeout_seconds * 2 + 30)
    claimed: list[Claimed] = []
    with db.session() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.state == "pending")
            .order_by(OutboxMessage.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        blocked: set[int] = set()
        for message in rows:
            if message.case_id in blocked or message.next_attempt_at > now:
                blocked.add(message.case_id)
                continue
            message.next_attempt_at = lease
            claimed.append(
                Claimed(message.id, message.case_id, message.idempotency_key, message.payload)
            )
    return claimed


def deliver_due(
    db: Database, settings: Settings, now: datetime | None = None, batch: int = 200
) -> dict[str, int]:
    """Send every pending message that is due. No transaction is held while sending; each
    outcome is saved at once. Returns counts of delivered, failed (will retry) and
    dead-lettered messages."""
    counts = {"delivered": 0, "failed": 0, "dead": 0}
    if not enabled(settings):
        return counts
    now = now or utcnow()
    claimed = _claim(db, settings, now, batch)
    failed_cases: dict[int, datetime] = {}
    with httpx.Client(timeout=settings.itsm_timeout_seconds) as client:
        for message_id, case_id, key, payload in claimed:
            if case_id in failed_cases:  # keep the order: wait behind the failed change
                with db.session() as session:
                    message = session.get(OutboxMessage, message_id)
                    if message is not None:
                        message.next_attempt_at = failed_cases[case_id]
                continue
            if settings.itsm_kind == "generic":
                problem = _post(client, settings, key, payload)
            else:
                problem = itsm_delivery.deliver(client, db, settings, message_id, payload)
            with db.session() as session:
                message = session.get(OutboxMessage, message_id)
                assert message is not None
                message.attempts += 1
                if problem is None:
                    message.state, message.delivered_at, message.last_error = (
                        "delivered",
                        utcnow(),
                        None,
                    )
                    counts["delivered"] += 1
                    continue
                message.last_error = problem
                if message.attempts >= settings.itsm_max_attempts:
                    message.state = "dead"
                    counts["dead"] += 1
                    log.warning("ITSM message %s dead-lettered: %s", message.id, problem)
                    failed_cases[case_id] = now
                else:
                    message.next_attempt_at = now + backoff(settings, message.attempts)
                    failed_cases[case_id] = message.next_attempt_at
                    counts["failed"] += 1
    return counts


def deliver_until(db: Database, settings: Settings, stop: threading.Event) -> None:
    """In-process outbox worker for the embedded mode (the Celery beat task does the same)."""
    while not stop.wait(settings.itsm_poll_seconds):
        try:
            deliver_due(db, settings)
        except Exception:  # keep trying; the messages stay in the outbox
            log.exception("ITSM delivery failed")


def dead_letters(session: Session, actor: Principal, limit: int = 100) -> list[OutboxMessage]:
    actor.require("itsm.manage")
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.state == "dead")
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
    )


def replay(session: Session, actor: Principal, message_id: int) -> OutboxMessage:
    """Put a dead-lettered message back in the queue (same idempotency key)."""
    actor.require("itsm.manage")
    message = session.get(OutboxMessage, message_id)
    if message is None or message.state != "dead":
        raise NotFound(N_("no dead-lettered message {message_id}"), message_id=message_id)
    message.state, message.attempts, message.next_attempt_at = "pending", 0, utcnow()
    audit.record(
        session,
        actor=actor.actor,
        action="itsm.replay",
        object_type="itsm_message",
        object_id=message.id,
        tenant_id=message.tenant_id,
        detail={"idempotency_key": message.idempotency_key, "last_error": message.last_error},
    )
    return message


def verify_inbound(
    session: Session, settings: Settings, headers: dict[str, str], body: bytes, now: float
) -> str:
    """Check signature, freshness and novelty of an inbound webhook; returns the nonce.

    Unsigned, badly signed or stale requests are 401; a nonce seen before is 409 (replay).
    The nonce is stored in the caller's transaction, so a refused change can be resent.
    """
    secret = settings.itsm_inbound_secret or settings.itsm_secret
    if not secret:
        raise Unauthorized(N_("the ITSM webhook is not configured (SOC_ITSM_INBOUND_SECRET)"))
    lower = {k.lower(): v for k, v in headers.items()}
    timestamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    nonce = lower.get(NONCE_HEADER.lower(), "")
    signature = lower.get(SIGNATURE_HEADER.lower(), "")
    if not (timestamp and nonce and signature):
        raise Unauthorized(
            N_("unsigned: send {timestamp_header}, {nonce_header}, {signature_header}"),
            timestamp_header=TIMESTAMP_HEADER,
            nonce_header=NONCE_HEADER,
            signature_header=SIGNATURE_HEADER,
        )
    expected = sign(secret, timestamp, nonce, body).encode()
    if not hmac.compare_digest(expected, signature.encode("utf-8", "surrogateescape")):
        raise Unauthorized(N_("bad signature"))
    try:
        age = abs(now - int(timestamp))
    except ValueError as exc:
        raise Unauthorized(N_("timestamp must be Unix seconds")) from exc
    if age > settings.itsm_webhook_max_skew_seconds:
        raise Unauthorized(N_("timestamp too old or in the future"))
    if len(nonce) > 128 or session.get(InboundNonce, nonce) is not None:
        raise Conflict(N_("replayed request: this nonce was already used"))
    horizon = utcnow() - timedelta(seconds=2 * settings.itsm_webhook_max_skew_seconds)
    session.execute(delete(InboundNonce).where(InboundNonce.received_at < horizon))
    session.add(InboundNonce(nonce=nonce, received_at=utcnow()))
    try:
        session.flush()
    except IntegrityError as exc:  # the same nonce in a concurrent request
        raise Conflict(N_("replayed request: this nonce was already used")) from exc
    return nonce


ITSM_PRINCIPAL = Principal(actor=ITSM_ACTOR, role="admin")
