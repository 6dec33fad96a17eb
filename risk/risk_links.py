"""Links of a risk to the security cases, configuration items and non-conformities it
comes from or bears on: only a target the principal sees is linked, once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from risk.models import Risk, RiskLink
from risk.visibility import visible_nc, visible_risk
from risk.writing import audit_risk, check_writer, record_change
from soc.cases import service as cases
from soc.cmdb.models import CITenant, ConfigurationItem
from soc.core.db import utcnow
from soc.core.errors import Conflict, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal


def link_pairs(session: Session, risk_id: int) -> list[tuple[str, int]]:
    """The risk's links as (kind, target id), sorted."""
    rows = session.execute(
        select(RiskLink.kind, RiskLink.target_id)
        .where(RiskLink.risk_id == risk_id)
        .order_by(RiskLink.kind, RiskLink.target_id)
    )
    return [(kind, target) for kind, target in rows]


def _ci_visible(session: Session, principal: Principal, ci: ConfigurationItem) -> bool:
    if principal.is_global:
        return True
    if principal.provider_id is not None and ci.provider_id == principal.provider_id:
        return True
    served = session.scalars(select(CITenant.tenant_id).where(CITenant.ci_id == ci.id))
    return any(principal.sees_tenant(t) for t in served)


def _check_target(session: Session, principal: Principal, kind: str, target_id: int) -> None:
    if kind == "case":
        cases.get_case(session, principal, target_id)
    elif kind == "ci":
        ci = session.get(ConfigurationItem, target_id)
        if ci is None or not _ci_visible(session, principal, ci):
            raise NotFound(N_("CI {ci_id} not found"), ci_id=target_id)
    elif kind == "nonconformity":
        visible_nc(session, principal, target_id)
    else:
        raise Invalid(N_("unknown link kind {kind!r}"), kind=kind)


def link(session: Session, principal: Principal, risk_id: int, kind: str, target_id: int) -> Risk:
    """Link a case, CI or non-conformity the principal sees to the risk."""
    principal.require("risk.write")
    risk = visible_risk(session, principal, risk_id)
    check_writer(session, principal, risk)
    _check_target(session, principal, kind, target_id)
    if session.get(RiskLink, (risk.id, kind, target_id)) is not None:
        raise Conflict(
            N_("risk {risk_id} is linked to {kind} {target_id} already"),
            risk_id=risk_id,
            kind=kind,
            target_id=target_id,
        )
    before = [f"{k}:{t}" for k, t in link_pairs(session, risk.id)]
    session.add(RiskLink(risk_id=risk.id, kind=kind, target_id=target_id))
    session.flush()
    after = [f"{k}:{t}" for k, t in link_pairs(session, risk.id)]
    record_change(session, risk, principal.actor, "links", before, after)
    risk.updated_at = utcnow()
    audit_risk(session, principal, "risk.linked", risk, kind=kind, target_id=target_id)
    return risk


def links(session: Session, principal: Principal, risk_id: int) -> list[RiskLink]:
    principal.require("risk.read")
    risk = visible_risk(session, principal, risk_id)
    return list(
        session.scalars(
            select(RiskLink)
            .where(RiskLink.risk_id == risk.id)
            .order_by(RiskLink.kind, RiskLink.target_id)
        )
    )
