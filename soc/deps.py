"""FastAPI dependencies: the shared services, a database session, the acting principal."""

from __future__ import annotations

import base64
from collections.abc import Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from soc.errors import Unauthorized
from soc.services import Services
from tenants import service as tenant_service
from tenants.principal import Principal
from tenants.security import API_KEY_PREFIX

SESSION_COOKIE = "soc_session"


def get_services(request: Request) -> Services:
    return request.app.state.services


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def db_session(request: Request, services: Services = Depends(get_services)) -> Iterator[Session]:
    """The request's session: a read transaction (no write lock, any length) for GET and HEAD,
    a write transaction (SQLite's write lock from the first statement) for the rest. A read
    handler that must write opens `services.db.session()` for just that write."""
    if request.method in READ_METHODS:
        with services.db.read_session() as session:
            yield session
    else:
        with services.db.session() as session:
            yield session


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def auth_session(services: Services = Depends(get_services)) -> Iterator[Session]:
    """The token lookup's own read transaction: a write request's lock then starts at the
    handler's first statement, not at authentication, and is never held by one that only
    validates or computes."""
    with services.db.read_session() as session:
        yield session


def current_principal(request: Request, session: Session = Depends(auth_session)) -> Principal:
    """A logged-in user, from the bearer token or else the web session cookie.

    With an Authorization header the cookie is never used: the same-origin check for cookie
    writes skips such requests, so a cookie behind a junk header must not authenticate.
    """
    if "authorization" in request.headers:
        token = bearer(request)
    else:
        token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized(
            "log in first: POST /api/v1/auth/login, then send 'Authorization: Bearer <token>'"
        )
    principal = tenant_service.principal_from_token(session, token)
    session.commit()  # end the lookup's transaction now: its connection goes back to the pool
    return principal


def _key_from_authorization(header: str) -> str | None:
    """The ingest key from Bearer, ApiKey (plain, or Elasticsearch's base64 of 'id:key') or
    Basic auth (the key is the password), so stock shipper outputs authenticate unchanged."""
    scheme, _, value = header.partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if not value:
        return None
    if scheme == "bearer":
        return value
    if scheme not in ("apikey", "basic"):
        return None
    if value.startswith(API_KEY_PREFIX):
        return value
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except ValueError:  # binascii.Error, non-ASCII input, undecodable bytes
        return value if scheme == "apikey" else None
    return decoded.partition(":")[2] or decoded


def ingest_principal(request: Request, services: Services = Depends(get_services)) -> Principal:
    """A tenant's ingest key, from 'Authorization: Bearer <key>', 'ApiKey <key>' or 'X-API-Key'.

    Checked in a read transaction of its own (no write lock): the ingest work opens the
    writing one later.
    """
    key = request.headers.get("x-api-key") or _key_from_authorization(
        request.headers.get("authorization", "")
    )
    if not key:
        raise Unauthorized(
            "send the tenant's ingest key as 'X-API-Key: <key>' or 'Authorization: Bearer <key>'"
            " (Elasticsearch clients: 'ApiKey base64(id:key)' or basic auth with the key as "
            "password)"
        )
    with services.db.read_session() as session:
        return tenant_service.principal_from_api_key(session, key)
