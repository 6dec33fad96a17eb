"""API tokens of integrations: named, scoped, expiring, shown once, kept as a hash.

A token acts as its user as the user is now (role, tenant or provider scope, active or not),
cut to the token's scopes (`soc.core.principal.TOKEN_SCOPES`): it never does more than its user
could, and a disabled user's tokens stop with the next request. Tokens cannot mint tokens: only a
user's own session (or the operator's CLI) creates one, with an expiry that is required and
bounded by `api_token_max_days`.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from soc.core import audit
from soc.core.db import Database, utcnow
from soc.core.errors import Forbidden, Invalid, NotFound, Unauthorized
from soc.core.i18n import N_
from soc.core.principal import TOKEN_SCOPES, Principal
from tenants import security
from tenants.api_tokens_model import ApiToken
from tenants.login import principal_for
from tenants.models import User

TOKEN_PREFIX = "soct_"
# last_used_at is a "roughly when" for the owner's list: writing it on every call would make
# each read request a write (SQLite's lock); once a minute per token is enough to spot a dead
# or a leaked token.
TOUCH_EVERY = timedelta(minutes=1)
REFUSED = N_("invalid, expired or revoked API token")


def new_secret() -> str:
    """A 256-bit random token; its first 12 characters are a non-secret prefix."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def check_scopes(scopes: list[str]) -> list[str]:
    """The scopes in the catalogue's order, once each; Invalid for an unknown one or none."""
    unknown = sorted(set(scopes) - set(TOKEN_SCOPES))
    if unknown:
        raise Invalid(
            N_("unknown API token scope {scopes}; known: {known}"),
            scopes=", ".join(unknown),
            known=", ".join(TOKEN_SCOPES),
        )
    if not scopes:
        raise Invalid(N_("an API token needs at least one scope"))
    return [name for name in TOKEN_SCOPES if name in scopes]


def create_token(
    session: Session,
    actor: Principal,
    name: str,
    scopes: list[str],
    expires_days: int,
    max_days: int,
    *,
    owner: User | None = None,
) -> tuple[ApiToken, str]:
    """A token for the actor's own user (`owner` only from the operator's CLI); the secret is
    returned once and only its hash kept."""
    if actor.token_id is not None:
        raise Forbidden(N_("an API token cannot create API tokens: sign in as the user"))
    if owner is None:
        if actor.user_id is None:
            raise Invalid(N_("only a user has API tokens: name the user"))
        owner = session.get(User, actor.user_id)
        if owner is None:
            raise NotFound(N_("user not found"))
    if not 1 <= expires_days <= max_days:
        raise Invalid(N_("an API token expires after 1 to {max_days} days"), max_days=max_days)
    if not owner.active:
        raise Invalid(N_("user {name} is disabled"), name=owner.username)
    names = check_scopes(scopes)
    secret = new_secret()
    now = utcnow()
    token = ApiToken(
        user_id=owner.id,
        name=name,
        prefix=secret[:12],
        token_hash=security.sha256_hex(secret),
        scopes=" ".join(names),
        created_at=now,
        expires_at=now + timedelta(days=expires_days),
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="apitoken.create",
        object_type="api_token",
        object_id=token.id,
        tenant_id=owner.tenant_id,
        detail={
            "user": owner.username,
            "name": name,
            "prefix": token.prefix,
            "scopes": names,
            "expires_at": token.expires_at.isoformat(),
        },
    )
    return token, secret


def _may_manage_all(actor: Principal) -> bool:
    return actor.token_id is None and actor.can("users.manage") and actor.is_global


def list_tokens(
    session: Session, actor: Principal, *, every_user: bool = False, user_id: int | None = None
) -> list[tuple[ApiToken, str]]:
    """(token, owner's username), newest first: the actor's own, or with `every_user` (an
    administrator) everyone's, optionally one user's."""
    query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id)
    if every_user:
        if not _may_manage_all(actor):
            raise Forbidden(N_("only an administrator lists every user's API tokens"))
        if user_id is not None:
            query = query.where(ApiToken.user_id == user_id)
    else:
        if actor.user_id is None:
            return []
        query = query.where(ApiToken.user_id == actor.user_id)
    rows = session.execute(query.order_by(ApiToken.id.desc()))
    return [(token, username) for token, username in rows.all()]


def revoke_token(
    session: Session, actor: Principal, token_id: int, *, any_user: bool = False
) -> ApiToken:
    """Revoke one of the actor's tokens (or, with `any_user`, an administrator's pick): it is
    refused from the next request on. Someone else's token is NotFound."""
    if actor.token_id is not None:
        raise Forbidden(N_("an API token cannot revoke API tokens: sign in as the user"))
    if any_user and not _may_manage_all(actor):
        raise Forbidden(N_("only an administrator revokes other users' API tokens"))
    token = session.get(ApiToken, token_id)
    if token is None or (not any_user and token.user_id != actor.user_id):
        raise NotFound(N_("API token {id} not found"), id=token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        owner = session.get(User, token.user_id)
        audit.record(
            session,
            actor=actor.actor,
            action="apitoken.revoke",
            object_type="api_token",
            object_id=token.id,
            tenant_id=owner.tenant_id if owner else None,
            detail={"user": owner.username if owner else None, "prefix": token.prefix},
        )
    return token


def revoke_user_tokens(session: Session, actor: Principal, user_id: int) -> int:
    """Revoke every live token of a user (the operator's `soc tokens revoke --user`)."""
    live = list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        )
    )
    for token in live:
        revoke_token(session, actor, token.id, any_user=True)
    return len(live)


def is_live(token: ApiToken, now: datetime) -> bool:
    return token.revoked_at is None and token.expires_at > now


def state(token: ApiToken) -> Literal["active", "expired", "revoked"]:
    if token.revoked_at is not None:
        return "revoked"
    return "active" if is_live(token, utcnow()) else "expired"


def principal_from_api_token(session: Session, secret: str) -> Principal:
    """The principal of a token: its user as now, cut to its scopes; Unauthorized (one answer
    for every reason) when the token is unknown, revoked, expired or its user disabled."""
    token = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == security.sha256_hex(secret))
    )
    if token is None or not is_live(token, utcnow()):
        raise Unauthorized(REFUSED)
    user = session.get(User, token.user_id)
    if user is None or not user.active:
        raise Unauthorized(REFUSED)
    return replace(
        principal_for(session, user),
        token_id=token.id,
        token_scopes=frozenset(token.scope_names),
    )


_touched: dict[tuple[str, int], datetime] = {}
_touched_lock = threading.Lock()


def record_use(db: Database, token_id: int, now: datetime | None = None) -> bool:
    """Set the token's last use, at most once per TOUCH_EVERY: this process remembers its
    last write, and the UPDATE's condition skips a row another process wrote meanwhile. Runs
    after the answer is sent (a background task), outside the request's transaction."""
    now = now or utcnow()
    key = (db.url, token_id)
    with _touched_lock:
        last = _touched.get(key)
        if last is not None and last > now - TOUCH_EVERY:
            return False
        _touched[key] = now
    with db.session() as writing:
        writing.execute(
            update(ApiToken)
            .where(
                ApiToken.id == token_id,
                or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - TOUCH_EVERY),
            )
            .values(last_used_at=now)
        )
    return True
