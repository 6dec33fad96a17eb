"""KRI endpoints: the catalogue (read by every KRI reader, edited by the admin), providers'
submissions (one value, or a CSV upload: all or nothing), values as each reader may see them,
the period's on-time record, and the admin's run of the missing-input check.

The router is thin: `kri.catalogue` and `kri.submissions` do the work. A tenant the reader
may not see is a 404; a role without the right is a 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from kri import catalogue, submissions
from kri.deps import Names, local_day, names, periods_to_check, value_filter, value_out
from kri.models import KriScope, KriSource, KriValue
from kri.schemas import (
    KRI_ID_PATTERN,
    PERIOD_PATTERN,
    KriOut,
    KriPatch,
    KriSpec,
    MissingRunOut,
    OnTimeItemOut,
    OnTimeOut,
    SubmissionIn,
    UploadReportOut,
    UploadRowOut,
    ValueOut,
)
from soc.cases.upload import read_upload
from soc.core.db import utcnow
from soc.core.deps import DatabaseDep, PrincipalDep, SessionDep, SettingsDep
from soc.core.errors import Forbidden, NotFound
from soc.core.i18n import N_
from soc.core.schemas import ErrorOut, Page
from tenants.models import Provider, Tenant

router = APIRouter(prefix="/api/v1/kri", tags=["kri"])

KriIdPath = Annotated[str, Path(pattern=KRI_ID_PATTERN, max_length=64)]
ERRORS: dict[int | str, dict[str, object]] = {422: {"model": ErrorOut}}


@router.get("/catalogue", response_model=list[KriOut])
def list_catalogue(
    session: SessionDep,
    principal: PrincipalDep,
    source: KriSource | None = None,
    scope: KriScope | None = None,
    domain: str | None = Query(default=None, max_length=64),
) -> list[KriOut]:
    """The KRI catalogue (definitions are shared; values are scoped)."""
    rows = catalogue.list_kris(session, principal, source=source, scope=scope, domain=domain)
    slugs = catalogue.provider_slugs(session)
    return [catalogue.describe(k, slugs) for k in rows]


@router.post("/catalogue", response_model=KriOut, status_code=201, responses=ERRORS)
def create_catalogue_entry(
    body: KriSpec, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> KriOut:
    """Add a KRI (admin; audited)."""
    kri = catalogue.create_kri(session, principal, settings, body)
    return catalogue.describe(kri, catalogue.provider_slugs(session))


@router.get("/catalogue/{kri_id}", response_model=KriOut)
def get_catalogue_entry(kri_id: KriIdPath, session: SessionDep, principal: PrincipalDep) -> KriOut:
    """One key risk indicator of the catalogue, with its thresholds and providers. 404 for an
    unknown KRI."""
    kri = catalogue.get_kri(session, principal, kri_id)
    return catalogue.describe(kri, catalogue.provider_slugs(session))


@router.patch("/catalogue/{kri_id}", response_model=KriOut, responses=ERRORS)
def update_catalogue_entry(
    kri_id: KriIdPath, body: KriPatch, session: SessionDep, principal: PrincipalDep
) -> KriOut:
    """Change the given fields (admin; audited with the old and new values)."""
    kri = catalogue.update_kri(session, principal, kri_id, body.changes())
    return catalogue.describe(kri, catalogue.provider_slugs(session))


@router.post("/submissions", response_model=ValueOut, status_code=201, responses=ERRORS)
def submit_value(
    body: SubmissionIn, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> ValueOut:
    """Submit a value of a submitted KRI for a period: checked for time (due working day) and
    quality; late or bad input opens a non-conformity for the provider."""
    row = submissions.submit(
        session,
        principal,
        settings,
        body.kri,
        body.period,
        body.value,
        tenant=body.tenant,
        provider=body.provider,
    )
    return value_out(row, names(session))


def _upload_out(report: submissions.UploadReport) -> UploadReportOut:
    return UploadReportOut(
        applied=report.applied,
        rows=len(report.report),
        ok=sum(1 for r in report.report if r.status == "ok"),
        errors=report.errors,
        report=[
            UploadRowOut(row=r.row, status=r.status, message=r.message, kri=r.kri, id=r.id)
            for r in report.report
        ],
    )


@router.post(
    "/submissions/upload",
    response_model=UploadReportOut,
    responses={
        413: {"model": ErrorOut, "description": "File over the upload size limit"},
        415: {"model": ErrorOut, "description": "Not multipart/form-data"},
        422: {
            "model": UploadReportOut | ErrorOut,
            "description": "Row errors (the report; nothing was stored) or invalid input",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                }
            },
        }
    },
)
async def upload_submissions(
    request: Request, principal: PrincipalDep, db: DatabaseDep, settings: SettingsDep
) -> UploadReportOut | JSONResponse:
    """A CSV (multipart field `file`; columns kri, period, value, tenant, provider): every row
    submitted as by POST /submissions, all or nothing (422 with the report on any row
    error)."""
    principal.require("kri.submit")  # before a byte of the body is read
    upload = await read_upload(request.headers, request.stream(), submissions.MAX_UPLOAD_BYTES)

    def run() -> submissions.UploadReport:
        with db.session() as session:
            return submissions.upload(session, principal, settings, upload.data)

    report = await run_in_threadpool(run)
    out = _upload_out(report)
    if report.errors:
        return JSONResponse(status_code=422, content=out.model_dump(mode="json"))
    return out


@router.get("/values", response_model=Page[ValueOut])
def list_values(
    session: SessionDep,
    principal: PrincipalDep,
    period: str | None = Query(default=None, pattern=PERIOD_PATTERN),
    kri: str | None = Query(default=None, pattern=KRI_ID_PATTERN, max_length=64),
    tenant: str | None = Query(default=None, min_length=1, max_length=64),
    provider: str | None = Query(default=None, min_length=1, max_length=64),
    history: bool = Query(default=False, description="superseded values too"),
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=10_000_000),
) -> Page[ValueOut]:
    """KRI values the caller may see: customers their tenant's, providers their own and
    their tenants', global users all."""
    principal.require("kri.read")
    query = select(KriValue).where(value_filter(principal))
    if not history:
        query = query.where(KriValue.current.is_(True))
    if period is not None:
        query = query.where(KriValue.period == period)
    if kri is not None:
        query = query.where(KriValue.kri_id == kri)
    if tenant is not None:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == tenant))
        if tenant_id is None or not principal.sees_tenant(tenant_id):
            raise NotFound(N_("tenant '{ref}' not found"), ref=tenant)
        query = query.where(KriValue.tenant_id == tenant_id)
    if provider is not None:
        provider_id = session.scalar(select(Provider.id).where(Provider.slug == provider))
        if provider_id is None:
            raise NotFound(N_("provider '{ref}' not found"), ref=provider)
        query = query.where(KriValue.provider_id == provider_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(KriValue.period.desc(), KriValue.kri_id, KriValue.id)
        .limit(limit)
        .offset(offset)
    )
    n = names(session)
    return Page[ValueOut](
        total=total, limit=limit, offset=offset, items=[value_out(r, n) for r in rows]
    )


def _item_out(item: submissions.OnTimeItem, n: Names) -> OnTimeItemOut:
    return OnTimeItemOut(
        kri=item.kri,
        tenant=n.tenants.get(item.tenant_id) if item.tenant_id else None,
        provider=n.providers.get(item.provider_id) if item.provider_id else None,
        due=item.due,
        submitted_on=item.submitted_on,
        status=item.status,
        on_time=item.on_time,
        nc_id=item.nc_id,
    )


@router.get("/on-time", response_model=OnTimeOut)
def on_time(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    period: str = Query(pattern=PERIOD_PATTERN, description="YYYY-MM"),
    provider: str | None = Query(default=None, min_length=1, max_length=64),
) -> OnTimeOut:
    """The period's on-time record: per KRI per subject on time or not, the on-time %
    against the target (settings.kri_on_time_target_pct), the late and missing ones."""
    report = submissions.on_time_report(session, principal, settings, period, provider)
    n = names(session)
    items = [_item_out(i, n) for i in report.items]
    counted = report.counted
    return OnTimeOut(
        period=report.period,
        provider=provider,
        counted=len(counted),
        on_time=sum(1 for i in counted if i.on_time),
        on_time_pct=str(report.on_time_pct),
        target_pct=str(report.target_pct),
        met=report.met,
        late=[i for i in items if i.status == "late"],
        missing=[i for i in items if i.status == "missing"],
        items=items,
    )


@router.post("/missing/run", response_model=MissingRunOut)
def run_missing(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    period: str | None = Query(default=None, pattern=PERIOD_PATTERN),
) -> MissingRunOut:
    """Flag every input whose due date passed with no value (admin; the daily task does
    the same): a row with no value, not on time, and a non-conformity for its provider."""
    principal.require("kri.catalogue")
    if not principal.is_global:
        raise Forbidden(N_("the missing-input check covers every provider: unscoped users only"))
    today = local_day(settings, utcnow())
    rows = submissions.flag_missing(session, settings, today, period)
    n = names(session)
    periods = [period] if period else periods_to_check(session, settings, today)
    return MissingRunOut(periods=periods, flagged=len(rows), values=[value_out(r, n) for r in rows])
