"""Write CIs and relations straight into the tables (the inventory service has its own
tests): the status tests need a topology, not the import path."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from soc.cmdb.engine import bump_revision
from soc.cmdb.models import CIName, CITenant, ConfigurationItem, Relation


def add_ci(
    session: Session,
    name: str,
    ci_type: str,
    provider_id: int | None = None,
    tenants: Iterable[int] = (),
    min_healthy: int | None = None,
) -> int:
    ci = ConfigurationItem(
        name=name, ci_type=ci_type, provider_id=provider_id, min_healthy=min_healthy, attributes={}
    )
    session.add(ci)
    session.flush()
    session.add(CIName(ci_id=ci.id, name=name.lower()))
    for tenant_id in tenants:
        session.add(CITenant(ci_id=ci.id, tenant_id=tenant_id))
    bump_revision(session)
    return ci.id


def relate(session: Session, source: int, target: int, rel_type: str = "depends_on") -> None:
    session.add(Relation(from_ci_id=source, to_ci_id=target, rel_type=rel_type))
    session.flush()
    bump_revision(session)
