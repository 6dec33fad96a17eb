"""Pydantic in/out models of the action registers' endpoints: actions, progress notes,
evidence, deadline changes, the on-time report, warning runs and the monthly follow-ups.

Input is strict (schemathesis fuzzes every route): strict strings, integers and booleans,
vocabularies as Literals, dates only as `YYYY-MM-DD` strings, unknown fields refused.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
)

from risk.models import ActionStatus, Register, Scope
from risk.schemas import in_range
from soc.core.schemas import DB_INT_MAX

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


def _iso_date(value: object) -> object:
    """A JSON date is a `YYYY-MM-DD` string: numbers, datetimes and other formats are refused."""
    if isinstance(value, str) and ISO_DATE.match(value):
        return date.fromisoformat(value)
    raise ValueError("a date must be a 'YYYY-MM-DD' string")


def parse_iso_date(value: str, name: str) -> date:
    """A `YYYY-MM-DD` query parameter (the router's pattern already checked the shape)."""
    try:
        return in_range(date.fromisoformat(value))
    except ValueError as exc:
        raise ValueError(f"{name}: not a 'YYYY-MM-DD' date in range: {value!r} ({exc})") from exc


IsoDate = Annotated[date, BeforeValidator(_iso_date), AfterValidator(in_range)]
BodyId = Annotated[StrictInt, Field(ge=1, le=DB_INT_MAX)]
Slug = Annotated[str, Field(min_length=1, max_length=64, strict=True)]
Username = Annotated[str, Field(min_length=1, max_length=120, strict=True)]
Title = Annotated[str, Field(min_length=1, max_length=200, strict=True)]
Short = Annotated[str, Field(max_length=200, strict=True)]
Text = Annotated[str, Field(max_length=20000, strict=True)]


class ActionPatch(BaseModel):
    """Fields to change; an absent field keeps its value. The due date is not here: it
    changes through a deadline change the customer or the authority approves."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Text | None = None
    owner_provider: Slug | None = Field(default=None, description="provider slug")
    owner_user: Username | None = Field(default=None, description="username")
    owner_name: Short | None = None
    outside_ecosystem: StrictBool | None = None
    origin: Short | None = Field(default=None, description="audit findings: the report")
    proposed_mitigation: Text | None = None
    service: Short | None = None
    ci_id: BodyId | None = None
    window_start: IsoDate | None = None
    window_end: IsoDate | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class ActionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # `register` itself would shadow BaseModel.register (and silently default to it).
    register_: Register = Field(alias="register")
    title: Title
    description: Text = ""
    scope: Scope
    tenant: Slug | None = Field(
        default=None, description="specific scope: the tenant (default: your own)"
    )
    risk_id: BodyId | None = Field(default=None, description="mitigation: the risk")
    nc_id: BodyId | None = Field(default=None, description="the non-conformity")
    owner_provider: Slug | None = None
    owner_user: Username | None = None
    owner_name: Short = ""
    due: IsoDate
    outside_ecosystem: StrictBool = False
    origin: Short = ""
    proposed_mitigation: Text = ""
    service: Short = ""
    ci_id: BodyId | None = None
    window_start: IsoDate | None = None
    window_end: IsoDate | None = None
    external_ref: Short | None = None


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(min_length=1, max_length=20000, strict=True)]
    progress_pct: Annotated[StrictInt, Field(ge=0, le=100)] | None = None
    status: ActionStatus | None = None
    handled_on: IsoDate | None = Field(
        default=None, description="status handled: the day it was handled (default today)"
    )


class DeadlineChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    new_due: IsoDate
    reason: Annotated[str, Field(min_length=1, max_length=20000, strict=True)]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: StrictBool


class WarningRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    today: IsoDate | None = None


class FollowUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: Annotated[str, Field(pattern=MONTH, strict=True)]


class ActionOut(BaseModel):
    id: int
    register_: str = Field(alias="register")
    title: str
    description: str
    risk_id: int | None
    nc_id: int | None
    scope: str
    tenant: str | None
    owner_provider: str | None
    owner_user: str | None
    owner_name: str
    origin: str
    proposed_mitigation: str
    due: date
    status: str
    progress_pct: int
    handled_on: date | None
    warned_on: date | None
    warning_late: bool
    outside_ecosystem: bool
    decision: str | None
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str
    service: str
    ci_id: int | None
    window_start: date | None
    window_end: date | None
    external_ref: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    warning_due: date = Field(description="the last day the early warning may go out")
    warning: str = Field(description="on_time | late | missing | not_yet")
    deadline_status: str = Field(description="on_time | late | open | overdue")
    deadline_approver: str = Field(description="customer | authority")


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    action_id: int
    at: datetime
    actor: str
    text: str
    progress_pct: int | None
    status: str | None


class EvidenceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    action_id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


class DeadlineChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    action_id: int
    old_due: date
    new_due: date
    reason: str
    approver: str
    status: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None


class LateItemOut(BaseModel):
    id: int
    title: str
    due: date
    handled_on: date


class OnTimeOut(BaseModel):
    start: date
    end: date
    handled: int
    excluded: int
    on_time: int
    on_time_pct: str
    target_pct: str
    target_met: bool
    late: list[LateItemOut]


class WarningRunOut(BaseModel):
    today: date
    checked: int
    warned: int
    late: int
    notices: int
    action_ids: list[int]


class FollowUpOut(BaseModel):
    id: int
    month: str
    tenant: str | None
    generated_at: datetime
    sha256: str


class FollowUpDetailOut(FollowUpOut):
    body: dict[str, Any]
    verified: bool
