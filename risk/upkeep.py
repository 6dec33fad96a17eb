"""The register's time-driven work, one pass a day or more (every pass is idempotent): end
expired acceptances, remind owners of due reviews, send the early warnings whose day has
come, and archive the previous month's follow-up of open audit findings once the month is
over. Run by a thread of the embedded server and by Celery beat in production."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

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


def _step(db: Database, name: str, work: Callable[[Session], int]) -> int:
    """One step in its own transaction; a failing step is logged and counts 0, so it never
    stops the others (the next pass tries it again)."""
    try:
        with db.session() as session:
            return work(session)
    except Exception:  # one bad row or a busy database must not stop every party's upkeep
        log.exception("risk register upkeep: step %s failed", name)
        return 0


def run_upkeep(db: Database, settings: Settings, now: datetime | None = None) -> UpkeepRun:
    """One pass, each step in its own short transaction (a busy or failing step does not
    undo nor stop the others; the next pass catches up)."""
    now = now or utcnow()
    today = now.date()
    late = 0

    def warn(session: Session) -> int:
        nonlocal late
        run = send_due_warnings(session, settings, today)
        late = run.late
        return run.warned

    expired = _step(db, "acceptances", lambda s: expire_acceptances(s, today))
    reminded = _step(db, "reviews", lambda s: remind_reviews(s, settings, today))
    warned = _step(db, "warnings", warn)
    followups = _step(
        db,
        "followups",
        lambda s: len(generate_followup(s, settings, previous_month(today), now)),
    )
    return UpkeepRun(expired, reminded, warned, late if warned else 0, followups)


def upkeep_until(db: Database, settings: Settings, stop: threading.Event) -> None:
    while not stop.wait(settings.risk_upkeep_seconds):
        try:
            run_upkeep(db, settings)
        except Exception:  # the database may be busy or down: the next pass catches up
            log.exception("risk register upkeep failed")
