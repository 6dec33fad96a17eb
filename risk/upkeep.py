"""The register's time-driven work, one pass a day or more (every pass is idempotent): end
expired acceptances, remind owners of due reviews, send the early warnings whose day has
come, and archive the previous month's follow-up of open audit findings once the month is
over. Run by a thread of the embedded server and by Celery beat in production."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from risk.acceptance import expire_acceptances
from risk.followup import generate_followup
from risk.reviews import remind_reviews
from risk.warnings import send_due_warnings
from soc.core.db import Database, utcnow
from soc.core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpkeepRun:
    expired: int
    reminded: int
    warned: int
    late_warnings: int
    followups: int


def previous_month(today: date) -> str:
    last = today.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def run_upkeep(db: Database, settings: Settings, now: datetime | None = None) -> UpkeepRun:
    """One pass, each step in its own short transaction (a busy step does not undo the
    others; the next pass catches up)."""
    now = now or utcnow()
    today = now.date()
    with db.session() as session:
        expired = expire_acceptances(session, today)
    with db.session() as session:
        reminded = remind_reviews(session, settings, today)
    with db.session() as session:
        warnings = send_due_warnings(session, settings, today)
    with db.session() as session:
        followups = len(generate_followup(session, settings, previous_month(today), now))
    return UpkeepRun(expired, reminded, warnings.warned, warnings.late, followups)


def upkeep_until(db: Database, settings: Settings, stop: threading.Event) -> None:
    while not stop.wait(settings.risk_upkeep_seconds):
        try:
            run_upkeep(db, settings)
        except Exception:  # the database may be busy or down: the next pass catches up
            log.exception("risk register upkeep failed")
