"""Login and sessions: password and TOTP check, lockout, bearer tokens, logout.

A login holds no transaction during the (slow) password check: it reads the user, checks the
password in one of the login guard's slots, then records the outcome in a short transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from soc.core import audit
from soc.core.db import Database, utcnow
from soc.core.errors import Unauthorized
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import get_settings
from tenants import security, session_use
from tenants.login_guard import LoginGuard
from tenants.models import AuthToken, User
from tenants.scope import scope_of

log = logging.getLogger(__name__)


def principal_for(session: Session, user: User) -> Principal:
    return Principal(
        actor=f"user:{user.username}",
        role=user.role,
        user_id=user.id,
        scope=scope_of(session, user),
    )


# One answer for every refused login, whatever the reason (unknown user, wrong password, wrong
# or missing code, locked, no TOTP enrolled): the reason goes to the audit log and the server
# log, never to the unauthenticated caller.
LOGIN_REFUSED = N_("invalid username, password or code")
# Refusals that count towards the account lockout: guesses of the password or of the code.
GUESSES = {"wrong_password", "totp_missing", "totp_invalid"}


@dataclass(frozen=True)
class _Candidate:
    """What a login reads about the user before the (slow) password check, outside of it."""

    id: int
    username: str
    password_hash: str
    role: str
    active: bool
    locked_until: datetime | None
    totp_enabled: bool
    totp_secret: str | None
    totp_last_step: int | None


def login(
    db: Database,
    username: str,
    password: str,
    totp_code: str | None,
    ttl_minutes: int,
    totp_required_roles: tuple[str, ...] = ("admin", "soc_analyst"),
    *,
    client_ip: str | None = None,
    guard: LoginGuard | None = None,
    user_agent: str | None = None,
) -> tuple[str, User]:
    """Check password and TOTP code; return a new bearer token and the user.

    Three steps so that no transaction is open during argon2 (~0.2 s of CPU, which must not
    hold SQLite's write lock): read the user, check the password outside the database (in one
    of the guard's bounded slots, after its rate limits), then record the outcome in a short
    transaction of its own, so a refusal's audit entry and counters are kept. The TOTP code is
    part of the proof: a right password with a missing or wrong code is refused like a wrong
    password. Raises TooManyAttempts (429) or Unauthorized with one message for every refusal.
    """
    guard = guard or LoginGuard.from_settings(get_settings())
    guard.check(username, client_ip)
    with db.session() as session:
        user = session.scalar(select(User).where(User.username == username))
        found = _candidate(user) if user is not None else None
    # The code is read against the clock when the request arrives, not after a wait for a slot.
    step = _code_step(found, totp_code)
    with guard.hashing():
        # Unknown users are checked against a dummy hash: the answer takes as long.
        password_ok = guard.check_password(
            lambda: security.verify_password(found.password_hash if found else None, password)
        )
    code_given = bool((totp_code or "").strip())
    now = utcnow()
    reason = _refusal(found, password_ok, code_given, step, totp_required_roles, now)
    with db.session() as session:
        if found is not None and reason is None:
            if _claim_success(session, found, step, now):
                token, user = _issue_token(
                    session, found, ttl_minutes, client_ip, now, user_agent=user_agent
                )
                guard.succeeded(username)
                return token, user
            # Locked, disabled, re-keyed or this code used by a concurrent login meanwhile.
            reason = "changed_during_login"
        _record_failure(session, found, username, reason or "unknown", client_ip, guard, now)
    guard.failed(username, client_ip)
    if reason == "totp_not_enrolled":
        log.warning(
            "login refused for %r: role requires TOTP and none is enrolled; an operator runs "
            "`soc users enroll-totp %s`",
            username,
            username,
        )
    else:
        log.info("login refused for %r from %s: %s", username, client_ip, reason)
    raise Unauthorized(LOGIN_REFUSED)


def _candidate(user: User) -> _Candidate:
    return _Candidate(
        id=user.id,
        username=user.username,
        password_hash=user.password_hash,
        role=user.role,
        active=user.active,
        locked_until=user.locked_until,
        totp_enabled=user.totp_enabled,
        totp_secret=user.totp_secret,
        totp_last_step=user.totp_last_step,
    )


def _code_step(found: _Candidate | None, totp_code: str | None) -> int | None:
    """The unused TOTP time step the code belongs to, if the user has TOTP and it is one."""
    if found is None or not found.totp_enabled or not found.totp_secret:
        return None
    return security.totp_step(found.totp_secret, totp_code or "", found.totp_last_step)


def _refusal(
    found: _Candidate | None,
    password_ok: bool,
    code_given: bool,
    step: int | None,
    totp_required_roles: tuple[str, ...],
    now: datetime,
) -> str | None:
    """Why the login is refused, or None."""
    if found is None:
        return "unknown_user"
    if not password_ok:
        return "wrong_password"
    if not found.active:
        return "inactive"
    if found.locked_until is not None and found.locked_until > now:
        return "locked"
    if found.role in totp_required_roles and not (found.totp_enabled and found.totp_secret):
        # The operator's fix: `soc users enroll-totp USERNAME` (named in the server log).
        return "totp_not_enrolled"
    if not found.totp_enabled:
        return None
    if step is None:
        return "totp_invalid" if code_given else "totp_missing"
    return None


def _claim_success(session: Session, found: _Candidate, step: int | None, now: datetime) -> bool:
    """Reset the failure count and consume the TOTP step, only if the user is still as read
    (active, not locked, same password and secret, the step not used): one atomic UPDATE, so
    two concurrent logins can never both spend the same code."""
    query = update(User).where(
        User.id == found.id,
        User.active.is_(True),
        User.password_hash == found.password_hash,
        or_(User.locked_until.is_(None), User.locked_until <= now),
    )
    values: dict[str, object] = {"failed_logins": 0, "locked_until": None}
    if step is not None:
        query = query.where(
            User.totp_secret == found.totp_secret,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        values["totp_last_step"] = step
    result = cast("CursorResult[Any]", session.execute(query.values(**values)))
    return result.rowcount == 1


def new_session(
    session: Session,
    user_id: int,
    ttl_minutes: int,
    now: datetime,
    client_ip: str | None,
    user_agent: str | None,
) -> tuple[str, AuthToken]:
    """A bearer session for a signed-in user (local or OIDC): the token, shown once, and its
    row, which keeps only the token's hash. The client's address and agent are kept, cut to
    their columns, so the user can tell its sessions apart (tenants.sessions)."""
    token = security.new_token()
    row = AuthToken(
        user_id=user_id,
        token_hash=security.sha256_hex(token),
        created_at=now,
        expires_at=now + timedelta(minutes=ttl_minutes),
        last_used_at=now,
        user_agent=(user_agent or "")[:300] or None,
        ip=(client_ip or "")[:64] or None,
    )
    session.add(row)
    return token, row


def _issue_token(
    session: Session,
    found: _Candidate,
    ttl_minutes: int,
    client_ip: str | None,
    now: datetime,
    *,
    user_agent: str | None = None,
) -> tuple[str, User]:
    token, _row = new_session(session, found.id, ttl_minutes, now, client_ip, user_agent)
    user = session.get(User, found.id)
    assert user is not None  # its row was just updated in this transaction
    audit.record(
        session,
        actor=f"user:{found.username}",
        action="user.login",
        object_type="user",
        object_id=found.id,
        tenant_id=user.tenant_id,
        detail={"ip": client_ip},
    )
    return token, user


def _record_failure(
    session: Session,
    found: _Candidate | None,
    username: str,
    reason: str,
    client_ip: str | None,
    guard: LoginGuard,
    now: datetime,
) -> None:
    """Audit the refusal; count guesses and lock the account at the threshold. Runs in its
    own transaction: the refusal that follows must not roll it back."""
    locked = False
    tenant_id = None
    if found is not None:
        if reason in GUESSES:
            # Failures while locked do not extend the lock; the count restarts after it.
            session.execute(
                update(User)
                .where(
                    User.id == found.id,
                    or_(User.locked_until.is_(None), User.locked_until <= now),
                )
                .values(failed_logins=User.failed_logins + 1)
            )
        user = session.get(User, found.id)
        if user is not None:
            tenant_id = user.tenant_id
            if reason in GUESSES and user.failed_logins >= guard.lockout_failures:
                user.locked_until = now + timedelta(minutes=guard.lockout_minutes)
                user.failed_logins = 0
                locked = True
    detail = {"reason": reason, "username": username, "ip": client_ip}
    audit.record(
        session,
        actor=f"user:{username}",
        action="user.login_failed",
        object_type="user",
        object_id=found.id if found else "-",
        tenant_id=tenant_id,
        detail=detail,
    )
    if locked and found is not None:
        audit.record(
            session,
            actor="system",
            action="user.locked",
            object_type="user",
            object_id=found.id,
            tenant_id=tenant_id,
            detail={
                "username": username,
                "failures": guard.lockout_failures,
                "minutes": guard.lockout_minutes,
                "ip": client_ip,
            },
        )
        log.warning(
            "user %r locked for %d minutes after %d failed logins",
            username,
            guard.lockout_minutes,
            guard.lockout_failures,
        )


def logout(session: Session, token: str) -> None:
    row = session.scalar(
        select(AuthToken).where(AuthToken.token_hash == security.sha256_hex(token))
    )
    if row is not None and not row.revoked:
        row.revoked = True
        user = session.get(User, row.user_id)
        audit.record(
            session,
            actor=f"user:{user.username if user else row.user_id}",
            action="user.logout",
            object_type="user",
            object_id=row.user_id,
            tenant_id=user.tenant_id if user else None,
        )


def principal_from_token(session: Session, token: str) -> Principal:
    row = session.scalar(
        select(AuthToken).where(AuthToken.token_hash == security.sha256_hex(token))
    )
    if row is None or row.revoked or row.expires_at <= utcnow():
        raise Unauthorized(N_("invalid or expired session token"))
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise Unauthorized(N_("invalid or expired session token"))
    session_use.touch(session, row, utcnow())
    return principal_for(session, user)


def end_sessions(session: Session, user_id: int, keep_token: str | None = None) -> int:
    """Revoke the user's live session tokens (all but `keep_token`); returns how many."""
    query = update(AuthToken).where(AuthToken.user_id == user_id, AuthToken.revoked.is_(False))
    if keep_token:
        query = query.where(AuthToken.token_hash != security.sha256_hex(keep_token))
    return cast("CursorResult[Any]", session.execute(query.values(revoked=True))).rowcount
