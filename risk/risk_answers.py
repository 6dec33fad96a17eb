"""What a reader is answered about a risk: the risk itself (scores and bands, names as
slugs, only the concerned tenants the reader may see) and its field history (tenant lists
cut the same way)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from risk.matrix import matrix_from
from risk.models import Risk, RiskChange
from risk.risk_links import link_pairs
from risk.risk_names import provider_slug_of, slugs_of, username_of
from risk.schemas import ChangeOut, LinkOut, RiskOut
from risk.writing import named_provider_ids, tenant_ids_of
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.models import Provider, Tenant


def describe(session: Session, principal: Principal, settings: Settings, risk: Risk) -> RiskOut:
    """The risk as answered: scores and bands, names as slugs (only the concerned tenants
    the reader may see), links, acceptance and alignment."""
    matrix = matrix_from(settings)
    inherent = risk.likelihood * risk.impact
    residual = risk.residual_likelihood * risk.residual_impact
    tenants = [t for t in tenant_ids_of(session, risk.id) if principal.sees_tenant(t)]
    return RiskOut(
        id=risk.id,
        title=risk.title,
        description=risk.description,
        category=risk.category,
        source=risk.source,
        scope=risk.scope,
        tenants=slugs_of(session, Tenant, tenants),
        providers=slugs_of(session, Provider, named_provider_ids(session, risk.id)),
        owner=username_of(session, risk.owner_user_id),
        owner_name=risk.owner_name,
        owning_provider=provider_slug_of(session, risk.owning_provider_id),
        likelihood=risk.likelihood,
        impact=risk.impact,
        inherent_score=inherent,
        inherent_band=matrix.band(inherent),
        residual_likelihood=risk.residual_likelihood,
        residual_impact=risk.residual_impact,
        residual_score=residual,
        residual_band=matrix.band(residual),
        treatment=risk.treatment,
        status=risk.status,
        review_date=risk.review_date,
        review_cadence_days=risk.review_cadence_days,
        links=[LinkOut(kind=k, target_id=t) for k, t in link_pairs(session, risk.id)],
        acceptance_state=risk.acceptance_state,
        aligned=risk.aligned_at is not None,
        aligned_at=risk.aligned_at,
        aligned_by=risk.aligned_by,
        advice=risk.advice,
        created_by=risk.created_by,
        created_at=risk.created_at,
        updated_at=risk.updated_at,
        closed_at=risk.closed_at,
    )


def history_out(session: Session, principal: Principal, rows: list[RiskChange]) -> list[ChangeOut]:
    """The history as answered: tenant lists name only the tenants the reader may see (as
    the risk itself does)."""
    if principal.is_global:
        return [ChangeOut.of(r) for r in rows]
    seen = set(session.scalars(select(Tenant.slug).where(principal.tenant_filter(Tenant.id))))

    def only_seen(value: Any) -> Any:
        return [t for t in value if t in seen] if isinstance(value, list) else value

    out = []
    for row in rows:
        old, new = row.old, row.new
        if row.field == "tenants":
            old, new = only_seen(old), only_seen(new)
        elif row.field == "created" and isinstance(new, dict):
            new = new | {"tenants": only_seen(new.get("tenants"))}
        out.append(
            ChangeOut(id=row.id, at=row.at, actor=row.actor, field=row.field, old=old, new=new)
        )
    return out
