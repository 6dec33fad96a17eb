"""API shapes for security cases."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field, field_validator

from soc.schemas import ORMModel

Status = Literal["new", "triage", "in_progress", "resolved", "closed"]


class CaseOut(ORMModel):
    id: int
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


class NoteIn(BaseModel):
    note: str | None = Field(default=None, max_length=5000)


class CommentIn(BaseModel):
    text: str = Field(min_length=1, max_length=20000)
