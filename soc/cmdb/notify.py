"""Status subscriptions and their notifications (e-mail, signed webhook).

Exactly one row per status change: `enqueue` writes one `status_notifications` row per
(subscription, change, channel) and the unique key makes a second call for the same change
(a retried transaction, a replay) insert nothing.

Delivery is at-least-once, retried until acknowledged, not exactly-once: a row is marked sent
in its own transaction right after the SMTP relay accepted it or the webhook answered 2xx, so
what is recorded sent is never sent again; a crash between the acknowledgement and that
commit sends it once more. Receivers that must apply each change once dedupe by `change_id`
(webhook body) or the stable Message-ID (e-mail). One deliverer runs at a time (PostgreSQL
advisory lock across processes, a lock within the process), so two never send the same row.

Retries: a row that failed n times is due `BACKOFF_BASE_SECONDS · (2^n − 1)` seconds after it
was created (each step capped at `BACKOFF_MAX_SECONDS`); after `status_notify_max_attempts`
failures, or a permanent refusal (SMTP 5xx, HTTP 4xx other than 408/429), it is `dead` with
the last error. What goes out on each channel is in `soc.cmdb.channels`.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from soc.cmdb.channels import Failure, Mailer, Outgoing, send
from soc.cmdb.models import ConfigurationItem, StatusChange, StatusNotification, Subscription
from soc.core import audit
from soc.core.db import Database, sole_runner, utcnow
from soc.core.errors import Conflict, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 30.0
BACKOFF_MAX_SECONDS = 3600.0
DELIVERER_LOCK_KEY = 7420011  # pg advisory lock: one deliverer across processes
_process_lock = threading.Lock()
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# --- queueing ------------------------------------------------------------------------------


def enqueue(session: Session, changes: list[StatusChange]) -> int:
    """Queue one notification per subscription and channel for each application change;
    returns how many rows were new (0 when the same changes were queued before)."""
    if not changes:
        return 0
    if any(change.id is None for change in changes):
        session.flush()
    subs: dict[int, list[tuple[int, str]]] = {}
    rows = session.execute(
        select(Subscription.id, Subscription.ci_id, Subscription.email, Subscription.webhook_url)
        .where(Subscription.ci_id.in_(sorted({c.ci_id for c in changes})))
        .order_by(Subscription.id)
    )
    for sub_id, ci_id, email, url in rows:
        channels = [name for name, target in (("email", email), ("webhook", url)) if target]
        subs.setdefault(ci_id, []).extend((sub_id, channel) for channel in channels)
    now = utcnow()
    wanted = {
        (sub_id, change.id, channel)
        for change in changes
        for sub_id, channel in subs.get(change.ci_id, ())
    }
    values = [
        {
            "subscription_id": sub_id,
            "change_id": change_id,
            "channel": channel,
            "state": "pending",
            "attempts": 0,
            "created_at": now,
        }
        for sub_id, change_id, channel in sorted(wanted)
    ]
    return sum(_insert_new(session, values[i : i + 500]) for i in range(0, len(values), 500))


def _insert_new(session: Session, values: list[dict[str, Any]]) -> int:
    """Insert the rows the unique key does not already hold (no error, no savepoint)."""
    if not values:
        return 0
    keys = ["subscription_id", "change_id", "channel"]
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        build = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            build(StatusNotification)
            .values(values)
            .on_conflict_do_nothing(index_elements=keys)
            .returning(StatusNotification.id)
        )
        return len(session.execute(statement).all())
    added = 0
    for value in values:  # other databases: look first (enough for one writer at a time)
        exists = session.scalar(
            select(StatusNotification.id).where(
                StatusNotification.subscription_id == value["subscription_id"],
                StatusNotification.change_id == value["change_id"],
                StatusNotification.channel == value["channel"],
            )
        )
        if exists is None:
            session.add(StatusNotification(**value))
            added += 1
    session.flush()
    return added


# --- delivery ------------------------------------------------------------------------------


def due_at(created_at: datetime, failures: int) -> datetime:
    """When a row that failed `failures` times may be tried again (exponential backoff)."""
    delay = sum(min(BACKOFF_BASE_SECONDS * 2**k, BACKOFF_MAX_SECONDS) for k in range(failures))
    return created_at + timedelta(seconds=delay)


def deliver_pending(
    db: Database, settings: Settings, now: datetime | None = None, batch: int = 200
) -> int:
    """Send the due pending notifications; returns how many were sent. No transaction is
    open while sending; each outcome is committed on its own at once."""
    now = now or utcnow()
    sent = 0
    with sole_runner(db, _process_lock, DELIVERER_LOCK_KEY) as alone:
        if not alone:
            return 0
        due = _due(db, now, batch)
        if not due:
            return 0
        mailer = Mailer(settings)
        try:
            with httpx.Client(
                timeout=settings.status_webhook_timeout_seconds, follow_redirects=False
            ) as client:
                for item in due:
                    try:
                        send(item, settings, mailer, client)
                        problem = None
                    except Failure as exc:
                        problem = exc
                    except Exception as exc:  # a bug must not wedge the queue: retry, then dead
                        log.exception("status notification %s failed", item.id)
                        problem = Failure(f"{type(exc).__name__}: {exc}")
                    sent += _record(db, settings, item, problem)
        finally:
            mailer.close()
    return sent


def deliver_until(db: Database, settings: Settings, stop: threading.Event) -> None:
    """The server's background deliverer: every `status_notify_poll_seconds` until `stop`."""
    while not stop.wait(settings.status_notify_poll_seconds):
        try:
            deliver_pending(db, settings)
        except Exception:  # keep trying; the rows stay pending
            log.exception("status notification delivery failed")


def _due(db: Database, now: datetime, batch: int) -> list[Outgoing]:
    """Up to `batch` due rows, oldest first, with their subscription, change and CI name. A
    row whose subscription or change is gone is marked dead here."""
    picked: list[StatusNotification] = []
    orphans: list[int] = []
    with db.read_session() as session:
        last = 0
        while len(picked) < batch:
            page = list(
                session.scalars(
                    select(StatusNotification)
                    .where(StatusNotification.state == "pending", StatusNotification.id > last)
                    .order_by(StatusNotification.id)
                    .limit(500)
                )
            )
            if not page:
                break
            last = page[-1].id
            picked += [r for r in page if due_at(r.created_at, r.attempts) <= now]
        picked = picked[:batch]
        subs = _by_id(session, Subscription, {r.subscription_id for r in picked})
        changes = _by_id(session, StatusChange, {r.change_id for r in picked})
        names = application_names(session, {c.ci_id for c in changes.values()})
        due: list[Outgoing] = []
        for row in picked:
            sub, change = subs.get(row.subscription_id), changes.get(row.change_id)
            if sub is None or change is None:
                orphans.append(row.id)
                continue
            due.append(
                Outgoing(
                    id=row.id,
                    attempts=row.attempts,
                    channel=row.channel,
                    change_id=change.id,
                    ci_id=change.ci_id,
                    application=names.get(change.ci_id, f"CI {change.ci_id}"),
                    state=change.state,
                    previous=change.previous,
                    at=change.at,
                    email=sub.email,
                    webhook_url=sub.webhook_url,
                    webhook_secret=sub.webhook_secret,
                )
            )
    if orphans:
        with db.session() as session:
            for row_id in orphans:
                orphan = session.get(StatusNotification, row_id)
                if orphan is not None and orphan.state == "pending":
                    orphan.state, orphan.last_error = "dead", "subscription or change removed"
    return due


def _by_id(session: Session, model: Any, ids: set[int]) -> dict[int, Any]:
    found: dict[int, Any] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        found.update((r.id, r) for r in session.scalars(select(model).where(model.id.in_(chunk))))
    return found


def _record(db: Database, settings: Settings, item: Outgoing, problem: Failure | None) -> int:
    """Commit one attempt's outcome (its own transaction); 1 when it was sent."""
    with db.session() as session:
        row = session.get(StatusNotification, item.id)
        if row is None or row.state != "pending" or row.attempts != item.attempts:
            return 0  # removed or handled meanwhile (unsubscribed): nothing to record
        if problem is None:
            row.state, row.sent_at, row.last_error = "sent", utcnow(), None
            return 1
        row.attempts += 1
        row.last_error = problem.reason
        if problem.permanent or row.attempts >= settings.status_notify_max_attempts:
            row.state = "dead"
            log.warning("status notification %s dead: %s", row.id, problem.reason)
        return 0


# --- subscriptions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscribed:
    """A new subscription and its webhook secret, shown this once (never listed again)."""

    subscription: Subscription
    webhook_secret: str | None


def subscribe(
    session: Session,
    principal: Principal,
    ci_id: int,
    email: str | None = None,
    webhook_url: str | None = None,
    *,
    visible: frozenset[int] | None,
) -> Subscribed:
    """Subscribe the user to an application it can see (`visible` from
    `visibility.visible_cis`; None = every CI). A CI it cannot see is a 404."""
    principal.require("status.subscribe")
    if principal.user_id is None:
        raise Invalid(N_("only a signed-in user can subscribe"))
    ci = session.get(ConfigurationItem, ci_id)
    if (
        ci is None
        or ci.ci_type != "application"
        or ci.retired_at is not None
        or (visible is not None and ci_id not in visible)
    ):
        raise NotFound(N_("application {ci_id} not found"), ci_id=ci_id)
    email, webhook_url = _check_email(email), _check_url(webhook_url)
    if email is None and webhook_url is None:
        raise Invalid(N_("give an e-mail address, a webhook URL, or both"))
    taken = session.scalar(
        select(Subscription.id).where(
            Subscription.user_id == principal.user_id, Subscription.ci_id == ci_id
        )
    )
    if taken is not None:
        raise Conflict(
            N_("already subscribed to application {ci_id} (subscription {taken})"),
            ci_id=ci_id,
            taken=taken,
        )
    secret = secrets.token_hex(32) if webhook_url else None
    sub = Subscription(
        user_id=principal.user_id,
        tenant_id=principal.tenant_id,
        ci_id=ci_id,
        email=email,
        webhook_url=webhook_url,
        webhook_secret=secret,
        created_at=utcnow(),
    )
    session.add(sub)
    session.flush()
    _audit(session, principal, "status.subscribe", sub)
    return Subscribed(sub, secret)


def unsubscribe(session: Session, principal: Principal, subscription_id: int) -> None:
    """Remove one's own subscription (an admin any); its undelivered rows go with it."""
    principal.require("status.subscribe")
    sub = session.get(Subscription, subscription_id)
    if sub is None or not _may_see(principal, sub):
        raise NotFound(N_("subscription {name} not found"), name=subscription_id)
    session.execute(
        delete(StatusNotification).where(
            StatusNotification.subscription_id == sub.id, StatusNotification.state == "pending"
        )
    )
    _audit(session, principal, "status.unsubscribe", sub)
    session.delete(sub)
    session.flush()


def list_subscriptions(session: Session, principal: Principal) -> list[Subscription]:
    """One's own subscriptions; an unscoped admin sees everyone's."""
    principal.require("status.subscribe")
    query = select(Subscription).order_by(Subscription.id)
    if not _is_admin(principal):
        query = query.where(Subscription.user_id == principal.user_id)
    return list(session.scalars(query))


def application_names(session: Session, ids: set[int]) -> dict[int, str]:
    ordered = sorted(ids)
    names: dict[int, str] = {}
    for start in range(0, len(ordered), 500):
        rows = session.execute(
            select(ConfigurationItem.id, ConfigurationItem.name).where(
                ConfigurationItem.id.in_(ordered[start : start + 500])
            )
        )
        names.update((ci_id, name) for ci_id, name in rows)
    return names


def _is_admin(principal: Principal) -> bool:
    return principal.role == "admin" and principal.is_global


def _may_see(principal: Principal, sub: Subscription) -> bool:
    return _is_admin(principal) or (
        principal.user_id is not None and sub.user_id == principal.user_id
    )


def _check_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    email = email.strip()
    if len(email) > 320 or not EMAIL_RE.match(email):
        raise Invalid(N_("not an e-mail address: {email!r}"), email=email[:80])
    return email


def _check_url(url: str | None) -> str | None:
    if url is None or not url.strip():
        return None
    url = url.strip()
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise Invalid(N_("not a URL: {url!r}"), url=url[:80]) from exc
    if parsed.scheme not in ("http", "https") or not parsed.host or len(url) > 1000:
        raise Invalid(N_("the webhook URL must be http(s)://host/... (at most 1000 characters)"))
    return url


def _audit(session: Session, principal: Principal, action: str, sub: Subscription) -> None:
    audit.record(
        session,
        actor=principal.actor,
        action=action,
        object_type="status_subscription",
        object_id=sub.id,
        tenant_id=sub.tenant_id,
        detail={
            "ci_id": sub.ci_id,
            "email": sub.email is not None,
            "webhook": sub.webhook_url is not None,
        },
    )
