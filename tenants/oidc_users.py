"""Who a person signed in at an identity provider is here: their user (created on the first
sign-in, updated at each), the role and scope their claims map to, and the session.

The mapping is applied at every sign-in, so a role or tenant changed at the provider holds
from the next sign-in on (the user's other sessions end when it changes); claims that map to
nothing give no access, and end the sessions of a user who had access before.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.core import audit
from soc.core.db import utcnow
from soc.core.settings import Settings
from tenants import oidc, security
from tenants.login import end_sessions, new_session
from tenants.models import AuthToken, OidcIdentity, OidcSession, Provider, Tenant, User
from tenants.oidc_config import ClaimMapping, IdentityProvider, provider_named

log = logging.getLogger(__name__)
# Never a valid argon2 hash: an OIDC user has no password to sign in with locally.
NO_PASSWORD = "!oidc"
USERNAME_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


def claim_values(claims: dict[str, Any], path: str) -> list[str]:
    """The values of a (dotted) claim: a list of strings, a string as one, else none."""
    found: Any = claims
    for part in path.split("."):
        found = found.get(part) if isinstance(found, dict) else None
    if isinstance(found, str):
        return [found]
    if isinstance(found, list):
        return [v for v in found if isinstance(v, str)]
    return []


def mapping_for(provider: IdentityProvider, claims: dict[str, Any]) -> ClaimMapping | None:
    """The first configured mapping whose value the person's claim carries (None: no access)."""
    values = set(claim_values(claims, provider.claim))
    return next((m for m in provider.mappings if m.value in values), None)


@dataclass(frozen=True)
class SignIn:
    """The outcome: a session token and its user, or the reason for the refusal."""

    token: str | None = None
    user: User | None = None
    refused: str | None = None
    username: str = ""


def _scope_ids(session: Session, mapping: ClaimMapping) -> tuple[int | None, int | None] | None:
    tenant_id = provider_id = None
    if mapping.tenant:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == mapping.tenant))
        if tenant_id is None:
            return None
    if mapping.provider:
        provider_id = session.scalar(select(Provider.id).where(Provider.slug == mapping.provider))
        if provider_id is None:
            return None
    return tenant_id, provider_id


def _free_username(session: Session, wanted: str, provider: IdentityProvider) -> str:
    """The person's name at the provider, or NAME@PROVIDER (then -2, -3…) when a user of that
    name exists: an OIDC sign-in never takes over a local account."""
    base = USERNAME_UNSAFE.sub("-", wanted).strip("-")[:100] or "user"
    candidates = [base, f"{base}@{provider.name}"]
    candidates += [f"{base}@{provider.name}-{n}" for n in range(2, 100)]
    for name in candidates:
        if session.scalar(select(User.id).where(User.username == name)) is None:
            return name
    return f"{base}@{provider.name}-{security.new_token()[:8]}"


def _refuse(
    session: Session,
    provider: IdentityProvider,
    claims: dict[str, Any],
    reason: str,
    user: User | None,
    client_ip: str | None,
) -> SignIn:
    name = user.username if user else str(claims.get(provider.username_claim) or claims["sub"])
    ended = end_sessions(session, user.id) if user is not None and reason == "no_access" else 0
    audit.record(
        session,
        actor=f"oidc:{provider.name}:{claims['sub']}"[:160],
        action="user.oidc_refused",
        object_type="user",
        object_id=user.id if user else "-",
        tenant_id=user.tenant_id if user else None,
        detail={
            "reason": reason,
            "provider": provider.name,
            "subject": claims["sub"],
            "username": name,
            "claim": provider.claim,
            "values": claim_values(claims, provider.claim)[:20],
            "sessions_ended": ended,
            "ip": client_ip,
        },
    )
    log.info("OIDC sign-in of %r at %s refused: %s", name, provider.name, reason)
    return SignIn(refused=reason, user=user, username=name)


def sign_in(
    session: Session,
    provider: IdentityProvider,
    claims: dict[str, Any],
    id_token: str,
    ttl_minutes: int,
    client_ip: str | None = None,
    user_agent: str | None = None,
) -> SignIn:
    """Create or update the user of these (verified) claims and open a session, or refuse
    (audited either way; the caller commits the session)."""
    issuer, subject = str(claims["iss"]), str(claims["sub"])
    identity = session.scalar(
        select(OidcIdentity).where(OidcIdentity.issuer == issuer, OidcIdentity.subject == subject)
    )
    user = session.get(User, identity.user_id) if identity is not None else None
    mapping = mapping_for(provider, claims)
    if mapping is None:
        return _refuse(session, provider, claims, "no_access", user, client_ip)
    scope = _scope_ids(session, mapping)
    if scope is None:  # the mapping names a tenant or provider that does not exist
        log.warning("OIDC mapping %r of %s names an unknown scope", mapping.value, provider.name)
        return _refuse(session, provider, claims, "unknown_scope", user, client_ip)
    tenant_id, provider_id = scope
    email = claims.get(provider.email_claim)
    email = email[:320] if isinstance(email, str) and email else None
    now = utcnow()
    if user is None:
        wanted = str(claims.get(provider.username_claim) or subject)
        user = User(
            username=_free_username(session, wanted, provider),
            password_hash=NO_PASSWORD,
            role=mapping.role,
            tenant_id=tenant_id,
            provider_id=provider_id,
            auth_source="oidc",
            email=email,
        )
        session.add(user)
        session.flush()
        identity = OidcIdentity(
            issuer=issuer, subject=subject, provider=provider.name, user_id=user.id
        )
        session.add(identity)
        audit.record(
            session,
            actor=f"oidc:{provider.name}:{subject}"[:160],
            action="user.create",
            object_type="user",
            object_id=user.id,
            tenant_id=tenant_id,
            detail={
                "username": user.username,
                "role": mapping.role,
                "provider_id": provider_id,
                "source": "oidc",
                "identity_provider": provider.name,
                "claim_value": mapping.value,
            },
        )
    else:
        if not user.active:
            return _refuse(session, provider, claims, "inactive", user, client_ip)
        before = (user.role, user.tenant_id, user.provider_id)
        if before != (mapping.role, tenant_id, provider_id):
            user.role, user.tenant_id, user.provider_id = mapping.role, tenant_id, provider_id
            ended = end_sessions(session, user.id)
            audit.record(
                session,
                actor=f"oidc:{provider.name}:{subject}"[:160],
                action="user.role_change",
                object_type="user",
                object_id=user.id,
                tenant_id=tenant_id,
                detail={
                    "from": {"role": before[0], "tenant_id": before[1], "provider_id": before[2]},
                    "to": {
                        "role": mapping.role,
                        "tenant_id": tenant_id,
                        "provider_id": provider_id,
                    },
                    "source": "oidc",
                    "claim_value": mapping.value,
                    "sessions_ended": ended,
                },
            )
        if email and user.email != email:
            user.email = email
    assert identity is not None  # found with the user, or created with it
    identity.last_login_at = now
    token, row = new_session(session, user.id, ttl_minutes, now, client_ip, user_agent)
    session.flush()
    session.add(OidcSession(token_id=row.id, provider=provider.name, id_token=id_token))
    audit.record(
        session,
        actor=f"user:{user.username}",
        action="user.login",
        object_type="user",
        object_id=user.id,
        tenant_id=user.tenant_id,
        detail={"ip": client_ip, "method": "oidc", "provider": provider.name},
    )
    return SignIn(token=token, user=user, username=user.username)


def session_of(session: Session, token: str) -> OidcSession | None:
    """The OIDC side of a session token (None: a local sign-in)."""
    return session.scalar(
        select(OidcSession)
        .join(AuthToken, AuthToken.id == OidcSession.token_id)
        .where(AuthToken.token_hash == security.sha256_hex(token))
    )


def end_session_target(
    session: Session, settings: Settings, token: str, request_base: str
) -> str | None:
    """For a session opened through OIDC, the provider's end-session URL to send the browser
    to once the session ends here (RP-initiated logout, back to this service's start page);
    None for a local session or a provider without one. Call before revoking the token."""
    found = session_of(session, token)
    provider = provider_named(settings, found.provider) if found else None
    if found is None or provider is None:
        return None
    home = (settings.oidc_redirect_base_url or request_base).rstrip("/") + "/"
    return oidc.end_session_url(provider, found.id_token, home)
