"""Deadline changes of an action: requested by who may update it, decided by the customer
(a specific item, its own tenant's) or the authority (a common item); anyone else is
refused (403) and nothing is applied. An approved change moves the due date, with the old
and the new date and the approver kept on the change row and in the audit log."""

from __future__ import annotations

from datetime import date
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from risk.actions import CLOSED, calendar, may_update
from risk.deadlines import ItemScope, deadline_approver, warning_due
from risk.models import RiskAction, RiskDeadlineChange
from risk.notifications import Notice, notify
from risk.visibility import action_filter, customers_see_risk_of, visible_action
from soc.core import audit
from soc.core.db import utcnow
from soc.core.errors import Conflict, Forbidden, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings


def request_change(
    session: Session, principal: Principal, action_id: int, new_due: date, reason: str
) -> RiskDeadlineChange:
    action = may_update(session, principal, action_id)
    if action.status in CLOSED:
        raise Conflict(N_("the action is {status}: its deadline is final"), status=action.status)
    if new_due == action.due:
        raise Invalid(N_("the new due date is the current one"))
    pending = session.scalars(
        select(RiskDeadlineChange.id).where(
            RiskDeadlineChange.action_id == action.id, RiskDeadlineChange.status == "pending"
        )
    ).first()
    if pending is not None:
        raise Conflict(
            N_("deadline change {pending} of this action awaits a decision"), pending=pending
        )
    approver = deadline_approver(cast(ItemScope, action.scope))
    change = RiskDeadlineChange(
        action_id=action.id,
        old_due=action.due,
        new_due=new_due,
        reason=reason,
        approver=approver,
        status="pending",
        requested_by=principal.actor,
        requested_at=utcnow(),
    )
    session.add(change)
    session.flush()
    text = (
        f"Deadline change requested for '{action.title}': {action.due.isoformat()} -> "
        f"{new_due.isoformat()} ({reason})"
    )
    notices: list[Notice] = []
    if approver == "authority":
        notices.append(Notice("authority", "deadline_change", "action", action.id, text))
    elif customers_see_risk_of(session, action):  # not while its risk is unaligned
        notices.append(
            Notice("customer", "deadline_change", "action", action.id, text, action.tenant_id)
        )
    notify(session, notices)
    audit.record(
        session,
        actor=principal.actor,
        action="risk.deadline_change.requested",
        object_type="risk_deadline_change",
        object_id=change.id,
        tenant_id=action.tenant_id,
        detail={
            "action_id": action.id,
            "old_due": change.old_due.isoformat(),
            "new_due": new_due.isoformat(),
            "approver": approver,
        },
    )
    return change


def _may_decide(principal: Principal, change: RiskDeadlineChange, action: RiskAction) -> None:
    principal.require("actions.decide")
    if change.approver == "customer":
        if principal.role != "customer" or not principal.sees_tenant(action.tenant_id):
            raise Forbidden(N_("the customer decides the deadline of a specific item"))
    elif principal.role != "authority":
        raise Forbidden(N_("the authority decides the deadline of a common item"))
    if principal.actor == change.requested_by:
        raise Forbidden(N_("who requested a deadline change does not decide it"))


def decide_change(
    session: Session,
    principal: Principal,
    settings: Settings,
    change_id: int,
    approve: bool,
    today: date,
) -> RiskDeadlineChange:
    """Approve (apply) or reject a pending change. An early warning already sent: when the
    new warning day is still to come (an extension), the item is warned again by the next
    sweep (the earlier notices stay); else it stays recorded, late when the new warning
    day falls before it."""
    principal.require("actions.read")
    change = session.get(RiskDeadlineChange, change_id)
    if change is None:
        raise NotFound(N_("deadline change {change_id} not found"), change_id=change_id)
    try:
        action = visible_action(session, principal, change.action_id)
    except NotFound:
        raise NotFound(N_("deadline change {change_id} not found"), change_id=change_id) from None
    _may_decide(principal, change, action)
    if change.status != "pending":
        raise Conflict(
            N_("deadline change {change_id} is already {status}"),
            change_id=change_id,
            status=change.status,
        )
    if approve and action.due != change.old_due:
        raise Conflict(N_("the action's due date changed since the request"))
    now = utcnow()
    change.status = "approved" if approve else "rejected"
    change.decided_by = principal.actor
    change.decided_at = now
    detail: dict[str, object] = {
        "change_id": change.id,
        "action_id": action.id,
        "old_due": change.old_due.isoformat(),
        "new_due": change.new_due.isoformat(),
        "approver": change.approver,
        "decided_by": principal.actor,
        "decided_on": today.isoformat(),
    }
    if approve:
        action.due = change.new_due
        action.updated_at = now
        if action.warned_on is not None:
            new_by = warning_due(
                calendar(settings), action.due, settings.risk_early_warning_working_days
            )
            detail["warned_on"] = action.warned_on.isoformat()
            detail["warning_due"] = new_by.isoformat()
            if new_by > today:
                # Extended: the new warning day is still to come, so the next sweep warns
                # again (the earlier warning's notices stay, as does this audit entry).
                action.warned_on, action.warning_late = None, False
                detail["warning_reset"] = True
            elif action.warned_on > new_by:
                action.warning_late = True
            detail["warning_late"] = action.warning_late
    audit.record(
        session,
        actor=principal.actor,
        action="risk.deadline_change." + change.status,
        object_type="risk_deadline_change",
        object_id=change.id,
        tenant_id=action.tenant_id,
        detail=detail,
    )
    return change


def changes_of(session: Session, principal: Principal, action_id: int) -> list[RiskDeadlineChange]:
    principal.require("actions.read")
    action = visible_action(session, principal, action_id)
    query = select(RiskDeadlineChange).where(RiskDeadlineChange.action_id == action.id)
    return list(session.scalars(query.order_by(RiskDeadlineChange.id)))


def pending_changes(
    session: Session, principal: Principal, limit: int = 100, offset: int = 0
) -> tuple[int, list[RiskDeadlineChange]]:
    """Pending changes of the actions the principal sees (the approvers' queue), oldest
    first, with their total."""
    principal.require("actions.read")
    query = (
        select(RiskDeadlineChange)
        .join(RiskAction, RiskAction.id == RiskDeadlineChange.action_id)
        .where(RiskDeadlineChange.status == "pending", action_filter(principal))
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(RiskDeadlineChange.id).limit(limit).offset(offset))
    return total, list(rows)
