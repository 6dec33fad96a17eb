"""Monthly report endpoints: publish, correct, the archive, one report (its content and
whether its hash still verifies) and its HTML, PDF and CSV. The router is thin: kri.reports
does the work; a report the reader may not see is a 404."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.deps import StoreDep
from kri import report_render, reports
from kri.models import KriReport
from kri.report_rights import check_period_over, check_publisher
from soc.core.db import utcnow
from soc.core.deps import PrincipalDep, SessionDep, SettingsDep
from soc.core.errors import Invalid
from soc.core.i18n import N_
from soc.core.schemas import Page, RowId
from tenants.models import Provider, Tenant

router = APIRouter(prefix="/api/v1/kri", tags=["kri reports"])

Period = Annotated[StrictStr, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
Slug = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Kind = Literal["customer", "provider", "end_to_end"]
Lang = Literal["en", "nl"]


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Kind
    period: Period
    tenant: Slug | None = None
    provider: Slug | None = None


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[StrictStr, Field(min_length=1, max_length=2000)]


class ReportOut(BaseModel):
    id: int
    kind: str
    period: str
    tenant: str | None
    provider: str | None
    version: int
    corrects_id: int | None
    reason: str
    generated_at: datetime
    generated_by: str
    sha256: str
    pdf_sha256: str | None


class ReportDetailOut(ReportOut):
    verified: bool
    pdf_verified: bool
    content: dict[str, Any]


def _slugs(session: Session, rows: list[KriReport]) -> tuple[dict[int, str], dict[int, str]]:
    tids = {r.tenant_id for r in rows if r.tenant_id is not None}
    pids = {r.provider_id for r in rows if r.provider_id is not None}
    tenants = {
        i: s for i, s in session.execute(select(Tenant.id, Tenant.slug).where(Tenant.id.in_(tids)))
    }
    providers = {
        i: s
        for i, s in session.execute(select(Provider.id, Provider.slug).where(Provider.id.in_(pids)))
    }
    return tenants, providers


def _out(session: Session, rows: list[KriReport]) -> list[ReportOut]:
    tenants, providers = _slugs(session, rows)
    return [
        ReportOut(
            id=r.id,
            kind=r.kind,
            period=r.period,
            tenant=tenants.get(r.tenant_id) if r.tenant_id else None,
            provider=providers.get(r.provider_id) if r.provider_id else None,
            version=r.version,
            corrects_id=r.corrects_id,
            reason=r.reason,
            generated_at=r.generated_at,
            generated_by=r.generated_by,
            sha256=r.sha256,
            pdf_sha256=r.pdf_sha256,
        )
        for r in rows
    ]


def _subject(body: PublishIn) -> str | None:
    if body.kind == "customer":
        if body.provider is not None:
            raise Invalid(N_("a customer report names a tenant, not a provider"))
        return body.tenant
    if body.kind == "provider":
        if body.tenant is not None:
            raise Invalid(N_("a provider report names a provider, not a tenant"))
        return body.provider
    if body.tenant is not None or body.provider is not None:
        raise Invalid(N_("an end-to-end report has no tenant or provider"))
    return None


@router.post("/reports", response_model=ReportOut, status_code=201)
def publish_report(
    body: PublishIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    store: StoreDep,
) -> ReportOut:
    """Build, validate and publish version 1 of a monthly report (409 if it exists) for a
    month that is over; a customer's for a tenant the publisher sees, a provider's by its own
    staff or unscoped users, the end-to-end one by unscoped users."""
    now = utcnow()
    check_publisher(session, principal, body.kind, body.tenant, body.provider)
    check_period_over(settings, body.period, now)
    row = reports.publish(
        session, principal, settings, body.kind, body.period, _subject(body), now, store
    )
    return _out(session, [row])[0]


@router.post("/reports/{report_id}/correction", response_model=ReportOut, status_code=201)
def correct_report(
    report_id: RowId,
    body: CorrectionIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    store: StoreDep,
) -> ReportOut:
    """Publish the next version of a report, rebuilt from today's data, with the reason."""
    row = reports.correct(session, principal, settings, report_id, body.reason, utcnow(), store)
    return _out(session, [row])[0]


@router.get("/reports", response_model=Page[ReportOut])
def list_reports(
    session: SessionDep,
    principal: PrincipalDep,
    kind: Kind | None = None,
    period: str | None = Query(default=None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$"),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=10_000_000),
) -> Page[ReportOut]:
    """The archive the reader may see: customers their own, providers theirs, others all."""
    total, rows = reports.archive(session, principal, kind, period, limit, offset)
    return Page(total=total, limit=limit, offset=offset, items=_out(session, rows))


@router.get("/reports/{report_id}", response_model=ReportDetailOut)
def get_report(report_id: RowId, session: SessionDep, principal: PrincipalDep) -> ReportDetailOut:
    """One published KRI report with its content and whether its stored hash and PDF verify.
    404 for a report outside the caller's scope."""
    row = reports.get_report(session, principal, report_id)
    base = _out(session, [row])[0]
    return ReportDetailOut(
        **base.model_dump(),
        verified=reports.verify(session, row.id),
        pdf_verified=reports.verify_pdf(row),
        content=orjson.loads(row.content),
    )


@router.get(
    "/reports/{report_id}/html",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}},
)
def get_report_html(
    report_id: RowId, session: SessionDep, principal: PrincipalDep, lang: Lang = "en"
) -> HTMLResponse:
    """A published KRI report as an HTML page, in English or Dutch (?lang=). 404 for a report
    outside the caller's scope."""
    row = reports.get_report(session, principal, report_id)
    return HTMLResponse(report_render.render_html(orjson.loads(row.content), lang))


@router.get(
    "/reports/{report_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def get_report_pdf(
    report_id: RowId, session: SessionDep, principal: PrincipalDep, lang: Lang = "en"
) -> Response:
    """The published PDF (English) when its file still verifies, else rendered again."""
    row = reports.get_report(session, principal, report_id)
    if lang == "en" and reports.verify_pdf(row) and row.pdf_path:
        pdf = Path(row.pdf_path).read_bytes()
    else:
        pdf = report_render.render_pdf(orjson.loads(row.content), lang)
    name = f"report-{row.kind}-{row.period}-v{row.version}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/reports/{report_id}/pdf/signature",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
def get_report_pdf_signature(
    report_id: RowId, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> Response:
    """The detached Ed25519 signature of the published (English) PDF: check the two with
    `soc verify FILE --signature FILE.sig --public-key KEY.pem`. 409 when the stored PDF no
    longer has its published hash."""
    row = reports.get_report(session, principal, report_id)
    name = f"report-{row.kind}-{row.period}-v{row.version}.pdf.sig"
    return Response(
        reports.pdf_signature(settings, row),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/reports/{report_id}/csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def get_report_csv(report_id: RowId, session: SessionDep, principal: PrincipalDep) -> Response:
    """A published KRI report's figures as CSV. 404 for a report outside the caller's scope."""
    row = reports.get_report(session, principal, report_id)
    name = f"report-{row.kind}-{row.period}-v{row.version}.csv"
    return Response(
        report_render.to_csv(orjson.loads(row.content)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
