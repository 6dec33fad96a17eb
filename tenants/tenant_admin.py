"""Tenant-local administrators: a customer organisation's own administrator manages its people.

In the ecosystem a *local administrator* of each customer organisation registers its people and
assigns their roles (seed 001, ACM/IDM). Here that is the `tenant_admin` role, scoped to one
tenant: it creates users of its tenant with a role from GRANTABLE, disables and enables them,
resets their password or TOTP, changes their role and ends their sessions. The same calls serve
an unscoped administrator for any tenant.

What a tenant administrator can never do follows from two checks made on every call: the
tenant must be visible to it (another tenant's, or its users, are "not found", 404, as for a
name that does not exist), and both the user's current role and any role given must be in
GRANTABLE (anything else, `soc_analyst` or `admin` say, is refused, 403). A user is a member of
one tenant only, so it cannot move anyone into another tenant either. Every change is audited
(by tenants.users, and `user.role_change` / `user.sessions_ended` here).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.core import audit
from soc.core.errors import Conflict, Forbidden, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings, get_settings
from tenants import security
from tenants.login import end_sessions
from tenants.models import ROLES, Tenant, User
from tenants.tenancy import get_tenant
from tenants.users import (
    PROVIDER_SCOPED_ROLES,
    TENANT_SCOPED_ROLES,
    NewUser,
    add_user,
    new_password,
    reset_password_for,
    reset_totp_for,
    set_active_for,
)

# The roles of a tenant's own people, none above the local administrator: the customer portal
# user (who also approves its own organisation's risk acceptances and action proposals, see
# tenants.access), the risk owner, and another local administrator.
GRANTABLE: tuple[str, ...] = ("customer", "risk_owner", "tenant_admin")


def _settings(session: Session) -> Settings:
    found = session.info.get("settings")
    return found if isinstance(found, Settings) else get_settings()


def _totp_roles(session: Session) -> tuple[str, ...]:
    return tuple(_settings(session).totp_required_roles)


def _listed() -> str:
    return ", ".join(GRANTABLE)


def _grantable(role: str) -> None:
    if role not in ROLES:
        raise Invalid(N_("unknown role '{role}'; one of: {roles}"), role=role, roles=_listed())
    if role not in GRANTABLE:
        raise Forbidden(N_("a tenant's users get one of the roles {roles}"), roles=_listed())


def member_tenant(session: Session, actor: Principal, tenant: str) -> Tenant:
    """The tenant whose people `actor` manages: 403 without the right, 404 if not visible."""
    actor.require("members.manage")
    return get_tenant(session, actor, tenant)


def list_members(session: Session, actor: Principal, tenant: str) -> list[User]:
    """The tenant's users by username (all of them: a member with a role the caller may not
    manage is listed, read-only)."""
    found = member_tenant(session, actor, tenant)
    return list(
        session.scalars(select(User).where(User.tenant_id == found.id).order_by(User.username))
    )


def find_member(session: Session, actor: Principal, tenant: str, username: str) -> User:
    """A user of the tenant whom `actor` may manage: 404 for a user of no (or another) tenant,
    403 for one whose role is not in GRANTABLE."""
    found = member_tenant(session, actor, tenant)
    user = session.scalar(select(User).where(User.username == username, User.tenant_id == found.id))
    if user is None:
        raise NotFound(N_("user '{username}' not found"), username=username)
    if user.role not in GRANTABLE:
        raise Forbidden(
            N_("'{username}' has a role a tenant's administrator does not manage"),
            username=username,
        )
    return user


@dataclass(frozen=True)
class NewMember:
    created: NewUser
    password: str  # generated, shown once


def create_member(
    session: Session,
    actor: Principal,
    tenant: str,
    username: str,
    role: str,
    email: str | None = None,
) -> NewMember:
    """A new user of the tenant with a generated password (and a TOTP secret when the role
    needs one), both returned once."""
    found = member_tenant(session, actor, tenant)
    _grantable(role)
    password = new_password(username, _settings(session).password_min_length)
    created = add_user(
        session, actor, username, password, role, found.slug, None, _totp_roles(session)
    )
    if email:
        created.user.email = email
    return NewMember(created, password)


def set_member_active(
    session: Session, actor: Principal, tenant: str, username: str, active: bool
) -> User:
    """Disable (its sessions end at once) or enable a member."""
    return set_active_for(session, actor, find_member(session, actor, tenant, username), active)


def reset_member_password(session: Session, actor: Principal, tenant: str, username: str) -> str:
    """A new generated password for a member (returned once); its sessions end."""
    return reset_password_for(session, actor, find_member(session, actor, tenant, username))


def reset_member_totp(
    session: Session, actor: Principal, tenant: str, username: str
) -> tuple[User, str]:
    """A new TOTP secret for a member (returned once); its sessions end."""
    return reset_totp_for(session, actor, find_member(session, actor, tenant, username))


def change_member_role(
    session: Session, actor: Principal, tenant: str, username: str, role: str
) -> tuple[User, str | None]:
    """Give a member another role from GRANTABLE; see `apply_role`."""
    user = find_member(session, actor, tenant, username)
    _grantable(role)
    return apply_role(session, actor, user, role)


def change_role(
    session: Session, actor: Principal, username: str, role: str
) -> tuple[User, str | None]:
    """An administrator gives any user another role that fits its scope (a tenant-scoped role
    needs a user of a tenant, the provider role one of a provider); see `apply_role`."""
    actor.require("users.manage")
    if role not in ROLES:
        raise Invalid(
            N_("unknown role '{role}'; one of: {roles}"), role=role, roles=", ".join(ROLES)
        )
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(N_("user '{username}' not found"), username=username)
    if role in TENANT_SCOPED_ROLES and user.tenant_id is None:
        raise Invalid(N_("role '{role}' needs a user of a tenant"), role=role)
    if role in PROVIDER_SCOPED_ROLES and user.provider_id is None:
        raise Invalid(N_("role '{role}' needs a user of a provider"), role=role)
    return apply_role(session, actor, user, role)


def apply_role(
    session: Session, actor: Principal, user: User, role: str
) -> tuple[User, str | None]:
    """Change the role of a user the caller has checked. The user's sessions end at once: they
    carry the old role's rights until the next sign-in. A role that needs TOTP, given to a user
    without it, comes with a new secret (returned once). Nobody changes its own role (409)."""
    if actor.user_id == user.id:
        raise Conflict(N_("you cannot change your own role"))
    if user.role == role:
        return user, None
    before = user.role
    user.role = role
    secret = None
    if role in _totp_roles(session) and not (user.totp_enabled and user.totp_secret):
        secret = security.new_totp_secret()
        user.totp_secret, user.totp_enabled, user.totp_last_step = secret, True, None
    ended = end_sessions(session, user.id)
    audit.record(
        session,
        actor=actor.actor,
        action="user.role_change",
        object_type="user",
        object_id=user.id,
        tenant_id=user.tenant_id,
        detail={
            "username": user.username,
            "before": before,
            "after": role,
            "sessions_ended": ended,
            "totp_issued": secret is not None,
        },
    )
    return user, secret


def end_user_sessions(session: Session, actor: Principal, user: User) -> int:
    """End every session of a user the caller has checked; audited; returns how many."""
    ended = end_sessions(session, user.id)
    audit.record(
        session,
        actor=actor.actor,
        action="user.sessions_ended",
        object_type="user",
        object_id=user.id,
        tenant_id=user.tenant_id,
        detail={"username": user.username, "sessions_ended": ended},
    )
    return ended
