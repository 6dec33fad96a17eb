"""The tenant's rule exceptions: conditions that suppress a rule's matches (the filters
themselves are detections.exceptions). Create, list, change, delete; audited with before and
after, and each change bumps the tenant's detection revision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from detections.changes import audit_change, bump_revision, resolve_tenant
from detections.exceptions import normalise_conditions
from detections.models import RuleException
from detections.tenant_view import TenantViews
from soc.core.db import utcnow
from soc.core.errors import Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal


def exception_row(row: RuleException) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenant_id": row.tenant_id,
        "rule_id": row.rule_id,
        "conditions": orjson.loads(row.conditions),
        "reason": row.reason,
        "author": row.author,
        "expires_at": row.expires_at,
        "created_at": row.created_at,
        "changed_at": row.changed_at,
        "active": row.expires_at is None or row.expires_at > utcnow(),
    }


def _check_expiry(expires_at: datetime | None) -> None:
    if expires_at is None:
        return
    if expires_at.tzinfo is None:
        raise Invalid(N_("expires_at needs a timezone (UTC)"))
    if expires_at <= utcnow():
        raise Invalid(N_("expires_at is in the past"))


def _check_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise Invalid(N_("an exception needs a reason"))
    return reason


def create_exception(
    session: Session,
    actor: Principal,
    views: TenantViews,
    tenant_ref: int | str | None,
    rule_id: str,
    conditions: Any,
    reason: str,
    expires_at: datetime | None = None,
) -> RuleException:
    """Suppress the rule's matches for the tenant when every condition holds (audited)."""
    actor.require("rules.manage")
    tenant = resolve_tenant(session, actor, tenant_ref)
    view = views.get(session, tenant.id)
    if rule_id not in view.rules and not any(c.id == rule_id for c in views.base.correlations):
        raise NotFound(N_("rule '{rule_id}' not found"), rule_id=rule_id)
    canonical = normalise_conditions(conditions)
    _check_expiry(expires_at)
    now = utcnow()
    row = RuleException(
        tenant_id=tenant.id,
        rule_id=rule_id,
        conditions=orjson.dumps(canonical).decode(),
        reason=_check_reason(reason),
        author=actor.actor,
        expires_at=expires_at,
        created_at=now,
        changed_at=now,
    )
    session.add(row)
    session.flush()
    audit_change(
        session,
        actor,
        "rules.exception.create",
        "rule_exception",
        row.id,
        tenant.id,
        rule_id=rule_id,
        conditions=canonical,
        reason=row.reason,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    bump_revision(session, tenant.id)
    return row


def list_exceptions(
    session: Session, actor: Principal, tenant_ref: int | str | None, rule_id: str | None = None
) -> list[RuleException]:
    actor.require("rules.read")
    tenant = resolve_tenant(session, actor, tenant_ref)
    query = select(RuleException).where(RuleException.tenant_id == tenant.id)
    if rule_id:
        query = query.where(RuleException.rule_id == rule_id)
    return list(session.scalars(query.order_by(RuleException.id)))


def get_exception(session: Session, actor: Principal, exception_id: int) -> RuleException:
    actor.require("rules.read")
    row = session.get(RuleException, exception_id)
    if row is None or not actor.sees_tenant(row.tenant_id):
        raise NotFound(N_("exception {exception_id} not found"), exception_id=exception_id)
    return row


def update_exception(
    session: Session,
    actor: Principal,
    exception_id: int,
    conditions: Any = None,
    reason: str | None = None,
    expires_at: datetime | None = None,
    clear_expiry: bool = False,
) -> RuleException:
    """Change an exception's conditions, reason or expiry (audited with before and after)."""
    actor.require("rules.manage")
    row = get_exception(session, actor, exception_id)
    before = exception_row(row)
    if conditions is not None:
        row.conditions = orjson.dumps(normalise_conditions(conditions)).decode()
    if reason is not None:
        row.reason = _check_reason(reason)
    if clear_expiry:
        row.expires_at = None
    elif expires_at is not None:
        _check_expiry(expires_at)
        row.expires_at = expires_at
    row.changed_at = utcnow()
    session.flush()
    after = exception_row(row)
    fields = ("conditions", "reason", "expires_at")
    audit_change(
        session,
        actor,
        "rules.exception.update",
        "rule_exception",
        row.id,
        row.tenant_id,
        rule_id=row.rule_id,
        before={k: _plain(before[k]) for k in fields},
        after={k: _plain(after[k]) for k in fields},
    )
    bump_revision(session, row.tenant_id)
    return row


def delete_exception(session: Session, actor: Principal, exception_id: int) -> None:
    actor.require("rules.manage")
    row = get_exception(session, actor, exception_id)
    gone = exception_row(row)
    session.delete(row)
    audit_change(
        session,
        actor,
        "rules.exception.delete",
        "rule_exception",
        exception_id,
        gone["tenant_id"],
        rule_id=gone["rule_id"],
        conditions=gone["conditions"],
        reason=gone["reason"],
    )
    bump_revision(session, gone["tenant_id"])


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
