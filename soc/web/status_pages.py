"""The status pages (issue 11, item 5): per application operational / degraded / down /
maintenance with the probable causes, one CI with its neighbours and timeline, monthly
availability, outage notices (service desk) and subscriptions (customers).

Server-rendered like `soc.web.pages`, with the same session cookie and CSRF token. What each
reader sees comes cut from `soc.cmdb.views` (a customer: its applications and the components
under them, never another tenant's names). The dashboard's status block refreshes itself: app.js
fetches `/status/block` every `status_refresh_seconds` and swaps it in, so no page reload.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from soc.cmdb import notices, notify, views
from soc.cmdb.deps import CmdbEngineDep
from soc.cmdb.engine import StatusEngine
from soc.cmdb.rules import IMPAIRED, STATES
from soc.cmdb.schemas import ApplicationStatus
from soc.cmdb.visibility import visible_cis
from soc.core.db import utcnow
from soc.core.deps import SESSION_COOKIE, SettingsDep, db_session
from soc.core.errors import DomainError, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.schemas import parse_id
from soc.core.settings import Settings
from soc.web.chrome import form_token, lang_of, same_token, signed_in
from soc.web.shell import base_context, remember_lang, said, templates
from soc.web.texts import TEXT

router = APIRouter(include_in_schema=False)

FORGED = "This form expired or was sent from another site: reload the page and try again."
DONE = ("published", "closed", "subscribed", "unsubscribed")


def _page(
    request: Request,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
    frame: bool = True,
) -> Response:
    """Render a page; `frame=False` for the refreshed block (no nav, no banner queries)."""
    lang = lang_of(request)
    csrf = form_token(request.cookies.get(SESSION_COOKIE) or "")
    response = templates.TemplateResponse(
        request,
        name,
        {
            **(base_context(request) if frame else {"t": TEXT[lang], "lang": lang, "csrf": csrf}),
            **context,
        },
        status_code=status_code,
    )
    remember_lang(request, response)
    return response


def _to_login() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _is_desk(principal: Principal) -> bool:
    """The service desk publishes notices for every tenant (notices.publish checks it too)."""
    return principal.can("status.publish") and principal.is_global


def _is_subscriber(principal: Principal) -> bool:
    """Customers (and providers) follow applications; the unscoped desk watches everything."""
    return (
        principal.can("status.subscribe")
        and not principal.is_global
        and principal.user_id is not None
    )


def _chosen(request: Request) -> dict[str, str]:
    state = request.query_params.get("state") or ""
    return {
        "state": state if state in STATES else "",
        "q": (request.query_params.get("q") or "").strip()[:100],
    }


def _matches(app: ApplicationStatus, chosen: dict[str, str]) -> bool:
    if chosen["state"] and app.state != chosen["state"]:
        return False
    needle = chosen["q"].lower()
    if not needle:
        return True
    names = [app.name, *(r.name for r in app.root_causes), *(c.name for c in app.components)]
    return any(needle in name.lower() for name in names)


def _board(
    session: Session,
    principal: Principal,
    engine: StatusEngine,
    settings: Settings,
    chosen: dict[str, str],
) -> dict[str, Any]:
    """What the refreshed status block shows: counts, applications, incidents."""
    board = views.dashboard(session, principal, engine)
    subscriptions = (
        notify.list_subscriptions(session, principal) if _is_subscriber(principal) else []
    )
    return {
        "who": principal.actor,
        "board": board,
        "apps": [a for a in board.applications if _matches(a, chosen)],
        "chosen": chosen,
        "incidents": views.incidents(session, principal, engine, status="open", limit=50),
        "impaired_ids": [a.id for a in board.applications if a.state in IMPAIRED],
        "subscriber": _is_subscriber(principal),
        "subs": {s.ci_id: s.id for s in subscriptions},
        "email": next((s.email for s in subscriptions if s.email), None)
        or (principal.actor if "@" in principal.actor else ""),
        "refresh": settings.status_refresh_seconds,
        "block_src": "/status/block?" + urlencode({k: v for k, v in chosen.items() if v}),
        "states": STATES,
    }


@router.get("/status", response_class=HTMLResponse)
def status_page(
    request: Request,
    settings: SettingsDep,
    engine: CmdbEngineDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The dashboard: applications worst first, causes, incidents; the desk's notice form."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if not principal.can("cmdb.read"):
        return _page(request, "status.html", {"who": principal.actor, "forbidden": True})
    context = _board(session, principal, engine, settings, _chosen(request))
    desk = _is_desk(principal)
    done = request.query_params.get("done")
    context |= {
        "desk": desk,
        "open_notices": notices.list_notices(session, principal) if desk else [],
        "done": done if done in DONE else None,
        "error": (request.query_params.get("error") or "")[:300] or None,
    }
    return _page(request, "status.html", context)


@router.get("/status/block", response_class=HTMLResponse)
def status_block(
    request: Request,
    settings: SettingsDep,
    engine: CmdbEngineDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The dashboard's status block alone, for the page's self-refresh (never cached)."""
    principal = signed_in(request, session)
    if principal is None:
        return HTMLResponse("signed out", status_code=401)
    if not principal.can("cmdb.read"):
        return HTMLResponse("forbidden", status_code=403)
    context = _board(session, principal, engine, settings, _chosen(request))
    response = _page(request, "status_block.html", context, frame=False)
    response.headers["Cache-Control"] = "no-store"
    return response


def _act(
    request: Request,
    csrf: str,
    session: Session,
    action: Callable[[Principal], Any],
    done: str,
) -> Response:
    """Run one status form's action for the signed-in user; back to /status with the outcome."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if not same_token(form_token(request.cookies.get(SESSION_COOKIE) or ""), csrf):
        return HTMLResponse(FORGED, status_code=403)
    try:
        with session.begin_nested():
            action(principal)
    except DomainError as exc:
        return RedirectResponse(
            f"/status?{urlencode({'error': said(request, exc)})}", status_code=303
        )
    return RedirectResponse(f"/status?done={done}", status_code=303)


@router.post("/status/notices")
def publish_form(
    request: Request,
    title: str = Form(default=""),
    body: str = Form(default=""),
    kind: str = Form(default="outage"),
    incident: str = Form(default=""),
    applications: list[str] = Form(default=[]),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """Publish an outage notice: the affected customers see it as a banner on their pages."""
    app_ids = [i for i in (parse_id(a) for a in applications[:1000]) if i is not None]
    incident_id = parse_id(incident) if incident else None
    return _act(
        request,
        csrf,
        session,
        lambda p: notices.publish(
            session, p, title[:300], body[:20_000], kind, incident_id, app_ids
        ),
        "published",
    )


@router.post("/status/notices/{notice_ref}/close")
def close_form(
    notice_ref: str,
    request: Request,
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    notice_id = parse_id(notice_ref)

    def close(p: Principal) -> None:
        if notice_id is None:
            raise NotFound(N_("notice {notice_id} not found"), notice_id=notice_ref[:40])
        notices.close(session, p, notice_id)

    return _act(request, csrf, session, close, "closed")


@router.post("/status/subscribe")
def subscribe_form(
    request: Request,
    engine: CmdbEngineDep,
    ci_id: str = Form(default=""),
    email: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """Follow an application by e-mail (one message per status change, soc.cmdb.notify)."""
    ci = parse_id(ci_id)

    def subscribe(p: Principal) -> None:
        if ci is None:
            raise NotFound(N_("application {ci_id} not found"), ci_id=ci_id[:40])
        engine.catch_up(session)
        visible = visible_cis(session, p, engine.corr)
        notify.subscribe(session, p, ci, email or None, None, visible=visible)

    return _act(request, csrf, session, subscribe, "subscribed")


@router.post("/status/unsubscribe")
def unsubscribe_form(
    request: Request,
    subscription_id: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    sub = parse_id(subscription_id)

    def unsubscribe(p: Principal) -> None:
        if sub is None:
            raise NotFound(N_("subscription {name} not found"), name=subscription_id[:40])
        notify.unsubscribe(session, p, sub)

    return _act(request, csrf, session, unsubscribe, "unsubscribed")


@router.get("/status/ci/{ci_ref}", response_class=HTMLResponse)
def ci_page(
    ci_ref: str,
    request: Request,
    engine: CmdbEngineDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """One CI: state, own or impacted, causes with their path, neighbours, timeline. A CI the
    reader may not see is the same 404 as one that does not exist."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    ci_id = parse_id(ci_ref)
    try:
        if ci_id is None:
            raise NotFound(N_("no CI {name}"), name=ci_ref[:40])
        ci = views.ci_status(session, principal, engine, ci_id)
    except DomainError as exc:
        context = {"who": principal.actor, "ci": None, "error": said(request, exc)}
        return _page(request, "status_ci.html", context, status_code=exc.status_code)
    return _page(request, "status_ci.html", {"who": principal.actor, "ci": ci})


def _shift(month: str, by: int) -> str:
    year, number = views.parse_month(month)
    index = year * 12 + number - 1 + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@router.get("/status/availability", response_class=HTMLResponse)
def availability_page(
    request: Request,
    settings: SettingsDep,
    engine: CmdbEngineDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """Monthly availability and MTTR per visible application against the target."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    today: date = utcnow().date()
    month = (request.query_params.get("month") or f"{today.year:04d}-{today.month:02d}")[:7]
    context: dict[str, Any] = {"who": principal.actor, "month": month, "rows": []}
    try:
        rows = views.availability(session, principal, engine, settings, month)
    except DomainError as exc:
        context["error"] = said(request, exc)
        return _page(request, "status_availability.html", context, exc.status_code)
    context |= {
        "rows": rows,
        "prev": _shift(month, -1),
        "next": _shift(month, 1),
        "target": settings.availability_target_pct,
    }
    return _page(request, "status_availability.html", context)
