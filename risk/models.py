"""Risk register tables: risks (their tenants, providers, links and field history),
acceptances, the action registers (one table, a `register` kind) with progress notes,
evidence, deadline changes and warnings, non-conformities, notifications, and the archived
monthly follow-up reports of audit findings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, get_args

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from soc.core.db import Base, UTCDateTime, utcnow

Category = Literal["operational", "strategic"]
RiskSource = Literal[
    "soc_case", "audit", "pen_test", "security_analysis", "provider", "integrator", "kri_breach"
]
Scope = Literal["specific", "common"]
Treatment = Literal["mitigate", "transfer", "avoid", "accept"]
RiskStatus = Literal[
    "identified", "assessed", "treatment_planned", "in_treatment", "monitored", "closed"
]
LinkKind = Literal["case", "ci", "nonconformity"]
AcceptanceStatus = Literal["requested", "accepted", "rejected", "ended"]
Register = Literal[
    "mitigation", "corrective_action", "improvement_proposal", "complaint", "audit_finding"
]
ActionStatus = Literal["open", "in_progress", "handled", "cancelled"]
Decision = Literal["pending", "approved", "rejected"]
NCKind = Literal["security", "process"]
NCSource = Literal["audit", "kri", "process_metric", "complaint", "risk_analysis", "pen_test"]
NCStatus = Literal["open", "in_progress", "closed"]

CATEGORIES: tuple[str, ...] = get_args(Category)
RISK_SOURCES: tuple[str, ...] = get_args(RiskSource)
SCOPES: tuple[str, ...] = get_args(Scope)
TREATMENTS: tuple[str, ...] = get_args(Treatment)
RISK_STATUSES: tuple[str, ...] = get_args(RiskStatus)
LINK_KINDS: tuple[str, ...] = get_args(LinkKind)
REGISTERS: tuple[str, ...] = get_args(Register)
ACTION_STATUSES: tuple[str, ...] = get_args(ActionStatus)
NC_KINDS: tuple[str, ...] = get_args(NCKind)
NC_SOURCES: tuple[str, ...] = get_args(NCSource)
NC_STATUSES: tuple[str, ...] = get_args(NCStatus)


class Risk(Base):
    __tablename__ = "risks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(16), index=True)
    source: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(16), index=True)
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    owner_name: Mapped[str] = mapped_column(String(200), default="")
    owning_provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"), index=True)
    likelihood: Mapped[int] = mapped_column(Integer)
    impact: Mapped[int] = mapped_column(Integer)
    residual_likelihood: Mapped[int] = mapped_column(Integer)
    residual_impact: Mapped[int] = mapped_column(Integer)
    treatment: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24), default="identified", index=True)
    review_date: Mapped[date | None] = mapped_column(Date, index=True)
    review_cadence_days: Mapped[int | None] = mapped_column(Integer)
    review_reminded_on: Mapped[date | None] = mapped_column(Date)
    # A risk reaches customers only once aligned with the authority, then with this advice.
    aligned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    aligned_by: Mapped[str | None] = mapped_column(String(200))
    advice: Mapped[str] = mapped_column(Text, default="")
    # "accepted" while an acceptance holds; "review" when a material change or expiry ended it.
    acceptance_state: Mapped[str] = mapped_column(String(16), default="none")
    # The id a risk had in the register it was imported from (re-imports are duplicates).
    external_ref: Mapped[str | None] = mapped_column(String(200), index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RiskTenant(Base):
    """A tenant a specific risk concerns (a common risk has none)."""

    __tablename__ = "risk_tenants"

    risk_id: Mapped[int] = mapped_column(ForeignKey("risks.id"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True, index=True)


class RiskProvider(Base):
    __tablename__ = "risk_providers"

    risk_id: Mapped[int] = mapped_column(ForeignKey("risks.id"), primary_key=True)
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("providers.id"), primary_key=True, index=True
    )


class RiskLink(Base):
    """A security case, a CI or a non-conformity the risk is about."""

    __tablename__ = "risk_links"

    risk_id: Mapped[int] = mapped_column(ForeignKey("risks.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class RiskChange(Base):
    """One field of a risk changed: the history of every field."""

    __tablename__ = "risk_changes"
    __table_args__ = (Index("ix_risk_changes_risk_at", "risk_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    risk_id: Mapped[int] = mapped_column(ForeignKey("risks.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    field: Mapped[str] = mapped_column(String(64))
    old: Mapped[Any] = mapped_column(JSON, nullable=True)
    new: Mapped[Any] = mapped_column(JSON, nullable=True)


class RiskAcceptance(Base):
    """A request to accept a risk and its decision, bound to the state it was assessed in
    (residual score, scope): a material change or the expiry ends it."""

    __tablename__ = "risk_acceptances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    risk_id: Mapped[int] = mapped_column(ForeignKey("risks.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="requested", index=True)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    request_note: Mapped[str] = mapped_column(Text, default="")
    residual_score: Mapped[int] = mapped_column(Integer)
    scope_key: Mapped[str] = mapped_column(String(400))
    justification: Mapped[str] = mapped_column(Text, default="")
    expires_on: Mapped[date | None] = mapped_column(Date)
    # Who approved: the authority, and the customer when the setting asks both.
    authority_by: Mapped[str | None] = mapped_column(String(200))
    authority_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    customer_by: Mapped[str | None] = mapped_column(String(200))
    customer_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_reason: Mapped[str | None] = mapped_column(String(32))
    ended_by: Mapped[str | None] = mapped_column(String(200))


class RiskNonConformity(Base):
    """A security or process non-conformity; its improvement proposals and corrective actions
    are actions pointing at it."""

    __tablename__ = "risk_nonconformities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(16))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"), index=True)
    ci_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RiskAction(Base):
    """An item of one of the action registers (`register`): a mitigation of a risk, a
    corrective action or improvement proposal of a non-conformity, a complaint, an open
    finding of a security analysis, pen test or audit."""

    __tablename__ = "risk_actions"
    __table_args__ = (Index("ix_risk_actions_register_status", "register", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    register: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    risk_id: Mapped[int | None] = mapped_column(ForeignKey("risks.id"), index=True)
    nc_id: Mapped[int | None] = mapped_column(ForeignKey("risk_nonconformities.id"), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    owner_provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"), index=True)
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    owner_name: Mapped[str] = mapped_column(String(200), default="")
    # Where an audit finding comes from (a report's name) and its proposed mitigation.
    origin: Mapped[str] = mapped_column(String(200), default="")
    proposed_mitigation: Mapped[str] = mapped_column(Text, default="")
    due: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    progress_pct: Mapped[int] = mapped_column(Integer, default=0)
    handled_on: Mapped[date | None] = mapped_column(Date)
    warned_on: Mapped[date | None] = mapped_column(Date)
    warning_late: Mapped[bool] = mapped_column(Boolean, default=False)
    outside_ecosystem: Mapped[bool] = mapped_column(Boolean, default=False)
    # Improvement proposals: the customer (specific) or the authority (common) decides, and
    # the service or CI and window they touch are checked for conflicts.
    decision: Mapped[str | None] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str] = mapped_column(Text, default="")
    service: Mapped[str] = mapped_column(String(200), default="")
    ci_id: Mapped[int | None] = mapped_column(Integer)
    window_start: Mapped[date | None] = mapped_column(Date)
    window_end: Mapped[date | None] = mapped_column(Date)
    external_ref: Mapped[str | None] = mapped_column(String(200), index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RiskActionNote(Base):
    """A progress note (and the progress it reports)."""

    __tablename__ = "risk_action_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("risk_actions.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    progress_pct: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str | None] = mapped_column(String(16))


class RiskActionEvidence(Base):
    __tablename__ = "risk_action_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("risk_actions.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(500))
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RiskDeadlineChange(Base):
    """A requested change of an action's due date and who decided it (the customer for a
    specific item, the authority for a common one); old and new dates are kept."""

    __tablename__ = "risk_deadline_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("risk_actions.id"), index=True)
    old_due: Mapped[date] = mapped_column(Date)
    new_due: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text, default="")
    approver: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RiskNotification(Base):
    """A message for a party (the owner, a customer's users, the authority, a provider):
    early warnings, acceptance reviews, risks aligned for a customer. Shown in their pages
    and sent by e-mail where an address is known."""

    __tablename__ = "risk_notifications"
    __table_args__ = (Index("ix_risk_notifications_party", "party", "tenant_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    party: Mapped[str] = mapped_column(String(16))  # owner | customer | authority | provider
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    subject_type: Mapped[str] = mapped_column(String(16))  # risk | action
    subject_id: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    late: Mapped[bool] = mapped_column(Boolean, default=False)


class RiskFollowUp(Base):
    """The monthly follow-up of open audit findings (status and proposed mitigation per
    action), archived as generated: never updated, its hash also in the audit chain."""

    __tablename__ = "risk_followups"
    # Unique per tenant and month; NULLs are distinct in a unique index, so the common
    # report (no tenant) has a partial index of its own.
    __table_args__ = (
        Index("ix_risk_followups_month_tenant", "month", "tenant_id", unique=True),
        Index(
            "ix_risk_followups_common_month",
            "month",
            unique=True,
            sqlite_where=text("tenant_id IS NULL"),
            postgresql_where=text("tenant_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[str] = mapped_column(String(7))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"))
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    body: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
