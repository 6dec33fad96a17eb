"""API shapes for tenants, users, login and API keys."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from soc.core.schemas import ORMModel


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=120)
    password: str = Field(min_length=1, max_length=1000)
    totp: str | None = Field(default=None, max_length=10)


class TokenOut(BaseModel):
    token: str
    token_type: str = "bearer"
    expires_in_minutes: int
    role: str


class MeOut(BaseModel):
    username: str | None
    role: str
    tenant_id: int | None
    provider_id: int | None
    scope: str  # all, tenants or provider
    tenant_ids: list[int] | None  # the tenants whose data this user sees; None: every tenant


class TenantIn(BaseModel):
    slug: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=200)
    retention_days: int = Field(default=365, ge=1, le=365)


class TenantOut(ORMModel):
    id: int
    slug: str
    name: str
    retention_days: int
    created_at: datetime


class ProviderIn(BaseModel):
    slug: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=200)


class ProviderOut(ORMModel):
    id: int
    slug: str
    name: str


class ProviderServesOut(ProviderOut):
    tenants: list[str]  # slugs of the tenants the provider serves


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=120)
    password: str = Field(
        min_length=1,
        max_length=1000,
        description="the password policy decides (422 naming the rule): at least "
        "SOC_PASSWORD_MIN_LENGTH (12) characters, not blank, not containing the username, "
        "not on the shipped list of common passwords",
    )
    role: str
    tenant: str | None = None
    provider: str | None = None


class UserOut(ORMModel):
    id: int
    username: str
    role: str
    tenant_id: int | None
    provider_id: int | None
    totp_enabled: bool


class NewUserOut(BaseModel):
    user: UserOut
    totp_secret: str | None = Field(description="Shown once; required roles must enrol it")


class TotpStartOut(BaseModel):
    secret: str
    uri: str


class TotpConfirmIn(BaseModel):
    code: str = Field(min_length=6, max_length=10)


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)


class ApiKeyOut(ORMModel):
    id: int
    tenant_id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class NewApiKeyOut(BaseModel):
    key: ApiKeyOut
    secret: str = Field(description="Shown once; only its hash is stored")


class UsageOut(ORMModel):
    day: str
    events: int
    bytes: int
