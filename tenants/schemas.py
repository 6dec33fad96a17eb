"""API shapes for tenants, users, login and API keys."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

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


SlaCalendar = Literal["business_hours", "24x7"]


class TenantOut(ORMModel):
    id: int
    slug: str
    name: str
    retention_days: int
    created_at: datetime
    sla_calendar: str = Field(
        default="business_hours",
        description="'business_hours' (working days 08:00-17:00, holidays off) or '24x7'",
    )


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


class TenantUpdateIn(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    retention_days: int | None = Field(default=None, ge=1, le=365)
    sla_calendar: SlaCalendar | None = Field(
        default=None, description="applies to clocks started from now on"
    )


class RuleChoiceIn(BaseModel):
    selector: Literal["rule", "level", "status", "tag", "product"]
    value: str = Field(min_length=1, max_length=200)
    enabled: bool


class OnboardIn(BaseModel):
    """One request that starts a customer: tenant, ingest key, rules, plan, portal users."""

    slug: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    name: str = Field(min_length=1, max_length=200)
    retention_days: int = Field(default=365, ge=1, le=365)
    key_name: str = Field(default="ingest", min_length=1, max_length=120)
    rules: list[RuleChoiceIn] = Field(
        default_factory=list,
        max_length=200,
        description="enable/disable choices in order; without any, every rule is enabled",
    )
    plan: Literal["standard", "enterprise"] = "standard"
    ceiling: Decimal | None = Field(
        default=None, gt=0, max_digits=12, decimal_places=2, description="EUR per month"
    )
    sla_calendar: SlaCalendar = Field(
        default="business_hours",
        description="the SLA calendar: business hours, or 24x7 when 24/7 availability was agreed",
    )
    portal_users: list[
        Annotated[
            str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
        ]
    ] = Field(
        default_factory=list,
        max_length=50,
        description="usernames of the customer's portal users; each gets a generated password",
    )


class PortalUserOut(BaseModel):
    user: UserOut
    initial_password: str = Field(description="Shown once; hand it over safely")


class OnboardOut(BaseModel):
    tenant: TenantOut
    api_key: NewApiKeyOut
    rules_selected: int
    plan: str
    plan_from: str
    ceiling: Decimal | None
    sla_calendar: dict[str, str] = Field(
        description="priority -> '24x7' or 'office hours' (the tenant's calendar, then the "
        "settings' case_24x7 override)"
    )
    portal_users: list[PortalUserOut]


class AdminUserOut(UserOut):
    active: bool
    created_at: datetime
