"""OpenID Connect sign-in pages: `/oidc/NAME/login` sends the browser to the identity
provider, `/oidc/NAME/callback` takes it back, checks everything (tenants.oidc) and opens a
session for the user the claims map to (tenants.oidc_users), or shows why not.

The flow's state, nonce and PKCE verifier wait in a short-lived cookie limited to /oidc/,
SameSite=Lax: the callback is a cross-site navigation from the provider, on which a Strict
cookie would not be sent.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from soc.core import audit
from soc.core.db import Database
from soc.core.deps import SESSION_COOKIE, client_ip
from soc.core.i18n import N_, gettext
from soc.core.settings import Settings
from soc.web.shell import landing_for, lang_of, remember_lang, templates
from soc.web.texts import TEXT
from tenants import oidc, oidc_users
from tenants.login import principal_for
from tenants.oidc_config import IdentityProvider, provider_named, providers

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
FLOW_COOKIE = "soc_oidc_flow"
FLOW_SECONDS = 600

NO_ACCESS_TITLE = N_("No access")
NO_ACCESS = N_(
    "You signed in at {provider} as {username}, but no role in this service is assigned to "
    "you. Ask your organisation's administrator for access."
)
REFUSED_TITLE = N_("Sign-in refused")
REFUSED = N_(
    "The sign-in at {provider} could not be accepted ({reason}). Try again; if it keeps "
    "failing, tell your administrator."
)
INACTIVE = N_("Your account in this service is disabled. Ask your administrator.")


def _settings(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found


def _db(request: Request) -> Database:
    found: Database = request.app.state.db
    return found


def base_url(request: Request, settings: Settings) -> str:
    return (settings.oidc_redirect_base_url or str(request.base_url)).rstrip("/")


def sign_in_buttons(request: Request) -> list[dict[str, str]]:
    """The providers of the sign-in page's buttons (a template global)."""
    try:
        found = providers(_settings(request))
    except Exception:  # a broken setting must not take the local sign-in down with it
        return []
    return [{"name": p.name, "label": p.display_name} for p in found]


templates.env.globals["oidc_buttons"] = sign_in_buttons


def _page(request: Request, title: str, detail: str, reason: str, status: int) -> Response:
    lang = lang_of(request)
    context: dict[str, Any] = {
        "t": TEXT[lang],
        "lang": lang,
        "nav": [],
        "title": gettext(lang, title),
        "detail": detail,
        "reason": reason,
        "notices": [],
    }
    response = templates.TemplateResponse(request, "oidc_refused.html", context, status_code=status)
    response.delete_cookie(FLOW_COOKIE, path="/oidc/")
    return response


# Not audited: nothing was started in this browser, so these are no sign-in attempts, and an
# anonymous request must not be able to write the audit log at will.
UNAUDITED = {"unknown_provider", "no_flow"}


def _refused(
    request: Request, provider: IdentityProvider | None, reason: str, detail: str = ""
) -> Response:
    """Audit a refusal (in a transaction of its own), then say so."""
    name = provider.name if provider else "-"
    if reason in UNAUDITED:
        log.info("OIDC callback refused (%s): %s", reason, detail)
    else:
        with _db(request).session() as session:
            audit.record(
                session,
                actor=f"oidc:{name}",
                action="user.oidc_refused",
                object_type="user",
                object_id="-",
                detail={
                    "reason": reason,
                    "provider": name,
                    "why": detail[:300],
                    "ip": client_ip(request),
                },
            )
    lang = lang_of(request)
    label = provider.display_name if provider else name
    text = gettext(lang, REFUSED).format(provider=label, reason=reason)
    return _page(request, REFUSED_TITLE, text, reason, 401 if provider else 404)


@router.get("/oidc/{name}/login")
def oidc_login(request: Request, name: str) -> Response:
    settings = _settings(request)
    provider = provider_named(settings, name)
    if provider is None:
        return _refused(request, None, "unknown_provider")
    redirect_uri = f"{base_url(request, settings)}/oidc/{provider.name}/callback"
    try:
        url, flow = oidc.start(provider, redirect_uri)
    except oidc.OidcRefused as exc:
        return _refused(request, provider, exc.reason, exc.detail)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        flow.dump(),
        max_age=FLOW_SECONDS,
        path="/oidc/",
        httponly=True,
        samesite="lax",
        secure=settings.session_cookie_secure,
    )
    remember_lang(request, response)
    return response


@router.get("/oidc/{name}/callback")
def oidc_callback(
    request: Request,
    name: str,
    code: str = "",
    state: str = "",
    error: str = "",
    error_description: str = "",
    iss: str = "",
) -> Response:
    settings = _settings(request)
    provider = provider_named(settings, name)
    if provider is None:
        return _refused(request, None, "unknown_provider")
    flow = oidc.Flow.load(request.cookies.get(FLOW_COOKIE))
    if flow is None or flow.provider != provider.name:
        return _refused(request, provider, "no_flow", "no sign-in was started in this browser")
    if error:
        return _refused(request, provider, "provider_error", f"{error[:80]}: {error_description}")
    if not code or len(code) > 4096 or not hmac.compare_digest(flow.state.encode(), state.encode()):
        return _refused(request, provider, "state_mismatch")
    if iss and iss != provider.issuer:  # RFC 9207: the answer of another provider (mix-up)
        return _refused(request, provider, "issuer_mismatch", iss[:200])
    try:
        token = oidc.exchange(provider, flow, code)
        claims = oidc.verified_claims(provider, token, flow, settings.oidc_clock_skew_seconds)
    except oidc.OidcRefused as exc:
        return _refused(request, provider, exc.reason, exc.detail)
    with _db(request).session() as session:
        result = oidc_users.sign_in(
            session,
            provider,
            claims,
            token["id_token"],
            settings.session_ttl_minutes,
            client_ip(request),
            request.headers.get("user-agent"),
        )
        landing = "/"
        if result.token is not None and result.user is not None:
            landing = landing_for(principal_for(session, result.user))
    if result.token is None:
        lang = lang_of(request)
        if result.refused == "inactive":
            return _page(request, NO_ACCESS_TITLE, gettext(lang, INACTIVE), "inactive", 403)
        text = gettext(lang, NO_ACCESS).format(
            provider=provider.display_name, username=result.username
        )
        return _page(request, NO_ACCESS_TITLE, text, result.refused or "no_access", 403)
    lang = lang_of(request)
    response = templates.TemplateResponse(
        request, "oidc_continue.html", {"lang": lang, "landing": landing}
    )
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        httponly=True,
        samesite="strict",
        secure=settings.session_cookie_secure,
        max_age=settings.session_ttl_minutes * 60,
    )
    response.delete_cookie(FLOW_COOKIE, path="/oidc/")
    return response
