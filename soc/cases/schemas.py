"""API shapes for security cases."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field, field_validator

from soc.core.schemas import Id, ORMModel

Status = Literal["new", "triage", "in_progress", "waiting_on_customer", "resolved", "closed"]
Level3 = Literal["high", "medium", "low"]
Priority = Literal["P1", "P2", "P3", "P4"]


class ClockOut(BaseModel):
    due: datetime | None
    remaining_seconds: int | None
    state: str = Field(description="running, warning, breached, paused, met or missed")


class CaseOut(ORMModel):
    id: int
    tenant: str | None = Field(default=None, description="tenant slug")
    provider: str | None = Field(default=None, description="assigned provider's slug")
    assignee: str | None = Field(default=None, description="assignee's username")
    tenant_id: int
    rule_id: str
    title: str
    level: str
    host: str
    status: str
    assignee_id: int | None
    provider_id: int | None
    alert_count: int
    first_seen: datetime
    last_seen: datetime
    created_at: datetime
    updated_at: datetime
    impact: str
    urgency: str
    priority: str
    escalation_level: int
    reassignment_count: int
    bouncing: bool
    merged_into_id: int | None
    root_cause: str | None
    responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    clock_24x7: bool
    billable: bool = Field(
        True, description="false: opened by a runaway rule, not billed until confirmed"
    )
    confirmed_by: str | None = None
    confirmed_at: datetime | None = None
    sla: dict[str, ClockOut] = Field(default_factory=dict)


class CaseEventOut(ORMModel):
    id: int
    at: datetime
    actor: str
    kind: str
    detail: dict[str, Any]

    @field_validator("detail", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        return orjson.loads(value) if isinstance(value, str | bytes) else value


class AlertOut(ORMModel):
    id: int
    rule_id: str
    rule_title: str
    level: str
    event_id: str
    host: str
    event_time: datetime
    case_id: int | None


class AssignIn(BaseModel):
    assignee: str | None = Field(default=None, max_length=120, description="analyst username")
    provider: str | None = Field(default=None, max_length=63, description="provider slug")


class StatusIn(BaseModel):
    status: Status
    note: str | None = Field(default=None, max_length=5000)
    root_cause: str | None = Field(
        default=None, max_length=20000, description="required before closing a P1 case"
    )


class PriorityIn(BaseModel):
    impact: Level3 | None = None
    urgency: Level3 | None = None
    reason: str = Field(min_length=1, max_length=5000)


class EscalateIn(BaseModel):
    reason: str = Field(min_length=1, max_length=5000)
    provider: str | None = Field(default=None, max_length=63)


class MergeIn(BaseModel):
    sources: list[Id] = Field(min_length=1, max_length=100)


class SplitIn(BaseModel):
    alerts: list[Id] = Field(min_length=1, max_length=1000)
    title: str | None = Field(default=None, max_length=300)


class RootCauseIn(BaseModel):
    text: str = Field(min_length=1, max_length=20000)


class EvidenceOut(ORMModel):
    id: int
    case_id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


class ProblemOut(ORMModel):
    id: int
    tenant_id: int | None
    case_id: int | None
    ops_incident_id: int | None = None
    tenants: list[int] | None = None
    root_cause: str | None = None
    root_cause_at: datetime | None = None
    root_cause_on_time: bool | None = None
    title: str
    status: str
    root_cause_due: datetime
    created_at: datetime


class AssetIn(BaseModel):
    tenant: str = Field(max_length=64)
    host: str = Field(min_length=1, max_length=255)
    criticality: Level3
    description: str = Field(default="", max_length=300)


class AssetOut(ORMModel):
    id: int
    tenant_id: int
    host: str
    criticality: str
    description: str


class OutboxOut(ORMModel):
    id: int
    idempotency_key: str
    case_id: int
    tenant_id: int
    kind: str
    state: str
    attempts: int
    last_error: str | None
    created_at: datetime


class WebhookIn(BaseModel):
    case_id: Id
    status: Status
    note: str | None = Field(default=None, max_length=5000)
    root_cause: str | None = Field(default=None, max_length=20000)


class NoteIn(BaseModel):
    note: str | None = Field(default=None, max_length=5000)


class CommentIn(BaseModel):
    text: str = Field(min_length=1, max_length=20000)
