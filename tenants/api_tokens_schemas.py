"""API shapes of the integrations' API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from soc.core.principal import TOKEN_SCOPES

# The scope names as the schema's enum, so the OpenAPI document lists them.
ScopeName = Literal[
    "cases:read",
    "cases:write",
    "ingest",
    "billing:read",
    "risks:read",
    "kri:read",
    "status:read",
]
assert set(ScopeName.__args__) == set(TOKEN_SCOPES)  # type: ignore[attr-defined]


class ApiTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120, pattern=r"\S")
    scopes: list[ScopeName] = Field(min_length=1, max_length=len(TOKEN_SCOPES))
    expires_days: int = Field(
        ge=1, le=3650, description="required; at most the setting api_token_max_days (365)"
    )


class ApiTokenOut(BaseModel):
    id: int
    name: str
    username: str
    prefix: str = Field(description="the token's first characters: not secret, for telling apart")
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="to within a minute")
    state: Literal["active", "expired", "revoked"]


class NewApiTokenOut(ApiTokenOut):
    token: str = Field(description="Shown once; only its hash is stored")


class TokenScopeOut(BaseModel):
    name: str
    description: str
    tags: list[str]
    write: bool
