"""Billing API (thin): running usage, accounts and plans, close, invoices, exports, simulate.

Customers see their own usage and invoices; finance (and admin) see every customer and act.
Another tenant's object is a 404, a missing right a 403 (see soc/core/principal.py).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Query, Response
from sqlalchemy.orm import Session

from soc.core import legacy_routes
from soc.core.deps import PrincipalDep, SessionDep, SettingsDep
from soc.core.errors import Conflict
from soc.core.i18n import N_
from soc.core.principal import Principal
from tenants import metering
from tenants.billing import exports, months, rules
from tenants.billing import service as svc
from tenants.billing.schemas import (
    MONTH,
    AccountIn,
    AccountOut,
    CloseOut,
    CorrectionIn,
    CorrectionOut,
    DayUsageOut,
    InvoiceOut,
    NotificationOut,
    PlanIn,
    PlanOut,
    RunningUsageOut,
)

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])
MonthQuery = Annotated[
    str | None, Query(pattern=MONTH, description="YYYY-MM; default this month (UTC)")
]


@router.get("/usage", response_model=list[RunningUsageOut])
def usage_all(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    month: MonthQuery = None,
) -> list[RunningUsageOut]:
    """Month-to-date usage and projected invoice of every customer the caller may see."""
    found = svc.running_usage(session, principal, month, with_hosts=False, settings=settings)
    return [RunningUsageOut.of(u) for u in found]


@router.get("/tenants/{tenant}/usage", response_model=RunningUsageOut)
def usage_one(
    tenant: str,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    month: MonthQuery = None,
) -> RunningUsageOut:
    """One customer's month to date: GB, cases, events per host (CI) and per day, projected
    invoice. The one usage endpoint (`GET /api/v1/tenants/{tenant}/usage` is its old name)."""
    found = svc.running_usage(session, principal, month, tenant, settings=settings)
    if not found:
        raise Conflict(N_("'{tenant}' is not in service in that month"), tenant=tenant)
    out = RunningUsageOut.of(found[0])
    first = date.fromisoformat(f"{found[0].month}-01")
    out.days = [
        DayUsageOut(day=row.day.isoformat(), events=row.events, bytes=row.bytes)
        for row in metering.usage(session, found[0].tenant.id, first, found[0].as_of)
    ]
    return out


@router.get("/tenants/{tenant}/account", response_model=AccountOut)
def get_account(
    tenant: str,
    session: SessionDep,
    principal: PrincipalDep,
) -> AccountOut:
    """A tenant's billing account: plan, service start, VAT treatment and ceilings. Finance and
    the tenant's customers; 404 for a tenant outside the caller's scope."""
    return AccountOut.of(svc.account(session, principal, tenant))


@router.put("/tenants/{tenant}/account", response_model=AccountOut)
def put_account(
    tenant: str,
    body: AccountIn,
    session: SessionDep,
    principal: PrincipalDep,
) -> AccountOut:
    """Set the first month of service and/or the monthly contract ceiling."""
    found = svc.set_account(
        session,
        principal,
        tenant,
        body.service_start,
        body.ceiling,
        body.clear_ceiling,
        None if body.invoicing is None else body.invoicing.identity(),
    )
    return AccountOut.of(found)


@router.post("/tenants/{tenant}/plans", response_model=PlanOut, status_code=201)
def post_plan(
    tenant: str,
    body: PlanIn,
    session: SessionDep,
    principal: PrincipalDep,
) -> PlanOut:
    """Record a plan decision (standard or enterprise) effective from an open month."""
    row = svc.decide_plan(session, principal, tenant, body.plan, body.effective_month, body.note)
    return PlanOut(
        effective_month=row.effective_month, plan=row.plan, decided_by=row.decided_by, note=row.note
    )


@router.get("/tenants/{tenant}/notifications", response_model=list[NotificationOut])
def get_notifications(
    tenant: str,
    session: SessionDep,
    principal: PrincipalDep,
) -> list[NotificationOut]:
    """A tenant's billing notifications (ceiling alerts, plan advice), newest first. Finance
    and the tenant's customers; 404 outside the caller's scope."""
    return [
        NotificationOut(
            month=n.month,
            kind=n.kind,
            detail=orjson.loads(n.detail),
            created_at=n.created_at.isoformat(),
        )
        for n in svc.notifications(session, principal, tenant)
    ]


@router.post("/tenants/{tenant}/corrections", response_model=CorrectionOut, status_code=201)
def post_correction(
    tenant: str,
    body: CorrectionIn,
    session: SessionDep,
    principal: PrincipalDep,
) -> CorrectionOut:
    """A credit (negative) or debit for a closed month, billed in a later open month."""
    row = svc.add_correction(
        session, principal, tenant, body.refers_to, body.amount, body.reason, body.month
    )
    return CorrectionOut(
        id=row.id,
        customer=tenant,
        refers_to=row.refers_to,
        month=row.month,
        amount=rules.dec(row.amount),
        reason=row.reason,
    )


@router.get("/tenants/{tenant}/invoices/{month}", response_model=InvoiceOut)
def get_invoice(
    tenant: str,
    month: str,
    session: SessionDep,
    principal: PrincipalDep,
) -> InvoiceOut:
    """A tenant's invoice of a closed month (YYYY-MM), with its lines and totals. Finance and
    the tenant's customers; 404 when the month is not closed."""
    return InvoiceOut.of(svc.invoice(session, principal, tenant, month))


@router.get(
    "/tenants/{tenant}/invoices/{month}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def get_invoice_pdf(
    tenant: str,
    month: str,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """A tenant's invoice of a closed month as PDF. Finance and the tenant's customers; 404
    when the month is not closed."""
    view = svc.invoice(session, principal, tenant, month)
    name = f"invoice-{view.tenant.slug}-{month}.pdf"
    return Response(
        exports.to_pdf(view),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/tenants/{tenant}/invoices/{month}/pdf/signature",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
def get_invoice_pdf_signature(
    tenant: str,
    month: str,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> Response:
    """The detached Ed25519 signature of the invoice PDF (the same bytes on every download):
    check it with `soc verify FILE --signature FILE.sig --public-key KEY.pem`. Who may read
    the PDF may read its signature."""
    view = svc.invoice(session, principal, tenant, month)
    _, signature = exports.signed_pdf(view, settings)
    name = exports.invoice_pdf_name(view) + ".sig"
    return Response(
        signature,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/months/{month}/invoices", response_model=list[InvoiceOut])
def get_invoices(
    month: str,
    session: SessionDep,
    principal: PrincipalDep,
) -> list[InvoiceOut]:
    """Every tenant's invoice of a closed month (YYYY-MM). Finance and admins; 403 for other
    roles."""
    return [InvoiceOut.of(v) for v in svc.invoices(session, principal, month)]


@router.post("/months/{month}/close", response_model=CloseOut)
def post_close(
    month: str,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> CloseOut:
    """Close a finished month: freeze usage, issue invoices (idempotent)."""
    principal.require("billing.close")
    result = svc.close_month(
        session, month, svc.load_prices(settings), principal, settings=settings
    )
    return CloseOut(
        month=result.month,
        issued=result.issued,
        blocked=result.blocked,
        already_closed=result.already_closed,
        total=rules.dec(result.total),
        notified=result.notified,
    )


def _export_views(session: Session, principal: Principal, month: str) -> list[svc.InvoiceView]:
    principal.require("billing.manage")
    rules.check_month(month)
    if not months.is_closed(session, month):
        raise Conflict(N_("{month} is not closed; close it first"), month=month)
    return svc.invoices(session, principal, month)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT = "/api/v1/billing/months/{month}/export"
ExportFormat = Literal["csv", "xlsx"]


def _export(
    session: Session, principal: Principal, month: str, fmt: ExportFormat, old_path: bool = False
) -> Response:
    views = _export_views(session, principal, month)
    if fmt == "xlsx":
        body, media_type = exports.to_xlsx(views, month), XLSX
    else:
        body, media_type = exports.to_csv(views).encode(), "text/csv; charset=utf-8"
    headers = {"Content-Disposition": f'attachment; filename="billing-{month}.{fmt}"'}
    if old_path:  # the first names of this export: export.csv, export.xlsx
        headers |= legacy_routes.successor_link(f"{EXPORT}?format={fmt}", {"month": month})
    return Response(body, media_type=media_type, headers=headers)


@router.get(
    "/months/{month}/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, XLSX: {}}}},
)
def export_month(
    month: str,
    session: SessionDep,
    principal: PrincipalDep,
    format: ExportFormat = Query(default="csv", description="csv or xlsx"),
) -> Response:
    """Export the month's invoices: CSV (one line per invoice line) or an XLSX workbook with a
    totals row. Finance and admins; 422 for a month that is not YYYY-MM."""
    return _export(session, principal, month, format)


@router.get(
    "/months/{month}/export.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
    deprecated=True,
    openapi_extra={legacy_routes.SUCCESSOR: EXPORT + "?format=csv"},
)
def export_csv(month: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """The month's invoices as CSV (old path of the export)."""
    return _export(session, principal, month, "csv", old_path=True)


@router.get(
    "/months/{month}/export.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}},
    deprecated=True,
    openapi_extra={legacy_routes.SUCCESSOR: EXPORT + "?format=xlsx"},
)
def export_xlsx(month: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """The month's invoices as an XLSX workbook (old path of the export)."""
    return _export(session, principal, month, "xlsx", old_path=True)


@router.post("/simulate")
def post_simulate(
    body: Annotated[
        dict[str, Any], Body(description="{prices, customers}: see the README, Billing")
    ],
    principal: PrincipalDep,
) -> list[dict[str, Any]]:
    """What-if: invoices from given usage, without touching the database."""
    principal.require("billing.manage")
    return [bill.as_json() for bill in rules.simulate(body)]


@router.post("/ceilings/check", response_model=list[RunningUsageOut])
def post_check_ceilings(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> list[RunningUsageOut]:
    """Alert (once per month) every customer whose projected spend passes its ceiling."""
    principal.require("billing.manage")
    prices = svc.load_prices(settings)
    return [RunningUsageOut.of(u) for u in svc.check_ceilings(session, principal, prices=prices)]
