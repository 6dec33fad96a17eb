"""KRI tables: the catalogue (seeded from kri/catalogue.yaml, editable through the API),
values per KRI, period and subject (computed or submitted, with their on-time and quality
verdicts), monthly reports (immutable versions), data-warehouse exports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, get_args

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from soc.core.db import Base, UTCDateTime, utcnow

Direction = Literal["higher_better", "lower_better"]
KriScope = Literal["customer", "provider", "end_to_end"]
KriSource = Literal["computed", "submitted"]
ReportKind = Literal["customer", "provider", "end_to_end"]
DIRECTIONS: tuple[str, ...] = get_args(Direction)
KRI_SCOPES: tuple[str, ...] = get_args(KriScope)
KRI_SOURCES: tuple[str, ...] = get_args(KriSource)
REPORT_KINDS: tuple[str, ...] = get_args(ReportKind)


class KriDefinition(Base):
    """One KRI of the catalogue. Numbers are kept as decimal strings (exact)."""

    __tablename__ = "kri_definitions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_en: Mapped[str] = mapped_column(String(200))
    name_nl: Mapped[str] = mapped_column(String(200))
    definition: Mapped[str] = mapped_column(Text, default="")
    unit: Mapped[str] = mapped_column(String(32), default="%")
    direction: Mapped[str] = mapped_column(String(16))
    norm: Mapped[str] = mapped_column(String(32))
    green: Mapped[str] = mapped_column(String(32))
    amber: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    # The computation of a computed KRI (a name in kri.computed), empty for submitted ones.
    computation: Mapped[str] = mapped_column(String(64), default="")
    owner_provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"))
    frequency: Mapped[str] = mapped_column(String(16), default="monthly")
    due_working_days: Mapped[int] = mapped_column(Integer, default=3)
    quality: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    domain: Mapped[str] = mapped_column(String(64), default="")
    weight: Mapped[str] = mapped_column(String(16), default="0")
    is_sla: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="catalogue")


class KriValue(Base):
    """A KRI's value for a period and subject (a tenant, a provider, or end to end: both
    NULL). A resubmission supersedes the earlier row (kept, `current` false)."""

    __tablename__ = "kri_values"
    __table_args__ = (
        Index("ix_kri_values_lookup", "kri_id", "period", "tenant_id", "provider_id"),
        Index("ix_kri_values_period", "period", "current"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kri_id: Mapped[str] = mapped_column(ForeignKey("kri_definitions.id"))
    period: Mapped[str] = mapped_column(String(7))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"))
    value: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_on: Mapped[date | None] = mapped_column(Date)
    submitted_by: Mapped[str] = mapped_column(String(200), default="system")
    due: Mapped[date] = mapped_column(Date)
    on_time: Mapped[bool] = mapped_column(Boolean, default=False)
    quality_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    quality_errors: Mapped[list[str]] = mapped_column(JSON, default=list)
    rag: Mapped[str | None] = mapped_column(String(8))
    achievement: Mapped[str | None] = mapped_column(String(16))
    met: Mapped[bool | None] = mapped_column(Boolean)
    repeated: Mapped[bool] = mapped_column(Boolean, default=False)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    # The non-conformity raised in the risk register for late or missing input, if any.
    nc_id: Mapped[int | None] = mapped_column(ForeignKey("risk_nonconformities.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class KriReport(Base):
    """A published monthly report: never changed; a correction is a new version."""

    __tablename__ = "kri_reports"
    # One row per subject and version, also when two publishers race (NULL subjects coalesced:
    # NULLs are distinct in a plain unique index).
    __table_args__ = (
        Index(
            "uq_kri_reports_version",
            "kind",
            "period",
            func.coalesce(text("tenant_id"), 0),
            func.coalesce(text("provider_id"), 0),
            "version",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(7), index=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("kri_reports.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    generated_by: Mapped[str] = mapped_column(String(200), default="system")
    content: Mapped[str] = mapped_column(Text)  # canonical JSON of every block
    sha256: Mapped[str] = mapped_column(String(64))
    pdf_path: Mapped[str | None] = mapped_column(String(500))
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))


class DwhExport(Base):
    """One daily data-warehouse export: what was written, where, with which schema."""

    __tablename__ = "dwh_exports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True, unique=True)
    schema_version: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(500))
    rows: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
