"""A minimal web front: sign in, see the case queue. Dutch with ?lang=nl, English by default."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.cases import service as cases
from soc.cases import sla
from soc.cases.models import STATUSES, Asset
from soc.core.db import utcnow
from soc.core.deps import SESSION_COOKIE, SettingsDep, client_ip, db_session
from soc.core.errors import DomainError
from soc.core.principal import Principal
from soc.core.schemas import parse_id
from soc.services import Services
from soc.shell_deps import get_services
from soc.web.chrome import remember
from soc.web.matched import matched_fields, rule_values
from soc.web.shell import base_context, landing_for, remember_lang, templates
from soc.web.texts import TEXT
from tenants import service as tenant_service
from tenants.login_guard import TooManyAttempts
from tenants.models import Provider, Tenant, User

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


def _case_not_found(raw: str) -> Response:
    return HTMLResponse(f"case {raw[:40]} not found", status_code=404)


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
        )
    except DomainError as exc:
        retry = exc.retry_after if isinstance(exc, TooManyAttempts) else None
        return templates.TemplateResponse(
            request,
            "login.html",
            {"t": TEXT[lang], "lang": lang, "error": exc.message, "csrf": csrf},
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
    if token:
        tenant_service.logout(session, token)
    response = RedirectResponse("/", status_code=303)
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


QUEUE_FILTERS = ("status", "priority", "q", "tenant_id")


@router.get("/cases", response_class=HTMLResponse)
def case_queue(
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The queue: filters, priority, SLA countdown (newest first)."""
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login()
    chosen = {k: request.query_params.get(k) or None for k in QUEUE_FILTERS}
    tenant_id = chosen["tenant_id"]
    filters = cases.CaseFilter(
        status=chosen["status"] if chosen["status"] in STATUSES else None,
        priority=chosen["priority"] if chosen["priority"] in ("P1", "P2", "P3", "P4") else None,
        q=(chosen["q"] or "")[:200] or None,
        tenant_id=parse_id(tenant_id),
    )
    total, rows = cases.list_cases(session, principal, filters, limit=200)
    now = utcnow()
    return _page(
        request,
        "cases.html",
        {
            "cases": [(c, sla.clocks(settings, c, now)) for c in rows],
            "total": total,
            "who": principal.actor,
            "chosen": chosen,
            "statuses": STATUSES,
        },
    )


@router.get("/cases/{case_ref}", response_class=HTMLResponse)
def case_detail(
    case_ref: str,
    request: Request,
    settings: SettingsDep,
    error: str | None = None,
    session: Session = Depends(db_session, scope="function"),
    services: Services = Depends(get_services),
) -> Response:
    """One case: SLA, asset, alerts, matching events with matched fields, timeline, triage."""
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login()
    case_id = parse_id(case_ref)
    if case_id is None:  # not a row id (text, or past 64 bits): no such case
        return _case_not_found(case_ref)
    try:
        case = cases.get_case(session, principal, case_id)
    except DomainError as exc:
        return HTMLResponse(exc.message, status_code=exc.status_code)
    alerts = cases.case_alerts(session, principal, case_id) if principal.can("alerts.read") else []
    events = []
    if alerts and principal.can("alerts.read"):
        values = rule_values(services.ruleset, case.rule_id)
        stored = services.store.get_many(case.tenant_id, [a.event_id for a in alerts])
        events = [(e, matched_fields(values, e.data)) for e in stored]
    asset = session.scalar(
        select(Asset).where(Asset.tenant_id == case.tenant_id, Asset.host == case.host)
    )
    timeline = [
        (e, orjson.loads(e.detail)) for e in cases.case_timeline(session, principal, case_id)
    ]
    return _page(
        request,
        "case.html",
        {
            "case": case,
            "clocks": sla.clocks(settings, case, utcnow()),
            "tenant": session.get(Tenant, case.tenant_id),
            "provider": session.get(Provider, case.provider_id) if case.provider_id else None,
            "assignee": session.get(User, case.assignee_id) if case.assignee_id else None,
            "asset": asset,
            "alerts": alerts,
            "events": events,
            "timeline": timeline,
            "who": principal.actor,
            "can_manage": principal.can("cases.manage"),
            "can_assign": principal.can("cases.assign"),
            "can_update": principal.can("cases.update"),
            "targets": sorted(cases.TRANSITIONS.get(case.status, ())),
            "providers": list(session.scalars(select(Provider).order_by(Provider.slug))),
            "error": error,
        },
    )


def _act(
    request: Request,
    case_ref: str,
    csrf: str,
    session: Session,
    action: Callable[[Principal, int], Any],
) -> Response:
    """Run one triage action for the signed-in user; back to the case, with any error."""
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login()
    if not _same_token(form_token(request.cookies.get(SESSION_COOKIE) or ""), csrf):
        return _forged()
    case_id = parse_id(case_ref)
    if case_id is None:
        return _case_not_found(case_ref)
    target = f"/cases/{case_id}"
    try:
        with session.begin_nested():
            action(principal, case_id)
    except DomainError as exc:
        return RedirectResponse(f"{target}?{urlencode({'error': exc.message})}", status_code=303)
    return RedirectResponse(target, status_code=303)


@router.post("/cases/{case_ref}/assign")
def assign_form(
    case_ref: str,
    request: Request,
    settings: SettingsDep,
    assignee: str = Form(default=""),
    provider: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    return _act(
        request,
        case_ref,
        csrf,
        session,
        lambda p, case_id: cases.assign(
            session, p, case_id, assignee or None, provider or None, settings=settings
        ),
    )


@router.post("/cases/{case_ref}/status")
def status_form(
    case_ref: str,
    request: Request,
    settings: SettingsDep,
    status: str = Form(...),
    note: str = Form(default=""),
    root_cause: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    return _act(
        request,
        case_ref,
        csrf,
        session,
        lambda p, case_id: cases.change_status(
            session, p, case_id, status, note or None, root_cause or None, settings=settings
        ),
    )


@router.post("/cases/{case_ref}/comment")
def comment_form(
    case_ref: str,
    request: Request,
    settings: SettingsDep,
    text: str = Form(...),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    return _act(
        request,
        case_ref,
        csrf,
        session,
        lambda p, case_id: cases.comment(session, p, case_id, text, settings=settings),
    )


@router.post("/cases/{case_ref}/priority")
def priority_form(
    case_ref: str,
    request: Request,
    settings: SettingsDep,
    impact: str = Form(default=""),
    urgency: str = Form(default=""),
    reason: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    return _act(
        request,
        case_ref,
        csrf,
        session,
        lambda p, case_id: cases.set_priority(
            session, p, case_id, reason, impact or None, urgency or None, settings=settings
        ),
    )


@router.post("/cases/{case_ref}/escalate")
def escalate_form(
    case_ref: str,
    request: Request,
    settings: SettingsDep,
    reason: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    return _act(
        request,
        case_ref,
        csrf,
        session,
        lambda p, case_id: cases.escalate(session, p, case_id, reason, settings=settings),
    )


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
            request, "usage.html", {"rows": [], "who": principal.actor, "error": exc.message}
        )
    return _page(
        request,
        "usage.html",
        {"rows": rows, "who": principal.actor, "gb": lambda b: f"{b / 1e9:,.3f}"},
    )
