"""The names the API uses for tenants, providers and people (slug, slug, username), looked up
by id once per session: a page of cases names the same few tenants many times."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenants.models import Provider, Tenant, User

_CACHE_KEY = "soc.names"


def _lookup(session: Session, model: Any, column: Any, row_id: int | None) -> str | None:
    if row_id is None:
        return None
    cache: dict[tuple[str, int], str | None] = session.info.setdefault(_CACHE_KEY, {})
    key = (model.__tablename__, row_id)
    if key not in cache:
        cache[key] = session.scalar(select(column).where(model.id == row_id))
    return cache[key]


def tenant_slug(session: Session, tenant_id: int | None) -> str | None:
    return _lookup(session, Tenant, Tenant.slug, tenant_id)


def provider_slug(session: Session, provider_id: int | None) -> str | None:
    return _lookup(session, Provider, Provider.slug, provider_id)


def username(session: Session, user_id: int | None) -> str | None:
    return _lookup(session, User, User.username, user_id)
