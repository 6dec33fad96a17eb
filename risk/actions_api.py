"""Action registers' endpoints (prefix /api/v1/risk): actions and their progress notes,
evidence, early warnings and deadline changes; the on-time report; the warning sweep; the
monthly follow-ups of audit findings.

Thin: the services in `risk.actions`, `risk.evidence`, `risk.deadline_changes`,
`risk.warnings`, `risk.on_time` and `risk.followup` check permissions and visibility (an
item of another tenant is a 404).
"""

from __future__ import annotations

from datetime import date

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from risk import actions as svc
from risk import deadline_changes, evidence, followup, on_time, warnings
from risk.action_schemas import (
    ActionCreate,
    ActionOut,
    ActionPatch,
    DeadlineChangeIn,
    DeadlineChangeOut,
    DecisionIn,
    EvidenceOut,
    FollowUpDetailOut,
    FollowUpIn,
    FollowUpOut,
    NoteIn,
    NoteOut,
    OnTimeOut,
    WarningRunIn,
    WarningRunOut,
    parse_iso_date,
)
from risk.actions import ActionFilter, ActionView
from risk.models import ActionStatus, Register, RiskFollowUp
from soc.cases.upload import read_upload
from soc.core import audit
from soc.core.db import utcnow
from soc.core.deps import DatabaseDep, PrincipalDep, SessionDep, SettingsDep
from soc.core.errors import Forbidden, Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.schemas import ErrorOut, Page, RowId

router = APIRouter(prefix="/api/v1/risk", tags=["actions"])

DATE = r"^\d{4}-\d{2}-\d{2}$"
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


def _out(view: ActionView) -> ActionOut:
    a, v = view.action, view.verdict
    return ActionOut(
        id=a.id,
        register=a.register,
        title=a.title,
        description=a.description,
        risk_id=a.risk_id,
        nc_id=a.nc_id,
        scope=a.scope,
        tenant=view.tenant,
        owner_provider=view.owner_provider,
        owner_user=view.owner_user,
        owner_name=a.owner_name,
        origin=a.origin,
        proposed_mitigation=a.proposed_mitigation,
        due=a.due,
        status=a.status,
        progress_pct=a.progress_pct,
        handled_on=a.handled_on,
        warned_on=a.warned_on,
        warning_late=a.warning_late,
        outside_ecosystem=a.outside_ecosystem,
        decision=a.decision,
        decided_by=a.decided_by,
        decided_at=a.decided_at,
        decision_note=a.decision_note,
        service=a.service,
        ci_id=a.ci_id,
        window_start=a.window_start,
        window_end=a.window_end,
        external_ref=a.external_ref,
        created_by=a.created_by,
        created_at=a.created_at,
        updated_at=a.updated_at,
        warning_due=v.warning_due,
        warning=v.warning,
        deadline_status=v.status,
        deadline_approver=v.deadline_approver,
    )


def _date(value: str, name: str) -> date:
    try:
        return parse_iso_date(value, name)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc


@router.post("/actions", response_model=ActionOut, status_code=201)
def create_action(
    body: ActionCreate, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> ActionOut:
    """A new item of a register. Improvement proposals and complaints may be raised by
    customers for their tenant; the rest needs actions.write."""
    today = date.today()
    action = svc.create_action(session, principal, settings, body, today)
    return _out(svc.view(session, settings, action, today))


@router.get("/actions", response_model=Page[ActionOut])
def list_actions(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    register: Register | None = None,
    status: ActionStatus | None = None,
    tenant: str | None = Query(default=None, min_length=1, max_length=64),
    owner_provider: str | None = Query(default=None, min_length=1, max_length=64),
    owner_user: str | None = Query(default=None, min_length=1, max_length=120),
    risk_id: RowId | None = None,
    nc_id: RowId | None = None,
    due_before: str | None = Query(default=None, pattern=DATE, description="YYYY-MM-DD"),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=10_000_000),
) -> Page[ActionOut]:
    """List the actions (mitigations, corrective actions, proposals) the caller may see,
    filtered by register, status, tenant, owner, risk, NC or due date, paged."""
    filters = ActionFilter(
        register=register,
        status=status,
        tenant=tenant,
        owner_provider=owner_provider,
        owner_user=owner_user,
        risk_id=risk_id,
        nc_id=nc_id,
        due_before=_date(due_before, "due_before") if due_before else None,
    )
    total, rows = svc.list_actions(session, principal, filters, limit, offset)
    items = [_out(v) for v in svc.views(session, settings, rows, date.today())]
    return Page[ActionOut](total=total, limit=limit, offset=offset, items=items)


@router.get("/actions/{action_id}", response_model=ActionOut)
def get_action(
    action_id: RowId, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> ActionOut:
    """One action with its progress and deadline state. 404 for an unknown action or one
    outside the caller's scope."""
    action = svc.get_action(session, principal, action_id)
    return _out(svc.view(session, settings, action, date.today()))


@router.patch("/actions/{action_id}", response_model=ActionOut)
def update_action(
    action_id: RowId,
    body: ActionPatch,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> ActionOut:
    """Change fields; the due date changes only through an approved deadline change."""
    action = svc.update_action(session, principal, action_id, body.changes())
    return _out(svc.view(session, settings, action, date.today()))


@router.post("/actions/{action_id}/notes", response_model=NoteOut, status_code=201)
def add_note(
    action_id: RowId, body: NoteIn, session: SessionDep, principal: PrincipalDep
) -> NoteOut:
    """A progress note, optionally with the progress and a status move (open -> in_progress
    -> handled | cancelled; handled_on: when, default today, never in the future)."""
    row = svc.add_note(
        session,
        principal,
        action_id,
        body.text,
        body.progress_pct,
        body.status,
        today=date.today(),
        handled_on=body.handled_on,
    )
    return NoteOut.model_validate(row)


@router.get("/actions/{action_id}/notes", response_model=list[NoteOut])
def list_notes(action_id: RowId, session: SessionDep, principal: PrincipalDep) -> list[NoteOut]:
    """The notes of an action, oldest first. 404 for an action outside the caller's scope."""
    return [NoteOut.model_validate(r) for r in svc.list_notes(session, principal, action_id)]


@router.post("/actions/{action_id}/warned", response_model=ActionOut)
def mark_warned(
    action_id: RowId, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> ActionOut:
    """Record that the early warning was given today by other means (late after its day)."""
    today = date.today()
    action = warnings.mark_warned(session, principal, settings, action_id, today)
    return _out(svc.view(session, settings, action, today))


@router.post(
    "/actions/{action_id}/evidence",
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
    action_id: RowId,
    request: Request,
    principal: PrincipalDep,
    db: DatabaseDep,
    settings: SettingsDep,
) -> EvidenceOut:
    """Attach a file (multipart field `file`). Who may update the action is checked before
    the body is read, which is read no further than the evidence size limit."""

    def allowed() -> None:
        with db.read_session() as session:
            evidence.may_add(session, principal, action_id)

    await run_in_threadpool(allowed)
    upload = await read_upload(request.headers, request.stream(), settings.case_evidence_max_bytes)

    def store() -> EvidenceOut:
        with db.session() as session:
            row = evidence.add(
                session,
                principal,
                settings,
                action_id,
                upload.filename,
                upload.content_type,
                upload.data,
            )
            return EvidenceOut.model_validate(row)

    return await run_in_threadpool(store)


@router.get("/actions/{action_id}/evidence", response_model=list[EvidenceOut])
def list_evidence(
    action_id: RowId, session: SessionDep, principal: PrincipalDep
) -> list[EvidenceOut]:
    """List the evidence files of an action. 404 for an action outside the caller's scope."""
    rows = evidence.list_for_action(session, principal, action_id)
    return [EvidenceOut.model_validate(r) for r in rows]


@router.get("/actions/{action_id}/evidence/{evidence_id}", response_class=FileResponse)
def download_evidence(
    action_id: RowId,
    evidence_id: RowId,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> FileResponse:
    """Download one evidence file of an action, as uploaded. 404 for an unknown file or an
    action outside the caller's scope."""
    row, path = evidence.open_file(session, principal, settings, action_id, evidence_id)
    return FileResponse(
        path,
        media_type=row.content_type,
        filename=row.filename,
        headers={"X-Content-Type-Options": "nosniff"},
    )


@router.post(
    "/actions/{action_id}/deadline-changes", response_model=DeadlineChangeOut, status_code=201
)
def request_deadline_change(
    action_id: RowId, body: DeadlineChangeIn, session: SessionDep, principal: PrincipalDep
) -> DeadlineChangeOut:
    """Ask to move the due date: the customer (specific) or the authority (common) decides."""
    row = deadline_changes.request_change(session, principal, action_id, body.new_due, body.reason)
    return DeadlineChangeOut.model_validate(row)


@router.get("/actions/{action_id}/deadline-changes", response_model=list[DeadlineChangeOut])
def action_deadline_changes(
    action_id: RowId, session: SessionDep, principal: PrincipalDep
) -> list[DeadlineChangeOut]:
    """Every deadline change of the action, with old and new dates and who decided."""
    rows = deadline_changes.changes_of(session, principal, action_id)
    return [DeadlineChangeOut.model_validate(r) for r in rows]


@router.get("/deadline-changes", response_model=Page[DeadlineChangeOut])
def pending_deadline_changes(
    session: SessionDep,
    principal: PrincipalDep,
    limit: int = Query(default=100, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=10_000_000),
) -> Page[DeadlineChangeOut]:
    """Pending deadline changes of the actions you see (the approvers' queue)."""
    total, rows = deadline_changes.pending_changes(session, principal, limit, offset)
    items = [DeadlineChangeOut.model_validate(r) for r in rows]
    return Page[DeadlineChangeOut](total=total, limit=limit, offset=offset, items=items)


@router.post("/deadline-changes/{change_id}/decision", response_model=DeadlineChangeOut)
def decide_deadline_change(
    change_id: RowId,
    body: DecisionIn,
    db: DatabaseDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> DeadlineChangeOut:
    """Approve (the due date moves) or reject. Only the customer of a specific item's tenant
    or the authority for a common item may; anyone else gets 403, and the refusal is
    audited."""
    try:
        with db.session() as session:
            row = deadline_changes.decide_change(
                session, principal, settings, change_id, body.approve, date.today()
            )
            return DeadlineChangeOut.model_validate(row)
    except Forbidden as exc:
        # The work session has rolled back and closed: the refusal in a second one.
        with db.session() as second:
            audit.record(
                second,
                actor=principal.actor,
                action="risk.deadline_change.refused",
                object_type="risk_deadline_change",
                object_id=change_id,
                detail={
                    "attempt": "approve" if body.approve else "reject",
                    "role": principal.role,
                    "reason": exc.message,
                },
            )
        raise


@router.get("/on-time", response_model=OnTimeOut)
def on_time_report(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    start: str = Query(alias="from", pattern=DATE, description="YYYY-MM-DD"),
    end: str = Query(alias="to", pattern=DATE, description="YYYY-MM-DD"),
    register: Register | None = None,
    tenant: str | None = Query(default=None, min_length=1, max_length=64),
) -> OnTimeOut:
    """Of the items handled from `from` to `to` (outside-ecosystem ones excluded), the share
    handled by their due date, against the target, with the late ones."""
    report = on_time.on_time_report(
        session,
        principal,
        settings,
        _date(start, "from"),
        _date(end, "to"),
        register,
        tenant,
    )
    return OnTimeOut.model_validate(report)


def _admin(principal: Principal, roles: frozenset[str]) -> None:
    if principal.role not in roles or not principal.is_global:
        raise Forbidden(N_("only {roles} (unscoped) may do this"), roles=" or ".join(sorted(roles)))


@router.post("/warnings/run", response_model=WarningRunOut)
def run_warnings(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    body: WarningRunIn | None = None,
) -> WarningRunOut:
    """Send the early warnings due by `today` (default: today); what the daily task does."""
    _admin(principal, frozenset({"admin"}))
    today = body.today if body is not None and body.today is not None else date.today()
    run = warnings.send_due_warnings(session, settings, today)
    return WarningRunOut(
        today=run.today,
        checked=run.checked,
        warned=run.warned,
        late=run.late,
        notices=run.notices,
        action_ids=run.action_ids,
    )


def _followups_out(session: Session, rows: list[RiskFollowUp]) -> list[FollowUpOut]:
    slugs = followup.tenant_slugs(session, rows)
    return [
        FollowUpOut(
            id=r.id,
            month=r.month,
            tenant=slugs.get(r.tenant_id) if r.tenant_id is not None else None,
            generated_at=r.generated_at,
            sha256=r.sha256,
        )
        for r in rows
    ]


@router.get("/followups", response_model=Page[FollowUpOut])
def list_followups(
    session: SessionDep,
    principal: PrincipalDep,
    month: str | None = Query(default=None, pattern=MONTH, description="YYYY-MM"),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=10_000_000),
) -> Page[FollowUpOut]:
    """The archived monthly follow-ups of audit findings: your tenants' and the common ones,
    newest month first."""
    total, rows = followup.list_followups(session, principal, month, limit, offset)
    items = _followups_out(session, rows)
    return Page[FollowUpOut](total=total, limit=limit, offset=offset, items=items)


@router.get("/followups/{followup_id}", response_model=FollowUpDetailOut)
def get_followup(
    followup_id: RowId, session: SessionDep, principal: PrincipalDep
) -> FollowUpDetailOut:
    """The report as archived, and whether its hash still matches the row and the audit log."""
    row = followup.get_followup(session, principal, followup_id)
    brief = _followups_out(session, [row])[0]
    return FollowUpDetailOut(
        **brief.model_dump(),
        body=orjson.loads(row.body),
        verified=followup.verify_followup(session, row.id),
    )


@router.post("/followups", response_model=list[FollowUpOut])
def generate_followups(
    body: FollowUpIn, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> list[FollowUpOut]:
    """Generate (archive) the month's follow-ups; a month already archived for a tenant is
    returned as it was. What the monthly task does."""
    _admin(principal, frozenset({"admin", "soc_analyst"}))
    rows = followup.generate_followup(
        session, settings, body.month, utcnow(), actor=principal.actor
    )
    return _followups_out(session, rows)
