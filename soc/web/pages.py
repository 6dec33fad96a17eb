"""A minimal web front: sign in, see the case queue. Dutch with ?lang=nl, English by default."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from soc.core.deps import SESSION_COOKIE, client_ip, db_session
from soc.core.error_texts import domain_text
from soc.core.errors import DomainError
from soc.core.principal import Principal
from soc.services import Services
from soc.shell_deps import get_services
from soc.web.chrome import remember
from soc.web.shell import base_context, landing_for, remember_lang, said, templates
from soc.web.texts import TEXT
from tenants import oidc_users
from tenants import service as tenant_service
from tenants.login_guard import TooManyAttempts

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static"
# The page's style and script live in files, not inline, so the Content-Security-Policy can
# forbid inline code (an injected <script> then does not run).
# Any style or script file of soc/web/static (a plain name: no path can leave the folder).
STATIC_TYPES = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,80}$")

# Every form carries a token another site cannot know (next to the Origin check in soc.app).
# Signed-in forms: an HMAC keyed by the session token, so it needs no storage and ends with
# the session. The sign-in form has no session yet: a random value in a cookie of its own that
# the form must repeat (double submit), so another site cannot sign a browser into its account.
LOGIN_CSRF_COOKIE = "soc_login_csrf"


def _lang(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get("lang") or "en"
    return lang if lang in TEXT else "en"


def form_token(session_token: str) -> str:
    """The CSRF token of the signed-in forms of one session."""
    return hmac.new(session_token.encode(), b"soc web form", hashlib.sha256).hexdigest()


def _same_token(expected: str | None, submitted: str) -> bool:
    return bool(expected) and hmac.compare_digest(str(expected).encode(), submitted.encode())


FORGED = "This form expired or was sent from another site: reload the page and try again."


def _forged() -> Response:
    return HTMLResponse(FORGED, status_code=403)


def _login_page(
    request: Request, services: Services, error: str | None, status_code: int = 200
) -> Response:
    """The sign-in form with its double-submit token (the cookie's, or a new one)."""
    lang = _lang(request)
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"t": TEXT[lang], "lang": lang, "error": error, "csrf": token},
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=services.settings.session_cookie_secure,
    )
    remember_lang(request, response)
    return response


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    kind = STATIC_TYPES.get(Path(name).suffix)
    if kind is None or not STATIC_NAME.match(name) or not (STATIC / name).is_file():
        return HTMLResponse("not found", status_code=404)
    return FileResponse(STATIC / name, media_type=kind, headers={"Cache-Control": "max-age=3600"})


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request, error: str | None = None, services: Services = Depends(get_services)
) -> Response:
    if request.cookies.get(SESSION_COOKIE):
        with services.db.session() as session:
            principal = _signed_in(request, session)
        if principal is not None:
            return RedirectResponse(landing_for(principal), status_code=303)
    return _login_page(request, services, error)


@router.post("/login")
def login_form(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    totp: str = Form(default=""),
    csrf: str = Form(default=""),
    services: Services = Depends(get_services),
) -> Response:
    # No request-wide session: the login opens its own short transactions (none held across
    # the password check).
    lang = _lang(request)
    if not _same_token(request.cookies.get(LOGIN_CSRF_COOKIE), csrf):
        return _login_page(request, services, FORGED, status_code=403)
    try:
        token, _ = tenant_service.login(
            services.db,
            username,
            password,
            totp or None,
            services.settings.session_ttl_minutes,
            tuple(services.settings.totp_required_roles),
            client_ip=client_ip(request),
            guard=services.login_guard,
            user_agent=request.headers.get("user-agent"),
        )
    except DomainError as exc:
        retry = exc.retry_after if isinstance(exc, TooManyAttempts) else None
        return templates.TemplateResponse(
            request,
            "login.html",
            {"t": TEXT[lang], "lang": lang, "error": domain_text(lang, exc), "csrf": csrf},
            status_code=exc.status_code,
            headers={"Retry-After": str(retry)} if retry else None,
        )
    # The role's own start page (the next request resolves it from the session).
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=services.settings.session_cookie_secure,
        max_age=services.settings.session_ttl_minutes * 60,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    remember_lang(request, response)  # the language chosen on the sign-in page stays
    return response


@router.post("/logout")
def logout_form(
    request: Request,
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token and not _same_token(form_token(token), csrf):
        return _forged()
    target = None
    if token:
        # A session opened at an identity provider ends there too (RP-initiated logout).
        settings = request.app.state.settings
        target = oidc_users.end_session_target(session, settings, token, str(request.base_url))
        tenant_service.logout(session, token)
    response: Response = RedirectResponse("/", status_code=303)
    if target:
        context = {"lang": _lang(request), "target": target}
        response = templates.TemplateResponse(request, "oidc_signout.html", context)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _signed_in(request: Request, session: Session) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    try:
        principal = tenant_service.principal_from_token(session, token or "")
    except DomainError:
        return None
    return remember(request, session, principal)  # for the page's nav and outage banner


def _to_login() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _page(request: Request, name: str, context: dict[str, Any]) -> Response:
    response = templates.TemplateResponse(request, name, {**base_context(request), **context})
    remember_lang(request, response)
    return response


@router.get("/usage", response_class=HTMLResponse)
def usage_page(
    request: Request, session: Session = Depends(db_session, scope="function")
) -> Response:
    """Month-to-date SIEM usage and the projected invoice: a customer sees its own, finance
    and admins every customer (the same service as GET /api/v1/billing/usage)."""
    from tenants.billing.service import running_usage

    principal = _signed_in(request, session)
    if principal is None:
        return _to_login()
    if not principal.can("billing.read"):
        return _page(request, "usage.html", {"rows": [], "who": principal.actor, "forbidden": True})
    try:
        rows = running_usage(session, principal)
    except DomainError as exc:
        return _page(
            request, "usage.html", {"rows": [], "who": principal.actor, "error": said(request, exc)}
        )
    return _page(
        request,
        "usage.html",
        {"rows": rows, "who": principal.actor, "gb": lambda b: f"{b / 1e9:,.3f}"},
    )
