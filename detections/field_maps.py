"""The tenant's field map: its own field names mapped to Sigma's (audited; each change
bumps the tenant's detection revision)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from detections.changes import audit_change, bump_revision, resolve_tenant
from detections.models import FieldMapping
from soc.core.db import utcnow
from soc.core.errors import Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal

# Whole sentences per field (not "name the {what}"), so that the field's name is translated too.
_MISSING = {
    "tenant's field": N_("name the tenant's field"),
    "Sigma field": N_("name the Sigma field"),
}
_TOO_LONG = {
    "tenant's field": N_("the tenant's field is longer than 200 characters"),
    "Sigma field": N_("the Sigma field is longer than 200 characters"),
}


def _field_name(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise Invalid(_MISSING[what])
    if len(value) > 200:
        raise Invalid(_TOO_LONG[what])
    return value


def list_field_maps(
    session: Session, actor: Principal, tenant_ref: int | str | None
) -> list[FieldMapping]:
    """The tenant's field map (its field → Sigma field), by the tenant's field name."""
    actor.require("rules.read")
    tenant = resolve_tenant(session, actor, tenant_ref)
    return list(
        session.scalars(
            select(FieldMapping)
            .where(FieldMapping.tenant_id == tenant.id)
            .order_by(FieldMapping.source_field)
        )
    )


def put_field_map(
    session: Session,
    actor: Principal,
    tenant_ref: int | str | None,
    source_field: str,
    sigma_field: str,
) -> tuple[FieldMapping, bool]:
    """Map the tenant's field ``source_field`` to ``sigma_field`` (replacing its earlier
    mapping); audited. Returns the row and whether anything changed."""
    actor.require("rules.manage")
    tenant = resolve_tenant(session, actor, tenant_ref)
    source = _field_name(source_field, "tenant's field")
    sigma = _field_name(sigma_field, "Sigma field")
    if source == sigma:
        raise Invalid(N_("the tenant's field and the Sigma field are the same"))
    row = session.scalar(
        select(FieldMapping).where(
            FieldMapping.tenant_id == tenant.id, FieldMapping.source_field == source
        )
    )
    if row is not None and row.sigma_field == sigma:
        return row, False
    before = row.sigma_field if row is not None else None
    if row is None:
        row = FieldMapping(tenant_id=tenant.id, source_field=source)
        session.add(row)
    row.sigma_field, row.author, row.created_at = sigma, actor.actor, utcnow()
    session.flush()
    audit_change(
        session,
        actor,
        "rules.field_map.set",
        "field_mapping",
        source,
        tenant.id,
        source_field=source,
        sigma_field=sigma,
        before=before,
    )
    bump_revision(session, tenant.id)
    return row, True


def delete_field_map(
    session: Session, actor: Principal, tenant_ref: int | str | None, source_field: str
) -> None:
    actor.require("rules.manage")
    tenant = resolve_tenant(session, actor, tenant_ref)
    row = session.scalar(
        select(FieldMapping).where(
            FieldMapping.tenant_id == tenant.id, FieldMapping.source_field == source_field.strip()
        )
    )
    if row is None:
        raise NotFound(N_("no field map for '{source_field}'"), source_field=source_field)
    gone = row.sigma_field
    session.delete(row)
    audit_change(
        session,
        actor,
        "rules.field_map.delete",
        "field_mapping",
        row.source_field,
        tenant.id,
        source_field=row.source_field,
        sigma_field=gone,
    )
    bump_revision(session, tenant.id)
