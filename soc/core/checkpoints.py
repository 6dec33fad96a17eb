"""Signed audit checkpoints: the audit chain's head signed with the integrator's key, and for
each tenant a signed statement of that tenant's own entries, which the tenant's bundle
carries so that the customer checks its entries with the public key alone.

Why a statement per tenant and not just the signed global head: an entry's hash covers its
whole content, so a customer cannot recompute the hash of another tenant's entry without
seeing it. Hashes of those entries handed over as opaque values would bind nothing (whoever
makes the bundle could claim any), and an edited entry of the customer's could then be hidden
behind them. So each checkpoint signs, per tenant, the (id, hash) of the tenant's entries
added since the previous checkpoint, linked to the tenant's previous statement by its
SHA-256: the customer recomputes every entry's hash from its content and finds each one in
a signed statement, by id. An entry edited, removed, added or moved is then named exactly,
and a statement removed from the chain breaks the link.

A checkpoint is only taken over an intact chain: the entries since the previous checkpoint
are checked first (links, hashes, ids without gaps), so a signature never blesses damage.
Checkpoints are rows of an append-only table (database triggers, as the audit log).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import ForeignKey, Integer, String, Text, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from soc.core import audit, signing
from soc.core.audit import GENESIS, AuditEntry
from soc.core.db import Base, Database, UTCDateTime, utcnow
from soc.core.errors import Conflict, NotFound
from soc.core.i18n import N_
from soc.core.settings import Settings

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = "soc-audit-checkpoint/1"
TENANT_FORMAT = "soc-audit-tenant-statement/1"
BUNDLE_FORMAT = "soc-audit-bundle/1"
CHECKPOINT_LOCK = 7420002  # one checkpoint at a time (the audit log itself uses 7420001)


class AuditCheckpoint(Base):
    """The signed head of the audit chain at one moment."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    head_id: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))
    taken_by: Mapped[str] = mapped_column(String(160))
    statement: Mapped[str] = mapped_column(Text)  # the exact signed bytes (canonical JSON)
    signature: Mapped[str] = mapped_column(String(100))


class AuditCheckpointTenant(Base):
    """One tenant's signed statement in a checkpoint: its entries since the previous one."""

    __tablename__ = "audit_checkpoint_tenants"

    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("audit_checkpoints.id"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    entries: Mapped[int] = mapped_column(Integer)  # the tenant's entries up to the head
    statement: Mapped[str] = mapped_column(Text)
    statement_sha256: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(100))


def canonical(value: dict[str, Any]) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def latest(session: Session) -> AuditCheckpoint | None:
    return session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1))


def _check_since(session: Session, previous: AuditCheckpoint | None, head_id: int) -> None:
    """Refuse to sign a chain that is broken since the previous checkpoint (or at all, for
    the first): the same checks as audit.verify, on the new entries only."""
    prev_hash, expected = GENESIS, 1
    if previous is not None:
        anchored = audit.verify_anchor(session, previous.head_id, previous.head_hash)
        if anchored is not None:
            raise Conflict(
                N_("audit entry {id}: {reason}; no checkpoint signed"),
                id=anchored.entry_id,
                reason=anchored.reason,
            )
        prev_hash, expected = previous.head_hash, previous.head_id + 1
    query = (
        select(AuditEntry)
        .where(AuditEntry.id >= expected, AuditEntry.id <= head_id)
        .order_by(AuditEntry.id)
        .execution_options(yield_per=2000)
    )
    for entry in session.scalars(query):
        intact = audit.fields_digest(audit.fields_of(entry)) == entry.hash
        if entry.id != expected or entry.prev_hash != prev_hash or not intact:
            raise Conflict(
                N_("audit entry {id} is missing, edited or unlinked; no checkpoint signed"),
                id=min(entry.id, expected),
            )
        prev_hash, expected = entry.hash, entry.id + 1
    if expected != head_id + 1:
        raise Conflict(
            N_("audit entry {id} is missing, edited or unlinked; no checkpoint signed"),
            id=expected,
        )


def _lock(session: Session) -> None:
    """One checkpoint at a time (SQLite serialises writers by itself)."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHECKPOINT_LOCK})


def take(session: Session, settings: Settings, actor: str) -> AuditCheckpoint:
    """Sign the chain's head now, with a statement for every tenant that has entries."""
    key = signing.signing_key(settings)
    _lock(session)
    previous = latest(session)
    head_id, head_hash = audit.head(session)
    _check_since(session, previous, head_id)
    at, kid = utcnow(), signing.key_id(key.public_key())
    number = (previous.id + 1) if previous else 1
    head = {"id": head_id, "hash": head_hash}
    body = canonical(
        {"format": CHECKPOINT_FORMAT, "checkpoint": number, "at": at.isoformat(), "head": head}
        | {"key_id": kid}
    )
    checkpoint = AuditCheckpoint(
        id=number,
        at=at,
        head_id=head_id,
        head_hash=head_hash,
        key_id=kid,
        taken_by=actor,
        statement=body,
        signature=signing.sign(key, body.encode()),
    )
    session.add(checkpoint)
    session.flush()
    earlier = {
        row.tenant_id: row
        for row in session.scalars(
            select(AuditCheckpointTenant).where(
                AuditCheckpointTenant.checkpoint_id == (previous.id if previous else 0)
            )
        )
    }
    since = previous.head_id if previous else 0
    added: defaultdict[int, list[list[Any]]] = defaultdict(list)
    rows = session.execute(
        select(AuditEntry.id, AuditEntry.tenant_id, AuditEntry.hash)
        .where(AuditEntry.id > since, AuditEntry.id <= head_id, AuditEntry.tenant_id.is_not(None))
        .order_by(AuditEntry.id)
        .execution_options(yield_per=5000)
    )
    for entry_id, owner, entry_hash in rows:
        if owner is not None:  # the query has none; the type does not know
            added[owner].append([entry_id, entry_hash])
    for tenant_id in sorted(set(earlier) | set(added)):
        before = earlier.get(tenant_id)
        entries = added.get(tenant_id, [])
        total = (before.entries if before else 0) + len(entries)
        statement = canonical(
            {
                "format": TENANT_FORMAT,
                "checkpoint": number,
                "at": at.isoformat(),
                "head": head,
                "key_id": kid,
                "tenant_id": tenant_id,
                "previous": before.statement_sha256 if before else GENESIS,
                "entries": entries,
                "total": total,
            }
        )
        session.add(
            AuditCheckpointTenant(
                checkpoint_id=number,
                tenant_id=tenant_id,
                entries=total,
                statement=statement,
                statement_sha256=sha256(statement),
                signature=signing.sign(key, statement.encode()),
            )
        )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="audit.checkpoint",
        object_type="audit_checkpoint",
        object_id=number,
        detail={"head_id": head_id, "head_hash": head_hash, "key_id": kid},
    )
    return checkpoint


def take_if_due(
    session: Session,
    settings: Settings,
    now: datetime | None = None,
    slack: timedelta = timedelta(0),
) -> int | None:
    """A checkpoint unless one is younger than `audit_checkpoint_seconds` less `slack` (a
    fixed daily schedule passes some, so yesterday's run a second later never skips today);
    restarts and several runners never take more than one per period. Its id, or None."""
    _lock(session)
    previous = latest(session)
    period = timedelta(seconds=settings.audit_checkpoint_seconds) - slack
    if previous is not None and previous.at > (now or utcnow()) - period:
        return None
    return take(session, settings, "system").id


def checkpoint_until(db: Database, settings: Settings, stop: threading.Event) -> None:
    """The embedded server's periodic checkpoint (Celery beat runs the task in production);
    looks at most every 15 minutes whether one is due, so a restart never skips a day."""
    every = min(settings.audit_checkpoint_seconds, 900.0)
    while not stop.wait(every):
        try:
            with db.session() as session:
                take_if_due(session, settings)
        except Exception:  # a broken chain or a busy database: logged, tried again later
            log.exception("audit checkpoint failed")


def listing(session: Session, limit: int = 100) -> list[AuditCheckpoint]:
    query = select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(limit)
    return list(session.scalars(query))


def bundle(session: Session, tenant_id: int, checkpoint_id: int | None = None) -> dict[str, Any]:
    """What a tenant's customer needs to check its own entries up to a checkpoint (the
    newest by default) with the public key alone, and nothing of another tenant's."""
    if checkpoint_id is None:
        query = (
            select(AuditCheckpoint)
            .join(AuditCheckpointTenant, AuditCheckpointTenant.checkpoint_id == AuditCheckpoint.id)
            .where(AuditCheckpointTenant.tenant_id == tenant_id)
            .order_by(AuditCheckpoint.id.desc())
            .limit(1)
        )
        checkpoint = session.scalar(query)
    else:
        checkpoint = session.get(AuditCheckpoint, checkpoint_id)
    if checkpoint is None:
        raise Conflict(N_("no signed audit checkpoint covers this tenant yet"))
    statements = list(
        session.scalars(
            select(AuditCheckpointTenant)
            .where(
                AuditCheckpointTenant.tenant_id == tenant_id,
                AuditCheckpointTenant.checkpoint_id <= checkpoint.id,
            )
            .order_by(AuditCheckpointTenant.checkpoint_id)
        )
    )
    if not statements or statements[-1].checkpoint_id != checkpoint.id:
        raise NotFound(N_("checkpoint {id} has no statement for this tenant"), id=checkpoint.id)
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.tenant_id == tenant_id, AuditEntry.id <= checkpoint.head_id)
        .order_by(AuditEntry.id)
    )
    return {
        "format": BUNDLE_FORMAT,
        "tenant_id": tenant_id,
        "checkpoint": {"statement": checkpoint.statement, "signature": checkpoint.signature},
        "statements": [{"statement": s.statement, "signature": s.signature} for s in statements],
        "entries": [audit.fields_of(e) | {"hash": e.hash} for e in entries],
    }
