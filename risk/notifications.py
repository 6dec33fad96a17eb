"""Messages of the risk domain for a party: the owner of an item, a customer's users, the
authority or a provider. Rows are what each party's page shows ("for you"); writing them in
the caller's transaction means a notice exists exactly when the change that caused it does,
and so does its e-mail (`risk.notice_mail`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session

from risk.models import Risk, RiskAction, RiskNotification
from risk.notice_mail import mail_notices
from risk.visibility import action_filter, risk_filter
from soc.core.principal import Principal

Party = Literal["owner", "customer", "authority", "provider"]


@dataclass(frozen=True)
class Notice:
    party: Party
    kind: str
    subject_type: Literal["risk", "action"]
    subject_id: int
    text: str
    tenant_id: int | None = None
    provider_id: int | None = None
    user_id: int | None = None
    late: bool = False


def notify(session: Session, notices: list[Notice]) -> list[RiskNotification]:
    rows = [RiskNotification(**vars(n)) for n in notices]
    session.add_all(rows)
    session.flush()
    mail_notices(session, rows)
    return rows


def _subject_visible(principal: Principal) -> ColumnElement[bool]:
    """A notice reaches only who sees its subject now (a risk no longer aligned, an action
    of such a risk, an item moved to another tenant: its notices are hidden too)."""
    if principal.is_global:
        return true()
    risks = select(Risk.id).where(risk_filter(principal))
    actions = select(RiskAction.id).where(action_filter(principal))
    return or_(
        and_(RiskNotification.subject_type == "risk", RiskNotification.subject_id.in_(risks)),
        and_(RiskNotification.subject_type == "action", RiskNotification.subject_id.in_(actions)),
    )


def for_principal(
    session: Session, principal: Principal, limit: int = 50
) -> list[RiskNotification]:
    """The notices addressed to this principal: to them as owner, to their tenant's
    customers, their provider, or (the authority) to the authority; only those whose
    subject (risk or action) the principal sees."""
    mine = []
    if principal.user_id is not None:
        mine.append(RiskNotification.user_id == principal.user_id)
    if principal.role == "authority":
        mine.append(RiskNotification.party == "authority")
    if principal.role in {"customer", "risk_owner"} and principal.visible_tenant_ids:
        mine.append(
            and_(
                RiskNotification.party == "customer",
                RiskNotification.tenant_id.in_(sorted(principal.visible_tenant_ids)),
            )
        )
    if principal.provider_id is not None:
        mine.append(
            and_(
                RiskNotification.party == "provider",
                RiskNotification.provider_id == principal.provider_id,
            )
        )
    if principal.role == "admin" and principal.is_global:
        mine.append(true())
    if not mine:
        return []
    query = (
        select(RiskNotification)
        .where(or_(*mine), _subject_visible(principal))
        .order_by(RiskNotification.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
