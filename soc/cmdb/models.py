"""CMDB tables: configuration items, their relations and names, the CMDB map, change history;
providers' operational events, share policies, maintenance windows; computed status, its
history, operational incidents; outage notices and status subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import (
    JSON,
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
from soc.core.secrets import EncryptedString

CIType = Literal[
    "application",
    "service",
    "application_component",
    "server",
    "vm",
    "container",
    "database",
    "network_device",
    "firewall",
    "load_balancer",
    "storage",
    "cloud_resource",
    "cluster",
]
RelType = Literal["depends_on", "runs_on", "hosted_in", "member_of", "connects_to"]
CMDBSource = Literal["cmdb2", "gos", "provider"]
CI_TYPES: tuple[str, ...] = get_args(CIType)
RELATION_TYPES: tuple[str, ...] = get_args(RelType)
CMDB_SOURCES: tuple[str, ...] = get_args(CMDBSource)


class ConfigurationItem(Base):
    """A CI. Never deleted: a CI missing from a full sync is retired (`retired_at` set)."""

    __tablename__ = "cmdb_cis"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    ci_type: Mapped[str] = mapped_column(String(32), index=True)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"), index=True)
    environment: Mapped[str] = mapped_column(String(32), default="production")
    criticality: Mapped[str] = mapped_column(String(16), default="medium")
    always_on: Mapped[bool] = mapped_column(Boolean, default=False)
    min_healthy: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(64), default="gos")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CITenant(Base):
    """A tenant a CI serves; a shared CI serves many."""

    __tablename__ = "cmdb_ci_tenants"

    ci_id: Mapped[int] = mapped_column(ForeignKey("cmdb_cis.id"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True, index=True)


class CIName(Base):
    """Host names and aliases an event may name a CI by (lower case)."""

    __tablename__ = "cmdb_ci_names"
    __table_args__ = (UniqueConstraint("name", "ci_id", name="uq_cmdb_ci_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ci_id: Mapped[int] = mapped_column(ForeignKey("cmdb_cis.id"), index=True)
    name: Mapped[str] = mapped_column(String(255), index=True)


class ExternalId(Base):
    """A CI's id in a source CMDB; the key that keeps ids stable across re-imports."""

    __tablename__ = "cmdb_external_ids"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_cmdb_external_id"),
        # An event naming a bare external id (no source) is looked up by it alone.
        Index("ix_cmdb_external_ids_external_id", "external_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ci_id: Mapped[int] = mapped_column(ForeignKey("cmdb_cis.id"), index=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(200))


class Relation(Base):
    """`from_ci` depends on / runs on / is hosted in / is a member of / connects to `to_ci`."""

    __tablename__ = "cmdb_relations"
    __table_args__ = (
        UniqueConstraint("from_ci_id", "to_ci_id", "rel_type", name="uq_cmdb_relation"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_ci_id: Mapped[int] = mapped_column(ForeignKey("cmdb_cis.id"), index=True)
    to_ci_id: Mapped[int] = mapped_column(ForeignKey("cmdb_cis.id"), index=True)
    rel_type: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64), default="gos")
    created_by: Mapped[str] = mapped_column(String(160), default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CmdbMapEntry(Base):
    """Which CMDB is the source of a CI type, and where it is replicated to."""

    __tablename__ = "cmdb_map"
    __table_args__ = (UniqueConstraint("ci_type", "provider_id", name="uq_cmdb_map"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ci_type: Mapped[str] = mapped_column(String(32))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"))
    source_cmdb: Mapped[str] = mapped_column(String(64))
    replicated_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")


class CIChange(Base):
    """Who changed what on a CI or relation, when, as a field diff."""

    __tablename__ = "cmdb_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ci_id: Mapped[int | None] = mapped_column(Integer, index=True)
    relation_id: Mapped[int | None] = mapped_column(Integer, index=True)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(160))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    diff: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SharePolicy(Base):
    """The agreed subset of a provider's events that is made central."""

    __tablename__ = "ops_share_policies"

    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), primary_key=True)
    min_severity: Mapped[str] = mapped_column(String(16), default="info")
    event_types: Mapped[list[str] | None] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(160), default="system")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OpsEvent(Base):
    """One operational event as received, with what became of it (applied, duplicate,
    not_shared, unmatched + reason). Kept whatever the outcome: nothing is dropped."""

    __tablename__ = "ops_events"
    __table_args__ = (Index("ix_ops_events_outcome_id", "outcome", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"), index=True)
    ci_id: Mapped[int | None] = mapped_column(Integer, index=True)
    ci_ref: Mapped[str] = mapped_column(String(255), default="")
    fingerprint: Mapped[str] = mapped_column(String(200), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    event_type: Mapped[str] = mapped_column(String(100), default="")
    source: Mapped[str] = mapped_column(String(100), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")


class ActiveAlert(Base):
    """The latest state of one fingerprint: what the correlation reads on load."""

    __tablename__ = "ops_alerts"
    __table_args__ = (UniqueConstraint("provider_key", "fingerprint", name="uq_ops_alert"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_key: Mapped[int] = mapped_column(Integer, default=0)
    fingerprint: Mapped[str] = mapped_column(String(200))
    ci_id: Mapped[int] = mapped_column(Integer, index=True)
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    changes: Mapped[list[str]] = mapped_column(JSON, default=list)
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)


class Maintenance(Base):
    """A planned maintenance window on a CI."""

    __tablename__ = "cmdb_maintenance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ci_id: Mapped[int] = mapped_column(ForeignKey("cmdb_cis.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    title: Mapped[str] = mapped_column(String(300), default="")
    created_by: Mapped[str] = mapped_column(String(160), default="system")


class CIStatus(Base):
    """A CI's current computed state (read by pages and other processes)."""

    __tablename__ = "cmdb_ci_status"

    ci_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    own: Mapped[bool] = mapped_column(Boolean, default=False)
    since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StatusChange(Base):
    """One change of a CI's computed state: the timeline, availability and notifications."""

    __tablename__ = "cmdb_status_changes"
    __table_args__ = (Index("ix_cmdb_status_changes_ci_at", "ci_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ci_id: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    previous: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OpsIncident(Base):
    """A connected group of root causes and the applications they impair."""

    __tablename__ = "ops_incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    severity: Mapped[str] = mapped_column(String(16), default="major")
    root_causes: Mapped[list[int]] = mapped_column(JSON, default=list)
    applications: Mapped[list[int]] = mapped_column(JSON, default=list)
    tenants: Mapped[list[int]] = mapped_column(JSON, default=list)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    problem_id: Mapped[int | None] = mapped_column(Integer)


class OutageNotice(Base):
    """An outage (or planned unavailability) the service desk publishes on customers' pages."""

    __tablename__ = "ops_outage_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default="outage")  # outage | planned
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    applications: Mapped[list[int]] = mapped_column(JSON, default=list)
    tenants: Mapped[list[int]] = mapped_column(JSON, default=list)
    published_by: Mapped[str] = mapped_column(String(160))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Subscription(Base):
    """A customer user's subscription to an application's status changes."""

    __tablename__ = "status_subscriptions"
    __table_args__ = (UniqueConstraint("user_id", "ci_id", name="uq_status_subscription"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    tenant_id: Mapped[int | None] = mapped_column(Integer, index=True)
    ci_id: Mapped[int] = mapped_column(ForeignKey("cmdb_cis.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    webhook_url: Mapped[str | None] = mapped_column(String(1000))
    # The webhook's signing key, encrypted at rest (soc.core.secrets).
    webhook_secret: Mapped[str | None] = mapped_column(EncryptedString(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StatusNotification(Base):
    """One delivery of one status change to one subscription on one channel: the unique key
    makes it exactly one, whatever retries or restarts happen."""

    __tablename__ = "status_notifications"
    __table_args__ = (
        UniqueConstraint("subscription_id", "change_id", "channel", name="uq_status_notification"),
        Index("ix_status_notifications_state_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(Integer)
    change_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))  # email | webhook
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending|sent|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TopologyRevision(Base):
    """One row: bumped by every change of CIs, relations or maintenance, so each process's
    in-memory graph knows when to reload."""

    __tablename__ = "cmdb_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
