"""The identity providers of OpenID Connect sign-in, read from `SOC_OIDC_PROVIDERS`.

Each provider names its issuer (discovered through `/.well-known/openid-configuration`), the
client soc is registered as, the scopes asked, and how a claim's values map to a role and a
scope here. A person whose claim values match no mapping gets no access: the default.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from soc.core.errors import Invalid
from soc.core.i18n import N_
from soc.core.settings import Settings
from tenants.models import ROLES

SLUG = r"^[a-z0-9][a-z0-9-]{0,63}$"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ClaimMapping(BaseModel):
    """One claim value and what it grants: a role, scoped to a tenant or a provider (by slug)
    or, with neither, to everything (only for the SOC's own roles)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str = Field(min_length=1, max_length=255)
    role: str
    tenant: str | None = Field(default=None, pattern=SLUG)
    provider: str | None = Field(default=None, pattern=SLUG)

    @model_validator(mode="after")
    def _known(self) -> ClaimMapping:
        if self.role not in ROLES:
            raise ValueError(f"unknown role '{self.role}'; one of: {', '.join(ROLES)}")
        if self.tenant and self.provider:
            raise ValueError("a mapping scopes to a tenant or a provider, not both")
        return self


class IdentityProvider(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=SLUG, description="in the callback path /oidc/NAME/callback")
    display_name: str = Field(min_length=1, max_length=80)
    issuer: str = Field(min_length=1, max_length=255)
    client_id: str = Field(min_length=1, max_length=255)
    # Kept in settings for now; read only through `client_secret()`, so it can move to the
    # encrypted secret store without touching the flow.
    client_secret: str | None = Field(default=None, max_length=1000)
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    # The claim whose values are mapped (a dotted path reaches nested claims, e.g.
    # realm_access.roles); a string value counts as a list of one.
    claim: str = Field(default="groups", min_length=1, max_length=120)
    mappings: tuple[ClaimMapping, ...] = ()
    username_claim: str = Field(default="preferred_username", min_length=1, max_length=120)
    email_claim: str = Field(default="email", min_length=1, max_length=120)

    @model_validator(mode="after")
    def _sound(self) -> IdentityProvider:
        parts = urlsplit(self.issuer)
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
            raise ValueError("the issuer must be an https URL (http only on the loopback)")
        if "openid" not in self.scopes:
            raise ValueError("scopes must include 'openid'")
        return self

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


def client_secret(provider: IdentityProvider) -> str | None:
    """The client's secret (None: a public client, PKCE alone)."""
    return provider.client_secret


@lru_cache(maxsize=8)
def _parse(raw: bytes) -> tuple[IdentityProvider, ...]:
    try:
        found = tuple(IdentityProvider.model_validate(item) for item in orjson.loads(raw))
    except ValidationError as exc:
        raise Invalid(N_("SOC_OIDC_PROVIDERS: {problem}"), problem=exc.errors()[0]["msg"]) from exc
    names = [p.name for p in found]
    if len(set(names)) != len(names):
        raise Invalid(N_("SOC_OIDC_PROVIDERS: two providers with the same name"))
    return found


def providers(settings: Settings) -> tuple[IdentityProvider, ...]:
    """The configured identity providers, validated (Invalid names the first problem)."""
    raw: list[dict[str, Any]] = settings.oidc_providers
    return _parse(orjson.dumps(raw)) if raw else ()


def provider_named(settings: Settings, name: str) -> IdentityProvider | None:
    return next((p for p in providers(settings) if p.name == name), None)
