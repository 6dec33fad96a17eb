"""Tenants (customer organisations) and providers: create, find, list. Audited."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.core import audit
from soc.core.errors import Conflict, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from tenants.models import Provider, Tenant

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def check_slug(slug: str) -> None:
    if not SLUG.match(slug):
        raise Invalid(
            N_("slug '{slug}' must be lowercase letters, digits and '-', max 63 chars"), slug=slug
        )


def create_tenant(
    session: Session, actor: Principal, slug: str, name: str, retention_days: int = 365
) -> Tenant:
    actor.require("tenants.manage")
    check_slug(slug)
    if not 1 <= retention_days <= 365:
        raise Invalid(
            N_("retention_days must be between 1 and 365 (the contract keeps logs at most a year)")
        )
    if session.scalar(select(Tenant).where(Tenant.slug == slug)):
        raise Conflict(N_("tenant '{slug}' already exists"), slug=slug)
    tenant = Tenant(slug=slug, name=name, retention_days=retention_days)
    session.add(tenant)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="tenant.create",
        object_type="tenant",
        object_id=tenant.id,
        tenant_id=tenant.id,
        detail={"slug": slug, "name": name},
    )
    return tenant


def create_provider(session: Session, actor: Principal, slug: str, name: str) -> Provider:
    actor.require("tenants.manage")
    check_slug(slug)
    if session.scalar(select(Provider).where(Provider.slug == slug)):
        raise Conflict(N_("provider '{slug}' already exists"), slug=slug)
    provider = Provider(slug=slug, name=name)
    session.add(provider)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="provider.create",
        object_type="provider",
        object_id=provider.id,
        detail={"slug": slug, "name": name},
    )
    return provider


def get_tenant(session: Session, actor: Principal, ref: int | str) -> Tenant:
    """Find a tenant by id or slug among those the actor may see."""
    actor.require("tenants.read")
    query = select(Tenant).where(Tenant.id == ref if isinstance(ref, int) else Tenant.slug == ref)
    tenant = session.scalar(query)
    if tenant is None or not actor.sees_tenant(tenant.id):
        raise NotFound(N_("tenant '{ref}' not found"), ref=ref)
    return tenant


def list_tenants(session: Session, actor: Principal) -> list[Tenant]:
    actor.require("tenants.read")
    query = select(Tenant).where(actor.tenant_filter(Tenant.id)).order_by(Tenant.slug)
    return list(session.scalars(query))


def get_provider(session: Session, ref: int | str) -> Provider:
    query = select(Provider).where(
        Provider.id == ref if isinstance(ref, int) else Provider.slug == ref
    )
    provider = session.scalar(query)
    if provider is None:
        raise NotFound(N_("provider '{ref}' not found"), ref=ref)
    return provider
