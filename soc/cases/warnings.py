"""Breach warnings: cases whose response or resolution clock is due within the warning
window of their priority (and not yet past due). Run every minute by Celery beat in
production and by the server's own thread in embedded mode (one runner each, so a clock is
never warned twice); each warning is on the case's timeline and e-mailed (the outbox) to who
must act."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from soc.cases.models import Case
from soc.cases.timeline import note
from soc.core.db import Database, utcnow
from soc.core.i18n import N_, number, translate, when
from soc.core.settings import Settings
from tenants.mail import Readers, Template, mail_users

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BreachWarning:
    case_id: int
    clock: str  # response | resolution
    due: datetime


def about_to_breach(
    session: Session, now: datetime | None = None, *, settings: Settings
) -> list[BreachWarning]:
    """Open clocks with now < due <= now + warning window (per priority), not yet warned."""
    now = now or utcnow()
    widest = timedelta(minutes=max(settings.case_warning_minutes.values(), default=0))
    rows = session.scalars(
        select(Case).where(
            or_(
                and_(
                    Case.responded_at.is_(None),
                    Case.response_warned.is_(False),
                    Case.response_due > now,
                    Case.response_due <= now + widest,
                ),
                and_(
                    Case.resolved_at.is_(None),
                    Case.paused_since.is_(None),
                    Case.resolution_warned.is_(False),
                    Case.resolution_due > now,
                    Case.resolution_due <= now + widest,
                ),
            )
        )
    )
    found: list[BreachWarning] = []
    for case in rows:
        window = timedelta(minutes=settings.case_warning_minutes.get(case.priority, 0))
        for clock, due, open_, warned in (
            ("response", case.response_due, case.responded_at is None, case.response_warned),
            (
                "resolution",
                case.resolution_due,
                case.resolved_at is None and case.paused_since is None,
                case.resolution_warned,
            ),
        ):
            if open_ and not warned and due is not None and now < due <= now + window:
                found.append(BreachWarning(case.id, clock, due))
    return found


def send_breach_warnings(
    session: Session, now: datetime | None = None, *, settings: Settings
) -> list[BreachWarning]:
    """Record each warning once on the case (timeline, audit, ITSM outbox)."""
    now = now or utcnow()
    warnings = about_to_breach(session, now, settings=settings)
    for w in warnings:
        case = session.get(Case, w.case_id)
        assert case is not None
        setattr(case, f"{w.clock}_warned", True)
        minutes = round((w.due - now).total_seconds() / 60, 1)
        detail = {"clock": w.clock, "due": w.due.isoformat(), "minutes_left": minutes}
        note(session, settings, case, "system", "sla_warning", detail)
        mail_warning(session, case, w, minutes)
    return warnings


def warn_until(db: Database, settings: Settings, stop: threading.Event) -> None:
    """The embedded server's breach warnings, every `case_warning_seconds` until `stop`."""
    while not stop.wait(settings.case_warning_seconds):
        try:
            with db.session() as session:
                send_breach_warnings(session, settings=settings)
        except Exception:  # the database may be busy or down: the next pass catches up
            log.exception("SLA breach warnings failed")


CLOCKS = {"response": N_("response"), "resolution": N_("resolution")}
SLA_WARNING = Template(
    "sla_warning",
    N_("[SLA] Case {case_id}: {clock} due in {minutes} minutes"),
    N_(
        "The {clock} time of case {case_id} ({title}) ends at {due}, in {minutes} minutes."
        " Act before then to keep the SLA."
    ),
)


def mail_warning(session: Session, case: Case, w: BreachWarning, minutes: float) -> int:
    """The warning by e-mail: to the assignee, or to the SOC analysts while nobody is."""
    who = (
        Readers(user_ids=(case.assignee_id,))
        if case.assignee_id is not None
        else Readers(global_roles=("soc_analyst",))
    )

    def fields(lang: str) -> dict[str, object]:
        return {
            "case_id": case.id,
            "title": case.title,
            "clock": translate(lang, CLOCKS[w.clock]),
            "due": when(w.due, lang),
            "minutes": number(minutes, lang),
        }

    key = f"case.{case.id}.sla.{w.clock}.{int(w.due.timestamp())}"
    return mail_users(session, who, SLA_WARNING, key, fields)
