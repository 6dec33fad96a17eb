"""The customer portal: its cases (with replies), usage, invoices, status, reports, KRIs, risks.

Every read goes through the domain services with the signed-in principal, so a customer sees
only its own tenant; an admin may look over a customer's shoulder with `?tenant=<slug>`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from kri.deps import local_day
from soc.cases import service as cases
from soc.cases import sla
from soc.cases.models import OPEN_STATUSES, Case
from soc.cmdb.deps import CmdbEngineDep
from soc.cmdb.engine import StatusEngine
from soc.core.db import utcnow
from soc.core.deps import SESSION_COOKIE, SettingsDep, db_session
from soc.core.error_texts import domain_text
from soc.core.errors import DomainError
from soc.core.i18n import N_, gettext
from soc.core.principal import Principal
from soc.core.schemas import parse_id
from soc.core.settings import Settings
from soc.web import portal_reads as slots
from soc.web.chrome import form_token, same_token
from soc.web.forms import FORGED
from soc.web.shell import error_page, lang_of, page_principal, render, to_login
from soc.web.timeline_text import sentence
from tenants.billing import exports, months
from tenants.billing import service as billing
from tenants.models import Tenant

router = APIRouter(include_in_schema=False)

NO_CASE = N_("There is no case {ref} that you may see.")
ONLY_CUSTOMERS = N_("The portal is for customers. An administrator opens it with ?tenant=<name>.")
# Timeline entries a customer reads; assignments and internal bookkeeping stay with the SOC.
CUSTOMER_KINDS = frozenset({"created", "status", "reopened", "comment", "priority", "confirmed"})
INVOICE_MONTHS = 12


def _tenant(request: Request, session: Session, principal: Principal) -> Tenant | Response:
    """The customer's own tenant, or for an admin the one named by `?tenant=`."""
    try:
        found = slots.customer_tenant(session, principal, request.query_params.get("tenant"))
    except DomainError as exc:
        return error_page(request, exc.status_code, exc)
    if found is None:
        return error_page(request, 403, gettext(lang_of(request), ONLY_CUSTOMERS))
    return found


def _suffix(principal: Principal, tenant: Tenant) -> str:
    return "" if principal.role == "customer" else f"?tenant={tenant.slug}"


def _open_cases(
    session: Session, principal: Principal, tenant: Tenant, settings: Any
) -> list[dict[str, Any]]:
    query = (
        cases.visible_cases(principal)
        .where(Case.tenant_id == tenant.id, Case.status.in_(OPEN_STATUSES))
        .order_by(Case.updated_at.desc(), Case.id.desc())
        .limit(200)
    )
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for case in session.scalars(query):
        rows.append(
            {
                "case": case,
                "waiting": case.status == "waiting_on_customer",
                "clock": sla.clocks(settings, case, now)["resolution"],
                "activity": max(case.updated_at, case.last_seen),
            }
        )
    rows.sort(key=lambda r: (not r["waiting"], -r["activity"].timestamp()))
    return rows


def _usage(session: Session, principal: Principal, tenant: Tenant, settings: Any) -> Any:
    if not principal.can("billing.read"):
        return None
    try:
        rows = billing.running_usage(
            session, principal, tenant=tenant.slug, with_hosts=False, settings=settings
        )
    except DomainError:
        return None
    return rows[0] if rows else None


def _invoices(session: Session, principal: Principal, tenant: Tenant) -> list[Any]:
    if not principal.can("billing.read"):
        return []
    out = []
    for month in sorted(months.closed_months(session), reverse=True)[:INVOICE_MONTHS]:
        out += [v for v in billing.invoices(session, principal, month) if v.tenant.id == tenant.id]
    return out


def _notices(session: Session, principal: Principal, tenant: Tenant) -> list[Any]:
    if not principal.can("billing.read"):
        return []
    found = billing.notifications(session, principal, tenant.slug)
    return [n for n in reversed(found) if n.kind in ("enterprise_eligible", "ceiling")][:3]


def _slots(
    request: Request,
    session: Session,
    principal: Principal,
    tenant: Tenant,
    settings: Settings,
    engine: StatusEngine,
) -> dict[str, Any]:
    """The status, reports, KRI and risk summaries the reader's role may open (None: the
    slot is not shown), each read as the customer sees it."""
    reader = slots.as_customer(principal, tenant)
    today = local_day(settings, utcnow())
    lang = lang_of(request)
    return {
        "status": slots.status_summary(session, reader, engine)
        if principal.can("cmdb.read")
        else None,
        "reports": slots.report_summary(session, reader, tenant)
        if principal.can("reports.read")
        else None,
        "kri": slots.kri_summary(session, reader, tenant, lang, today)
        if principal.can("kri.read")
        else None,
        "risk": slots.risk_summary(session, reader, settings, today)
        if principal.can("risk.read")
        else None,
    }


@router.get("/portal", response_class=HTMLResponse)
def portal(
    request: Request,
    settings: SettingsDep,
    engine: CmdbEngineDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The customer's landing: cases waiting on it first, usage, invoices, and summaries of
    its service status, monthly reports, KRIs and risks with links to the full pages."""
    principal = page_principal(request, session)
    if principal is None:
        return to_login()
    tenant = _tenant(request, session, principal)
    if isinstance(tenant, Response):
        return tenant
    usage = _usage(session, principal, tenant, settings)
    rows = _open_cases(session, principal, tenant, settings)
    return render(
        request,
        "portal.html",
        {
            "tenant": tenant,
            "rows": rows,
            "waiting": sum(1 for r in rows if r["waiting"]),
            "usage": usage,
            "invoices": _invoices(session, principal, tenant),
            "billing_notices": _notices(session, principal, tenant),
            "operator": principal.role in ("admin", "finance"),
            "suffix": _suffix(principal, tenant),
            "slot": _slots(request, session, principal, tenant, settings, engine),
        },
        principal=principal,
    )


def _case(request: Request, session: Session, principal: Principal, ref: str) -> Case | Response:
    case_id = parse_id(ref)
    not_found = error_page(request, 404, gettext(lang_of(request), NO_CASE).format(ref=ref[:40]))
    if case_id is None:
        return not_found
    try:
        return cases.get_case(session, principal, case_id)
    except DomainError as exc:
        if exc.status_code == 404:
            return not_found
        return error_page(request, exc.status_code, exc)


@router.get("/portal/cases/{case_ref}", response_class=HTMLResponse)
def portal_case(
    case_ref: str,
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """One case as the customer follows it: what happened, status, timeline, reply box."""
    principal = page_principal(request, session)
    if principal is None:
        return to_login()
    case = _case(request, session, principal, case_ref)
    if isinstance(case, Response):
        return case
    lang = lang_of(request)
    timeline = [
        (e, sentence(lang, e.kind, e.actor, orjson.loads(e.detail)))
        for e in cases.case_timeline(session, principal, case.id)
        if e.kind in CUSTOMER_KINDS
    ]
    return render(
        request,
        "portal_case.html",
        {
            "case": case,
            "clock": sla.clocks(settings, case, utcnow())["resolution"],
            "timeline": timeline,
            "can_reply": case.status == "waiting_on_customer" and principal.can("cases.comment"),
            "replied": request.query_params.get("replied") == "1",
            "error": request.query_params.get("error", "")[:300] or None,
        },
        principal=principal,
    )


@router.post("/portal/cases/{case_ref}/reply")
def portal_reply(
    case_ref: str,
    request: Request,
    settings: SettingsDep,
    text: str = Form(""),
    csrf: str = Form("", max_length=200),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The customer's answer to a case that waits on it: the same service as the API's
    POST /api/v1/cases/{id}/comments; then back to the case (PRG)."""
    principal = page_principal(request, session)
    if principal is None:
        return to_login()
    lang = lang_of(request)
    if not same_token(form_token(request.cookies.get(SESSION_COOKIE) or ""), csrf):
        return error_page(request, 403, gettext(lang, FORGED))
    case = _case(request, session, principal, case_ref)
    if isinstance(case, Response):
        return case
    url = f"/portal/cases/{case.id}"
    try:
        cases.comment(session, principal, case.id, text, settings=settings)
    except DomainError as exc:
        session.rollback()
        return RedirectResponse(
            f"{url}?{urlencode({'error': domain_text(lang, exc)})}", status_code=303
        )
    session.commit()
    return RedirectResponse(f"{url}?replied=1", status_code=303)


@router.get("/portal/invoices/{month}.pdf")
def portal_invoice_pdf(
    month: str,
    request: Request,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The signed-in customer's invoice of a closed month as PDF (the billing service checks
    that the invoice is the reader's)."""
    principal = page_principal(request, session)
    if principal is None:
        return to_login()
    tenant = _tenant(request, session, principal)
    if isinstance(tenant, Response):
        return tenant
    try:
        view = billing.invoice(session, principal, tenant.slug, month[:7])
    except DomainError as exc:
        return error_page(request, exc.status_code, exc)
    name = f"invoice-{view.tenant.slug}-{view.invoice.month}.pdf"
    return Response(
        exports.to_pdf(view),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
