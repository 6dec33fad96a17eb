"""Tenants (customers), providers, users, API keys, login tokens and usage meters."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from soc.core.db import Base, UTCDateTime, utcnow

ROLES = (
    "admin",
    "soc_analyst",
    "customer",
    "risk_owner",
    "finance",
    "provider",
    "authority",
    # A customer organisation's local administrator: manages its own tenant's people only.
    "tenant_admin",
)
# The contract's SLA calendar: office hours (working days 08:00-17:00, holidays off) unless
# 24/7 availability was agreed, then every clock runs day and night.
SLA_CALENDARS = ("business_hours", "24x7")


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    retention_days: Mapped[int] = mapped_column(Integer, default=365)
    default_impact: Mapped[str] = mapped_column(String(16), default="medium")
    # The language of the tenant's users without one of their own (None: the setting's).
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sla_calendar: Mapped[str] = mapped_column(
        String(16), default="business_hours", server_default="business_hours"
    )


class Provider(Base):
    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProviderTenant(Base):
    """A provider serves a tenant: its provider-scoped users see that tenant's data (and, as
    before, the cases assigned to the provider)."""

    __tablename__ = "provider_tenants"

    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class User(Base):
    """A person with one role, scoped to one tenant, one provider, or (neither) all."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"), index=True)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last TOTP time step accepted: a code is good once (no replay within its window).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # Consecutive failed logins (reset by a success); at the lockout threshold the account is
    # locked until `locked_until` even for the right password.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Where the product's notices go by e-mail, in which language; none without an address.
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str | None] = mapped_column(String(8))  # None: `mail_default_language`
    mail_opt_out: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # 'local' (password, TOTP) or 'oidc' (signed in at an identity provider; no password).
    auth_source: Mapped[str] = mapped_column(String(8), default="local", server_default="local")


class ApiKey(Base):
    """Per-tenant ingest key; only a SHA-256 of the secret is kept (keys are 256-bit random)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuthToken(Base):
    """A bearer session token for the API and the web pages (stored hashed)."""

    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # What its user needs to recognise a session among its others (tenants.sessions).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user_agent: Mapped[str | None] = mapped_column(String(300))
    ip: Mapped[str | None] = mapped_column(String(64))


class UsageDaily(Base):
    """Metered ingest per tenant per UTC day: event count and raw bytes; security cases
    registered that day (billing, issue 6)."""

    __tablename__ = "usage_daily"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    cases: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class UsageHostDaily(Base):
    """Metered ingest per tenant, UTC day and host (CI): the customer's events per CI."""

    __tablename__ = "usage_host_daily"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)


class OidcIdentity(Base):
    """A person at an identity provider (issuer + subject, stable there) and the user it is."""

    __tablename__ = "oidc_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    provider: Mapped[str] = mapped_column(String(64))  # the settings' name of the provider
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OidcSession(Base):
    """The provider and ID token of a session opened through OIDC: sign-out ends it at the
    provider too (RP-initiated logout with the token as hint)."""

    __tablename__ = "oidc_sessions"

    token_id: Mapped[int] = mapped_column(ForeignKey("auth_tokens.id"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    id_token: Mapped[str] = mapped_column(Text)
