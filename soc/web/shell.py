"""The frame every page shares: one template environment with the reader's language and
formats, the menu of what the reader's role may open, where each role lands, and the HTML
error page a browser gets instead of JSON.

Pages render through `render` (or build on `base_context`); templates translate with
`{{ _("English text") }}` or the named words `{{ t.key }}` (both from the gettext catalogue)
and format with the filters `money`, `number`, `when` (Brussels time, UTC on hover), `day`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from soc.core import i18n
from soc.core.deps import SESSION_COOKIE
from soc.core.error_texts import domain_text
from soc.core.errors import DomainError
from soc.core.principal import Principal
from soc.web import labels
from soc.web.chrome import chrome, form_token, signed_in
from soc.web.texts import TEXT

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def lang_of(request: Request) -> i18n.Lang:
    """The reader's language: `?lang=`, else the `lang` cookie, else English."""
    return i18n.language(request.query_params.get("lang") or request.cookies.get("lang"))


@pass_context
def _money(context: Any, value: Any, currency: str = "EUR") -> str:
    return i18n.money(value, context.get("lang", "en"), currency)


@pass_context
def _number(context: Any, value: Any, digits: int | None = None) -> str:
    return i18n.number(value, context.get("lang", "en"), digits)


@pass_context
def _when(context: Any, value: datetime | None, style: str = "medium") -> Markup:
    """`<time>` in Brussels time, with the UTC moment on hover and as its machine value."""
    if value is None:
        return Markup("")
    utc = i18n.utc_text(value)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        utc.replace(" UTC", "Z").replace(" ", "T"), utc, i18n.when(value, context["lang"], style)
    )


@pass_context
def _day(context: Any, value: date | datetime | None, style: str = "medium") -> str:
    return i18n.day(value, context.get("lang", "en"), style)


@pass_context
def _gettext(context: Any, message: str, **values: Any) -> str:
    """`_("English text")` in a template; `{name}` placeholders filled (and escaped)."""
    text = i18n.gettext(context.get("lang", "en"), message)
    if values:  # the message is text, a value may be markup (a `when` <time>): both safe
        return Markup(escape(text)).format(**values)
    return text


def _labelled(table: dict[str, str]) -> Any:
    @pass_context
    def show(context: Any, value: str | None) -> str:
        return labels.label(table, value, context.get("lang", "en"))

    return show


templates.env.filters.update(
    money=_money,
    number=_number,
    when=_when,
    day=_day,
    status_label=_labelled(labels.CASE_STATUS),
    sla_label=_labelled(labels.SLA_STATE),
    role_label=_labelled(labels.ROLE),
)
templates.env.globals["_"] = _gettext


@dataclass(frozen=True)
class NavItem:
    """A menu entry: shown to a reader for whom `shows` holds."""

    href: str
    label: str  # an English message id
    key: str  # the element id suffix, `nav-<key>`
    shows: Callable[[Principal], bool]


def _can(permission: str) -> Callable[[Principal], bool]:
    return lambda p: p.can(permission)


def _role(*roles: str) -> Callable[[Principal], bool]:
    return lambda p: p.role in roles


NAV: tuple[NavItem, ...] = (
    NavItem("/console", i18n.N_("Dashboard"), "console", _role("soc_analyst", "admin")),
    NavItem("/portal", i18n.N_("Our overview"), "portal", _role("customer")),
    NavItem(
        "/provider",
        i18n.N_("Our workspace"),
        "provider",
        lambda p: p.role == "provider" or p.provider_id is not None,
    ),
    # Customers follow their cases in the portal, made for them.
    NavItem(
        "/cases", i18n.N_("Cases"), "cases", lambda p: p.can("cases.read") and p.role != "customer"
    ),
    NavItem("/events", i18n.N_("Events"), "events", _can("events.read")),
    NavItem("/rules", i18n.N_("Rules"), "rules", _can("rules.manage")),
    NavItem("/status", i18n.N_("Status"), "status", _can("cmdb.read")),
    NavItem("/risk", i18n.N_("Risks"), "risk", _can("risk.read")),
    NavItem("/kri", i18n.N_("KRIs"), "kri", _can("kri.read")),
    NavItem("/finance", i18n.N_("Finance"), "finance", _can("billing.manage")),
    NavItem("/usage", i18n.N_("Usage"), "usage", _role("customer")),
    NavItem("/sources", i18n.N_("Log sources"), "sources", _role("customer")),
    NavItem("/admin", i18n.N_("Admin"), "admin", _can("users.manage")),
    NavItem("/team", i18n.N_("Our users"), "team", _role("tenant_admin")),
    NavItem("/access", i18n.N_("Access overview"), "access", _can("access.read")),
)

# Where a role lands after signing in: the page made for its work.
LANDING: dict[str, str] = {
    "soc_analyst": "/console",
    "admin": "/admin",
    "customer": "/portal",
    "finance": "/finance",
    "provider": "/provider",  # what is assigned to the provider, each with its full page
    "risk_owner": "/risk/mine",  # the mitigation actions and risks they own
    "authority": "/risk/authority",  # acceptances and alignments waiting on it
    "tenant_admin": "/team",  # its organisation's people
}


def landing_for(principal: Principal) -> str:
    return LANDING.get(principal.role, "/cases" if principal.can("cases.read") else "/risk")


def nav_for(principal: Principal | None, lang: str) -> list[dict[str, str]]:
    """The menu entries the reader may open, labelled in `lang`."""
    if principal is None:
        return []
    return [
        {"href": item.href, "label": i18n.gettext(lang, item.label), "key": item.key}
        for item in NAV
        if item.shows(principal)
    ]


def base_context(request: Request, principal: Principal | None = None) -> dict[str, Any]:
    """What every template gets: words, language, form token, menu, banner, who reads."""
    lang = lang_of(request)
    viewer = getattr(request.state, "soc_viewer", None)
    principal = principal or (viewer[1] if viewer else None)
    return {
        "t": TEXT[lang],
        "lang": lang,
        "csrf": form_token(request.cookies.get(SESSION_COOKIE) or ""),
        "nav": nav_for(principal, lang),
        "who": principal.actor if principal else None,
        "role": principal.role if principal else None,
        "path": request.url.path,
        **chrome(request),
    }


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    status: int = 200,
    principal: Principal | None = None,
) -> Response:
    """A full page in the shared frame; a `?lang=` choice is remembered in a cookie."""
    response = templates.TemplateResponse(
        request, name, {**base_context(request, principal), **context}, status_code=status
    )
    remember_lang(request, response)
    return response


def remember_lang(request: Request, response: Response) -> None:
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie("lang", lang_of(request), samesite="strict")


def to_login() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def page_principal(request: Request, session: Session) -> Principal | None:
    """The signed-in reader of a page (None: send them to sign in with `to_login`)."""
    return signed_in(request, session)


# The titles of the error page, by status.
ERROR_TITLES: dict[int, str] = {
    400: i18n.N_("This request could not be understood"),
    401: i18n.N_("Please sign in"),
    403: i18n.N_("You may not open this page"),
    404: i18n.N_("This page does not exist"),
    405: i18n.N_("This action is not possible here"),
    409: i18n.N_("This conflicts with the current state"),
    413: i18n.N_("What you sent is too large"),
    422: i18n.N_("Some of what you entered is not valid"),
    429: i18n.N_("Too many attempts: wait a moment"),
    500: i18n.N_("Something went wrong on our side"),
    503: i18n.N_("The service is busy: try again in a moment"),
}


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not the API, not a log shipper)."""
    path = request.url.path
    if path.startswith(("/api/", "/_", "/docs", "/redoc", "/openapi")):
        return False
    return "text/html" in request.headers.get("accept", "")


def said(request: Request, exc: DomainError) -> str:
    """A refusal's text in the page's language (its template translated, values put back)."""
    return domain_text(lang_of(request), exc)


def error_page(
    request: Request, status: int, detail: str | DomainError | None = None
) -> HTMLResponse:
    """The HTML answer to a browser's failed request: what happened and a way on."""
    lang = lang_of(request)
    if isinstance(detail, DomainError):
        detail = domain_text(lang, detail)
    title = i18n.gettext(
        lang, ERROR_TITLES.get(status, ERROR_TITLES[500 if status >= 500 else 400])
    )
    signed = bool(request.cookies.get(SESSION_COOKIE))
    context: dict[str, Any] = {
        "t": TEXT[lang],
        "lang": lang,
        "nav": [],
        "csrf": form_token(request.cookies.get(SESSION_COOKIE) or ""),
        "status": status,
        "title": title,
        "detail": detail if detail and detail != title else None,
        "way_on": "/" if signed else "/?next=" + request.url.path,
        "signed": signed,
        "nav_status": False,
        "notices": [],
    }
    response = templates.TemplateResponse(request, "error.html", context, status_code=status)
    assert isinstance(response, HTMLResponse)
    return response
