"""Early warnings of the action registers: at least N working days before an item is due,
to its owner (the person, else the owning provider) and to the customer (a specific item,
once its risk, if any, is aligned) or the authority (a common one). A warning sent after
its last day is recorded as late.

`send_due_warnings` is the sweep (`risk.upkeep`, `soc risk warn`): idempotent, as each
item is warned once (`warned_on`). `mark_warned` records a warning given by other means.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from risk.actions import calendar, may_update
from risk.deadlines import warning_due
from risk.models import RiskAction
from risk.notifications import Notice, notify
from risk.visibility import customers_see_risk_of
from soc.core import audit
from soc.core.db import utcnow
from soc.core.errors import Conflict
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings

OPEN = ("open", "in_progress")
log = logging.getLogger(__name__)


@dataclass
class WarningRun:
    today: date
    checked: int = 0
    warned: int = 0
    late: int = 0
    notices: int = 0
    action_ids: list[int] = field(default_factory=list)


def notices_for(action: RiskAction, by: date, late: bool, customers: bool = True) -> list[Notice]:
    """The owner's (person or provider) notice, and the customer's (a specific item, when
    `customers`: not while its risk is unaligned) or the authority's (a common item)."""
    text = (
        f"Early warning: '{action.title}' ({action.register}) is due {action.due.isoformat()};"
        f" the warning was due by {by.isoformat()}" + (" (sent late)." if late else ".")
    )
    out: list[Notice] = []
    if action.owner_user_id is not None:
        out.append(
            Notice(
                "owner",
                "early_warning",
                "action",
                action.id,
                text,
                user_id=action.owner_user_id,
                late=late,
            )
        )
    elif action.owner_provider_id is not None:
        out.append(
            Notice(
                "provider",
                "early_warning",
                "action",
                action.id,
                text,
                provider_id=action.owner_provider_id,
                late=late,
            )
        )
    if action.scope == "specific":
        if not customers:
            return out
        out.append(
            Notice(
                "customer",
                "early_warning",
                "action",
                action.id,
                text,
                tenant_id=action.tenant_id,
                late=late,
            )
        )
    else:
        out.append(Notice("authority", "early_warning", "action", action.id, text, late=late))
    return out


def send_due_warnings(session: Session, settings: Settings, today: date) -> WarningRun:
    """Warn every open item whose warning day has come (or passed: then late) and that was
    not warned yet; one audit entry with the counts per run that warned any."""
    cal = calendar(settings)
    n = settings.risk_early_warning_working_days
    run = WarningRun(today=today)
    query = select(RiskAction).where(RiskAction.status.in_(OPEN), RiskAction.warned_on.is_(None))
    for action in session.scalars(query.order_by(RiskAction.due, RiskAction.id)):
        run.checked += 1
        try:
            by = warning_due(cal, action.due, n)
        except ValueError:  # a due date at the calendar's edge: skip it, warn the others
            log.exception("no warning day for action %s (due %s)", action.id, action.due)
            continue
        if by > today:
            continue
        late = today > by
        notices = notices_for(action, by, late, customers_see_risk_of(session, action))
        notify(session, notices)
        action.warned_on = today
        action.warning_late = late
        action.updated_at = utcnow()
        run.warned += 1
        run.late += late
        run.notices += len(notices)
        run.action_ids.append(action.id)
    if not run.warned:
        return run  # the sweep runs often (risk.upkeep): only a run that warned is audited
    audit.record(
        session,
        actor="system",
        action="risk.warnings.run",
        object_type="risk_warning_run",
        object_id=today.isoformat(),
        detail={
            "today": today.isoformat(),
            "checked": run.checked,
            "warned": run.warned,
            "late": run.late,
            "notices": run.notices,
            "action_ids": run.action_ids,
        },
    )
    return run


def mark_warned(
    session: Session, principal: Principal, settings: Settings, action_id: int, today: date
) -> RiskAction:
    """Record that the warning went out today by other means (a call, a meeting); late when
    after the warning day. An item is warned once."""
    action = may_update(session, principal, action_id)
    if action.status not in OPEN:
        raise Conflict(N_("the action is {status}: no warning is due"), status=action.status)
    if action.warned_on is not None:
        raise Conflict(
            N_("the action was warned on {warned_on}"), warned_on=action.warned_on.isoformat()
        )
    by = warning_due(calendar(settings), action.due, settings.risk_early_warning_working_days)
    action.warned_on = today
    action.warning_late = today > by
    action.updated_at = utcnow()
    audit.record(
        session,
        actor=principal.actor,
        action="risk.action.warned",
        object_type="risk_action",
        object_id=action.id,
        tenant_id=action.tenant_id,
        detail={
            "warned_on": today.isoformat(),
            "warning_due": by.isoformat(),
            "late": action.warning_late,
        },
    )
    return action
