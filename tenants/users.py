"""Users: creation with a role and a scope, and TOTP enrolment by the user."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.core import audit
from soc.core.errors import Conflict, Invalid, NotFound, Unauthorized
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings, get_settings
from tenants import security
from tenants.login import end_sessions
from tenants.models import ROLES, User
from tenants.passwords import check_password
from tenants.tenancy import get_provider, get_tenant

TENANT_SCOPED_ROLES = {"customer", "tenant_admin"}
PROVIDER_SCOPED_ROLES = {"provider"}


def _settings(session: Session) -> Settings:
    """The settings of the services that opened this session (see soc.services), else the
    environment's (CLI, scripts)."""
    found = session.info.get("settings")
    return found if isinstance(found, Settings) else get_settings()


@dataclass
class NewUser:
    user: User
    totp_secret: str | None


def create_user(
    session: Session,
    actor: Principal,
    username: str,
    password: str,
    role: str,
    tenant: str | None = None,
    provider: str | None = None,
    totp_required_roles: tuple[str, ...] = ("admin", "soc_analyst"),
) -> NewUser:
    """Create a user; roles that require TOTP get a secret now (returned once)."""
    actor.require("users.manage")
    return add_user(session, actor, username, password, role, tenant, provider, totp_required_roles)


def add_user(
    session: Session,
    actor: Principal,
    username: str,
    password: str,
    role: str,
    tenant: str | None = None,
    provider: str | None = None,
    totp_required_roles: tuple[str, ...] = ("admin", "soc_analyst"),
) -> NewUser:
    """`create_user` for a caller whose right to create this user was checked (admins:
    users.manage; tenant administrators: tenants.tenant_admin, for their own tenant)."""
    if role not in ROLES:
        raise Invalid(
            N_("unknown role '{role}'; one of: {roles}"), role=role, roles=", ".join(ROLES)
        )
    check_password(password, username, _settings(session).password_min_length)
    if role in TENANT_SCOPED_ROLES and not tenant:
        raise Invalid(N_("role '{role}' needs a tenant"), role=role)
    if role in PROVIDER_SCOPED_ROLES and not provider:
        raise Invalid(N_("role '{role}' needs a provider"), role=role)
    if tenant and provider:
        raise Invalid(N_("a user is scoped to one tenant, one provider, or all; not both"))
    if session.scalar(select(User).where(User.username == username)):
        raise Conflict(N_("user '{username}' already exists"), username=username)
    tenant_id = get_tenant(session, actor, tenant).id if tenant else None
    provider_id = get_provider(session, provider).id if provider else None
    secret = security.new_totp_secret() if role in totp_required_roles else None
    user = User(
        username=username,
        password_hash=security.hash_password(password),
        role=role,
        tenant_id=tenant_id,
        provider_id=provider_id,
        totp_secret=secret,
        totp_enabled=secret is not None,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="user.create",
        object_type="user",
        object_id=user.id,
        tenant_id=tenant_id,
        detail={"username": username, "role": role, "provider_id": provider_id},
    )
    return NewUser(user, secret)


def start_totp_enrolment(session: Session, actor: Principal) -> tuple[str, str]:
    """Give the user a fresh secret; it becomes active once `confirm_totp` sees a valid code."""
    user = _acting_user(session, actor)
    if user.totp_enabled:
        raise Conflict(N_("TOTP is already enrolled for this user"))
    user.totp_secret = security.new_totp_secret()
    audit.record(
        session,
        actor=actor.actor,
        action="user.totp_enrolment_started",
        object_type="user",
        object_id=user.id,
        tenant_id=user.tenant_id,
    )
    return user.totp_secret, security.totp_uri(user.totp_secret, user.username)


def confirm_totp(
    session: Session, actor: Principal, code: str, current_token: str | None = None
) -> int:
    """Turn TOTP on once a code from the new secret is shown. The code is spent (it cannot log
    in again) and every other session of the user ends: they were opened with the password
    alone. The session that confirmed stays, as it has just shown the second factor. Returns
    the number of sessions ended."""
    user = _acting_user(session, actor)
    if user.totp_enabled:
        raise Conflict(N_("TOTP is already enrolled for this user"))
    step = security.totp_step(user.totp_secret or "", code) if user.totp_secret else None
    if step is None:
        raise Invalid(N_("TOTP code does not match; start enrolment again if needed"))
    user.totp_enabled, user.totp_last_step = True, step
    ended = end_sessions(session, user.id, keep_token=current_token)
    audit.record(
        session,
        actor=actor.actor,
        action="user.totp_enrolled",
        object_type="user",
        object_id=user.id,
        tenant_id=user.tenant_id,
        detail={"sessions_ended": ended},
    )
    return ended


def _acting_user(session: Session, actor: Principal) -> User:
    user = session.get(User, actor.user_id) if actor.user_id else None
    if user is None:
        raise Unauthorized(N_("this action needs a logged-in user"))
    return user


# --- administration: list, disable, reset password, reset TOTP (issue 14) ------------------


def new_password(username: str = "", min_length: int = 12) -> str:
    """A generated password (at least 144 random bits, long enough for the policy, never
    containing the username), shown once to whoever hands it over."""
    while True:
        chosen = secrets.token_urlsafe(max(18, (min_length * 3 + 3) // 4))
        name = username.strip().lower()
        if len(chosen) >= min_length and not (len(name) >= 3 and name in chosen.lower()):
            return chosen


def list_users(
    session: Session, actor: Principal, tenant: str | None = None, role: str | None = None
) -> list[User]:
    """Users by username, optionally of one tenant (slug) and/or one role. Admins only."""
    actor.require("users.manage")
    query = select(User).order_by(User.username)
    if tenant:
        query = query.where(User.tenant_id == get_tenant(session, actor, tenant).id)
    if role:
        if role not in ROLES:
            raise Invalid(
                N_("unknown role '{role}'; one of: {roles}"), role=role, roles=", ".join(ROLES)
            )
        query = query.where(User.role == role)
    return list(session.scalars(query))


def find_user(session: Session, actor: Principal, username: str) -> User:
    actor.require("users.manage")
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(N_("user '{username}' not found"), username=username)
    return user


def set_active(session: Session, actor: Principal, username: str, active: bool) -> User:
    """Disable (or enable again) a user; disabling ends the user's sessions at once. A user
    cannot disable themselves (409)."""
    return set_active_for(session, actor, find_user(session, actor, username), active)


def set_active_for(session: Session, actor: Principal, user: User, active: bool) -> User:
    """`set_active` of a user the caller has found and checked (admins: `find_user`; tenant
    administrators: tenants.tenant_admin)."""
    username = user.username
    if not active and actor.user_id == user.id:
        raise Conflict(N_("you cannot disable your own account"))
    if user.active == active:
        return user
    user.active = active
    ended = 0 if active else end_sessions(session, user.id)
    audit.record(
        session,
        actor=actor.actor,
        action="user.enable" if active else "user.disable",
        object_type="user",
        object_id=user.id,
        tenant_id=user.tenant_id,
        detail={"username": username, "sessions_ended": ended},
    )
    return user


def reset_password(
    session: Session, actor: Principal, username: str, password: str | None = None
) -> str:
    """Give a user a new password (generated when none is given; returned once), lift a
    lockout and end the user's sessions."""
    return reset_password_for(session, actor, find_user(session, actor, username), password)


def reset_password_for(
    session: Session, actor: Principal, user: User, password: str | None = None
) -> str:
    """`reset_password` of a user the caller has found and checked."""
    username = user.username
    minimum = _settings(session).password_min_length
    chosen = password if password is not None else new_password(username, minimum)
    check_password(chosen, username, _settings(session).password_min_length)
    user.password_hash = security.hash_password(chosen)
    user.failed_logins, user.locked_until = 0, None
    ended = end_sessions(session, user.id)
    audit.record(
        session,
        actor=actor.actor,
        action="user.password_reset",
        object_type="user",
        object_id=user.id,
        tenant_id=user.tenant_id,
        detail={"username": username, "generated": password is None, "sessions_ended": ended},
    )
    return chosen


def reset_totp(session: Session, actor: Principal, username: str) -> tuple[User, str]:
    """Give a user a new TOTP secret (returned once) and require it from now on; the user's
    sessions end (they were opened with the old factor)."""
    return reset_totp_for(session, actor, find_user(session, actor, username))


def reset_totp_for(session: Session, actor: Principal, user: User) -> tuple[User, str]:
    """`reset_totp` of a user the caller has found and checked."""
    username = user.username
    user.totp_secret = security.new_totp_secret()
    user.totp_enabled, user.totp_last_step = True, None
    ended = end_sessions(session, user.id)
    audit.record(
        session,
        actor=actor.actor,
        action="user.totp_reset",
        object_type="user",
        object_id=user.id,
        tenant_id=user.tenant_id,
        detail={"username": username, "sessions_ended": ended},
    )
    return user, user.totp_secret
