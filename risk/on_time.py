"""The on-time metric of the action registers for a period: of the items handled in it
(outside-ecosystem ones excluded), the share handled on or before their due date, against
the target (settings.risk_on_time_target_pct), with the late items listed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from risk.actions import tenant_by_slug
from risk.deadlines import Item, ItemScope, on_time_share
from risk.models import RiskAction
from risk.visibility import action_filter
from soc.core.errors import Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings

CENT = Decimal("0.01")


def on_time_report(
    session: Session,
    principal: Principal,
    settings: Settings,
    start: date,
    end: date,
    register: str | None = None,
    tenant: str | None = None,
) -> dict[str, Any]:
    principal.require("actions.read")
    if end < start:
        raise Invalid(N_("the period ends before it starts"))
    query = select(RiskAction).where(
        action_filter(principal),
        RiskAction.status == "handled",
        RiskAction.handled_on.is_not(None),
        RiskAction.handled_on >= start,
        RiskAction.handled_on <= end,
    )
    if register is not None:
        query = query.where(RiskAction.register == register)
    if tenant is not None:
        query = query.where(RiskAction.tenant_id == tenant_by_slug(session, principal, tenant).id)
    actions = {a.id: a for a in session.scalars(query.order_by(RiskAction.id))}
    items = [
        Item(
            id=str(a.id),
            scope=cast(ItemScope, a.scope),
            due=a.due,
            handled=a.handled_on,
            warned=a.warned_on,
            outside_ecosystem=a.outside_ecosystem,
        )
        for a in actions.values()
    ]
    target = Decimal(str(settings.risk_on_time_target_pct)).quantize(CENT)
    result = on_time_share(items, start, end, target)
    late = [actions[int(i)] for i in result.late_ids]
    return {
        "start": start,
        "end": end,
        "handled": result.handled,
        "excluded": result.excluded,
        "on_time": result.on_time,
        "on_time_pct": str(result.on_time_pct),
        "target_pct": str(target),
        "target_met": result.target_met,
        "late": [
            {"id": a.id, "title": a.title, "due": a.due, "handled_on": a.handled_on} for a in late
        ],
    }
