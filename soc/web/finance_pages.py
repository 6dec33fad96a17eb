"""The finance console: a month picker, every customer's running usage, the month's invoices
with their PDFs (in the customer's language) and the CSV/XLSX exports. Thin pages over
tenants.billing.service; the permission is `billing.manage` (finance and admin)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.core.deps import SESSION_COOKIE, SettingsDep, db_session
from soc.core.errors import DomainError, Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from soc.services import Services
from soc.shell_deps import get_services
from soc.web.chrome import form_token, same_token
from soc.web.shell import error_page, lang_of, page_principal, render, said, to_login
from tenants.billing import exports, months, rules
from tenants.billing import service as billing
from tenants.billing.models import Correction

router = APIRouter(include_in_schema=False)


def _finance(request: Request, session: Session) -> Principal | Response:
    principal = page_principal(request, session)
    if principal is None:
        return to_login()
    if not principal.can("billing.manage"):
        return error_page(request, 403)
    return principal


def _last_month() -> str:
    return rules.add_months(months.month_of(months.today_utc()), -1)


@router.get("/finance", response_class=HTMLResponse)
def console(
    request: Request,
    settings: SettingsDep,
    month: str | None = None,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    principal = _finance(request, session)
    if not isinstance(principal, Principal):
        return principal
    month = month or _last_month()
    try:
        rules.check_month(month)
    except DomainError as exc:
        return error_page(request, 422, exc)
    current = months.month_of(months.today_utc())
    usage = billing.running_usage(session, principal, current, with_hosts=False, settings=settings)
    closed = months.is_closed(session, month)
    views = billing.invoices(session, principal, month) if closed else []
    return render(
        request,
        "finance.html",
        {
            "month": month,
            "current": current,
            "closed": closed,
            "closable": not closed and month < current and principal.can("billing.close"),
            "done": request.query_params.get("done") == "closed",
            "usage": usage,
            "views": views,
        },
        principal=principal,
    )


@dataclass(frozen=True)
class Planned:
    """One invoice as the close would issue it (read before the preview is rolled back)."""

    slug: str
    name: str
    plan: str
    gigabytes: Decimal
    cases: int
    subtotal: Decimal | None
    vat: Decimal | None
    total_due: Decimal | None
    blocked: str | None


def _preview(
    session: Session, principal: Principal, month: str, settings: Settings
) -> list[Planned]:
    """What closing `month` would issue: the real close, in a savepoint that is rolled back,
    so the preview can never differ from the close (numbers and audit entries are undone)."""
    savepoint = session.begin_nested()
    try:
        billing.close_month(
            session, month, billing.load_prices(settings), principal, settings=settings
        )
        planned = [
            Planned(
                v.tenant.slug,
                v.tenant.name,
                v.invoice.plan,
                Decimal(v.invoice.bytes) / Decimal(10**9),
                v.invoice.cases,
                v.invoice.total,
                v.invoice.vat_amount,
                v.invoice.total_due,
                v.invoice.error if v.invoice.status == "blocked" else None,
            )
            for v in billing.invoices(session, principal, month)
        ]
    finally:
        savepoint.rollback()
    return planned


@router.get("/finance/close/{month}", response_class=HTMLResponse)
def close_preview(
    request: Request,
    month: str,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
    services: Services = Depends(get_services),
) -> Response:
    """Step one of closing a month: every invoice it would issue, and a confirmation."""
    principal = _finance(request, session)
    if not isinstance(principal, Principal):
        return principal
    if not principal.can("billing.close"):
        return error_page(request, 403)
    try:
        rules.check_month(month)
        if months.is_closed(session, month):
            return RedirectResponse(f"/finance?month={month}", status_code=303)
        with services.db.session() as writable:  # the preview writes, then rolls back
            planned = _preview(writable, principal, month, settings)
    except DomainError as exc:
        return error_page(request, exc.status_code, exc)
    return render(
        request,
        "finance_close.html",
        {
            "month": month,
            "planned": planned,
            "subtotal": sum(
                (p.subtotal or Decimal(0) for p in planned if not p.blocked), Decimal(0)
            ),
        },
        principal=principal,
    )


@router.post("/finance/close/{month}")
def close_confirm(
    request: Request,
    month: str,
    settings: SettingsDep,
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """Step two: close the month for real (the same close as the preview showed)."""
    principal = _finance(request, session)
    if not isinstance(principal, Principal):
        return principal
    if not same_token(form_token(request.cookies.get(SESSION_COOKIE) or ""), csrf):
        return error_page(request, 403)
    try:
        billing.close_month(
            session, month, billing.load_prices(settings), principal, settings=settings
        )
    except DomainError as exc:
        return error_page(request, exc.status_code, exc)
    return RedirectResponse(f"/finance?month={month}&done=closed", status_code=303)


@router.get("/finance/invoices/{tenant}/{month}.pdf")
def invoice_pdf(
    request: Request,
    tenant: str,
    month: str,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    principal = _finance(request, session)
    if not isinstance(principal, Principal):
        return principal
    view = billing.invoice(session, principal, tenant, month)
    return Response(
        exports.to_pdf(view),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="invoice-{view.tenant.slug}-{month}.pdf"'
        },
    )


@router.get("/finance/months/{month}/export.{fmt}")
def export(
    request: Request,
    month: str,
    fmt: str,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    principal = _finance(request, session)
    if not isinstance(principal, Principal):
        return principal
    rules.check_month(month)
    if not months.is_closed(session, month) or fmt not in ("csv", "xlsx"):
        return error_page(request, 404)
    views = billing.invoices(session, principal, month)
    name = f"billing-{month}.{fmt}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "csv":
        return Response(exports.to_csv(views), media_type="text/csv", headers=disposition)
    return Response(
        exports.to_xlsx(views, month, lang_of(request)),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=disposition,
    )


def _customer_page(
    request: Request, session: Session, principal: Principal, tenant: str, error: str | None
) -> Response:
    try:
        account = billing.account(session, principal, tenant)
        alerts = billing.notifications(session, principal, tenant)
    except DomainError as exc:
        return error_page(request, exc.status_code, exc)
    corrections = list(
        session.scalars(
            select(Correction)
            .where(Correction.tenant_id == account.tenant.id)
            .order_by(Correction.month.desc(), Correction.id.desc())
            .limit(100)
        )
    )
    alerts_shown = [(a, orjson.loads(a.detail or "{}")) for a in reversed(alerts[-50:])]
    return render(
        request,
        "finance_customer.html",
        {
            "account": account,
            "alerts": alerts_shown,
            "corrections": corrections,
            "current": months.month_of(months.today_utc()),
            "error": error,
            "done": request.query_params.get("done") in ("plan", "ceiling", "correction"),
        },
        principal=principal,
    )


@router.get("/finance/customers/{tenant}", response_class=HTMLResponse)
def customer_page(
    request: Request,
    tenant: str,
    error: str | None = None,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """One customer's billing: service start, plans and plan decisions, the ceiling and its
    alerts, corrections; forms to decide a plan, set the ceiling and add a correction."""
    principal = _finance(request, session)
    if not isinstance(principal, Principal):
        return principal
    return _customer_page(request, session, principal, tenant, (error or "")[:300] or None)


def _changed(
    request: Request,
    session: Session,
    tenant: str,
    csrf: str,
    change: Callable[[Principal], object],
    done: str,
) -> Response:
    """A customer form of the finance console: who may, the form token, the change, and back
    to the customer's page with what happened."""
    principal = _finance(request, session)
    if not isinstance(principal, Principal):
        return principal
    if not same_token(form_token(request.cookies.get(SESSION_COOKIE) or ""), csrf):
        return error_page(request, 403)
    try:
        change(principal)
    except DomainError as exc:
        return RedirectResponse(
            f"/finance/customers/{tenant}?{urlencode({'error': said(request, exc)[:300]})}",
            status_code=303,
        )
    return RedirectResponse(f"/finance/customers/{tenant}?done={done}", status_code=303)


@router.post("/finance/customers/{tenant}/plan")
def plan_form(
    request: Request,
    tenant: str,
    plan: str = Form(...),
    effective_month: str = Form(...),
    note: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    return _changed(
        request,
        session,
        tenant,
        csrf,
        lambda who: billing.decide_plan(session, who, tenant, plan, effective_month, note[:2000]),
        "plan",
    )


@router.post("/finance/customers/{tenant}/ceiling")
def ceiling_form(
    request: Request,
    tenant: str,
    ceiling: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    def change(who: Principal) -> object:
        if not ceiling.strip():
            return billing.set_account(session, who, tenant, clear_ceiling=True)
        return billing.set_account(session, who, tenant, ceiling=_amount(ceiling, positive=True))

    return _changed(request, session, tenant, csrf, change, "ceiling")


@router.post("/finance/customers/{tenant}/correction")
def correction_form(
    request: Request,
    tenant: str,
    refers_to: str = Form(...),
    month: str = Form(...),
    amount: str = Form(...),
    reason: str = Form(...),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    return _changed(
        request,
        session,
        tenant,
        csrf,
        lambda who: billing.add_correction(
            session, who, tenant, refers_to, _amount(amount), reason.strip()[:2000], month
        ),
        "correction",
    )


def _amount(raw: str, positive: bool = False) -> Decimal:
    """An amount typed by a person: `1234.56`, `1.234,56` or `-50`; two decimals at most."""
    text = raw.strip().replace(" ", "").replace("€", "")
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise Invalid(N_("'{raw}' is not an amount"), raw=raw[:40]) from None
    if not value.is_finite() or value != value.quantize(Decimal("0.01")) or abs(value) >= 10**12:
        raise Invalid(N_("'{raw}' is not an amount in euro and cents"), raw=raw[:40])
    if positive and value <= 0:
        raise Invalid(N_("the ceiling must be above zero"))
    return value
