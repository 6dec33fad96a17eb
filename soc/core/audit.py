"""Append-only audit log; each entry carries the SHA-256 of its content and the previous hash.

Altering a row breaks its own hash; deleting one breaks the next entry's link; both are named by
`verify`. Database triggers also refuse UPDATE and DELETE on the table.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Integer, String, Text, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from soc.core.db import Base, UTCDateTime, utcnow

GENESIS = "0" * 64


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(160))
    action: Mapped[str] = mapped_column(String(80))
    tenant_id: Mapped[int | None] = mapped_column(Integer, index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(80))
    detail: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


# The hashed fields in chain order; `at` as its ISO text.
FIELDS = (
    "id",
    "at",
    "actor",
    "action",
    "tenant_id",
    "object_type",
    "object_id",
    "detail",
    "prev_hash",
)


def fields_of(entry: AuditEntry) -> dict[str, Any]:
    """An entry as plain values: what a customer's bundle carries (soc.core.checkpoints)."""
    values = {name: getattr(entry, name) for name in FIELDS}
    values["at"] = entry.at.isoformat()
    return values


def fields_digest(values: dict[str, Any]) -> str:
    """The hash of an entry from its plain values: a verifier without the database
    recomputes it the same way."""
    return hashlib.sha256(orjson.dumps([values.get(name) for name in FIELDS])).hexdigest()


def _digest(entry: AuditEntry) -> str:
    return fields_digest(fields_of(entry))


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: object,
    tenant_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction: it commits or rolls back with the change."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7420001)"))
    last = session.execute(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    entry = AuditEntry(
        id=(last.id + 1) if last else 1,
        at=utcnow(),
        actor=actor,
        action=action,
        tenant_id=tenant_id,
        object_type=object_type,
        object_id=str(object_id),
        detail=orjson.dumps(detail or {}, option=orjson.OPT_SORT_KEYS).decode(),
        prev_hash=last.hash if last else GENESIS,
    )
    entry.hash = _digest(entry)
    session.add(entry)
    session.flush()
    return entry


@dataclass
class VerifyProblem:
    entry_id: int
    reason: str


def verify(session: Session) -> tuple[int, list[VerifyProblem]]:
    """Walk the chain in order; return the number of entries checked and every problem found."""
    problems: list[VerifyProblem] = []
    prev_hash, expected_id, count = GENESIS, 1, 0
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)):
        count += 1
        if entry.id != expected_id:
            problems.append(
                VerifyProblem(entry.id, f"entries {expected_id}..{entry.id - 1} are missing")
            )
        if entry.prev_hash != prev_hash:
            problems.append(
                VerifyProblem(
                    entry.id, "link to the previous entry is broken (entry deleted or edited)"
                )
            )
        if _digest(entry) != entry.hash:
            problems.append(
                VerifyProblem(entry.id, "content does not match its hash (entry edited)")
            )
        prev_hash, expected_id = entry.hash, entry.id + 1
    return count, problems


def head(session: Session) -> tuple[int, str]:
    """The newest entry's id and hash: record it outside the database (a ticket, another
    system) and pass it to `verify_anchor` later to detect truncation of the newest entries,
    which the chain alone cannot show."""
    last = session.execute(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    return (last.id, last.hash) if last else (0, GENESIS)


def verify_anchor(session: Session, entry_id: int, entry_hash: str) -> VerifyProblem | None:
    """Check that an entry recorded earlier as a chain head is still there, unchanged."""
    entry = session.get(AuditEntry, entry_id)
    if entry is None:
        return VerifyProblem(entry_id, "the anchored entry is gone (the log was truncated)")
    if entry.hash != entry_hash:
        return VerifyProblem(entry_id, "the anchored entry's hash differs from the anchor")
    return None
