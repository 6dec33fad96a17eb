"""The e-mail outbox: every notice mail is a row written in the transaction of the change
that caused it, and sent later by a deliverer (Celery beat, or the embedded server's
thread), never inside a request.

Exactly one row per notice and address: `key` (the notice's idempotency key, e.g.
`case.12.sla.response`) plus the address is unique, so a retried transaction or a second
sweep inserts nothing. The text is rendered at enqueue time in the reader's language, so a
row is what will be sent, whatever changes afterwards.

Delivery is at-least-once until accepted: a row is marked `sent` in its own transaction
right after the relay accepted it, so what is recorded sent is never sent again (a crash
between the relay's 250 and that commit sends it once more, with the same Message-ID). A
failure moves `next_at` by `mail_backoff_seconds · 2^(attempts-1)` (capped at an hour);
after `mail_max_attempts` failures, or a permanent refusal (5xx), the row is `dead` and
waits for `replay` (an admin's `soc mail replay`). One deliverer runs at a time (a lock
in the process, a PostgreSQL advisory lock across processes).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from soc.core.db import Base, Database, UTCDateTime, sole_runner, utcnow
from soc.core.mail import Failure, Mailer, compose
from soc.core.settings import Settings

log = logging.getLogger(__name__)

BACKOFF_MAX_SECONDS = 3600.0
DELIVERER_LOCK_KEY = 7420019  # pg advisory lock: one mail deliverer across processes
_process_lock = threading.Lock()
STATES = ("pending", "sent", "dead")


class MailMessage(Base):
    """One e-mail to one address, rendered, waiting or done."""

    __tablename__ = "mail_outbox"
    __table_args__ = (
        UniqueConstraint("key", "recipient", name="uq_mail_outbox_key_recipient"),
        Index("ix_mail_outbox_due", "state", "next_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(320))
    # The user it is for, when it is one (no foreign key: the core floor knows no users).
    user_id: Mapped[int | None] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class Mail:
    """A rendered notice for one reader."""

    key: str
    kind: str
    recipient: str
    language: str
    subject: str
    body: str
    user_id: int | None = None


# --- queueing ------------------------------------------------------------------------------


def enqueue(session: Session, mails: Sequence[Mail]) -> int:
    """Queue the mails in the caller's transaction; returns how many were new (a notice
    queued before for the same address adds nothing)."""
    if not mails:
        return 0
    now = utcnow()
    values = [
        {
            "key": m.key[:200],
            "kind": m.kind[:64],
            "recipient": m.recipient[:320],
            "user_id": m.user_id,
            "language": m.language,
            "subject": m.subject[:300],
            "body": m.body,
            "state": "pending",
            "attempts": 0,
            "created_at": now,
            "next_at": now,
        }
        for m in {(m.key, m.recipient): m for m in mails}.values()
    ]
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        build = pg_insert if dialect == "postgresql" else sqlite_insert
        added = 0
        for start in range(0, len(values), 500):
            statement = (
                build(MailMessage)
                .values(values[start : start + 500])
                .on_conflict_do_nothing(index_elements=["key", "recipient"])
                .returning(MailMessage.id)
            )
            added += len(session.execute(statement).all())
        return added
    added = 0
    for value in values:  # other databases: look first (enough for one writer at a time)
        taken = session.scalar(
            select(MailMessage.id).where(
                MailMessage.key == value["key"], MailMessage.recipient == value["recipient"]
            )
        )
        if taken is None:
            session.add(MailMessage(**value))
            added += 1
    session.flush()
    return added


# --- delivery ------------------------------------------------------------------------------


def retry_delay(settings: Settings, attempts: int) -> timedelta:
    """How long after its `attempts`-th failure a mail is tried again."""
    seconds = settings.mail_backoff_seconds * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, BACKOFF_MAX_SECONDS))


@dataclass(frozen=True)
class _Due:
    id: int
    attempts: int
    key: str
    recipient: str
    language: str
    subject: str
    body: str


def deliver_due(
    db: Database, settings: Settings, now: datetime | None = None, batch: int = 200
) -> int:
    """Send the due mails; returns how many the relay accepted. No transaction is open while
    sending; each outcome is committed on its own at once."""
    now = now or utcnow()
    sent = 0
    with sole_runner(db, _process_lock, DELIVERER_LOCK_KEY) as alone:
        if not alone:
            return 0
        with db.read_session() as session:
            due = [
                _Due(r.id, r.attempts, r.key, r.recipient, r.language, r.subject, r.body)
                for r in session.scalars(
                    select(MailMessage)
                    .where(MailMessage.state == "pending", MailMessage.next_at <= now)
                    .order_by(MailMessage.next_at, MailMessage.id)
                    .limit(batch)
                )
            ]
        if not due:
            return 0
        with Mailer(settings) as mailer:
            for item in due:
                try:
                    message_id = f"mail.{item.id}.{item.key}".replace(" ", "_")
                    mailer.send(
                        compose(
                            settings,
                            item.recipient,
                            item.subject,
                            item.body,
                            message_id,
                            item.language,
                        )
                    )
                    problem = None
                except Failure as exc:
                    problem = exc
                except Exception as exc:  # a bug must not wedge the queue: retry, then dead
                    log.exception("mail %s failed", item.id)
                    problem = Failure(f"{type(exc).__name__}: {exc}")
                sent += _record(db, settings, item, problem)
    return sent


def _record(db: Database, settings: Settings, item: _Due, problem: Failure | None) -> int:
    with db.session() as session:
        row = session.get(MailMessage, item.id)
        if row is None or row.state != "pending" or row.attempts != item.attempts:
            return 0  # handled meanwhile (a replay, a purge)
        if problem is None:
            row.state, row.sent_at, row.last_error = "sent", utcnow(), None
            return 1
        row.attempts += 1
        row.last_error = problem.reason
        if problem.permanent or row.attempts >= settings.mail_max_attempts:
            row.state = "dead"
            log.warning("mail %s to %s dead: %s", row.id, row.recipient, problem.reason)
        else:
            row.next_at = utcnow() + retry_delay(settings, row.attempts)
        return 0


def deliver_until(db: Database, settings: Settings, stop: threading.Event) -> None:
    """The embedded server's deliverer: every `mail_poll_seconds` until `stop`."""
    while not stop.wait(settings.mail_poll_seconds):
        try:
            deliver_due(db, settings)
        except Exception:  # the database may be down: the rows stay pending
            log.exception("mail delivery failed")


# --- operation -----------------------------------------------------------------------------


def listing(session: Session, state: str | None = None, limit: int = 100) -> list[MailMessage]:
    query = select(MailMessage).order_by(MailMessage.id.desc()).limit(limit)
    if state is not None:
        query = query.where(MailMessage.state == state)
    return list(session.scalars(query))


def replay(session: Session, ids: Sequence[int] | None = None) -> int:
    """Queue dead mails again (the given ones, else every dead one), from a fresh count of
    attempts; returns how many. A sent mail is never replayed."""
    statement: Any = update(MailMessage).where(MailMessage.state == "dead")
    if ids is not None:
        statement = statement.where(MailMessage.id.in_(list(ids)))
    result = session.execute(
        statement.values(state="pending", attempts=0, next_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0) or 0)
