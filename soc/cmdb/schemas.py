"""Operational events in (JSON and Prometheus Alertmanager), status and incidents out."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
)

from soc.cmdb.events import EventInput
from soc.core.db import utcnow

Severity = Literal["critical", "major", "minor", "warning", "info"]
State = Literal["operational", "degraded", "down", "maintenance"]


def _iso_only(value: object) -> object:
    """JSON times are ISO 8601 strings: a bare number is refused, not read as epoch seconds."""
    if isinstance(value, str | datetime):
        return value
    raise ValueError("a time must be an ISO 8601 string")


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only)]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class EventIn(BaseModel):
    """One provider event. `ci` is a CI id, `source:external_id`, external id, host name,
    alias or name."""

    model_config = ConfigDict(extra="forbid")

    ci: StrictStr | StrictInt | None = Field(default=None, description="the CI the event is about")
    severity: Severity
    state: Literal["firing", "resolved"] = "firing"
    fingerprint: str | None = Field(
        default=None, max_length=200, description="default: ci + event type + source"
    )
    time: IsoDateTime | None = Field(default=None, description="when it happened; default now")
    event_type: str = Field(default="", max_length=100)
    source: str = Field(default="", max_length=100)
    summary: str = Field(default="", max_length=4000)
    provider: str | None = Field(
        default=None, max_length=64, description="provider slug (integrator only)"
    )

    @field_validator("ci")
    @classmethod
    def _ci_text(cls, value: str | int | None) -> str | None:
        return None if value is None or value == "" else str(value)[:255]

    def to_input(self) -> EventInput:
        ci = str(self.ci) if self.ci is not None else None
        fingerprint = self.fingerprint or f"{ci}|{self.event_type}|{self.source}"
        return EventInput(
            fingerprint=fingerprint,
            severity=self.severity,
            state=self.state,
            time=_aware(self.time) if self.time else utcnow(),
            ci=ci,
            event_type=self.event_type,
            source=self.source,
            summary=self.summary,
            provider=self.provider,
        )


ALERTMANAGER_SEVERITY = {
    "critical": "critical",
    "page": "critical",
    "error": "major",
    "major": "major",
    "high": "major",
    "minor": "minor",
    "medium": "minor",
    "warning": "warning",
    "low": "warning",
    "info": "info",
    "informational": "info",
    "none": "info",
}
CI_LABELS = ("ci", "ci_id", "cmdb_ci", "host", "hostname", "nodename", "instance")


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: IsoDateTime | None = None  # noqa: N815 - Alertmanager's field names
    endsAt: IsoDateTime | None = None  # noqa: N815
    fingerprint: str | None = None

    def to_input(self) -> EventInput:
        labels = self.labels
        ci = next((labels[k] for k in CI_LABELS if labels.get(k)), None)
        if ci is not None and labels.get("instance") == ci and ":" in ci:
            ci = ci.rsplit(":", 1)[0]  # instance is host:port
        severity = ALERTMANAGER_SEVERITY.get(labels.get("severity", "").lower(), "warning")
        when = self.endsAt if self.status == "resolved" and _real(self.endsAt) else self.startsAt
        fingerprint = (
            self.fingerprint
            or hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:16]
        )
        return EventInput(
            fingerprint=f"am:{fingerprint}",
            severity=severity,
            state=self.status,
            time=_aware(when) if when else utcnow(),
            ci=ci,
            event_type=labels.get("event_type") or labels.get("alertname", ""),
            source="alertmanager",
            summary=self.annotations.get("summary") or self.annotations.get("description", ""),
            provider=labels.get("provider"),
        )


def _real(value: datetime | None) -> bool:
    """Alertmanager sends 0001-01-01 for an alert that has not ended."""
    return value is not None and value.year > 1


class AlertmanagerIn(BaseModel):
    """The Alertmanager webhook body (version 4)."""

    model_config = ConfigDict(extra="allow")

    version: str = "4"
    status: str = "firing"
    alerts: list[AlertmanagerAlert] = Field(max_length=10_000)


class OutcomeOut(BaseModel):
    fingerprint: str
    outcome: str
    reason: str
    ci_id: int | None
    event_id: int | None


class ReceivedOut(BaseModel):
    received: int
    applied: int
    outcomes: list[OutcomeOut]
    status_changes: int


class OpsEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    provider_id: int | None
    ci_id: int | None
    ci_ref: str
    fingerprint: str
    severity: str
    state: str
    event_type: str
    source: str
    summary: str
    occurred_at: datetime
    received_at: datetime
    outcome: str
    reason: str


class SharePolicyIn(BaseModel):
    min_severity: Severity = "info"
    event_types: list[str] | None = Field(default=None, max_length=200)


class SharePolicyOut(BaseModel):
    provider: str
    min_severity: str
    event_types: list[str] | None
    updated_by: str
    updated_at: datetime


class MaintenanceIn(BaseModel):
    ci_id: int
    starts_at: IsoDateTime
    ends_at: IsoDateTime
    title: str = Field(default="", max_length=300)


class MaintenanceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ci_id: int
    starts_at: datetime
    ends_at: datetime
    title: str
    created_by: str


class CIRef(BaseModel):
    id: int
    name: str
    type: str
    state: State


class RootCauseOut(CIRef):
    path: list[CIRef]


class ApplicationStatus(CIRef):
    since: datetime | None
    root_causes: list[RootCauseOut]
    components: list[CIRef]


class DashboardOut(BaseModel):
    as_of: datetime
    counts: dict[str, int]
    applications: list[ApplicationStatus]
    impaired: list[CIRef]
    unmatched_events: int | None


class TimelineEntry(BaseModel):
    at: datetime
    kind: str  # event | status | case
    text: str
    detail: dict[str, Any] = Field(default_factory=dict)


class CIStatusOut(CIRef):
    own: bool
    impacted: bool
    root_causes: list[RootCauseOut]
    dependencies: list[CIRef]
    dependents: list[CIRef]
    timeline: list[TimelineEntry]


class IncidentOut(BaseModel):
    id: int
    status: str
    severity: str
    root_causes: list[CIRef]
    applications: list[CIRef]
    tenants: list[str]
    opened_at: datetime
    resolved_at: datetime | None
    problem_id: int | None


class AvailabilityOut(BaseModel):
    application: CIRef
    month: str
    figures: dict[str, Any]
