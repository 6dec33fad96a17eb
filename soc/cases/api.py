"""Cases API: list with filters and paging, read, timeline, alerts, assign, status, comment."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from ingest.api import event_out
from ingest.schemas import EventOut
from soc.cases import service as svc
from soc.cases.schemas import (
    AlertOut,
    AssignIn,
    CaseEventOut,
    CaseOut,
    CommentIn,
    NoteIn,
    Status,
    StatusIn,
)
from soc.deps import current_principal, db_session, get_services
from soc.schemas import DB_INT_MAX, Page, RowId
from soc.services import Services
from tenants.principal import Principal

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])


@router.get("", response_model=Page[CaseOut])
def list_cases(
    status: Status | None = None,
    level: str | None = Query(default=None, max_length=16),
    rule_id: str | None = Query(default=None, max_length=64),
    host: str | None = Query(default=None, max_length=255),
    assignee_id: int | None = Query(default=None, ge=1, le=DB_INT_MAX),
    tenant_id: int | None = Query(default=None, ge=1, le=DB_INT_MAX),
    q: str | None = Query(default=None, max_length=200, description="text in title or host"),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=1_000_000),
    session: Session = Depends(db_session),
    principal: Principal = Depends(current_principal),
) -> Page[CaseOut]:
    filters = svc.CaseFilter(
        status=status,
        level=level,
        rule_id=rule_id,
        host=host,
        assignee_id=assignee_id,
        tenant_id=tenant_id,
        q=q,
    )
    total, rows = svc.list_cases(session, principal, filters, limit, offset)
    return Page[CaseOut](
        total=total, limit=limit, offset=offset, items=[CaseOut.model_validate(r) for r in rows]
    )


@router.get("/{case_id}", response_model=CaseOut)
def get_case(
    case_id: RowId,
    session: Session = Depends(db_session),
    principal: Principal = Depends(current_principal),
) -> CaseOut:
    return CaseOut.model_validate(svc.get_case(session, principal, case_id))


@router.get("/{case_id}/timeline", response_model=list[CaseEventOut])
def timeline(
    case_id: RowId,
    session: Session = Depends(db_session),
    principal: Principal = Depends(current_principal),
) -> list[CaseEventOut]:
    return [CaseEventOut.model_validate(e) for e in svc.case_timeline(session, principal, case_id)]


@router.get("/{case_id}/alerts", response_model=list[AlertOut])
def alerts(
    case_id: RowId,
    session: Session = Depends(db_session),
    principal: Principal = Depends(current_principal),
) -> list[AlertOut]:
    return [AlertOut.model_validate(a) for a in svc.case_alerts(session, principal, case_id)]


@router.get("/{case_id}/events", response_model=list[EventOut])
def events(
    case_id: RowId,
    session: Session = Depends(db_session),
    principal: Principal = Depends(current_principal),
    services: Services = Depends(get_services),
) -> list[EventOut]:
    """The stored events behind the case's alerts."""
    found = svc.case_alerts(session, principal, case_id)
    if not found:
        return []
    stored = services.store.get_many(found[0].tenant_id, [a.event_id for a in found])
    return [event_out(e) for e in stored]


@router.post("/{case_id}/assign", response_model=CaseOut)
def assign(
    case_id: RowId,
    body: AssignIn,
    session: Session = Depends(db_session),
    principal: Principal = Depends(current_principal),
) -> CaseOut:
    return CaseOut.model_validate(
        svc.assign(session, principal, case_id, body.assignee, body.provider)
    )


@router.post("/{case_id}/status", response_model=CaseOut)
def change_status(
    case_id: RowId,
    body: StatusIn,
    session: Session = Depends(db_session),
    principal: Principal = Depends(current_principal),
) -> CaseOut:
    return CaseOut.model_validate(
        svc.change_status(session, principal, case_id, body.status, body.note)
    )


@router.post("/{case_id}/reopen", response_model=CaseOut)
def reopen(
    case_id: RowId,
    body: NoteIn,
    session: Session = Depends(db_session),
    principal: Principal = Depends(current_principal),
) -> CaseOut:
    return CaseOut.model_validate(svc.reopen(session, principal, case_id, body.note))


@router.post("/{case_id}/comments", response_model=CaseEventOut, status_code=201)
def add_comment(
    case_id: RowId,
    body: CommentIn,
    session: Session = Depends(db_session),
    principal: Principal = Depends(current_principal),
) -> CaseEventOut:
    return CaseEventOut.model_validate(svc.comment(session, principal, case_id, body.text))
