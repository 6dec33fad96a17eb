"""Non-conformities, the ecosystem-wide overview, decisions on improvement proposals and
their conflicts, and the register's import and export (thin: the work is in
`risk.nonconformities`, `risk.proposals` and `risk.register_io`).

Another tenant's NC or proposal is a 404 (`risk.visibility`); a role without the right is
a 403.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from risk import nonconformities as ncs
from risk import proposals, register_io
from risk.models import NCKind, NCSource, NCStatus, RiskAction, Scope
from risk.nc_schemas import (
    ConflictOut,
    DecisionIn,
    DecisionOut,
    ImportReportOut,
    NCActionOut,
    NCDetailOut,
    NCIn,
    NCOut,
    NCPatch,
    OverviewOut,
    RowReportOut,
)
from risk.proposals import ProposalConflict
from soc.cases.upload import read_upload
from soc.core.db import utcnow
from soc.core.deps import DatabaseDep, PrincipalDep, SessionDep, SettingsDep
from soc.core.errors import Forbidden
from soc.core.schemas import DB_INT_MAX, ErrorOut, Page, RowId

router = APIRouter(prefix="/api/v1/risk", tags=["nonconformities"])


def _conflict(c: ProposalConflict) -> ConflictOut:
    return ConflictOut(
        a=c.a,
        b=c.b,
        kind=c.kind,
        on=list(c.on),
        service=c.service,
        ci_id=c.ci_id,
        overlap_from=c.overlap_from,
        overlap_to=c.overlap_to,
    )


def _detail(
    detail: ncs.NCDetail, names: ncs.Names, conflicts: dict[int, list[ProposalConflict]]
) -> NCDetailOut:
    base = NCOut.of(detail.nc, names.tenants, names.providers)

    def one(action: RiskAction) -> NCActionOut:
        found = [_conflict(c) for c in conflicts.get(action.id, [])]
        return NCActionOut.of(action, names.tenants, names.providers, found)

    return NCDetailOut(
        **base.model_dump(),
        proposals=[one(a) for a in detail.proposals],
        corrective_actions=[one(a) for a in detail.corrective_actions],
    )


@router.post("/nonconformities", response_model=NCOut, status_code=201)
def create_nc(body: NCIn, session: SessionDep, principal: PrincipalDep) -> NCOut:
    """Register a security or process non-conformity (`nc.write`)."""
    nc = ncs.create_nc(session, principal, body)
    names = ncs.names(session)
    return NCOut.of(nc, names.tenants, names.providers)


@router.get("/nonconformities", response_model=Page[NCOut])
def list_ncs(
    session: SessionDep,
    principal: PrincipalDep,
    status: NCStatus | None = None,
    kind: NCKind | None = None,
    scope: Scope | None = None,
    source: NCSource | None = None,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=10_000_000),
) -> Page[NCOut]:
    """List the non-conformities the caller may see, filtered by status, kind, scope or source,
    paged."""
    filters = ncs.NCFilter(status, kind, scope, source)
    total, rows = ncs.list_ncs(session, principal, filters, limit, offset)
    names = ncs.names(session)
    return Page[NCOut](
        total=total,
        limit=limit,
        offset=offset,
        items=[NCOut.of(r, names.tenants, names.providers) for r in rows],
    )


@router.get("/nonconformities-overview", response_model=OverviewOut)
def overview(
    session: SessionDep,
    principal: PrincipalDep,
    limit: int = Query(default=100, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=10_000_000),
) -> OverviewOut:
    """Every visible NC with its improvement proposals and corrective actions, their status,
    progress, decision, due date and conflicts; counts per status (always current)."""
    view = ncs.overview(session, principal, limit, offset)
    names = ncs.names(session)
    return OverviewOut(
        total=view.total,
        by_status=view.by_status,
        by_kind=view.by_kind,
        actions_by_status=view.actions_by_status,
        items=[_detail(d, names, view.conflicts) for d in view.items],
    )


@router.get("/nonconformities/{nc_id}", response_model=NCDetailOut)
def get_nc(nc_id: RowId, session: SessionDep, principal: PrincipalDep) -> NCDetailOut:
    """One non-conformity with its actions and proposal conflicts. 404 for one outside the
    caller's scope."""
    detail = ncs.get_nc(session, principal, nc_id)
    return _detail(detail, ncs.names(session), ncs.conflicts_by_proposal(session, principal))


@router.patch("/nonconformities/{nc_id}", response_model=NCOut)
def update_nc(nc_id: RowId, body: NCPatch, session: SessionDep, principal: PrincipalDep) -> NCOut:
    """Change a non-conformity's fields (status, description, handling). Admins, analysts and
    the authority; 422 for an inconsistent change."""
    nc = ncs.update_nc(session, principal, nc_id, body.changes())
    names = ncs.names(session)
    return NCOut.of(nc, names.tenants, names.providers)


@router.post("/proposals/{action_id}/decision", response_model=DecisionOut)
def decide_proposal(
    action_id: RowId, body: DecisionIn, db: DatabaseDep, principal: PrincipalDep
) -> DecisionOut:
    """The customer decides a proposal specific to its tenant, the authority a common one;
    anyone else 403 (audited), a decided proposal 409."""
    try:
        with db.session() as session:
            action = proposals.decide_proposal(
                session, principal, action_id, body.approve, body.note, utcnow()
            )
            return DecisionOut(
                id=action.id,
                decision=action.decision or "",
                decided_by=action.decided_by or "",
                decided_at=action.decided_at or utcnow(),
                decision_note=action.decision_note,
            )
    except Forbidden as exc:
        # the refused transaction has rolled back (its audit row with it): record the
        # refusal in a second one, never two write sessions at once
        with db.session() as second:
            proposals.record_refusal(second, principal, action_id, exc.message)
        raise


@router.get("/proposals/conflicts", response_model=list[ConflictOut])
def proposal_conflicts(
    session: SessionDep,
    principal: PrincipalDep,
    action_id: int | None = Query(default=None, ge=1, le=DB_INT_MAX),
) -> list[ConflictOut]:
    """Open improvement proposals on the same service or CI in overlapping windows (or
    without a window yet), among the proposals the reader sees."""
    return [_conflict(c) for c in proposals.conflicts(session, principal, action_id)]


def _report_out(report: register_io.ImportReport) -> ImportReportOut:
    return ImportReportOut(
        kind=report.kind,
        dry_run=report.dry_run,
        applied=report.applied,
        rows=len(report.report),
        ok=report.count("ok"),
        duplicates=report.count("duplicate"),
        errors=report.errors,
        ignored_columns=report.ignored_columns,
        report=[
            RowReportOut(
                row=r.row, status=r.status, message=r.message, external_ref=r.external_ref, id=r.id
            )
            for r in report.report
        ],
    )


@router.post(
    "/import",
    response_model=ImportReportOut,
    responses={
        413: {"model": ErrorOut, "description": "File over the import size limit"},
        415: {"model": ErrorOut, "description": "Not multipart/form-data"},
        422: {
            "model": ImportReportOut | ErrorOut,
            "description": "Row errors (the report; nothing was written) or invalid input",
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
async def import_register(
    request: Request,
    principal: PrincipalDep,
    db: DatabaseDep,
    settings: SettingsDep,
    kind: register_io.Kind = Query(description="risks | actions"),
    dry_run: bool = Query(default=False, description="report only, write nothing"),
) -> ImportReportOut | JSONResponse:
    """Import a register (CSV or XLSX in the multipart field `file`): a report per row; with
    any row error nothing is written (422 with the report when not a dry run). Duplicates
    (an ID already in the register) change nothing. Columns: `risk.register_columns`."""
    principal.require("risk.import")  # before a byte of the body is read
    upload = await read_upload(request.headers, request.stream(), register_io.MAX_IMPORT_BYTES)
    fmt = register_io.sniff_format(upload.filename, upload.data)

    def run() -> register_io.ImportReport:
        with db.session() as session:
            return register_io.run_import(
                session, principal, settings, kind, fmt, upload.data, dry_run, date.today()
            )

    report = await run_in_threadpool(run)
    out = _report_out(report)
    if report.errors and not dry_run:
        return JSONResponse(status_code=422, content=out.model_dump(mode="json"))
    return out


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {}, register_io.XLSX_TYPE: {}},
            "description": "The visible register in the import's columns",
        }
    },
)
def export_register(
    session: SessionDep,
    principal: PrincipalDep,
    kind: register_io.Kind = Query(description="risks | actions"),
    fmt: Literal["csv", "xlsx"] = Query(default="csv", alias="format"),
) -> Response:
    """The risks or actions the reader sees, as CSV or XLSX (re-importable)."""
    content, media_type = register_io.export(session, principal, kind, fmt)
    return Response(
        content=content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="risk-{kind}.{fmt}"'},
    )
