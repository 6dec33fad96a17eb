"""Login, TOTP enrolment, tenants, providers, users, API keys and usage."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from soc.core import legacy_routes
from soc.core.deps import (
    SESSION_COOKIE,
    DatabaseDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    bearer,
    client_ip,
)
from soc.core.schemas import ErrorOut, RowId
from tenants import metering
from tenants import scope as scope_svc
from tenants import service as svc
from tenants.deps import LoginGuardDep
from tenants.schemas import (
    AdminUserOut,
    ApiKeyIn,
    ApiKeyOut,
    LoginIn,
    MeOut,
    NewApiKeyOut,
    NewUserOut,
    ProviderIn,
    ProviderOut,
    ProviderServesOut,
    TenantIn,
    TenantOut,
    TenantUpdateIn,
    TokenOut,
    TotpConfirmIn,
    TotpStartOut,
    UsageOut,
    UserIn,
    UserOut,
)

router = APIRouter(prefix="/api/v1", tags=["identity and tenants"])


@router.post(
    "/auth/login",
    response_model=TokenOut,
    responses={
        429: {
            "model": ErrorOut,
            "description": "Too many failed logins, or too many at once: see Retry-After",
        }
    },
)
def login(
    body: LoginIn,
    request: Request,
    settings: SettingsDep,
    db: DatabaseDep,
    guard: LoginGuardDep,
) -> TokenOut:
    """No request-wide database session here: the login opens its own short transactions,
    none of them held across the password check. A refusal before the check (TooManyAttempts)
    is answered 429 with its Retry-After by the app's error handler."""
    ttl = settings.session_ttl_minutes
    token, user = svc.login(
        db,
        body.username,
        body.password,
        body.totp,
        ttl,
        tuple(settings.totp_required_roles),
        client_ip=client_ip(request),
        guard=guard,
        user_agent=request.headers.get("user-agent"),
    )
    return TokenOut(token=token, expires_in_minutes=ttl, role=user.role)


@router.post("/auth/logout", status_code=204)
def logout(
    request: Request,
    response: Response,
    session: SessionDep,
    _: PrincipalDep,
) -> Response:
    """End the caller's session (the bearer token, or else the session cookie): the token stops
    working at once. Any logged-in user; 401 without a session."""
    token = bearer(request) or request.cookies.get(SESSION_COOKIE)
    if token:
        svc.logout(session, token)
    response.status_code = 204
    return response


@router.get("/auth/me", response_model=MeOut)
def me(principal: PrincipalDep) -> MeOut:
    """Who the caller is: username, role, tenant or provider and the tenants in its scope. Any
    logged-in user; 401 without a session."""
    name = principal.actor.removeprefix("user:")
    return MeOut(
        username=name,
        role=principal.role,
        tenant_id=principal.tenant_id,
        provider_id=principal.provider_id,
        scope=principal.scope.kind,
        tenant_ids=None if principal.is_global else sorted(principal.scope.tenant_ids),
    )


@router.post("/auth/totp/enroll", response_model=TotpStartOut)
def totp_enroll(session: SessionDep, principal: PrincipalDep) -> TotpStartOut:
    """Start TOTP (authenticator app) enrolment: returns a new secret and its otpauth:// URI. Any
    logged-in user; 409 when TOTP is already enrolled."""
    secret, uri = svc.start_totp_enrolment(session, principal)
    return TotpStartOut(secret=secret, uri=uri)


@router.post("/auth/totp/verify", status_code=204)
def totp_verify(
    body: TotpConfirmIn,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """Confirm TOTP enrolment with a current code; the user's other sessions end. Any logged-in
    user; 401 when the code does not match."""
    # The session that confirms stays valid; the user's other sessions end.
    token = bearer(request) or request.cookies.get(SESSION_COOKIE)
    svc.confirm_totp(session, principal, body.code, current_token=token)
    return Response(status_code=204)


@router.get("/tenants", response_model=list[TenantOut])
def list_tenants(session: SessionDep, principal: PrincipalDep) -> list[TenantOut]:
    """List the tenants the caller may see: all for global users, its own for a tenant's users, the
    served ones for a provider."""
    return [TenantOut.model_validate(t) for t in svc.list_tenants(session, principal)]


@router.post("/tenants", response_model=TenantOut, status_code=201)
def create_tenant(
    body: TenantIn,
    session: SessionDep,
    principal: PrincipalDep,
) -> TenantOut:
    """Create a tenant (a customer) with its slug, name and log retention. Admin only (403
    otherwise); 409 when the slug is taken, 422 for a retention outside 1..365 days."""
    tenant = svc.create_tenant(session, principal, body.slug, body.name, body.retention_days)
    return TenantOut.model_validate(tenant)


@router.get("/tenants/{tenant}", response_model=TenantOut)
def get_tenant(
    tenant: str,
    session: SessionDep,
    principal: PrincipalDep,
) -> TenantOut:
    """One tenant by slug. Callers outside the tenant's scope get 404, as for an unknown slug."""
    return TenantOut.model_validate(svc.get_tenant(session, principal, tenant))


@router.post("/providers", response_model=ProviderOut, status_code=201)
def create_provider(
    body: ProviderIn,
    session: SessionDep,
    principal: PrincipalDep,
) -> ProviderOut:
    """Create a provider (a service provider that works cases for tenants). Admin only (403
    otherwise); 409 when the slug is taken."""
    return ProviderOut.model_validate(svc.create_provider(session, principal, body.slug, body.name))


@router.get("/providers", response_model=list[ProviderServesOut])
def list_providers(session: SessionDep, principal: PrincipalDep) -> list[ProviderServesOut]:
    """Providers and the tenants each serves (its provider-scoped users see those)."""
    return [
        ProviderServesOut(
            id=v.provider.id, slug=v.provider.slug, name=v.provider.name, tenants=v.tenants
        )
        for v in scope_svc.list_providers(session, principal)
    ]


@router.put("/providers/{provider}/tenants/{tenant}", status_code=204)
def serve_tenant(
    provider: str,
    tenant: str,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """The provider serves the tenant from now on (idempotent, audited)."""
    scope_svc.serve(session, principal, provider, tenant)
    return Response(status_code=204)


@router.delete("/providers/{provider}/tenants/{tenant}", status_code=204)
def unserve_tenant(
    provider: str,
    tenant: str,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """The provider no longer serves the tenant (idempotent, audited)."""
    scope_svc.unserve(session, principal, provider, tenant)
    return Response(status_code=204)


@router.post("/users", response_model=NewUserOut, status_code=201)
def create_user(
    body: UserIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> NewUserOut:
    """Create a user with a role, scoped to one tenant, one provider or global; the answer carries
    the TOTP secret when the role needs MFA. Admin only; 409 for a taken username, 422 for a
    weak password."""
    created = svc.create_user(
        session,
        principal,
        body.username,
        body.password,
        body.role,
        body.tenant,
        body.provider,
        tuple(settings.totp_required_roles),
    )
    return NewUserOut(user=UserOut.model_validate(created.user), totp_secret=created.totp_secret)


@router.get("/tenants/{tenant}/api-keys", response_model=list[ApiKeyOut])
def list_api_keys(
    tenant: str,
    session: SessionDep,
    principal: PrincipalDep,
) -> list[ApiKeyOut]:
    """List a tenant's ingest keys (never their secrets). Admins only (403 otherwise); 404 for an
    unknown tenant."""
    return [ApiKeyOut.model_validate(k) for k in svc.list_api_keys(session, principal, tenant)]


@router.post("/tenants/{tenant}/api-keys", response_model=NewApiKeyOut, status_code=201)
def create_api_key(
    tenant: str,
    body: ApiKeyIn,
    session: SessionDep,
    principal: PrincipalDep,
) -> NewApiKeyOut:
    """Create an ingest key for a tenant; the secret is in this answer only. Admins only; 404 for
    an unknown tenant."""
    key, secret = svc.create_api_key(session, principal, tenant, body.name)
    return NewApiKeyOut(key=ApiKeyOut.model_validate(key), secret=secret)


@router.delete("/api-keys/{key_id}", response_model=ApiKeyOut)
def revoke_api_key(
    key_id: RowId,
    session: SessionDep,
    principal: PrincipalDep,
) -> ApiKeyOut:
    """Revoke an ingest key: ingest with it is refused (401) from now on. Admins only; 404 for an
    unknown key."""
    return ApiKeyOut.model_validate(svc.revoke_api_key(session, principal, key_id))


# The first names of the key routes, kept for existing scripts.
for _endpoint in (list_api_keys, create_api_key):
    legacy_routes.alias(
        router,
        "/tenants/{tenant}/apikeys",
        _endpoint,
        successor="/api/v1/tenants/{tenant}/api-keys",
    )
legacy_routes.alias(
    router, "/apikeys/{key_id}", revoke_api_key, successor="/api/v1/api-keys/{key_id}"
)


@router.get(
    "/tenants/{tenant}/usage",
    response_model=list[UsageOut],
    **legacy_routes.replaced_by("/api/v1/billing/tenants/{tenant}/usage"),
)
def tenant_usage(
    tenant: str,
    session: SessionDep,
    principal: PrincipalDep,
    start: Annotated[date | None, Query(description="first day (UTC); default 30 days ago")] = None,
    end: Annotated[date | None, Query(description="last day (UTC); default today")] = None,
) -> list[UsageOut]:
    """A tenant's ingested events and bytes per day (UTC) between start and end, by default the
    last 30 days. Needs usage.read; 404 for a tenant outside the caller's scope."""
    principal.require("usage.read")
    target = svc.get_tenant(session, principal, tenant)
    last = end or date.today()
    # max(): 30 days before a date early in year 1 would overflow (a 500); start at day one.
    first = start or max(last, date.min + timedelta(days=30)) - timedelta(days=30)
    return [
        UsageOut(day=row.day.isoformat(), events=row.events, bytes=row.bytes)
        for row in metering.usage(session, target.id, first, last)
    ]


@router.patch("/tenants/{tenant}", response_model=TenantOut)
def update_tenant(
    tenant: str,
    body: TenantUpdateIn,
    session: SessionDep,
    principal: PrincipalDep,
) -> TenantOut:
    """Change a tenant's name, log retention (1..365 days) and/or SLA calendar; audited. A new
    calendar applies to clocks started from now on (running clocks keep theirs). Admin only
    (403 otherwise); 404 for an unknown tenant."""
    changed = svc.update_tenant(
        session, principal, tenant, body.name, body.retention_days, body.sla_calendar
    )
    return TenantOut.model_validate(changed)


@router.get("/users", response_model=list[AdminUserOut])
def list_users(
    session: SessionDep,
    principal: PrincipalDep,
    tenant: Annotated[str | None, Query(max_length=63, description="a tenant slug")] = None,
    role: Annotated[str | None, Query(max_length=32)] = None,
) -> list[AdminUserOut]:
    """Users by username, optionally of one tenant and/or role. Admin only (403 otherwise)."""
    return [
        AdminUserOut.model_validate(u) for u in svc.list_users(session, principal, tenant, role)
    ]
