"""Bulk actions on cases: `POST /api/v1/cases/bulk` (the queue's bulk form through the API).

Thin: the work is `soc.cases.bulk.run`, which puts each case through the single-case service
functions and answers per case what was done or refused (a case the caller may not see is
refused as not found, like every foreign object)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from detections.deps import DetectorDep
from soc.cases import bulk
from soc.cases.schemas import Status
from soc.core.deps import PrincipalDep, SessionDep, SettingsDep
from soc.core.schemas import Id

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["assign", "status", "merge", "false_positive"]
    case_ids: list[Id] = Field(min_length=1, max_length=bulk.MAX_CASES)
    assignee: str | None = Field(default=None, max_length=120, description="assign: username")
    provider: str | None = Field(default=None, max_length=63, description="assign: provider slug")
    status: Status | None = Field(default=None, description="status: the new status")
    note: str | None = Field(default=None, max_length=500, description="status: a note")
    target_id: Id | None = Field(
        default=None, description="merge: the case the others go into (default: the first)"
    )
    reason: str | None = Field(
        default=None, max_length=500, description="false_positive: why (required)"
    )
    add_exception: bool = Field(
        default=False, description="false_positive: also add a rule exception per rule and host"
    )
    exception_field: str | None = Field(
        default=None, max_length=120, description="the exception's event field (Computer)"
    )
    exception_value: str | None = Field(
        default=None, max_length=300, description="the exception's value (the case's host)"
    )


class BulkOutcomeOut(BaseModel):
    case_id: int
    ok: bool
    code: str = Field(description="done, or the refusal's error code (not_found, ...)")
    message: str


class BulkOut(BaseModel):
    action: str
    done: int
    refused: int
    results: list[BulkOutcomeOut]
    exceptions: list[int] = Field(description="ids of the rule exceptions created")


@router.post(
    "/bulk",
    response_model=BulkOut,
    summary="Apply one action to many cases",
    description=(
        "Assign, change the status of, merge, or close as false positive (optionally adding "
        "a rule exception) each listed case. Every case goes through the single-case action "
        "(timeline and audit); the answer lists per case what was done or why it was refused."
    ),
)
def bulk_action(
    body: BulkIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    detector: DetectorDep,
) -> BulkOut:
    wanted = bulk.BulkRequest(
        action=body.action,
        case_ids=body.case_ids,
        assignee=body.assignee,
        provider=body.provider,
        status=body.status,
        note=body.note,
        target_id=body.target_id,
        reason=body.reason,
        add_exception=body.add_exception,
        exception_field=body.exception_field,
        exception_value=body.exception_value,
    )
    result = bulk.run(session, principal, wanted, settings=settings, views=detector.views)
    return BulkOut(
        action=result.action,
        done=len(result.done),
        refused=len(result.refused),
        results=[
            BulkOutcomeOut(case_id=o.case_id, ok=o.ok, code=o.code, message=o.message)
            for o in result.outcomes
        ],
        exceptions=result.exceptions,
    )
