"""Priority = impact x urgency (seed 004 section 3.3); defaults from rule level and asset."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.cases import sla
from soc.cases.models import LEVELS3, Asset, Case
from soc.core.errors import Invalid
from soc.core.i18n import N_
from soc.core.settings import Settings
from tenants.models import Tenant

# Sigma rule levels, lowest first: a case takes the highest level of its alerts.
LEVEL_ORDER = ("informational", "low", "medium", "high", "critical")


def higher_level(a: str, b: str) -> str:
    """The higher of two Sigma levels (an unknown level ranks as medium)."""
    rank = {name: i for i, name in enumerate(LEVEL_ORDER)}
    return a if rank.get(a, 2) >= rank.get(b, 2) else b


def reprioritise(session: Session, settings: Settings, case: Case) -> None:
    """Priority from the matrix; clock mode and due times follow it."""
    case.priority = priority_for(settings, case.impact, case.urgency)
    sla.set_clock_mode(session, settings, case)
    sla.refresh(settings, case)


def check_level(name: str, value: str) -> str:
    if value not in LEVELS3:
        raise Invalid(
            N_("{name} must be one of {levels}, not '{value}'"),
            name=name,
            levels=", ".join(LEVELS3),
            value=value,
        )
    return value


def priority_for(settings: Settings, impact: str, urgency: str) -> str:
    """The matrix cell for impact (row) and urgency (column)."""
    try:
        return settings.case_priority_matrix[impact][urgency]
    except KeyError as exc:
        raise Invalid(
            N_("no priority for impact '{impact}' and urgency '{urgency}'"),
            impact=impact,
            urgency=urgency,
        ) from exc


def default_urgency(settings: Settings, level: str) -> str:
    """Urgency from the Sigma rule's level (medium for an unknown level)."""
    return settings.case_urgency_by_level.get(level, "medium")


def default_impact(session: Session, tenant_id: int, host: str) -> str:
    """Impact from the affected asset's criticality, else the tenant's default."""
    criticality = session.scalar(
        select(Asset.criticality).where(Asset.tenant_id == tenant_id, Asset.host == host)
    )
    if criticality in LEVELS3:
        return criticality
    tenant = session.get(Tenant, tenant_id)
    value = tenant.default_impact if tenant is not None else "medium"
    return value if value in LEVELS3 else "medium"
