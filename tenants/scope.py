"""Which tenants a provider serves, and a user's scope resolved from it.

A provider-scoped user sees the data of the tenants its provider serves (and, as before, the
cases assigned to the provider); the relation is kept here and changed only by unscoped
operators, each change audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from soc.core import audit
from soc.core.principal import Principal, Scope
from tenants import tenancy
from tenants.models import Provider, ProviderTenant, Tenant, User


def served_tenant_ids(session: Session, provider_id: int) -> frozenset[int]:
    return frozenset(
        session.scalars(
            select(ProviderTenant.tenant_id).where(ProviderTenant.provider_id == provider_id)
        )
    )


def scope_of(session: Session, user: User) -> Scope:
    """The user's scope: its tenant, its provider's served tenants (read now, so a change of
    the relation applies from the next request), or all."""
    if user.tenant_id is not None:
        return Scope.of_tenants(user.tenant_id)
    if user.provider_id is not None:
        return Scope.of_provider(user.provider_id, served_tenant_ids(session, user.provider_id))
    return Scope.everything()


def _pair(
    session: Session, actor: Principal, provider: str, tenant: str
) -> tuple[Provider, Tenant]:
    actor.require("tenants.manage")
    return tenancy.get_provider(session, provider), tenancy.get_tenant(session, actor, tenant)


def serve(session: Session, actor: Principal, provider: str, tenant: str) -> bool:
    """Let the provider serve the tenant; False when it already did (nothing changes)."""
    found, target = _pair(session, actor, provider, tenant)
    if session.get(ProviderTenant, (found.id, target.id)) is not None:
        return False
    session.add(ProviderTenant(provider_id=found.id, tenant_id=target.id))
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="provider.serve",
        object_type="provider",
        object_id=found.id,
        tenant_id=target.id,
        detail={"provider": found.slug, "tenant": target.slug},
    )
    return True


def unserve(session: Session, actor: Principal, provider: str, tenant: str) -> bool:
    """Stop the provider serving the tenant; False when it did not (nothing changes). Cases
    already assigned to the provider stay visible to it until they are reassigned."""
    found, target = _pair(session, actor, provider, tenant)
    result = session.execute(
        delete(ProviderTenant).where(
            ProviderTenant.provider_id == found.id, ProviderTenant.tenant_id == target.id
        )
    )
    removed = cast("CursorResult[Any]", result).rowcount
    if not removed:
        return False
    audit.record(
        session,
        actor=actor.actor,
        action="provider.unserve",
        object_type="provider",
        object_id=found.id,
        tenant_id=target.id,
        detail={"provider": found.slug, "tenant": target.slug},
    )
    return True


@dataclass
class ProviderView:
    provider: Provider
    tenants: list[str]  # slugs of the served tenants, sorted


def list_providers(session: Session, actor: Principal) -> list[ProviderView]:
    actor.require("tenants.manage")
    served: dict[int, list[str]] = {}
    for provider_id, slug in session.execute(
        select(ProviderTenant.provider_id, Tenant.slug)
        .join(Tenant, Tenant.id == ProviderTenant.tenant_id)
        .order_by(Tenant.slug)
    ):
        served.setdefault(provider_id, []).append(slug)
    providers = session.scalars(select(Provider).order_by(Provider.slug))
    return [ProviderView(p, served.get(p.id, [])) for p in providers]
