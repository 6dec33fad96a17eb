"""Cases API: list with filters and paging, read, timeline, alerts, assign, status, comment,
priority overrides, escalation, merge/split, evidence; assets, problems, metrics and the ITSM
connector's dead letters and inbound webhook."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ingest.deps import StoreDep
from ingest.schemas import EventOut
from soc.cases import assets as assets_svc
from soc.cases import connector, evidence, merging, metrics, sla
from soc.cases import problems as problem_svc
from soc.cases import service as svc
from soc.cases.models import Case, Problem
from soc.cases.schemas import (
    AlertOut,
    AssetIn,
    AssetOut,
    AssignIn,
    CaseEventOut,
    CaseOut,
    ClockOut,
    CommentIn,
    EscalateIn,
    EvidenceOut,
    MergeIn,
    NoteIn,
    OutboxOut,
    Priority,
    PriorityIn,
    ProblemOut,
    RootCauseIn,
    SplitIn,
    Status,
    StatusIn,
    WebhookIn,
)
from soc.cases.upload import read_upload
from soc.core.db import Database, utcnow
from soc.core.deps import DatabaseDep, PrincipalDep, SessionDep, SettingsDep
from soc.core.errors import Invalid
from soc.core.i18n import N_
from soc.core.schemas import DB_INT_MAX, ErrorOut, Page, RowId
from soc.core.settings import Settings
from tenants import names

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])
extra_router = APIRouter(prefix="/api/v1", tags=["cases"])


def case_out(session: Session, settings: Settings, case: Case) -> CaseOut:
    """The case with its SLA clocks as of now, and its tenant's, provider's and assignee's
    names (the API addresses them by slug and username)."""
    out = CaseOut.model_validate(case)
    out.tenant = names.tenant_slug(session, case.tenant_id)
    out.provider = names.provider_slug(session, case.provider_id)
    out.assignee = names.username(session, case.assignee_id)
    clocks = sla.clocks(settings, case, utcnow())
    out.sla = {name: ClockOut(**vars(clock)) for name, clock in clocks.items()}
    return out


@router.get("", response_model=Page[CaseOut])
def list_cases(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    status: Status | None = None,
    level: str | None = Query(default=None, max_length=16),
    rule_id: str | None = Query(default=None, max_length=64),
    host: str | None = Query(default=None, max_length=255),
    tenant: str | None = Query(
        default=None, min_length=1, max_length=64, description="tenant slug"
    ),
    provider: str | None = Query(
        default=None, min_length=1, max_length=64, description="provider slug"
    ),
    assignee: str | None = Query(
        default=None, min_length=1, max_length=120, description="assignee's username"
    ),
    assignee_id: int | None = Query(
        default=None, ge=1, le=DB_INT_MAX, deprecated=True, description="use `assignee`"
    ),
    tenant_id: int | None = Query(
        default=None, ge=1, le=DB_INT_MAX, deprecated=True, description="use `tenant`"
    ),
    q: str | None = Query(default=None, max_length=200, description="text in title or host"),
    priority: Priority | None = None,
    provider_id: int | None = Query(
        default=None, ge=1, le=DB_INT_MAX, deprecated=True, description="use `provider`"
    ),
    bouncing: bool | None = None,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=1_000_000),
) -> Page[CaseOut]:
    """List the cases the caller may see, filtered by status, priority, rule, host, assignee
    (username), tenant and provider (slugs) or text, paged. Analysts see all tenants,
    customers their own, providers what they are assigned."""
    filters = svc.CaseFilter(
        status=status,
        level=level,
        rule_id=rule_id,
        host=host,
        assignee_id=assignee_id,
        tenant_id=tenant_id,
        q=q,
        priority=priority,
        provider_id=provider_id,
        bouncing=bouncing,
        tenant=tenant,
        provider=provider,
        assignee=assignee,
    )
    total, rows = svc.list_cases(session, principal, filters, limit, offset)
    return Page[CaseOut](
        total=total,
        limit=limit,
        offset=offset,
        items=[case_out(session, settings, r) for r in rows],
    )


@router.get("/{case_id}", response_model=CaseOut)
def get_case(
    case_id: RowId, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> CaseOut:
    """One case with its SLA clocks. 404 for an unknown case or one outside the caller's scope."""
    return case_out(session, settings, svc.get_case(session, principal, case_id))


@router.get("/{case_id}/timeline", response_model=list[CaseEventOut])
def timeline(case_id: RowId, session: SessionDep, principal: PrincipalDep) -> list[CaseEventOut]:
    """A case's timeline (status changes, assignments, comments, escalations), oldest first. 404
    for a case outside the caller's scope."""
    return [CaseEventOut.model_validate(e) for e in svc.case_timeline(session, principal, case_id)]


@router.get("/{case_id}/alerts", response_model=list[AlertOut])
def alerts(case_id: RowId, session: SessionDep, principal: PrincipalDep) -> list[AlertOut]:
    """The alerts (rule matches) grouped into a case. 404 for a case outside the caller's scope."""
    return [AlertOut.model_validate(a) for a in svc.case_alerts(session, principal, case_id)]


@router.get("/{case_id}/events", response_model=list[EventOut])
def events(
    case_id: RowId, session: SessionDep, principal: PrincipalDep, store: StoreDep
) -> list[EventOut]:
    """The stored events behind the case's alerts."""
    found = svc.case_alerts(session, principal, case_id)
    if not found:
        return []
    stored = store.get_many(found[0].tenant_id, [a.event_id for a in found])
    return [EventOut.from_event(e) for e in stored]


@router.post("/{case_id}/assign", response_model=CaseOut)
def assign(
    case_id: RowId,
    body: AssignIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> CaseOut:
    """Assign a case to a user, a provider or both. Analysts and admins; 403 for other roles, 422
    for an assignee outside the case's scope."""
    case = svc.assign(session, principal, case_id, body.assignee, body.provider, settings=settings)
    return case_out(session, settings, case)


@router.post("/{case_id}/status", response_model=CaseOut)
def change_status(
    case_id: RowId,
    body: StatusIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> CaseOut:
    """Move a case to another status (with a note; a root cause when resolving). 409 for a
    transition the workflow does not allow, 422 when a required note is missing."""
    case = svc.change_status(
        session, principal, case_id, body.status, body.note, body.root_cause, settings=settings
    )
    return case_out(session, settings, case)


@router.post("/{case_id}/reopen", response_model=CaseOut)
def reopen(
    case_id: RowId,
    body: NoteIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> CaseOut:
    """Reopen a resolved or closed case, with a note saying why. 409 when the case is not closed."""
    case = svc.reopen(session, principal, case_id, body.note, settings=settings)
    return case_out(session, settings, case)


@router.post("/{case_id}/confirm", response_model=CaseOut)
def confirm(
    case_id: RowId,
    body: NoteIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> CaseOut:
    """Confirm a case a runaway rule opened (`billable` false): it becomes billable and counts
    in the billing case meter from today; 409 if it is billable already."""
    case = svc.confirm(session, principal, case_id, body.note, settings=settings)
    return case_out(session, settings, case)


@router.post("/{case_id}/comments", response_model=CaseEventOut, status_code=201)
def add_comment(
    case_id: RowId,
    body: CommentIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> CaseEventOut:
    """Add a comment to a case's timeline (at most 20,000 characters); a customer's comment answers
    a case that waits on it. 404 for a case outside the caller's scope."""
    event = svc.comment(session, principal, case_id, body.text, settings=settings)
    return CaseEventOut.model_validate(event)


@router.post("/{case_id}/priority", response_model=CaseOut)
def override_priority(
    case_id: RowId,
    body: PriorityIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> CaseOut:
    """Override impact and/or urgency with a reason; the matrix gives the new priority."""
    case = svc.set_priority(
        session, principal, case_id, body.reason, body.impact, body.urgency, settings=settings
    )
    return case_out(session, settings, case)


@router.post("/{case_id}/escalate", response_model=CaseOut)
def escalate(
    case_id: RowId,
    body: EscalateIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> CaseOut:
    """Escalate a case (to a provider, or up the chain) with a reason. Analysts, admins and
    providers; 422 without a reason."""
    case = svc.escalate(session, principal, case_id, body.reason, body.provider, settings=settings)
    return case_out(session, settings, case)


@router.post("/{case_id}/merge", response_model=CaseOut)
def merge(
    case_id: RowId,
    body: MergeIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> CaseOut:
    """Merge the listed cases into this one."""
    case = merging.merge(session, principal, case_id, body.sources, settings=settings)
    return case_out(session, settings, case)


@router.post("/{case_id}/split", response_model=CaseOut, status_code=201)
def split(
    case_id: RowId,
    body: SplitIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> CaseOut:
    """Move the listed alerts to a new case; answers the new case."""
    case = merging.split(session, principal, case_id, body.alerts, body.title, settings=settings)
    return case_out(session, settings, case)


@router.post("/{case_id}/root-cause", response_model=CaseOut)
def root_cause(
    case_id: RowId,
    body: RootCauseIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> CaseOut:
    """Record or replace a case's root cause. Analysts and providers working the case; 422 for an
    empty text."""
    case = svc.set_root_cause(session, principal, case_id, body.text, settings=settings)
    return case_out(session, settings, case)


@router.post(
    "/{case_id}/evidence",
    response_model=EvidenceOut,
    status_code=201,
    responses={
        413: {"model": ErrorOut, "description": "File over the evidence size limit"},
        415: {"model": ErrorOut, "description": "File type not accepted, or not multipart"},
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
async def upload_evidence(
    case_id: RowId,
    request: Request,
    principal: PrincipalDep,
    db: DatabaseDep,
    settings: SettingsDep,
) -> EvidenceOut:
    """Attach a file (multipart field `file`); size and content type are checked.

    The body is read here, after the uploader and its right to the case are checked (a File
    parameter would make FastAPI parse, and spool to disk, the whole body first), and no
    further than the evidence size limit. The uploader is authenticated in a read transaction
    of its own (see `soc.core.deps.current_principal`): no database lock is held while the
    body streams in."""

    def allowed() -> None:
        with db.read_session() as session:
            evidence.may_add(session, principal, case_id)

    await run_in_threadpool(allowed)
    upload = await read_upload(request.headers, request.stream(), settings.case_evidence_max_bytes)

    def store() -> EvidenceOut:
        with db.session() as session:
            row = evidence.add(
                session,
                principal,
                case_id,
                upload.filename,
                upload.content_type,
                upload.data,
                settings=settings,
            )
            return EvidenceOut.model_validate(row)

    return await run_in_threadpool(store)


@router.get("/{case_id}/evidence", response_model=list[EvidenceOut])
def list_evidence(
    case_id: RowId, session: SessionDep, principal: PrincipalDep
) -> list[EvidenceOut]:
    """List the evidence files attached to a case. 404 for a case outside the caller's scope."""
    rows = evidence.list_for_case(session, principal, case_id)
    return [EvidenceOut.model_validate(r) for r in rows]


@router.get("/{case_id}/evidence/{evidence_id}", response_class=FileResponse)
def download_evidence(
    case_id: RowId,
    evidence_id: RowId,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> FileResponse:
    """Download one evidence file of a case, as uploaded. 404 for an unknown file or a case outside
    the caller's scope."""
    row, path = evidence.open_file(session, principal, case_id, evidence_id, settings=settings)
    return FileResponse(
        path,
        media_type=row.content_type,
        filename=row.filename,
        headers={"X-Content-Type-Options": "nosniff"},
    )


@extra_router.get("/tenants/{tenant}/case-metrics")
def case_metrics(
    tenant: str,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    month: str = Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (UTC)"),
) -> dict[str, Any]:
    """Cases registered in the month by priority, response/resolution means, % within SLA,
    critical cases inside/outside office hours, reassignments."""
    return metrics.case_metrics(session, principal, tenant, month, settings=settings)


@extra_router.get("/problems", response_model=list[ProblemOut])
def problems(session: SessionDep, principal: PrincipalDep) -> list[ProblemOut]:
    """Problem records opened by resolved critical cases, within the caller's scope."""
    return [problem_out(principal, p) for p in svc.open_problems(session, principal)]


def problem_out(principal: PrincipalDep, problem: Problem) -> ProblemOut:
    """A problem as the caller may see it: an incident's other tenants are not named."""
    out = ProblemOut.model_validate(problem)
    if out.tenants is not None and not principal.is_global:
        out.tenants = [t for t in out.tenants if principal.sees_tenant(t)]
    return out


@extra_router.post("/problems/{problem_id}/root-cause", response_model=ProblemOut)
def problem_root_cause(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    problem_id: RowId,
    body: RootCauseIn,
) -> ProblemOut:
    """Record a problem's root cause (analysts): `root_cause_on_time` says whether it came
    within `case_root_cause_working_days` working days of the resolution."""
    problem = svc.get_problem(session, principal, problem_id)
    problem_svc.record_root_cause(session, settings, principal, problem, body.text, utcnow())
    return problem_out(principal, problem)


@extra_router.get("/tenants/{tenant}/assets", response_model=list[AssetOut])
def list_assets(tenant: str, session: SessionDep, principal: PrincipalDep) -> list[AssetOut]:
    """List a tenant's known assets (hosts and their criticality). 404 for a tenant outside the
    caller's scope."""
    return [AssetOut.model_validate(a) for a in assets_svc.list_assets(session, principal, tenant)]


@extra_router.put("/assets", response_model=AssetOut)
def put_asset(body: AssetIn, session: SessionDep, principal: PrincipalDep) -> AssetOut:
    """Set a host's criticality: the impact of the tenant's new cases on that host."""
    row = assets_svc.set_asset(
        session, principal, body.tenant, body.host, body.criticality, body.description
    )
    return AssetOut.model_validate(row)


@extra_router.get("/itsm/dead-letters", response_model=list[OutboxOut])
def dead_letters(session: SessionDep, principal: PrincipalDep) -> list[OutboxOut]:
    """List the ITSM outbox messages that failed for good. Unscoped admins only; 403 for other
    roles."""
    return [OutboxOut.model_validate(m) for m in connector.dead_letters(session, principal)]


@extra_router.post("/itsm/dead-letters/{message_id}/replay", response_model=OutboxOut)
def replay_dead_letter(
    message_id: RowId, session: SessionDep, principal: PrincipalDep
) -> OutboxOut:
    """Queue a dead ITSM message for delivery again. Unscoped admins only; 404 for an unknown
    message."""
    return OutboxOut.model_validate(connector.replay(session, principal, message_id))


@extra_router.post("/itsm/webhook", response_model=CaseOut)
async def itsm_webhook(request: Request, db: DatabaseDep, settings: SettingsDep) -> CaseOut:
    """Status changes from the ITSM tool, HMAC-signed (see README, Security cases). Unsigned, badly
    signed or stale: 401; a nonce seen before: 409."""
    raw = await request.body()
    return await run_in_threadpool(_apply_webhook, db, settings, dict(request.headers), raw)


def _apply_webhook(
    db: Database, settings: Settings, headers: dict[str, str], raw: bytes
) -> CaseOut:
    with db.session() as session:
        connector.verify_inbound(session, settings, headers, raw, time.time())
        try:
            body = WebhookIn.model_validate(orjson.loads(raw))
        except (orjson.JSONDecodeError, ValidationError) as exc:
            raise Invalid(N_("bad webhook body: {exc}"), exc=exc) from exc
        case = svc.change_status(
            session,
            connector.ITSM_PRINCIPAL,
            body.case_id,
            body.status,
            body.note,
            body.root_cause,
            settings=settings,
        )
        return case_out(session, settings, case)
