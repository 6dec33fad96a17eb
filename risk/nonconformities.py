"""Non-conformities (B5–B7): security and process deviations found by audits, KRI input,
process metrics, complaints, risk analyses and pen tests, with their improvement proposals
and corrective actions (actions of the registers pointing at the NC by `nc_id`).

Reads go through `risk.visibility.nc_filter` (another tenant's NC is a 404); writes need
`nc.write` and are audited. `overview` is computed from the tables on every call, so it is
always current: each visible NC, its proposals and corrective actions with their status,
progress, decision and due date, the conflicts between proposals, and counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from risk.models import NC_KINDS, NC_STATUSES, RiskAction, RiskNonConformity
from risk.nc_schemas import NCIn
from risk.proposals import PROPOSAL, ProposalConflict, find_conflicts, open_proposals
from risk.visibility import action_filter, nc_filter, visible_nc
from soc.cmdb.models import ConfigurationItem
from soc.core.audit import record
from soc.core.db import utcnow
from soc.core.errors import Forbidden, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from tenants.models import Provider, Tenant

FIELDS = ("title", "description", "kind", "source", "status", "provider_id", "ci_id")


@dataclass(frozen=True)
class NCFilter:
    status: str | None = None
    kind: str | None = None
    scope: str | None = None
    source: str | None = None


@dataclass
class NCDetail:
    nc: RiskNonConformity
    proposals: list[RiskAction] = field(default_factory=list)
    corrective_actions: list[RiskAction] = field(default_factory=list)


@dataclass
class Overview:
    total: int
    by_status: dict[str, int]
    by_kind: dict[str, int]
    actions_by_status: dict[str, int]
    items: list[NCDetail]
    conflicts: dict[int, list[ProposalConflict]]


@dataclass(frozen=True)
class Names:
    """Tenant and provider slugs by id, for answers."""

    tenants: dict[int, str]
    providers: dict[int, str]


def names(session: Session) -> Names:
    return Names(
        {i: s for i, s in session.execute(select(Tenant.id, Tenant.slug))},
        {i: s for i, s in session.execute(select(Provider.id, Provider.slug))},
    )


def tenant_id_of(session: Session, principal: Principal, slug: str) -> int:
    """A tenant the principal sees, by slug (others are not found)."""
    tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if tenant_id is None or not principal.sees_tenant(tenant_id):
        raise NotFound(N_("tenant '{ref}' not found"), ref=slug)
    return tenant_id


def provider_id_of(session: Session, slug: str) -> int:
    provider_id = session.scalar(select(Provider.id).where(Provider.slug == slug))
    if provider_id is None:
        raise NotFound(N_("provider '{ref}' not found"), ref=slug)
    return provider_id


def check_ci(session: Session, ci_id: int | None) -> None:
    if ci_id is not None and session.get(ConfigurationItem, ci_id) is None:
        raise Invalid(N_("CI {ci_id} does not exist in the CMDB"), ci_id=ci_id)


def _check_provider(principal: Principal, provider_id: int | None) -> None:
    """A provider's staff register NCs of their own provider only."""
    own = principal.provider_id
    if own is not None and provider_id is not None and provider_id != own:
        raise Forbidden(N_("a provider's user registers non-conformities of its own provider"))


def create_nc(
    session: Session, principal: Principal, data: NCIn, now: datetime | None = None
) -> RiskNonConformity:
    principal.require("nc.write")
    tenant_id = tenant_id_of(session, principal, data.tenant) if data.tenant else None
    provider_id = provider_id_of(session, data.provider) if data.provider else None
    if provider_id is None and principal.provider_id is not None:
        provider_id = principal.provider_id
    _check_provider(principal, provider_id)
    check_ci(session, data.ci_id)
    when = now or utcnow()
    nc = RiskNonConformity(
        title=data.title.strip(),
        description=data.description,
        kind=data.kind,
        source=data.source,
        scope=data.scope,
        tenant_id=tenant_id,
        provider_id=provider_id,
        ci_id=data.ci_id,
        status="open",
        created_by=principal.actor,
        created_at=when,
        updated_at=when,
    )
    if not nc.title:
        raise Invalid(N_("the title is empty"))
    session.add(nc)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="risk.nc.created",
        object_type="nonconformity",
        object_id=nc.id,
        tenant_id=tenant_id,
        detail={
            "title": nc.title,
            "kind": nc.kind,
            "source": nc.source,
            "scope": nc.scope,
            "provider_id": provider_id,
            "ci_id": nc.ci_id,
        },
    )
    return nc


def update_nc(
    session: Session,
    principal: Principal,
    nc_id: int,
    changes: dict[str, Any],
    now: datetime | None = None,
) -> RiskNonConformity:
    """Change the given fields (`provider` by slug); closing stamps `closed_at`, reopening
    clears it. Nothing changed: nothing written."""
    principal.require("nc.write")
    nc = visible_nc(session, principal, nc_id)
    _check_provider(principal, nc.provider_id)
    wanted = dict(changes)
    if "provider" in wanted:
        slug = wanted.pop("provider")
        wanted["provider_id"] = provider_id_of(session, slug) if slug else None
        _check_provider(principal, wanted["provider_id"])
    if "title" in wanted:
        wanted["title"] = (wanted["title"] or "").strip()
        if not wanted["title"]:
            raise Invalid(N_("the title is empty"))
    for key in ("title", "description", "kind", "source", "status"):
        if key in wanted and wanted[key] is None:
            raise Invalid(N_("'{key}' cannot be null"), key=key)
    if "ci_id" in wanted:
        check_ci(session, wanted["ci_id"])
    diff = {
        k: [getattr(nc, k), v] for k, v in wanted.items() if k in FIELDS and getattr(nc, k) != v
    }
    if not diff:
        return nc
    when = now or utcnow()
    for key, (_, new) in diff.items():
        setattr(nc, key, new)
    if "status" in diff:
        nc.closed_at = when if nc.status == "closed" else None
    nc.updated_at = when
    record(
        session,
        actor=principal.actor,
        action="risk.nc.updated",
        object_type="nonconformity",
        object_id=nc.id,
        tenant_id=nc.tenant_id,
        detail=diff,
    )
    session.flush()
    return nc


def list_ncs(
    session: Session, principal: Principal, filters: NCFilter, limit: int, offset: int
) -> tuple[int, list[RiskNonConformity]]:
    principal.require("risk.read")
    query = select(RiskNonConformity).where(nc_filter(principal))
    for column, value in (
        (RiskNonConformity.status, filters.status),
        (RiskNonConformity.kind, filters.kind),
        (RiskNonConformity.scope, filters.scope),
        (RiskNonConformity.source, filters.source),
    ):
        if value is not None:
            query = query.where(column == value)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(RiskNonConformity.id.desc()).limit(limit).offset(offset))
    return total, list(rows)


def _actions_of(
    session: Session, principal: Principal, nc_ids: list[int]
) -> dict[int, list[RiskAction]]:
    out: dict[int, list[RiskAction]] = {i: [] for i in nc_ids}
    if not nc_ids:
        return out
    for start in range(0, len(nc_ids), 500):
        part = nc_ids[start : start + 500]
        query = (
            select(RiskAction)
            .where(RiskAction.nc_id.in_(part), action_filter(principal))
            .order_by(RiskAction.id)
        )
        for action in session.scalars(query):
            if action.nc_id is not None:
                out[action.nc_id].append(action)
    return out


def _detail(nc: RiskNonConformity, actions: list[RiskAction]) -> NCDetail:
    return NCDetail(
        nc,
        [a for a in actions if a.register == PROPOSAL],
        [a for a in actions if a.register != PROPOSAL],
    )


def conflicts_by_proposal(
    session: Session, principal: Principal
) -> dict[int, list[ProposalConflict]]:
    by_id: dict[int, list[ProposalConflict]] = {}
    for hit in find_conflicts(open_proposals(session, principal)):
        by_id.setdefault(hit.a, []).append(hit)
        by_id.setdefault(hit.b, []).append(hit)
    return by_id


def get_nc(session: Session, principal: Principal, nc_id: int) -> NCDetail:
    principal.require("risk.read")
    nc = visible_nc(session, principal, nc_id)
    return _detail(nc, _actions_of(session, principal, [nc.id])[nc.id])


def overview(session: Session, principal: Principal, limit: int = 500, offset: int = 0) -> Overview:
    """Every visible NC with its proposals and corrective actions (visible ones) and their
    implementation status; counts cover all visible NCs, `items` the requested page."""
    principal.require("risk.read")
    visible = nc_filter(principal)
    by_status = dict.fromkeys(NC_STATUSES, 0)
    by_kind = dict.fromkeys(NC_KINDS, 0)
    for status, kind, count in session.execute(
        select(RiskNonConformity.status, RiskNonConformity.kind, func.count())
        .where(visible)
        .group_by(RiskNonConformity.status, RiskNonConformity.kind)
    ):
        by_status[status] = by_status.get(status, 0) + count
        by_kind[kind] = by_kind.get(kind, 0) + count
    ncs = list(
        session.scalars(
            select(RiskNonConformity)
            .where(visible)
            .order_by(RiskNonConformity.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    actions = _actions_of(session, principal, [nc.id for nc in ncs])
    action_counts: Counter[str] = Counter()
    for status, count in session.execute(
        select(RiskAction.status, func.count())
        .where(
            RiskAction.nc_id.in_(select(RiskNonConformity.id).where(visible)),
            action_filter(principal),
        )
        .group_by(RiskAction.status)
    ):
        action_counts[status] += count
    return Overview(
        total=sum(by_status.values()),
        by_status=by_status,
        by_kind=by_kind,
        actions_by_status=dict(action_counts),
        items=[_detail(nc, actions[nc.id]) for nc in ncs],
        conflicts=conflicts_by_proposal(session, principal),
    )
