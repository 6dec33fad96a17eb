"""The KRI domain's time-driven work for the embedded server (Celery beat runs the same
functions as separate tasks in production): computed KRIs and repeated SLA failures, missing
provider input, the monthly reports from their due day, the daily data-warehouse feed, the
silent log sources' cases (soc.cases.source_silence). Every step is idempotent and runs in its
own transaction; a failing step never stops the others."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from kri.computed import compute_due
from kri.deps import local_day
from kri.dwh import export_due
from kri.reports import publish_due
from kri.submissions import flag_missing
from soc.cases.source_silence import raise_silence_cases
from soc.core.db import Database, utcnow
from soc.core.settings import Settings

log = logging.getLogger(__name__)


def _steps(settings: Settings, now: datetime) -> list[tuple[str, Callable[[Session], object]]]:
    return [
        ("computed KRIs", lambda s: compute_due(s, settings, now)),
        ("missing input", lambda s: flag_missing(s, settings, local_day(settings, now))),
        ("monthly reports", lambda s: publish_due(s, settings, now)),
        ("data-warehouse feed", lambda s: export_due(s, settings, now)),
        ("silent log sources", lambda s: raise_silence_cases(s, settings, now)),
    ]


def run_upkeep(db: Database, settings: Settings, now: datetime | None = None) -> list[str]:
    """One pass; returns the steps that failed (logged)."""
    failed = []
    for name, step in _steps(settings, now or utcnow()):
        try:
            with db.session() as session:
                step(session)
        except Exception:  # the database may be busy: the next pass catches up
            log.exception("KRI upkeep: %s failed", name)
            failed.append(name)
    return failed


def upkeep_until(db: Database, settings: Settings, stop: threading.Event) -> None:
    while not stop.wait(settings.kri_upkeep_seconds):
        run_upkeep(db, settings)
