"""The case timeline: every change to a case is one event here, one audit record and, when a
connector is configured, one message in the ITSM outbox."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.cases import connector
from soc.cases.models import Case, CaseEvent
from soc.core import audit
from soc.core.settings import Settings


def note(
    session: Session,
    settings: Settings,
    case: Case,
    actor: str,
    kind: str,
    detail: dict[str, Any],
) -> None:
    """Record one change of the case: timeline, audit log and ITSM outbox."""
    session.add(
        CaseEvent(
            case_id=case.id,
            actor=actor,
            kind=kind,
            detail=orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode(),
        )
    )
    audit.record(
        session,
        actor=actor,
        action=f"case.{kind}",
        object_type="case",
        object_id=case.id,
        tenant_id=case.tenant_id,
        detail=detail,
    )
    connector.enqueue(session, settings, case, actor, kind, detail)


def last_event(session: Session, case: Case) -> CaseEvent:
    """The case's newest timeline event (flushed first, so a note just added counts)."""
    session.flush()
    return session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id.desc()).limit(1)
    ).one()
