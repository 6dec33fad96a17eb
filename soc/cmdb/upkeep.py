"""Time-driven status work no event triggers: maintenance windows opening and closing, and
flapping fingerprints settling. The server runs it on a thread; production workers on beat."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from soc.cmdb.engine import StatusEngine
from soc.cmdb.events import settle_flapping
from soc.core.db import Database, utcnow
from soc.core.settings import Settings

log = logging.getLogger(__name__)


def run_upkeep(
    db: Database, settings: Settings, engine: StatusEngine, now: datetime | None = None
) -> int:
    """One pass; returns the number of status changes it recorded."""
    now = now or utcnow()
    with db.session() as session:
        changes = engine.tick(session, now)
        changes += settle_flapping(session, settings, engine, now)
    return len(changes)


def upkeep_until(
    db: Database, settings: Settings, engine: StatusEngine, stop: threading.Event
) -> None:
    while not stop.wait(settings.status_upkeep_seconds):
        try:
            run_upkeep(db, settings, engine)
        except Exception:  # the database may be busy or down: the next pass catches up
            log.exception("status upkeep failed")
