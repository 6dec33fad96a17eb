"""What every page form shares: the forged-form refusal, the refusal text shown after a
redirect, and running one change behind the form token in a savepoint."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from soc.core.deps import SESSION_COOKIE
from soc.core.error_texts import domain_text
from soc.core.errors import DomainError
from soc.core.i18n import N_, gettext
from soc.core.principal import Principal
from soc.web.chrome import form_token, same_token
from soc.web.shell import ERROR_TITLES, error_page, lang_of

FORGED = N_("This form expired or was sent from another site: reload the page and try again.")


def refusal_text(lang: str, exc: DomainError) -> str:
    """ "Title: reason" of a refusal, in the page's language (shown on the page redirected to)."""
    title = gettext(lang, ERROR_TITLES.get(exc.status_code, ERROR_TITLES[400]))
    return f"{title}: {domain_text(lang, exc)}"


def redirect_back(path: str, **params: str) -> RedirectResponse:
    joint = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{joint}{urlencode(params)}", status_code=303)


def form_token_ok(request: Request, csrf: str) -> bool:
    return same_token(form_token(request.cookies.get(SESSION_COOKIE) or ""), csrf)


def run_change(
    request: Request,
    session: Session,
    reader: Principal,
    csrf: str,
    back: str,
    action: Callable[[Principal], str | Response],
) -> Response:
    """Check the form token, run one change in a savepoint; 303 back with its message or its
    error (or the page `action` rendered, for a secret shown once)."""
    lang = lang_of(request)
    if not form_token_ok(request, csrf):
        return error_page(request, 403, gettext(lang, FORGED))
    try:
        with session.begin_nested():
            said = action(reader)
    except DomainError as exc:
        return redirect_back(back, error=refusal_text(lang, exc))
    if isinstance(said, Response):
        return said
    return redirect_back(back, message=said)
