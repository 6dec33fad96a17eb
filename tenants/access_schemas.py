"""API shapes of a tenant's members (its local administrator), sessions and the access overview."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from soc.core.schemas import ORMModel
from tenants.schemas import AdminUserOut

Username = Annotated[
    str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
]
RoleName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        pattern=r"^[a-z_]+$",
        description="customer, risk_owner or tenant_admin for a tenant's members (another "
        "known role: 403; an unknown one: 422)",
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class MemberIn(Strict):
    username: Username
    role: RoleName
    email: str | None = Field(
        default=None, min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    )


class MemberUpdateIn(Strict):
    role: RoleName | None = None
    active: bool | None = Field(default=None, description="false disables: sessions end")


class RoleIn(Strict):
    role: RoleName


class MemberOut(AdminUserOut):
    manageable: bool = Field(description="whether a tenant's administrator may manage this user")


class NewMemberOut(BaseModel):
    user: MemberOut
    initial_password: str = Field(description="Shown once; hand it over safely")
    totp_secret: str | None = Field(description="Shown once, when the role needs TOTP")


class ChangedUserOut(BaseModel):
    user: MemberOut
    totp_secret: str | None = Field(
        default=None, description="Shown once: a new role that needs TOTP, given without it"
    )


class PasswordOut(BaseModel):
    password: str = Field(description="Shown once")


class TotpSecretOut(BaseModel):
    totp_secret: str = Field(description="Shown once")


class SessionOut(ORMModel):
    id: int
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool = Field(description="the session of this request")


class EndedOut(BaseModel):
    ended: int = Field(description="how many sessions ended")


class AccessRowOut(ORMModel):
    tenant: str | None
    provider: str | None
    username: str
    role: str
    system: str
    approver: bool = Field(description="the role may approve (billed per approver)")
    active: bool
    last_sign_in: datetime | None
    mfa: str = Field(description="'totp' or 'none'")
    source: str = Field(description="'local' or the identity provider the account came from")


class ApproverCountOut(ORMModel):
    tenant: str
    name: str
    approvers: int


class AccessOut(BaseModel):
    users: list[AccessRowOut]
    approvers: list[ApproverCountOut]
