"""Security cases, their timelines, evidence, problem records, assets and the ITSM outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from soc.core.db import Base, UTCDateTime, utcnow

STATUSES = ("new", "triage", "in_progress", "waiting_on_customer", "resolved", "closed")
OPEN_STATUSES = ("new", "triage", "in_progress", "waiting_on_customer")
LEVELS3 = ("high", "medium", "low")


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_grouping", "tenant_id", "rule_id", "host", "status"),
        # The case list: newest first, overall and per tenant / provider / status / priority.
        Index("ix_cases_last_seen_id", "last_seen", "id"),
        Index("ix_cases_tenant_last_seen", "tenant_id", "last_seen", "id"),
        Index("ix_cases_provider_last_seen", "provider_id", "last_seen", "id"),
        Index("ix_cases_status_last_seen", "status", "last_seen", "id"),
        Index("ix_cases_priority_last_seen", "priority", "last_seen", "id"),
        # Breach warnings: open clocks by due time.
        Index("ix_cases_response_due", "response_due"),
        Index("ix_cases_resolution_due", "resolution_due"),
        Index("ix_cases_tenant_created", "tenant_id", "created_at"),
        # The queue's sort-order, open-case and trigram indexes are in migration 0016 only:
        # their expressions differ per dialect (schemas come from the migrations).
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    level: Mapped[str] = mapped_column(String(16))
    host: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(20), default="new")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"), index=True)
    alert_count: Mapped[int] = mapped_column(Integer, default=0)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Priority (issue 5): impact x urgency; overrides keep their reason in the timeline.
    impact: Mapped[str] = mapped_column(String(8), default="medium", server_default="medium")
    urgency: Mapped[str] = mapped_column(String(8), default="medium", server_default="medium")
    priority: Mapped[str] = mapped_column(String(2), default="P3", server_default="P3")
    impact_overridden: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    urgency_overridden: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # SLA clocks: due times are stored (recomputed on every change) so lists and the breach
    # finder can query them; clock seconds are business or 24/7 seconds per the calendar.
    clock_24x7: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    response_due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution_due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    response_seconds: Mapped[int | None] = mapped_column(Integer)
    resolution_seconds: Mapped[int | None] = mapped_column(Integer)
    response_warned: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    resolution_warned: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Workflow additions.
    reassignment_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    bouncing: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    merged_into_id: Mapped[int | None] = mapped_column(Integer)
    root_cause: Mapped[str | None] = mapped_column(Text)
    # Rule safety: a case a runaway rule opened (too many alerts per hour) is not billed until
    # an analyst confirms it; billable cases count in the billing case meter.
    billable: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    confirmed_by: Mapped[str | None] = mapped_column(String(160))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CaseEvent(Base):
    """One line of a case's timeline: created, alert added, assigned, status, comment."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="{}")


class Asset(Base):
    """A tenant's host (CI) and its business criticality, which sets a case's impact."""

    __tablename__ = "case_assets"
    __table_args__ = (UniqueConstraint("tenant_id", "host", name="uq_case_assets_host"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    host: Mapped[str] = mapped_column(String(255))
    criticality: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(String(300), default="")


class Evidence(Base):
    """A file attached to a case; the bytes live under data_dir/evidence."""

    __tablename__ = "case_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(160))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Problem(Base):
    """The follow-up problem record a resolved critical (P1) case or a resolved critical
    operational incident opens (an incident's tenants are listed; it has no case)."""

    __tablename__ = "problems"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    ops_incident_id: Mapped[int | None] = mapped_column(Integer)
    tenants: Mapped[list[int] | None] = mapped_column(JSON)
    root_cause: Mapped[str | None] = mapped_column(Text)
    root_cause_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    root_cause_on_time: Mapped[bool | None] = mapped_column(Boolean)
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="open")
    root_cause_due: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OutboxMessage(Base):
    """One case change waiting for (or done with) delivery to the ITSM tool."""

    __tablename__ = "itsm_outbox"
    __table_args__ = (Index("ix_itsm_outbox_state_id", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    case_id: Mapped[int] = mapped_column(Integer, index=True)
    tenant_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending|delivered|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InboundNonce(Base):
    """A webhook nonce already accepted: the same one again is a replay."""

    __tablename__ = "itsm_inbound_nonces"

    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SavedView(Base):
    """A user's named queue view: the query string of the queue's filters and sort."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_saved_views_user_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    query: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
