"""Alerts (one Sigma rule match on one stored event) and per-tenant rule management."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from soc.core.db import Base, UTCDateTime, utcnow


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "rule_id", "event_id", name="uq_alert_match"),
        # a rule's alerts of the last hour, per tenant: the runaway check (soc.cases.grouping)
        Index("ix_alerts_tenant_rule_created", "tenant_id", "rule_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    rule_title: Mapped[str] = mapped_column(String(300))
    level: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255), default="")
    event_time: Mapped[datetime] = mapped_column(UTCDateTime())
    # Correlation alerts: JSON list of the contributing event ids (the last one is event_id).
    related_event_ids: Mapped[str | None] = mapped_column(Text, default=None)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- rule management per tenant (issue 4) -------------------------------------------------

SELECTORS = ("rule", "level", "status", "tag", "product")


class RuleSetting(Base):
    """Enable or disable the rules a selector picks (one rule id, or all of a level, status,
    tag or product) for one tenant. A rule's own setting wins; among bulk settings the most
    recent that applies wins; without any setting a rule is enabled."""

    __tablename__ = "rule_settings"
    __table_args__ = (UniqueConstraint("tenant_id", "selector", "value", name="uq_rule_setting"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    selector: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean)
    changed_by: Mapped[str] = mapped_column(String(160))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TenantRule(Base):
    """A Sigma rule of one tenant (YAML as uploaded); one with a shipped rule's id replaces
    that rule for the tenant."""

    __tablename__ = "tenant_rules"
    __table_args__ = (UniqueConstraint("tenant_id", "rule_id", name="uq_tenant_rule"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    yaml: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    changed_by: Mapped[str] = mapped_column(String(160))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RuleException(Base):
    """Suppress a rule's matches for one tenant when every condition holds (JSON list of
    {field, modifier, value}); no effect after ``expires_at``."""

    __tablename__ = "rule_exceptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    conditions: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(160))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FieldMapping(Base):
    """One of a tenant's own field names (``source_field``, a dotted path allowed) and the
    Sigma field it holds: copied to the Sigma name before matching when the event lacks it."""

    __tablename__ = "field_mappings"
    __table_args__ = (UniqueConstraint("tenant_id", "source_field", name="uq_field_mapping"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    source_field: Mapped[str] = mapped_column(String(200))
    sigma_field: Mapped[str] = mapped_column(String(200))
    author: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CorrelationWindow(Base):
    """The sliding window of one Sigma correlation rule for one tenant and group, when the
    windows live in the database (embedded mode; production keeps them in Redis): entries and
    recent bursts as JSON (detections.correlation.WindowState). Past ``expires_at`` (wall
    clock) it counts as empty and the sweep deletes it."""

    __tablename__ = "correlation_windows"
    __table_args__ = (
        UniqueConstraint("tenant_id", "rule_id", "group_key", name="uq_correlation_window"),
        Index("ix_correlation_windows_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    rule_id: Mapped[str] = mapped_column(String(200))
    group_key: Mapped[str] = mapped_column(String(64))  # sha256 of the group values (JSON)
    group_values: Mapped[str] = mapped_column(Text)  # JSON list, for people reading the table
    state: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DetectionRevision(Base):
    """Bumped on every change to a tenant's rule state, rules, exceptions or field map:
    detectors compare it once per batch and rebuild their cached view of the tenant when it
    moved."""

    __tablename__ = "detection_revisions"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
