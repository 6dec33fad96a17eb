"""Evidence files on an action: size and content type checked as for case evidence
(`soc.cases.evidence.check`), stored content-addressed under
data_dir/risk-evidence/<action>/<sha256>.

Who may update the action may attach (checked before the upload is read: `may_add`); who
sees it may list and download. Reading the HTTP body is the router's side.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePath

from sqlalchemy import select
from sqlalchemy.orm import Session

from risk.actions import may_update
from risk.models import RiskActionEvidence
from risk.visibility import visible_action
from soc.cases.evidence import check
from soc.core import audit
from soc.core.db import utcnow
from soc.core.errors import NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings


def may_add(session: Session, principal: Principal, action_id: int) -> None:
    """Refuse (403/404) before the body is read: who may not attach costs no upload."""
    may_update(session, principal, action_id)


def folder(settings: Settings, action_id: int) -> Path:
    return settings.data_dir / "risk-evidence" / str(action_id)


def add(
    session: Session,
    principal: Principal,
    settings: Settings,
    action_id: int,
    filename: str,
    content_type: str,
    data: bytes,
) -> RiskActionEvidence:
    action = may_update(session, principal, action_id)
    kind = check(settings, content_type, data)
    name = PurePath(filename.replace("\\", "/")).name.strip()[:255] or "evidence"
    digest = hashlib.sha256(data).hexdigest()
    where = folder(settings, action.id)
    where.mkdir(parents=True, exist_ok=True)
    target = where / digest
    if not target.exists():
        partial = where / f".{digest}.part"
        partial.write_bytes(data)
        os.replace(partial, target)
    row = RiskActionEvidence(
        action_id=action.id,
        filename=name,
        content_type=kind,
        size=len(data),
        sha256=digest,
        path=str(target),
        uploaded_by=principal.actor,
        uploaded_at=utcnow(),
    )
    session.add(row)
    session.flush()
    action.updated_at = utcnow()
    audit.record(
        session,
        actor=principal.actor,
        action="risk.action.evidence",
        object_type="risk_action",
        object_id=action.id,
        tenant_id=action.tenant_id,
        detail={"evidence_id": row.id, "filename": name, "size": len(data), "sha256": digest},
    )
    return row


def list_for_action(
    session: Session, principal: Principal, action_id: int
) -> list[RiskActionEvidence]:
    principal.require("actions.read")
    action = visible_action(session, principal, action_id)
    query = select(RiskActionEvidence).where(RiskActionEvidence.action_id == action.id)
    return list(session.scalars(query.order_by(RiskActionEvidence.id)))


def open_file(
    session: Session, principal: Principal, settings: Settings, action_id: int, evidence_id: int
) -> tuple[RiskActionEvidence, Path]:
    principal.require("actions.read")
    action = visible_action(session, principal, action_id)
    row = session.get(RiskActionEvidence, evidence_id)
    if row is None or row.action_id != action.id:
        raise NotFound(N_("evidence {name} not found"), name=evidence_id)
    return row, folder(settings, action.id) / row.sha256
