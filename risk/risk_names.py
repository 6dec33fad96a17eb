"""Tenants, providers and users of a risk, from the names a request gives (tenant and
provider slugs, usernames) to row ids, and back to names for answers and history."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.core.errors import Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from tenants.models import Provider, Tenant, User


def tenant_ids_for(
    session: Session, principal: Principal, slugs: Iterable[str], also: Iterable[int] = ()
) -> list[int]:
    """Tenants by slug; one the principal may not see is unknown (NotFound), unless it is in
    `also` (the tenant of a case the principal sees)."""
    allowed, ids = set(also), set()
    for slug in slugs:
        found = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
        if found is None or not (principal.sees_tenant(found) or found in allowed):
            raise NotFound(N_("tenant {name} not found"), name=slug)
        ids.add(found)
    return sorted(ids)


def provider_id_for(session: Session, slug: str) -> int:
    found = session.scalar(select(Provider.id).where(Provider.slug == slug))
    if found is None:
        raise NotFound(N_("provider {name} not found"), name=slug)
    return found


def nameable_user(session: Session, principal: Principal, username: str) -> User:
    """A user the principal may name (as an owner): anyone for unscoped principals, else
    itself, a user of a tenant it sees or of its own provider. Others are not found, with
    the same answer as an unknown username (no probing for who exists)."""
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None or not (
        principal.is_global
        or user.id == principal.user_id
        or (user.tenant_id is not None and principal.sees_tenant(user.tenant_id))
        or (principal.provider_id is not None and user.provider_id == principal.provider_id)
    ):
        raise NotFound(N_("user not found"))
    return user


def check_owner_tenants(user: User, tenant_ids: Iterable[int]) -> None:
    """A tenant's user owns only risks of their tenant (a common risk: none of them), or
    as owner they would read a risk meant for others."""
    if user.tenant_id is not None and user.tenant_id not in set(tenant_ids):
        raise Invalid(N_("the owner must be a user of one of the risk's tenants (or unscoped)"))


def slugs_of(session: Session, model: type[Tenant] | type[Provider], ids: list[int]) -> list[str]:
    if not ids:
        return []
    return sorted(session.scalars(select(model.slug).where(model.id.in_(ids))))


def username_of(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    return session.scalar(select(User.username).where(User.id == user_id))


def provider_slug_of(session: Session, provider_id: int | None) -> str | None:
    if provider_id is None:
        return None
    return session.scalar(select(Provider.slug).where(Provider.id == provider_id))
