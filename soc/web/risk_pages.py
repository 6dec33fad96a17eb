"""The risk register pages (issue 12, item 8): the register with its heat map (likelihood ×
impact, inherent beside residual) and its trend by month, one risk with its forms by role, and
a page per party: the risk owner's own risks and actions, the authority's queue, the customer's
aligned risks and proposals, a provider's assigned actions; "raise a risk" from a case.

Server-rendered like `soc.web.pages`, with the same session cookie and CSRF token. The routes
check who reads; what each page shows is built by `soc.web.risk_reads` (every read goes through
`risk.visibility`: another tenant's risk is the same 404 as a missing one) and its notices by
`soc.web.risk_notices` (in the page's language). The forms (`soc.web.risk_forms`, a router of
its own) call the risk services, which check the roles again.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from risk.visibility import visible_risk
from soc.cases import service as cases
from soc.core.db import utcnow
from soc.core.deps import SESSION_COOKIE, SettingsDep, db_session
from soc.core.errors import DomainError, NotFound
from soc.core.principal import Principal
from soc.core.schemas import parse_id
from soc.web import risk_reads as reads
from soc.web.chrome import lang_of, signed_in
from soc.web.shell import base_context, remember_lang, templates
from soc.web.texts import TEXT

router = APIRouter(include_in_schema=False)
STYLE = Path(__file__).parent / "static" / "risk.css"
DONE = (
    "created",
    "moved",
    "aligned",
    "requested",
    "decided",
    "noted",
    "uploaded",
    "approved",
    "rejected",
)


def today() -> date:
    return utcnow().date()


def _page(
    request: Request, name: str, principal: Principal, context: dict[str, Any], status: int = 200
) -> Response:
    done = request.query_params.get("done")
    response = templates.TemplateResponse(
        request,
        name,
        {
            **base_context(request, principal),
            "is_provider": principal.provider_id is not None,
            "done": done if done in DONE else None,
            "error": (request.query_params.get("error") or "")[:300] or None,
            **context,
        },
        status_code=status,
    )
    remember_lang(request, response)
    return response


def _to_login() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _refused(request: Request, principal: Principal, status: int, message: str) -> Response:
    return _page(request, "risk_refused.html", principal, {"message": message}, status)


def _no_rights(request: Request, principal: Principal, key: str = "rk_no_rights") -> Response:
    return _refused(request, principal, 403, TEXT[lang_of(request)][key])


@router.get("/risk/static/risk.css")
def style() -> Response:
    return FileResponse(STYLE, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("/risk", response_class=HTMLResponse)
def register_page(
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The register: heat maps, trend by month, filters and the visible risks."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if not principal.can("risk.read"):
        return _no_rights(request, principal)
    chosen = reads.chosen_filters(dict(request.query_params))
    context = reads.register_view(session, principal, settings, chosen, lang_of(request), today())
    return _page(request, "risk_register.html", principal, context)


def _not_found(request: Request, principal: Principal, raw: str) -> Response:
    text = TEXT[lang_of(request)]["rk_not_found"]
    return _refused(request, principal, 404, f"{text} ({raw[:40]})")


@router.get("/risk/risks/{risk_ref}", response_class=HTMLResponse)
def risk_page(
    risk_ref: str,
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """One risk: scores, parties, advice, links, field history, actions, acceptance; forms
    by role (status, alignment, acceptance request and decision)."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if not principal.can("risk.read"):
        return _no_rights(request, principal)
    risk_id = parse_id(risk_ref)
    try:
        if risk_id is None:
            raise NotFound(risk_ref)
        risk = visible_risk(session, principal, risk_id)
    except DomainError:
        return _not_found(request, principal, risk_ref)
    context = reads.risk_view(session, principal, settings, risk, today())
    return _page(request, "risk_detail.html", principal, context)


@router.get("/risk/mine", response_class=HTMLResponse)
def mine_page(
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The risk owner's own risks and actions, with progress and evidence forms."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if not principal.can("risk.read") or principal.user_id is None:
        return _no_rights(request, principal)
    context = reads.mine_view(session, principal, settings, lang_of(request), today())
    return _page(request, "risk_mine.html", principal, context)


@router.get("/risk/authority", response_class=HTMLResponse)
def authority_page(
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The authority: acceptance queue, deadline changes of common items, strategic risks,
    common improvement proposals to decide, notifications."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if principal.role != "authority":
        return _no_rights(request, principal, "rk_only_authority")
    context = reads.authority_view(session, principal, settings, lang_of(request), today())
    return _page(request, "risk_authority.html", principal, context)


@router.get("/risk/customer", response_class=HTMLResponse)
def customer_page(
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """A customer: its aligned risks with the advice, its non-conformities and proposals
    (decide those specific to its tenant), deadline approvals, notifications."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if principal.role != "customer":
        return _no_rights(request, principal, "rk_only_customer")
    context = reads.customer_view(session, principal, settings, lang_of(request))
    return _page(request, "risk_customer.html", principal, context)


@router.get("/risk/provider", response_class=HTMLResponse)
def provider_page(
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """A provider's assigned actions, with progress and evidence forms."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if principal.provider_id is None or not principal.can("actions.read"):
        return _no_rights(request, principal, "rk_only_provider")
    context = reads.provider_view(session, principal, settings, lang_of(request), today())
    return _page(request, "risk_provider.html", principal, context)


@router.get("/risk/new", response_class=HTMLResponse)
def new_page(
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """Raise a risk; from a security case (`?case=ID`) with its title, source and link."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if not principal.can("risk.write"):
        return _no_rights(request, principal, "rk_no_write")
    raw = request.query_params.get("case") or ""
    case = None
    if raw:
        case_id = parse_id(raw)
        try:
            if case_id is None:
                raise NotFound(raw)
            case = cases.get_case(session, principal, case_id)
        except DomainError:
            return _refused(request, principal, 404, TEXT[lang_of(request)]["rk_no_case"])
    context = reads.new_view(session, settings, case, lang_of(request))
    return _page(request, "risk_new.html", principal, context)
