"""Typed FastAPI dependencies that every router takes its request context from.

They read `request.app.state`, which the shell fills at start-up (`soc.app`): routers never
import the composition root, and this floor knows no domain. A domain types its own long-lived
objects the same way with `state_dependency` (e.g. `ingest.deps.StoreDep`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Annotated, Protocol, TypeVar, cast

from fastapi import BackgroundTasks, Depends, Request
from sqlalchemy.orm import Session

from soc.core.db import Database
from soc.core.errors import Unauthorized
from soc.core.i18n import N_
from soc.core.jobs import JobHost
from soc.core.principal import Principal
from soc.core.settings import Settings

SESSION_COOKIE = "soc_session"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
T = TypeVar("T")


class Authenticator(Protocol):
    """Turns a session token or an ingest key into a principal (tenants implements it)."""

    api_key_prefix: str
    api_token_prefix: str

    def principal_from_token(self, session: Session, token: str) -> Principal: ...

    def principal_from_api_token(self, session: Session, token: str) -> Principal:
        """An integration's API token: its user cut to the token's scopes."""
        ...

    def api_token_used(self, db: Database, token_id: int) -> None:
        """Note the token's last use (throttled: a write now and then, not per request)."""
        ...

    def principal_from_api_key(self, session: Session, key: str) -> Principal: ...


def state_dependency(name: str, kind: type[T]) -> Callable[[Request], T]:
    """A dependency returning `app.state.<name>`, typed as `kind` (a shell that forgot to set
    it fails loudly on the first request, not later)."""

    def dependency(request: Request) -> T:
        value = getattr(request.app.state, name, None)
        if value is None:
            raise RuntimeError(f"app.state.{name} is not set (the shell publishes it at start-up)")
        return cast(T, value)

    dependency.__name__ = f"get_{name}"
    return dependency


get_settings = state_dependency("settings", Settings)
get_database = state_dependency("db", Database)
SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]


def get_authenticator(request: Request) -> Authenticator:
    return cast(Authenticator, request.app.state.authenticator)


AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]


def get_job_host(request: Request) -> JobHost:
    return cast(JobHost, request.app.state.job_host)


JobHostDep = Annotated[JobHost, Depends(get_job_host)]


def db_session(request: Request, db: DatabaseDep) -> Iterator[Session]:
    """The request's session: a read transaction (no write lock, any length) for GET and HEAD,
    a write transaction (SQLite's write lock from the first statement) for the rest. A read
    handler that must write opens `db.session()` for just that write."""
    if request.method in READ_METHODS:
        with db.read_session() as session:
            yield session
    else:
        with db.session() as session:
            yield session


# scope="function": the transaction commits before the answer leaves, so a client that
# follows a redirect or reads right after a write sees it (the default "request" scope would
# commit after the response is sent: a race a loaded machine loses).
SessionDep = Annotated[Session, Depends(db_session, scope="function")]


def client_ip(request: Request) -> str | None:
    """The peer address (behind a reverse proxy, uvicorn's --forwarded-allow-ips makes it the
    client's)."""
    return request.client.host if request.client else None


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def auth_session(db: DatabaseDep) -> Iterator[Session]:
    """The token lookup's own read transaction: a write request's lock then starts at the
    handler's first statement, not at authentication, and is never held by one that only
    validates or computes."""
    with db.read_session() as session:
        yield session


def current_principal(
    request: Request,
    authenticator: AuthenticatorDep,
    db: DatabaseDep,
    background: BackgroundTasks,
    session: Annotated[Session, Depends(auth_session)],
) -> Principal:
    """A logged-in user, from the bearer token or else the web session cookie; or an API
    token (bearer only), checked here against the route's tags before any input is read.

    With an Authorization header the cookie is never used: the same-origin check for cookie
    writes skips such requests, so a cookie behind a junk header must not authenticate.
    """
    if "authorization" in request.headers:
        token = bearer(request)
    else:
        token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized(
            N_("log in first: POST /api/v1/auth/login, then send 'Authorization: Bearer <token>'")
        )
    if "authorization" in request.headers and token.startswith(authenticator.api_token_prefix):
        principal = authenticator.principal_from_api_token(session, token)
        route = request.scope.get("route")
        principal.require_token_route(getattr(route, "tags", None) or (), request.method)
        # After the answer: the request's own transaction never waits on this write.
        background.add_task(authenticator.api_token_used, db, principal.token_id or 0)
    else:
        principal = authenticator.principal_from_token(session, token)
    session.commit()  # end the lookup's transaction now: its connection goes back to the pool
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def key_from_authorization(header: str, key_prefix: str) -> str | None:
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
    if value.startswith(key_prefix):
        return value
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except ValueError:  # binascii.Error, non-ASCII input, undecodable bytes
        return value if scheme == "apikey" else None
    return decoded.partition(":")[2] or decoded


def ingest_principal(
    request: Request, db: DatabaseDep, authenticator: AuthenticatorDep
) -> Principal:
    """A tenant's ingest key, from 'Authorization: Bearer <key>', 'ApiKey <key>' or 'X-API-Key'.

    Checked in a read transaction of its own (no write lock): the ingest work opens the
    writing one later.
    """
    key = request.headers.get("x-api-key") or key_from_authorization(
        request.headers.get("authorization", ""), authenticator.api_key_prefix
    )
    if not key:
        raise Unauthorized(
            N_(
                "send the tenant's ingest key as 'X-API-Key: <key>' or "
                "'Authorization: Bearer <key>' (Elasticsearch clients: "
                "'ApiKey base64(id:key)' or basic auth with the key as "
                "password)"
            )
        )
    with db.read_session() as session:
        return authenticator.principal_from_api_key(session, key)


IngestKeyDep = Annotated[Principal, Depends(ingest_principal)]
