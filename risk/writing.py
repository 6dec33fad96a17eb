"""Writing a risk, what every service that changes one shares: who the risk concerns (its
tenants and named providers), who may write it (`check_writer`), its scope key (what an
acceptance is bound to), the one writer of field history (`record_change`) and the audit
entry of a change (`audit_risk`).

The risk service, acceptance, links and reviews import this module; it imports none of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from risk.models import Risk, RiskChange, RiskProvider, RiskTenant
from soc.core import audit
from soc.core.db import utcnow
from soc.core.errors import Forbidden
from soc.core.i18n import N_
from soc.core.principal import Principal

STEERS_STRATEGIC = frozenset({"authority"})  # B2: the authority steers strategic risks


def named_provider_ids(session: Session, risk_id: int) -> list[int]:
    return sorted(
        session.scalars(select(RiskProvider.provider_id).where(RiskProvider.risk_id == risk_id))
    )


def tenant_ids_of(session: Session, risk_id: int) -> list[int]:
    return sorted(
        session.scalars(select(RiskTenant.tenant_id).where(RiskTenant.risk_id == risk_id))
    )


def check_writer(
    session: Session, principal: Principal, risk: Risk, *, steering: bool = False
) -> None:
    """May this principal change this (visible) risk? A provider's users only a risk their
    provider owns or is named on, a risk owner only their own risks; `steering` (status,
    treatment, scores, category) of a strategic risk only the authority."""
    principal.require("risk.write")
    if principal.provider_id is not None:
        ours = risk.owning_provider_id == principal.provider_id or (
            principal.provider_id in named_provider_ids(session, risk.id)
        )
        if not ours:
            raise Forbidden(N_("a provider changes only the risks it owns or is named on"))
    if principal.role == "risk_owner" and risk.owner_user_id != principal.user_id:
        raise Forbidden(N_("a risk owner changes only the risks they own"))
    if steering and risk.category == "strategic" and principal.role not in STEERS_STRATEGIC:
        raise Forbidden(N_("strategic risks are steered by the authority"))


def scope_key(session: Session, risk_id: int) -> str:
    """The sorted ids of the risk's tenants and named providers, as one string."""
    tenants = ",".join(str(t) for t in tenant_ids_of(session, risk_id))
    providers = ",".join(str(p) for p in named_provider_ids(session, risk_id))
    return f"t:{tenants}|p:{providers}"


def record_change(
    session: Session, risk: Risk, actor: str, field: str, old: Any, new: Any
) -> RiskChange:
    """One row of the risk's field history: who changed which field, from what to what."""
    row = RiskChange(risk_id=risk.id, at=utcnow(), actor=actor, field=field, old=old, new=new)
    session.add(row)
    return row


def _audit_tenant(session: Session, risk: Risk) -> int | None:
    ids = tenant_ids_of(session, risk.id)
    return ids[0] if len(ids) == 1 else None


def audit_risk(
    session: Session, principal: Principal, action: str, risk: Risk, **detail: Any
) -> None:
    """The audit entry of a change to the risk (its tenant when it concerns exactly one)."""
    audit.record(
        session,
        actor=principal.actor,
        action=action,
        object_type="risk",
        object_id=risk.id,
        tenant_id=_audit_tenant(session, risk),
        detail=detail,
    )
