"""A minimal web front: sign in, see the case queue. Dutch with ?lang=nl, English by default."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from soc.cases import service as cases
from soc.deps import SESSION_COOKIE, db_session, get_services
from soc.errors import DomainError
from soc.services import Services
from tenants import service as tenant_service

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

TEXT = {
    "en": {
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
    },
    "nl": {
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
            session, username, password, totp or None, services.settings.session_ttl_minutes
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


@router.get("/cases", response_class=HTMLResponse)
def case_queue(request: Request, session: Session = Depends(db_session)) -> Response:
    lang = _lang(request)
    token = request.cookies.get(SESSION_COOKIE)
    try:
        principal = tenant_service.principal_from_token(session, token or "")
        total, rows = cases.list_cases(session, principal, cases.CaseFilter(), limit=200)
    except DomainError:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response
    return templates.TemplateResponse(
        request,
        "cases.html",
        {"t": TEXT[lang], "lang": lang, "cases": rows, "total": total, "who": principal.actor},
    )
