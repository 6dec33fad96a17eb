"""Asset criticality per tenant and host: what sets a new case's impact."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.cases.models import Asset
from soc.cases.priority import check_level
from soc.core import audit
from soc.core.errors import NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from tenants.models import Tenant


def _tenant(session: Session, actor: Principal, slug: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None or not actor.sees_tenant(tenant.id):
        raise NotFound(N_("tenant '{ref}' not found"), ref=slug)
    return tenant


def set_asset(
    session: Session,
    actor: Principal,
    tenant_slug: str,
    host: str,
    criticality: str,
    description: str = "",
) -> Asset:
    actor.require("assets.manage")
    tenant = _tenant(session, actor, tenant_slug)
    check_level("criticality", criticality)
    row = session.scalar(select(Asset).where(Asset.tenant_id == tenant.id, Asset.host == host))
    if row is None:
        row = Asset(tenant_id=tenant.id, host=host)
        session.add(row)
    row.criticality, row.description = criticality, description
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="asset.set",
        object_type="asset",
        object_id=row.id,
        tenant_id=tenant.id,
        detail={"host": host, "criticality": criticality},
    )
    return row


def list_assets(session: Session, actor: Principal, tenant_slug: str) -> list[Asset]:
    actor.require("cases.read")
    tenant = _tenant(session, actor, tenant_slug)
    return list(
        session.scalars(select(Asset).where(Asset.tenant_id == tenant.id).order_by(Asset.host))
    )
