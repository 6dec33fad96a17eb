"""What every rule-management change shares: the tenant it is for, its audit entry, and the
bump of the tenant's detection revision (detectors then rebuild their view)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from detections.models import DetectionRevision
from soc.core import audit
from soc.core.errors import Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal
from tenants.models import Tenant
from tenants.tenancy import get_tenant


def resolve_tenant(session: Session, actor: Principal, ref: int | str | None) -> Tenant:
    """The named tenant if the actor sees it (else NotFound); a user of one tenant defaults to
    it, everyone else (unscoped or provider-scoped) names the tenant."""
    if ref is None or ref == "":
        if actor.tenant_id is None:
            raise Invalid(N_("name the tenant: ?tenant=<slug>"))
        ref = actor.tenant_id
    return get_tenant(session, actor, ref)


def bump_revision(session: Session, tenant_id: int) -> None:
    result = session.execute(
        update(DetectionRevision)
        .where(DetectionRevision.tenant_id == tenant_id)
        .values(revision=DetectionRevision.revision + 1)
    )
    if not cast("CursorResult[Any]", result).rowcount:
        session.add(DetectionRevision(tenant_id=tenant_id, revision=1))
    session.flush()


def audit_change(
    session: Session,
    actor: Principal,
    action: str,
    kind: str,
    oid: object,
    tenant_id: int,
    **d: Any,
) -> None:
    audit.record(
        session,
        actor=actor.actor,
        action=action,
        object_type=kind,
        object_id=oid,
        tenant_id=tenant_id,
        detail=d,
    )
