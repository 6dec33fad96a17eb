"""The durable marker of an ingest batch, written before its events are stored.

A request can die after its events are stored and before their meters and alerts are recorded
(kill -9, a full disk, a pool timeout). The marker says which: a batch still `pending` after a
grace period is recovered from the events the store tagged with it (see
ingest.service.Ingestor.recover), so no stored event stays unbilled or unchecked by the rules.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
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
