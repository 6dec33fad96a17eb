"""A user's sessions: list them, end one or all the others; an administrator ends a user's.

A session is a bearer token (`auth_tokens`): what the list shows is what the row keeps, when it
was opened, last used (tenants.session_use), until when, from which address and browser. The
caller's own session is marked, so it can end the others and keep its own. Ending is at once:
the token answers 401 from the next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.core import audit
from soc.core.db import utcnow
from soc.core.errors import NotFound, Unauthorized
from soc.core.i18n import N_
from soc.core.principal import Principal
from tenants import security
from tenants.login import end_sessions
from tenants.models import AuthToken, User
from tenants.tenant_admin import end_user_sessions, find_member
from tenants.users import find_user


@dataclass(frozen=True)
class SessionView:
    id: int
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool  # the session this request came with


def live_sessions(
    session: Session, user_id: int, current_token: str | None = None
) -> list[SessionView]:
    """The user's sessions that still work (not ended, not expired), newest first."""
    current = security.sha256_hex(current_token) if current_token else None
    rows = session.scalars(
        select(AuthToken)
        .where(
            AuthToken.user_id == user_id,
            AuthToken.revoked.is_(False),
            AuthToken.expires_at > utcnow(),
        )
        .order_by(AuthToken.created_at.desc(), AuthToken.id.desc())
    )
    return [
        SessionView(
            r.id,
            r.created_at,
            r.last_used_at,
            r.expires_at,
            r.ip,
            r.user_agent,
            r.token_hash == current,
        )
        for r in rows
    ]


def _me(actor: Principal) -> int:
    if actor.user_id is None:
        raise Unauthorized(N_("this needs a signed-in user"))
    return actor.user_id


def my_sessions(session: Session, actor: Principal, current_token: str | None) -> list[SessionView]:
    """The caller's own live sessions."""
    return live_sessions(session, _me(actor), current_token)


def end_my_session(session: Session, actor: Principal, session_id: int) -> None:
    """End one of the caller's own sessions (its current one too: that is a sign-out). A
    session of someone else, or one already ended, is not found (404)."""
    row = session.get(AuthToken, session_id)
    if row is None or row.user_id != _me(actor) or row.revoked or row.expires_at <= utcnow():
        raise NotFound(N_("session {id} not found"), id=session_id)
    row.revoked = True
    user = session.get(User, row.user_id)
    audit.record(
        session,
        actor=actor.actor,
        action="user.session_ended",
        object_type="user",
        object_id=row.user_id,
        tenant_id=user.tenant_id if user else None,
        detail={"session": session_id},
    )


def end_my_other_sessions(session: Session, actor: Principal, current_token: str | None) -> int:
    """End every session of the caller but the one of this request; returns how many."""
    me = _me(actor)
    ended = end_sessions(session, me, keep_token=current_token)
    user = session.get(User, me)
    audit.record(
        session,
        actor=actor.actor,
        action="user.sessions_ended",
        object_type="user",
        object_id=me,
        tenant_id=user.tenant_id if user else None,
        detail={"sessions_ended": ended, "kept_current": bool(current_token)},
    )
    return ended


def user_sessions(session: Session, actor: Principal, username: str) -> list[SessionView]:
    """An administrator reads a user's live sessions."""
    return live_sessions(session, find_user(session, actor, username).id)


def end_sessions_of(session: Session, actor: Principal, username: str) -> int:
    """An administrator ends every session of a user."""
    return end_user_sessions(session, actor, find_user(session, actor, username))


def member_sessions(
    session: Session, actor: Principal, tenant: str, username: str
) -> list[SessionView]:
    """A tenant's administrator reads a member's live sessions."""
    return live_sessions(session, find_member(session, actor, tenant, username).id)


def end_member_sessions(session: Session, actor: Principal, tenant: str, username: str) -> int:
    """A tenant's administrator ends every session of a member."""
    return end_user_sessions(session, actor, find_member(session, actor, tenant, username))
