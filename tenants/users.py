"""Users: creation with a role and a scope, and TOTP enrolment by the user."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.core import audit
from soc.core.errors import Conflict, Invalid, Unauthorized
from soc.core.principal import Principal
from soc.core.settings import Settings, get_settings
from tenants import security
from tenants.login import end_sessions
from tenants.models import ROLES, User
from tenants.passwords import check_password
from tenants.tenancy import get_provider, get_tenant

TENANT_SCOPED_ROLES = {"customer"}
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
    if role not in ROLES:
        raise Invalid(f"unknown role '{role}'; one of: {', '.join(ROLES)}")
    check_password(password, username, _settings(session).password_min_length)
    if role in TENANT_SCOPED_ROLES and not tenant:
        raise Invalid(f"role '{role}' needs a tenant")
    if role in PROVIDER_SCOPED_ROLES and not provider:
        raise Invalid(f"role '{role}' needs a provider")
    if tenant and provider:
        raise Invalid("a user is scoped to one tenant, one provider, or all; not both")
    if session.scalar(select(User).where(User.username == username)):
        raise Conflict(f"user '{username}' already exists")
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
        raise Conflict("TOTP is already enrolled for this user")
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
        raise Conflict("TOTP is already enrolled for this user")
    step = security.totp_step(user.totp_secret or "", code) if user.totp_secret else None
    if step is None:
        raise Invalid("TOTP code does not match; start enrolment again if needed")
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
        raise Unauthorized("this action needs a logged-in user")
    return user
