"""Tenants, providers, users, login, TOTP enrolment and API keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc import audit
from soc.db import utcnow
from soc.errors import Conflict, Invalid, NotFound, Unauthorized
from tenants import security
from tenants.models import ROLES, ApiKey, AuthToken, Provider, Tenant, User
from tenants.principal import Principal

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
TENANT_SCOPED_ROLES = {"customer"}
PROVIDER_SCOPED_ROLES = {"provider"}
MIN_PASSWORD = 10


def _check_slug(slug: str) -> None:
    if not SLUG.match(slug):
        raise Invalid(f"slug '{slug}' must be lowercase letters, digits and '-', max 63 chars")


def create_tenant(
    session: Session, actor: Principal, slug: str, name: str, retention_days: int = 365
) -> Tenant:
    actor.require("tenants.manage")
    _check_slug(slug)
    if not 1 <= retention_days <= 365:
        raise Invalid(
            "retention_days must be between 1 and 365 (the contract keeps logs at most a year)"
        )
    if session.scalar(select(Tenant).where(Tenant.slug == slug)):
        raise Conflict(f"tenant '{slug}' already exists")
    tenant = Tenant(slug=slug, name=name, retention_days=retention_days)
    session.add(tenant)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="tenant.create",
        object_type="tenant",
        object_id=tenant.id,
        tenant_id=tenant.id,
        detail={"slug": slug, "name": name},
    )
    return tenant


def create_provider(session: Session, actor: Principal, slug: str, name: str) -> Provider:
    actor.require("tenants.manage")
    _check_slug(slug)
    if session.scalar(select(Provider).where(Provider.slug == slug)):
        raise Conflict(f"provider '{slug}' already exists")
    provider = Provider(slug=slug, name=name)
    session.add(provider)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="provider.create",
        object_type="provider",
        object_id=provider.id,
        detail={"slug": slug, "name": name},
    )
    return provider


def get_tenant(session: Session, actor: Principal, ref: int | str) -> Tenant:
    """Find a tenant by id or slug among those the actor may see."""
    actor.require("tenants.read")
    query = select(Tenant).where(Tenant.id == ref if isinstance(ref, int) else Tenant.slug == ref)
    tenant = session.scalar(query)
    if tenant is None or not actor.sees_tenant(tenant.id):
        raise NotFound(f"tenant '{ref}' not found")
    return tenant


def list_tenants(session: Session, actor: Principal) -> list[Tenant]:
    actor.require("tenants.read")
    query = select(Tenant).order_by(Tenant.slug)
    if actor.tenant_id is not None:
        query = query.where(Tenant.id == actor.tenant_id)
    return list(session.scalars(query))


def get_provider(session: Session, ref: int | str) -> Provider:
    query = select(Provider).where(
        Provider.id == ref if isinstance(ref, int) else Provider.slug == ref
    )
    provider = session.scalar(query)
    if provider is None:
        raise NotFound(f"provider '{ref}' not found")
    return provider


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
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"password must have at least {MIN_PASSWORD} characters")
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


def principal_for(user: User) -> Principal:
    return Principal(
        actor=f"user:{user.username}",
        role=user.role,
        user_id=user.id,
        tenant_id=user.tenant_id,
        provider_id=user.provider_id,
    )


def login(
    session: Session,
    username: str,
    password: str,
    totp_code: str | None,
    ttl_minutes: int,
    totp_required_roles: tuple[str, ...] = ("admin", "soc_analyst"),
) -> tuple[str, User]:
    """Check password and the TOTP code (enrolled users, and always for the roles that require
    it; each code works once); return a new bearer token."""
    user = session.scalar(select(User).where(User.username == username))
    if (
        user is None
        or not user.active
        or not security.verify_password(user.password_hash, password)
    ):
        raise Unauthorized("invalid username or password")
    if user.role in totp_required_roles and not (user.totp_enabled and user.totp_secret):
        raise Unauthorized(
            f"role '{user.role}' requires TOTP and this user has none enrolled: an operator "
            f"runs `soc users enroll-totp {username}`"
        )
    if user.totp_enabled:
        step = security.totp_step(user.totp_secret or "", totp_code or "", user.totp_last_step)
        if step is None:
            raise Unauthorized("a valid TOTP code is required for this user (each code works once)")
        user.totp_last_step = step
    token = security.new_token()
    session.add(
        AuthToken(
            user_id=user.id,
            token_hash=security.sha256_hex(token),
            expires_at=utcnow() + timedelta(minutes=ttl_minutes),
        )
    )
    audit.record(
        session,
        actor=f"user:{username}",
        action="user.login",
        object_type="user",
        object_id=user.id,
        tenant_id=user.tenant_id,
    )
    return token, user


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
        raise Unauthorized("invalid or expired session token")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise Unauthorized("invalid or expired session token")
    return principal_for(user)


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


def confirm_totp(session: Session, actor: Principal, code: str) -> None:
    user = _acting_user(session, actor)
    if not user.totp_secret or not security.verify_totp(user.totp_secret, code):
        raise Invalid("TOTP code does not match; start enrolment again if needed")
    user.totp_enabled = True
    audit.record(
        session,
        actor=actor.actor,
        action="user.totp_enrolled",
        object_type="user",
        object_id=user.id,
        tenant_id=user.tenant_id,
    )


def _acting_user(session: Session, actor: Principal) -> User:
    user = session.get(User, actor.user_id) if actor.user_id else None
    if user is None:
        raise Unauthorized("this action needs a logged-in user")
    return user


def create_api_key(
    session: Session, actor: Principal, tenant: int | str, name: str
) -> tuple[ApiKey, str]:
    """Create an ingest key for a tenant; the secret is returned once and only its hash kept."""
    actor.require("apikeys.manage")
    target = get_tenant(session, actor, tenant)
    secret = security.new_api_key()
    key = ApiKey(
        tenant_id=target.id, name=name, prefix=secret[:12], key_hash=security.sha256_hex(secret)
    )
    session.add(key)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="apikey.create",
        object_type="api_key",
        object_id=key.id,
        tenant_id=target.id,
        detail={"name": name, "prefix": key.prefix},
    )
    return key, secret


def list_api_keys(session: Session, actor: Principal, tenant: int | str) -> list[ApiKey]:
    actor.require("apikeys.manage")
    target = get_tenant(session, actor, tenant)
    return list(session.scalars(select(ApiKey).where(ApiKey.tenant_id == target.id)))


def revoke_api_key(session: Session, actor: Principal, key_id: int) -> ApiKey:
    actor.require("apikeys.manage")
    key = session.get(ApiKey, key_id)
    if key is None or not actor.sees_tenant(key.tenant_id):
        raise NotFound(f"api key {key_id} not found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(
            session,
            actor=actor.actor,
            action="apikey.revoke",
            object_type="api_key",
            object_id=key.id,
            tenant_id=key.tenant_id,
        )
    return key


def principal_from_api_key(session: Session, secret: str) -> Principal:
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == security.sha256_hex(secret)))
    if key is None:
        raise Unauthorized("unknown API key")
    if key.revoked_at is not None:
        raise Unauthorized("this API key has been revoked")
    return Principal(actor=f"apikey:{key.id}", role="ingest_key", tenant_id=key.tenant_id)
