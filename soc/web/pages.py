"""A minimal web front: sign in, see the case queue. Dutch with ?lang=nl, English by default."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.cases import service as cases
from soc.cases import sla
from soc.cases.models import STATUSES, Asset
from soc.db import utcnow
from soc.deps import SESSION_COOKIE, db_session, get_services
from soc.errors import DomainError
from soc.services import Services
from soc.web.matched import matched_fields, rule_values
from tenants import service as tenant_service
from tenants.models import Provider, Tenant, User
from tenants.principal import Principal

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

TEXT = {
    "en": {
        "usage": "Usage",
        "usage_title": "Running usage this month",
        "customer": "Customer",
        "as_of": "As of",
        "plan": "Plan",
        "gb_mtd": "GB so far",
        "gb_projected": "GB projected",
        "cases_mtd": "Cases so far",
        "events_mtd": "Events so far",
        "projected_total": "Projected invoice",
        "ceiling": "Ceiling",
        "over_ceiling": "over the ceiling",
        "per_host": "Events per host (CI)",
        "gb_note": "1 GB = 10^9 bytes of raw events as received.",
        "no_usage_rights": "This page shows SIEM usage to customers and finance.",
        "title": "Security operations",
        "signin": "Sign in",
        "username": "Username",
        "password": "Password",
        "totp": "TOTP code (admins and analysts)",
        "cases": "Cases",
        "status": "Status",
        "level": "Level",
        "host": "Host",
        "alerts": "Alerts",
        "last_seen": "Last seen",
        "signout": "Sign out",
        "none": "No cases.",
        "api": "API documentation",
        **{
            "priority": "Priority",
            "sla": "SLA (resolution)",
            "response": "Response",
            "resolution": "Resolution",
            "filter": "Filter",
            "all": "all",
            "search": "Search",
            "tenant": "Tenant",
            "asset": "Asset",
            "impact": "Impact",
            "urgency": "Urgency",
            "provider": "Provider",
            "assignee": "Analyst",
            "assign": "Assign",
            "move": "Change status",
            "note": "Note",
            "root_cause": "Root cause (required to close P1)",
            "comment": "Comment",
            "add_comment": "Add comment",
            "override": "Override priority",
            "reason": "Reason",
            "escalate": "Escalate",
            "timeline": "Timeline",
            "events": "Matching events",
            "matched": "highlighted fields matched the rule",
            "back": "Back to the queue",
            "due": "due",
            "breached": "breached",
            "paused": "paused",
            "met": "met",
            "missed": "missed",
            "bouncing": "bouncing between providers",
            "escalation": "Escalation level",
            "actions": "Triage",
            "rule": "Rule",
        },
    },
    "nl": {
        "usage": "Verbruik",
        "usage_title": "Lopend verbruik deze maand",
        "customer": "Klant",
        "as_of": "Stand op",
        "plan": "Abonnement",
        "gb_mtd": "GB tot nu",
        "gb_projected": "GB verwacht",
        "cases_mtd": "Incidenten tot nu",
        "events_mtd": "Events tot nu",
        "projected_total": "Verwachte factuur",
        "ceiling": "Plafond",
        "over_ceiling": "boven het plafond",
        "per_host": "Events per host (CI)",
        "gb_note": "1 GB = 10^9 bytes aan ruwe events zoals ontvangen.",
        "no_usage_rights": "Deze pagina toont het SIEM-verbruik aan klanten en financiën.",
        "title": "Beveiligingsoperaties",
        "signin": "Aanmelden",
        "username": "Gebruikersnaam",
        "password": "Wachtwoord",
        "totp": "TOTP-code (beheerders en analisten)",
        "cases": "Beveiligingsincidenten",
        "status": "Status",
        "level": "Niveau",
        "host": "Host",
        "alerts": "Meldingen",
        "last_seen": "Laatst gezien",
        "signout": "Afmelden",
        "none": "Geen incidenten.",
        "api": "API-documentatie",
        **{
            "priority": "Prioriteit",
            "sla": "SLA (oplossing)",
            "response": "Reactie",
            "resolution": "Oplossing",
            "filter": "Filteren",
            "all": "alle",
            "search": "Zoeken",
            "tenant": "Klant",
            "asset": "Asset",
            "impact": "Impact",
            "urgency": "Urgentie",
            "provider": "Dienstverlener",
            "assignee": "Analist",
            "assign": "Toewijzen",
            "move": "Status wijzigen",
            "note": "Notitie",
            "root_cause": "Grondoorzaak (verplicht om P1 te sluiten)",
            "comment": "Opmerking",
            "add_comment": "Opmerking toevoegen",
            "override": "Prioriteit aanpassen",
            "reason": "Reden",
            "escalate": "Escaleren",
            "timeline": "Tijdlijn",
            "events": "Overeenkomende gebeurtenissen",
            "matched": "gemarkeerde velden kwamen overeen met de regel",
            "back": "Terug naar de wachtrij",
            "due": "vervalt",
            "breached": "overschreden",
            "paused": "gepauzeerd",
            "met": "gehaald",
            "missed": "niet gehaald",
            "bouncing": "pingpongt tussen dienstverleners",
            "escalation": "Escalatieniveau",
            "actions": "Triage",
            "rule": "Regel",
        },
    },
}


def _lang(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get("lang") or "en"
    return lang if lang in TEXT else "en"


@router.get("/", response_class=HTMLResponse)
def home(request: Request, error: str | None = None) -> Response:
    if request.cookies.get(SESSION_COOKIE):
        return RedirectResponse("/cases", status_code=303)
    lang = _lang(request)
    return templates.TemplateResponse(
        request, "login.html", {"t": TEXT[lang], "lang": lang, "error": error}
    )


@router.post("/login")
def login_form(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    totp: str = Form(default=""),
    session: Session = Depends(db_session),
    services: Services = Depends(get_services),
) -> Response:
    lang = _lang(request)
    try:
        token, _ = tenant_service.login(
            session,
            username,
            password,
            totp or None,
            services.settings.session_ttl_minutes,
            tuple(services.settings.totp_required_roles),
        )
    except DomainError as exc:
        return templates.TemplateResponse(
            request,
            "login.html",
            {"t": TEXT[lang], "lang": lang, "error": exc.message},
            status_code=401,
        )
    response = RedirectResponse("/cases", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=services.settings.session_cookie_secure,
        max_age=services.settings.session_ttl_minutes * 60,
    )
    return response


@router.post("/logout")
def logout_form(request: Request, session: Session = Depends(db_session)) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        tenant_service.logout(session, token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _signed_in(request: Request, session: Session) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    try:
        return tenant_service.principal_from_token(session, token or "")
    except DomainError:
        return None


def _to_login() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _page(request: Request, name: str, context: dict[str, Any]) -> Response:
    lang = _lang(request)
    response = templates.TemplateResponse(request, name, {"t": TEXT[lang], "lang": lang, **context})
    if request.query_params.get("lang") in TEXT:
        response.set_cookie("lang", lang, samesite="strict")
    return response


QUEUE_FILTERS = ("status", "priority", "q", "tenant_id")


@router.get("/cases", response_class=HTMLResponse)
def case_queue(request: Request, session: Session = Depends(db_session)) -> Response:
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
        tenant_id=int(tenant_id) if tenant_id and tenant_id.isdigit() else None,
    )
    total, rows = cases.list_cases(session, principal, filters, limit=200)
    now = utcnow()
    settings = cases.settings_of(session)
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


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_detail(
    case_id: int,
    request: Request,
    error: str | None = None,
    session: Session = Depends(db_session),
    services: Services = Depends(get_services),
) -> Response:
    """One case: SLA, asset, alerts, matching events with matched fields, timeline, triage."""
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login()
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
            "clocks": sla.clocks(cases.settings_of(session), case, utcnow()),
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


def _act(request: Request, case_id: int, session: Session, action: Callable[..., Any]) -> Response:
    """Run one triage action for the signed-in user; back to the case, with any error."""
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login()
    target = f"/cases/{case_id}"
    try:
        with session.begin_nested():
            action(principal)
    except DomainError as exc:
        return RedirectResponse(f"{target}?{urlencode({'error': exc.message})}", status_code=303)
    return RedirectResponse(target, status_code=303)


@router.post("/cases/{case_id}/assign")
def assign_form(
    case_id: int,
    request: Request,
    assignee: str = Form(default=""),
    provider: str = Form(default=""),
    session: Session = Depends(db_session),
) -> Response:
    return _act(
        request,
        case_id,
        session,
        lambda p: cases.assign(session, p, case_id, assignee or None, provider or None),
    )


@router.post("/cases/{case_id}/status")
def status_form(
    case_id: int,
    request: Request,
    status: str = Form(...),
    note: str = Form(default=""),
    root_cause: str = Form(default=""),
    session: Session = Depends(db_session),
) -> Response:
    return _act(
        request,
        case_id,
        session,
        lambda p: cases.change_status(
            session, p, case_id, status, note or None, root_cause or None
        ),
    )


@router.post("/cases/{case_id}/comment")
def comment_form(
    case_id: int,
    request: Request,
    text: str = Form(...),
    session: Session = Depends(db_session),
) -> Response:
    return _act(request, case_id, session, lambda p: cases.comment(session, p, case_id, text))


@router.post("/cases/{case_id}/priority")
def priority_form(
    case_id: int,
    request: Request,
    impact: str = Form(default=""),
    urgency: str = Form(default=""),
    reason: str = Form(default=""),
    session: Session = Depends(db_session),
) -> Response:
    return _act(
        request,
        case_id,
        session,
        lambda p: cases.set_priority(session, p, case_id, reason, impact or None, urgency or None),
    )


@router.post("/cases/{case_id}/escalate")
def escalate_form(
    case_id: int,
    request: Request,
    reason: str = Form(default=""),
    session: Session = Depends(db_session),
) -> Response:
    return _act(request, case_id, session, lambda p: cases.escalate(session, p, case_id, reason))


@router.get("/usage", response_class=HTMLResponse)
def usage_page(request: Request, session: Session = Depends(db_session)) -> Response:
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
