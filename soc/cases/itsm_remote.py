"""Remote ITSM tickets of a case (ServiceNow incidents, 4me requests): which one is current,
what state it was last seen in, and the chain of tickets of a case reopened after its ticket
closed for good."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from soc.core.db import Base, UTCDateTime, utcnow


class RemoteTicket(Base):
    __tablename__ = "itsm_remote_tickets"
    __table_args__ = (
        UniqueConstraint("system", "sys_id", name="uq_itsm_remote_tickets_sys_id"),
        Index("ix_itsm_remote_tickets_case", "case_id", "id"),
        Index("ix_itsm_remote_tickets_tenant", "tenant_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    system: Mapped[str] = mapped_column(String(12))  # servicenow | 4me
    table_name: Mapped[str] = mapped_column(String(40))  # incident | sn_si_incident | requests
    sys_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(24), default="", server_default="")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # ServiceNow's sys_updated_on (as it sends it) of the newest change seen: the poll mark.
    remote_updated: Mapped[str | None] = mapped_column(String(32))
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("itsm_remote_tickets.id"))


def current(session: Session, case_id: int, system: str) -> RemoteTicket | None:
    """The case's newest ticket in that system."""
    return session.scalar(
        select(RemoteTicket)
        .where(RemoteTicket.case_id == case_id, RemoteTicket.system == system)
        .order_by(RemoteTicket.id.desc())
        .limit(1)
    )


def for_case(session: Session, case_id: int) -> list[RemoteTicket]:
    """All tickets of a case, oldest first."""
    return list(
        session.scalars(
            select(RemoteTicket).where(RemoteTicket.case_id == case_id).order_by(RemoteTicket.id)
        )
    )


def by_sys_id(session: Session, system: str, sys_id: str) -> RemoteTicket | None:
    return session.scalar(
        select(RemoteTicket).where(RemoteTicket.system == system, RemoteTicket.sys_id == sys_id)
    )


def known_sys_ids(session: Session, case_id: int, system: str) -> set[str]:
    return set(
        session.scalars(
            select(RemoteTicket.sys_id).where(
                RemoteTicket.case_id == case_id, RemoteTicket.system == system
            )
        )
    )


def record_opened(
    session: Session,
    *,
    case_id: int,
    tenant_id: int,
    system: str,
    table_name: str,
    sys_id: str,
    number: str,
    state: str,
    previous_id: int | None,
) -> RemoteTicket:
    existing = by_sys_id(session, system, sys_id)
    if existing is not None:  # a create whose reply was lost, found again
        return existing
    ticket = RemoteTicket(
        case_id=case_id,
        tenant_id=tenant_id,
        system=system,
        table_name=table_name,
        sys_id=sys_id,
        number=number,
        state=state,
        opened_at=utcnow(),
        previous_id=previous_id,
    )
    session.add(ticket)
    session.flush()
    return ticket


def set_state(
    ticket: RemoteTicket, state: str, final: frozenset[str], updated: str | None = None
) -> None:
    ticket.state = state
    if state in final and ticket.closed_at is None:
        ticket.closed_at = utcnow()
    elif state not in final:
        ticket.closed_at = None
    if updated and (ticket.remote_updated or "") < updated:
        ticket.remote_updated = updated


def link(settings_url: str | None, ticket: RemoteTicket) -> str | None:
    """Where a person opens the ticket in the ITSM tool's own UI."""
    if not settings_url:
        return None
    base = settings_url.rstrip("/")
    if ticket.system == "servicenow":
        return f"{base}/nav_to.do?uri={ticket.table_name}.do?sys_id={ticket.sys_id}"
    return None
