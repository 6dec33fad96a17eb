"""Background jobs API: the state, progress and result of a job the caller started (a
retro-hunt answers 202 with its job; poll this until it is done or failed)."""

from __future__ import annotations

from fastapi import APIRouter

from soc.core import jobs
from soc.core.deps import PrincipalDep, SessionDep
from soc.core.schemas import JobOut, RowId

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: RowId, session: SessionDep, principal: PrincipalDep) -> JobOut:
    """A job of a tenant the caller sees (404 otherwise). For a retro-hunt, progress counts
    the events scanned of those in the hunted range; the result holds matches, alerts and
    cases raised."""
    return JobOut.model_validate(jobs.job_view(jobs.get_job(session, principal, job_id)))
