"""Tenants, providers, users, login, TOTP enrolment and API keys, for the callers that import
them from here (`from tenants import service`). They live in tenants.tenancy (tenants and
providers), tenants.users (users, TOTP enrolment), tenants.login (login, sessions) and
tenants.api_keys (ingest keys)."""

from __future__ import annotations

from tenants.api_keys import (
    create_api_key,
    list_api_keys,
    principal_from_api_key,
    revoke_api_key,
)
from tenants.login import (
    GUESSES,
    LOGIN_REFUSED,
    end_sessions,
    login,
    logout,
    principal_for,
    principal_from_token,
)
from tenants.tenancy import (
    SLUG,
    create_provider,
    create_tenant,
    get_provider,
    get_tenant,
    list_tenants,
)
from tenants.users import (
    PROVIDER_SCOPED_ROLES,
    TENANT_SCOPED_ROLES,
    NewUser,
    confirm_totp,
    create_user,
    start_totp_enrolment,
)

__all__ = [
    "GUESSES",
    "LOGIN_REFUSED",
    "PROVIDER_SCOPED_ROLES",
    "SLUG",
    "TENANT_SCOPED_ROLES",
    "NewUser",
    "confirm_totp",
    "create_api_key",
    "create_provider",
    "create_tenant",
    "create_user",
    "end_sessions",
    "get_provider",
    "get_tenant",
    "list_api_keys",
    "list_tenants",
    "login",
    "logout",
    "principal_for",
    "principal_from_api_key",
    "principal_from_token",
    "revoke_api_key",
    "start_totp_enrolment",
]
