"""Tenants, providers and users of a risk, from the names a request gives (tenant and
provider slugs, usernames) to row ids, and back to names for answers and history."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.core.errors import NotFound
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
            raise NotFound(f"tenant {slug} not found")
        ids.add(found)
    return sorted(ids)


def provider_id_for(session: Session, slug: str) -> int:
    found = session.scalar(select(Provider.id).where(Provider.slug == slug))
    if found is None:
        raise NotFound(f"provider {slug} not found")
    return found


def user_id_for(session: Session, username: str) -> int:
    found = session.scalar(select(User.id).where(User.username == username))
    if found is None:
        raise NotFound(f"user {username} not found")
    return found


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
