"""The durable marker of an ingest batch, written before its events are stored.

A request can die after its events are stored and before their meters and alerts are recorded
(kill -9, a full disk, a pool timeout). The marker says which: a batch still `pending` after a
grace period is recovered from the events the store tagged with it (see
ingest.service.Ingestor.recover), so no stored event stays unbilled or unchecked by the rules.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from soc.core.db import Base, UTCDateTime

PENDING = "pending"  # marker written; events may or may not be stored, nothing recorded yet
DONE = "done"  # recorded by its request: the marker is deleted then (no row in this state)
ABANDONED = "abandoned"  # recovered with nothing stored (the request died before storing)
RECOVERED = "recovered"  # done by the recovery pass, not by its request
# Its request failed after storing (detection or the database raised) and said so: recorded by
# the tenant's next ingest request or the next recovery pass, without waiting for the grace.
FAILED = "failed"
RECORDABLE = (PENDING, FAILED)  # the states a record step may claim the batch from


class IngestBatch(Base):
    __tablename__ = "ingest_batches"
    __table_args__ = (Index("ix_ingest_batches_state_created", "state", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    state: Mapped[str] = mapped_column(String(12), default=PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    events: Mapped[int] = mapped_column(Integer, default=0)  # recorded (new) events


# --- log sources: what a tenant declared it sends, and the hosts ingest actually saw --------

SOURCE_KINDS = ("windows", "linux_syslog", "firewall", "proxy", "cloud", "other")


class LogSource(Base):
    """A log source a tenant declared: the hosts matching `host_pattern` (a glob, case-folded)
    are expected to send events; silent for `silent_after_hours`, it raises a case."""

    __tablename__ = "log_sources"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_log_sources_tenant_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))
    host_pattern: Mapped[str] = mapped_column(String(255))
    expected_daily_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    silent_after_hours: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The last silence case raised; a new one only after the source spoke again since.
    last_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ObservedHost(Base):
    """Every host a tenant's events came from, updated once per ingest batch (an upsert per
    tenant and host): the declared sources' first and last seen, and the unknown hosts."""

    __tablename__ = "observed_hosts"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
