"""The monthly follow-up of open audit findings (B10): per tenant with open specific
findings, and one for the common ones, each open action's status, owner, last note and
proposed mitigation (flagged when missing).

A report is archived as generated: canonical JSON (sorted keys), its SHA-256 on the row and
in the audit chain (`risk.followup.archived`). A month already generated for a tenant is
returned as it is, never regenerated; `verify_followup` recomputes the hash and compares it
with the row and the audit entry.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from risk.models import RiskAction, RiskActionNote, RiskFollowUp
from soc.core import audit
from soc.core.audit import AuditEntry
from soc.core.errors import Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.models import Provider, Tenant, User

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
OPEN = ("open", "in_progress")


def _canonical(doc: dict[str, Any]) -> str:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode()


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def _existing(session: Session, month: str, tenant_id: int | None) -> RiskFollowUp | None:
    tenant_clause = (
        RiskFollowUp.tenant_id.is_(None)
        if tenant_id is None
        else RiskFollowUp.tenant_id == tenant_id
    )
    query = select(RiskFollowUp).where(RiskFollowUp.month == month, tenant_clause)
    return session.scalars(query).first()


def _entry(session: Session, action: RiskAction) -> dict[str, Any]:
    note = session.scalars(
        select(RiskActionNote)
        .where(RiskActionNote.action_id == action.id)
        .order_by(RiskActionNote.id.desc())
        .limit(1)
    ).first()
    provider = session.get(Provider, action.owner_provider_id) if action.owner_provider_id else None
    user = session.get(User, action.owner_user_id) if action.owner_user_id else None
    return {
        "id": action.id,
        "title": action.title,
        "origin": action.origin,
        "owner": {
            "provider": provider.slug if provider else None,
            "user": user.username if user else None,
            "name": action.owner_name,
        },
        "due": action.due.isoformat(),
        "status": action.status,
        "progress_pct": action.progress_pct,
        "last_note": None
        if note is None
        else {"at": note.at.isoformat(), "actor": note.actor, "text": note.text},
        "proposed_mitigation": action.proposed_mitigation,
        "mitigation_missing": not action.proposed_mitigation.strip(),
    }


def generate_followup(
    session: Session, settings: Settings, month: str, now: datetime, actor: str = "system"
) -> list[RiskFollowUp]:
    """The month's reports: one per tenant with open specific audit findings and the common
    one, for a month that is over (before `now`'s). Once a month is archived, its reports
    are returned unchanged and no more are added (the schedule may call this many times a
    day)."""
    if not MONTH.match(month):
        raise Invalid(N_("month is 'YYYY-MM'"))
    if month >= f"{now.year:04d}-{now.month:02d}":
        raise Invalid(
            N_("month {month} is not over yet: a follow-up archives a past month"), month=month
        )
    if _existing(session, month, None) is not None:
        # The month is archived (the common report always is): its set of reports is final,
        # a tenant whose findings opened later waits for the next month.
        done = select(RiskFollowUp).where(RiskFollowUp.month == month)
        rows = list(session.scalars(done))
        return sorted(rows, key=lambda r: (r.tenant_id is not None, r.tenant_id or 0))
    query = select(RiskAction).where(
        RiskAction.register == "audit_finding", RiskAction.status.in_(OPEN)
    )
    groups: dict[int | None, list[RiskAction]] = {None: []}
    for action in session.scalars(query.order_by(RiskAction.due, RiskAction.id)):
        key = action.tenant_id if action.scope == "specific" else None
        groups.setdefault(key, []).append(action)
    out: list[RiskFollowUp] = []
    for tenant_id in sorted(groups, key=lambda t: (t is not None, t or 0)):
        found = _existing(session, month, tenant_id)
        if found is not None:
            out.append(found)
            continue
        tenant = session.get(Tenant, tenant_id) if tenant_id is not None else None
        doc = {
            "month": month,
            "generated_at": now.isoformat(),
            "scope": "specific" if tenant is not None else "common",
            "tenant": tenant.slug if tenant else None,
            "actions": [_entry(session, a) for a in groups[tenant_id]],
        }
        body = _canonical(doc)
        row = RiskFollowUp(
            month=month, tenant_id=tenant_id, generated_at=now, body=body, sha256=_digest(body)
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="risk.followup.archived",
            object_type="risk_followup",
            object_id=row.id,
            tenant_id=tenant_id,
            detail={"sha256": row.sha256, "month": month, "actions": len(groups[tenant_id])},
        )
        out.append(row)
    return out


def verify_followup(session: Session, followup_id: int) -> bool:
    """The body hashes to the stored hash, which is the one the audit chain archived."""
    row = session.get(RiskFollowUp, followup_id)
    if row is None:
        raise NotFound(N_("follow-up {name} not found"), name=followup_id)
    entry = session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.action == "risk.followup.archived",
            AuditEntry.object_type == "risk_followup",
            AuditEntry.object_id == str(row.id),
        )
        .order_by(AuditEntry.id)
        .limit(1)
    ).first()
    if entry is None:
        return False
    archived = orjson.loads(entry.detail).get("sha256")
    return bool(_digest(row.body) == row.sha256 == archived)


def _visible(principal: Principal) -> ColumnElement[bool]:
    return or_(RiskFollowUp.tenant_id.is_(None), principal.tenant_filter(RiskFollowUp.tenant_id))


def list_followups(
    session: Session,
    principal: Principal,
    month: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[RiskFollowUp]]:
    principal.require("actions.read")
    query = select(RiskFollowUp).where(_visible(principal))
    if month is not None:
        query = query.where(RiskFollowUp.month == month)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    query = query.order_by(RiskFollowUp.month.desc(), RiskFollowUp.id).limit(limit).offset(offset)
    return total, list(session.scalars(query))


def get_followup(session: Session, principal: Principal, followup_id: int) -> RiskFollowUp:
    principal.require("actions.read")
    row = session.scalars(
        select(RiskFollowUp).where(RiskFollowUp.id == followup_id, _visible(principal))
    ).first()
    if row is None:
        raise NotFound(N_("follow-up {name} not found"), name=followup_id)
    return row


def tenant_slugs(session: Session, rows: list[RiskFollowUp]) -> dict[int, str]:
    ids = sorted({r.tenant_id for r in rows if r.tenant_id is not None})
    if not ids:
        return {}
    query = select(Tenant.id, Tenant.slug).where(Tenant.id.in_(ids))
    return {tenant_id: slug for tenant_id, slug in session.execute(query)}
