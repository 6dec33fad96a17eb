"""FastAPI dependencies: the shared services, a database session, the acting principal."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from soc.errors import Unauthorized
from soc.services import Services
from tenants import service as tenant_service
from tenants.principal import Principal

SESSION_COOKIE = "soc_session"


def get_services(request: Request) -> Services:
    return request.app.state.services


def db_session(services: Services = Depends(get_services)) -> Iterator[Session]:
    with services.db.session() as session:
        yield session


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def current_principal(request: Request, session: Session = Depends(db_session)) -> Principal:
    """A logged-in user, from the bearer token or the web session cookie."""
    token = bearer(request) or request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized(
            "log in first: POST /api/v1/auth/login, then send 'Authorization: Bearer <token>'"
        )
    return tenant_service.principal_from_token(session, token)


def ingest_principal(request: Request, services: Services = Depends(get_services)) -> Principal:
    """A tenant's ingest key, from 'Authorization: Bearer <key>', 'ApiKey <key>' or 'X-API-Key'.

    Checked in a short transaction of its own: the ingest work opens the writing one later.
    """
    key = request.headers.get("x-api-key")
    if not key:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() in ("bearer", "apikey") and value.strip():
            key = value.strip()
    if not key:
        raise Unauthorized(
            "send the tenant's ingest key as 'X-API-Key: <key>' or 'Authorization: Bearer <key>'"
        )
    with services.db.session() as session:
        return tenant_service.principal_from_api_key(session, key)
