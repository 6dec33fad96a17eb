"""The signed-in user's API tokens: create one (shown once), see them with their last use,
revoke one. The same service as `/api/v1/auth/api-tokens`; forms carry the CSRF token."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from soc.core.db import utcnow
from soc.core.deps import SESSION_COOKIE, SettingsDep, db_session
from soc.core.error_texts import domain_text
from soc.core.errors import DomainError
from soc.core.i18n import N_, gettext
from soc.core.principal import TOKEN_SCOPES
from soc.core.schemas import parse_id
from soc.web.chrome import form_token, same_token
from soc.web.forms import FORGED
from soc.web.shell import ERROR_TITLES, error_page, lang_of, page_principal, render, to_login
from tenants import api_tokens

router = APIRouter(include_in_schema=False)
DB = Depends(db_session, scope="function")
PAGE = "/account/api-tokens"
TOKEN_REVOKED = N_("Token {prefix} revoked: requests with it are refused from now on.")


def _back(**params: str) -> RedirectResponse:
    return RedirectResponse(f"{PAGE}?{urlencode(params)}", status_code=303)


def _forged(request: Request, csrf: str) -> bool:
    return not same_token(form_token(request.cookies.get(SESSION_COOKIE) or ""), csrf)


def _failed(lang: str, exc: DomainError) -> RedirectResponse:
    title = gettext(lang, ERROR_TITLES.get(exc.status_code, ERROR_TITLES[400]))
    return _back(error=f"{title}: {domain_text(lang, exc)}")


@router.get(PAGE)
def tokens_page(request: Request, settings: SettingsDep, session: Session = DB) -> Response:
    reader = page_principal(request, session)
    if reader is None:
        return to_login()
    lang = lang_of(request)
    now = utcnow()
    rows = [
        {"token": t, "live": api_tokens.is_live(t, now)}
        for t, _ in api_tokens.list_tokens(session, reader)
    ]
    scopes = [(name, gettext(lang, scope.description)) for name, scope in TOKEN_SCOPES.items()]
    return render(
        request,
        "account_tokens.html",
        {
            "rows": rows,
            "scopes": scopes,
            "max_days": settings.api_token_max_days,
            "message": request.query_params.get("message"),
            "error": request.query_params.get("error"),
        },
        principal=reader,
    )


@router.post(PAGE)
def token_create_form(
    request: Request,
    settings: SettingsDep,
    csrf: str = Form(default=""),
    name: str = Form(default="", max_length=120),
    scopes: list[str] = Form(default=[]),
    expires_days: str = Form(default="", max_length=5),
    session: Session = DB,
) -> Response:
    reader = page_principal(request, session)
    if reader is None:
        return to_login()
    lang = lang_of(request)
    if _forged(request, csrf):
        return error_page(request, 403, gettext(lang, FORGED))
    days = parse_id(expires_days.strip()) or 0
    try:
        with session.begin_nested():
            token, secret = api_tokens.create_token(
                session,
                reader,
                name.strip() or "token",
                scopes,
                days,
                settings.api_token_max_days,
            )
    except DomainError as exc:
        return _failed(lang, exc)
    response = render(
        request, "account_token_new.html", {"token": token, "secret": secret}, principal=reader
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post(PAGE + "/{token_id}/revoke")
def token_revoke_form(
    request: Request, token_id: str, csrf: str = Form(default=""), session: Session = DB
) -> Response:
    reader = page_principal(request, session)
    if reader is None:
        return to_login()
    lang = lang_of(request)
    if _forged(request, csrf):
        return error_page(request, 403, gettext(lang, FORGED))
    try:
        with session.begin_nested():
            token = api_tokens.revoke_token(session, reader, parse_id(token_id) or 0)
    except DomainError as exc:
        return _failed(lang, exc)
    return _back(message=gettext(lang, TOKEN_REVOKED).format(prefix=token.prefix))
