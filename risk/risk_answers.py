"""What a reader is answered about a risk: the risk itself (scores and bands, names as
slugs, only the concerned tenants the reader may see, only the links to cases, CIs and
non-conformities the reader may see) and its field history (tenant and link lists cut the
same way). The API, the pages and the export all name a risk's tenants through
`seen_tenant_ids`, so none of them shows a reader another tenant of a shared risk."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from risk.matrix import matrix_from
from risk.models import Risk, RiskChange, RiskTenant
from risk.risk_links import link_pairs
from risk.risk_names import provider_slug_of, slugs_of, username_of
from risk.schemas import ChangeOut, LinkOut, RiskOut
from risk.visibility import visible_nc
from risk.writing import named_provider_ids
from soc.cases import service as cases
from soc.cmdb.models import CITenant, ConfigurationItem
from soc.core.errors import DomainError
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.models import Provider, Tenant


def seen_tenant_ids(
    session: Session, principal: Principal, risk_ids: Iterable[int]
) -> dict[int, list[int]]:
    """Per risk, the ids of its concerned tenants the reader may see (sorted): a customer of
    one tenant of a shared risk never learns the others."""
    wanted = sorted(set(risk_ids))
    found: dict[int, list[int]] = {}
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        query = select(RiskTenant.risk_id, RiskTenant.tenant_id).where(RiskTenant.risk_id.in_(part))
        for risk_id, tenant_id in session.execute(query):
            if principal.sees_tenant(tenant_id):
                found.setdefault(risk_id, []).append(tenant_id)
    return {k: sorted(v) for k, v in found.items()}


def _ci_seen(session: Session, principal: Principal, ci_id: int) -> bool:
    if not principal.can("cmdb.read"):
        return False
    ci = session.get(ConfigurationItem, ci_id)
    if ci is None:
        return False
    if principal.is_global:
        return True
    if principal.provider_id is not None and ci.provider_id == principal.provider_id:
        return True
    served = session.scalars(select(CITenant.tenant_id).where(CITenant.ci_id == ci.id))
    return any(principal.sees_tenant(t) for t in served)


class LinkSight:
    """Which link targets (cases, CIs, non-conformities) the reader may see, each looked up
    once: a link to another tenant's case is not named to the reader."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.session, self.principal = session, principal
        self.known: dict[tuple[str, int], bool] = {}

    def sees(self, kind: str, target_id: int) -> bool:
        key = (kind, target_id)
        if key not in self.known:
            self.known[key] = self._look(kind, target_id)
        return self.known[key]

    def _look(self, kind: str, target_id: int) -> bool:
        try:
            if kind == "case":
                cases.get_case(self.session, self.principal, target_id)
            elif kind == "ci":
                return _ci_seen(self.session, self.principal, target_id)
            elif kind == "nonconformity":
                visible_nc(self.session, self.principal, target_id)
            else:
                return False
        except DomainError:
            return False
        return True


def seen_links(session: Session, principal: Principal, risk_id: int) -> list[tuple[str, int]]:
    """The risk's links (kind, target id) whose target the reader may see, sorted."""
    sight = LinkSight(session, principal)
    return [(k, t) for k, t in link_pairs(session, risk_id) if sight.sees(k, t)]


def describe(session: Session, principal: Principal, settings: Settings, risk: Risk) -> RiskOut:
    """The risk as answered: scores and bands, names as slugs (only the concerned tenants
    the reader may see), links, acceptance and alignment."""
    matrix = matrix_from(settings)
    inherent = risk.likelihood * risk.impact
    residual = risk.residual_likelihood * risk.residual_impact
    tenants = seen_tenant_ids(session, principal, [risk.id]).get(risk.id, [])
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
        links=[LinkOut(kind=k, target_id=t) for k, t in seen_links(session, principal, risk.id)],
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
    """The history as answered: tenant lists name only the tenants the reader may see, link
    lists only the links whose target the reader may see (as the risk itself does)."""
    sight = LinkSight(session, principal)
    seen: set[str] | None = None
    if not principal.is_global:
        query = select(Tenant.slug).where(principal.tenant_filter(Tenant.id))
        seen = set(session.scalars(query))

    def only_seen(value: Any) -> Any:
        if seen is None or not isinstance(value, list):
            return value
        return [t for t in value if t in seen]

    def only_seen_links(value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [v for v in value if _link_seen(sight, v)]

    out = []
    for row in rows:
        old, new = row.old, row.new
        if row.field == "tenants":
            old, new = only_seen(old), only_seen(new)
        elif row.field == "links":
            old, new = only_seen_links(old), only_seen_links(new)
        elif row.field == "created" and isinstance(new, dict):
            if "links" in new:
                new = new | {"links": only_seen_links(new["links"])}
            if seen is not None:
                new = new | {"tenants": only_seen(new.get("tenants"))}
        out.append(
            ChangeOut(id=row.id, at=row.at, actor=row.actor, field=row.field, old=old, new=new)
        )
    return out


def _link_seen(sight: LinkSight, value: Any) -> bool:
    """A history's link entry `kind:id`, shown only when the reader sees its target."""
    kind, _, raw = str(value).partition(":")
    return raw.isdigit() and sight.sees(kind, int(raw))
