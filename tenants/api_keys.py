"""Per-tenant ingest API keys: only their hash is kept; the secret is shown once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.core import audit
from soc.core.db import utcnow
from soc.core.errors import NotFound, Unauthorized
from soc.core.i18n import N_
from soc.core.principal import Principal, Scope
from tenants import security
from tenants.models import ApiKey
from tenants.tenancy import get_tenant


def create_api_key(
    session: Session, actor: Principal, tenant: int | str, name: str
) -> tuple[ApiKey, str]:
    """Create an ingest key for a tenant; the secret is returned once and only its hash kept."""
    actor.require("apikeys.manage")
    target = get_tenant(session, actor, tenant)
    secret = security.new_api_key()
    key = ApiKey(
        tenant_id=target.id, name=name, prefix=secret[:12], key_hash=security.sha256_hex(secret)
    )
    session.add(key)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="apikey.create",
        object_type="api_key",
        object_id=key.id,
        tenant_id=target.id,
        detail={"name": name, "prefix": key.prefix},
    )
    return key, secret


def list_api_keys(session: Session, actor: Principal, tenant: int | str) -> list[ApiKey]:
    actor.require("apikeys.manage")
    target = get_tenant(session, actor, tenant)
    return list(session.scalars(select(ApiKey).where(ApiKey.tenant_id == target.id)))


def revoke_api_key(session: Session, actor: Principal, key_id: int) -> ApiKey:
    actor.require("apikeys.manage")
    key = session.get(ApiKey, key_id)
    if key is None or not actor.sees_tenant(key.tenant_id):
        raise NotFound(N_("api key {key_id} not found"), key_id=key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(
            session,
            actor=actor.actor,
            action="apikey.revoke",
            object_type="api_key",
            object_id=key.id,
            tenant_id=key.tenant_id,
        )
    return key


def principal_from_api_key(session: Session, secret: str) -> Principal:
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == security.sha256_hex(secret)))
    if key is None:
        raise Unauthorized(N_("unknown API key"))
    if key.revoked_at is not None:
        raise Unauthorized(N_("this API key has been revoked"))
    return Principal(
        actor=f"apikey:{key.id}", role="ingest_key", scope=Scope.of_tenants(key.tenant_id)
    )
