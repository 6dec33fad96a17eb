"""Who sees which risks, actions and non-conformities: one WHERE clause per kind, used by
lists and single reads alike (another tenant's item is a NotFound, as everywhere).

Unscoped users (the integrator, the authority) see everything. A provider sees what it owns
or is named on, what concerns the tenants it serves, and common items. A customer's users see
a risk only once it is aligned with the authority, for their tenant or common; a risk owner
also sees the risks and actions they own. Actions of a risk that is not yet aligned stay
hidden from customers like the risk itself.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from risk.models import Risk, RiskAction, RiskNonConformity, RiskProvider, RiskTenant
from soc.core.errors import NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal

T = TypeVar("T", Risk, RiskAction, RiskNonConformity)


def _tenant_ids(principal: Principal) -> list[int]:
    return sorted(principal.visible_tenant_ids or ())


def _concerns_visible_tenant(principal: Principal) -> ColumnElement[bool]:
    ids = _tenant_ids(principal)
    if not ids:
        return false()
    return exists(
        select(RiskTenant.risk_id).where(
            RiskTenant.risk_id == Risk.id, RiskTenant.tenant_id.in_(ids)
        )
    )


def _owns(principal: Principal, column: InstrumentedAttribute[int | None]) -> ColumnElement[bool]:
    if principal.user_id is None:
        return false()
    return column == principal.user_id


def risk_filter(principal: Principal) -> ColumnElement[bool]:
    if principal.is_global:
        return true()
    if principal.provider_id is not None:
        named = exists(
            select(RiskProvider.risk_id).where(
                RiskProvider.risk_id == Risk.id, RiskProvider.provider_id == principal.provider_id
            )
        )
        return or_(
            Risk.owning_provider_id == principal.provider_id,
            named,
            Risk.scope == "common",
            _concerns_visible_tenant(principal),
        )
    aligned = and_(
        Risk.aligned_at.is_not(None),
        or_(Risk.scope == "common", _concerns_visible_tenant(principal)),
    )
    return or_(aligned, _owns(principal, Risk.owner_user_id))


def _in_visible_tenant(
    principal: Principal, column: InstrumentedAttribute[int | None]
) -> ColumnElement[bool]:
    ids = _tenant_ids(principal)
    return column.in_(ids) if ids else false()


def action_filter(principal: Principal) -> ColumnElement[bool]:
    if principal.is_global:
        return true()
    common = RiskAction.scope == "common"
    if principal.provider_id is not None:
        return or_(
            RiskAction.owner_provider_id == principal.provider_id,
            common,
            _in_visible_tenant(principal, RiskAction.tenant_id),
        )
    risk_ok = or_(
        RiskAction.risk_id.is_(None),
        RiskAction.risk_id.in_(select(Risk.id).where(risk_filter(principal))),
    )
    return or_(
        and_(or_(common, _in_visible_tenant(principal, RiskAction.tenant_id)), risk_ok),
        _owns(principal, RiskAction.owner_user_id),
    )


def nc_filter(principal: Principal) -> ColumnElement[bool]:
    if principal.is_global:
        return true()
    visible = or_(
        RiskNonConformity.scope == "common",
        _in_visible_tenant(principal, RiskNonConformity.tenant_id),
    )
    if principal.provider_id is not None:
        return or_(visible, RiskNonConformity.provider_id == principal.provider_id)
    return visible


def customers_see_risk_of(session: Session, action: RiskAction) -> bool:
    """May the customers hear of this action? Not while the risk it mitigates is not
    aligned (the customers do not see the risk, nor its actions, until then)."""
    if action.risk_id is None:
        return True
    aligned = session.scalar(select(Risk.aligned_at).where(Risk.id == action.risk_id))
    return aligned is not None


def visible_risk(session: Session, principal: Principal, risk_id: int) -> Risk:
    return _one(session, Risk, risk_filter(principal), risk_id, "risk")


def visible_action(session: Session, principal: Principal, action_id: int) -> RiskAction:
    return _one(session, RiskAction, action_filter(principal), action_id, "action")


def visible_nc(session: Session, principal: Principal, nc_id: int) -> RiskNonConformity:
    return _one(session, RiskNonConformity, nc_filter(principal), nc_id, "non-conformity")


# One sentence per kind of item (not "{noun} {raw} not found"), so that the noun is translated.
NOT_FOUND = {
    "risk": N_("risk {raw} not found"),
    "action": N_("action {raw} not found"),
    "non-conformity": N_("non-conformity {raw} not found"),
    "acceptance": N_("acceptance {raw} not found"),
    "case": N_("case {raw} not found"),
    "deadline change": N_("deadline change {raw} not found"),
    "proposal": N_("proposal {raw} not found"),
}


def not_found(noun: str, raw: object) -> NotFound:
    """`<noun> <raw> not found`: `noun` is one of NOT_FOUND's."""
    return NotFound(NOT_FOUND[noun], raw=raw)


def _one(
    session: Session, model: type[T], clause: ColumnElement[bool], item_id: int, noun: str
) -> T:
    found = session.scalars(select(model).where(model.id == item_id, clause)).first()
    if found is None:
        raise not_found(noun, item_id)
    return found
