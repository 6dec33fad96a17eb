"""Background jobs API: the state, progress and result of a job the caller started (a
retro-hunt answers 202 with its job; poll this until it is done or failed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy.orm import Session

from soc import jobs
from soc.deps import current_principal, db_session
from soc.schemas import RowId
from tenants.principal import Principal

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


class JobProgressOut(BaseModel):
    done: int
    total: int | None
    percent: float


class JobOut(BaseModel):
    id: int
    kind: str
    tenant_id: int
    state: Literal["queued", "running", "done", "failed"]
    actor: str
    params: dict[str, Any]
    progress: JobProgressOut
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    updated_at: datetime
    finished_at: datetime | None


@router.get("/{job_id}", response_model=JobOut)
def get_job(
    job_id: RowId,
    session: Session = Depends(db_session),
    principal: Principal = Depends(current_principal),
) -> JobOut:
    """A job of a tenant the caller sees (404 otherwise). For a retro-hunt, progress counts
    the events scanned of those in the hunted range; the result holds matches, alerts and
    cases raised."""
    return JobOut.model_validate(jobs.job_view(jobs.get_job(session, principal, job_id)))
