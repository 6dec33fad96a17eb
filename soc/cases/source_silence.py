"""Silent log sources raise cases: a declared source (ingest.sources) silent past its own
`silent_after_hours` gets one synthetic alert, grouped into a case like any detection. The
alert's event id names the silence (the source and the moment silence counts from), so later
passes raise nothing more until the source speaks again and falls silent anew."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from detections.models import Alert
from ingest.sources import reference, silent_sources
from soc.cases.grouping import group_alerts
from soc.cases.models import Case
from soc.core.db import Database, utcnow
from soc.core.i18n import N_, gettext
from soc.core.settings import Settings

RULE_ID = "soc-log-source-silent"
TITLE = N_("Log source silent: %(name)s (no events for %(hours)s h)")


def raise_silence_cases(session: Session, settings: Settings, now: datetime) -> list[Case]:
    """One alert (and so one case, or one more alert on the source's open case) per source that
    fell silent since it last spoke; returns the cases touched."""
    silent = {_event_id(s.id, reference(s)): s for s in silent_sources(session, now)}
    if not silent:
        return []
    raised = set(
        session.scalars(
            select(Alert.event_id).where(Alert.rule_id == RULE_ID, Alert.event_id.in_(silent))
        )
    )
    due = [s for event_id, s in silent.items() if event_id not in raised]
    if not due:
        return []
    # Tenants have no language of their own: the product's notice language names the case.
    lang = settings.mail_default_language
    alerts = []
    for source in due:
        title = gettext(lang, TITLE) % {"name": source.name, "hours": source.silent_after_hours}
        alert = Alert(
            tenant_id=source.tenant_id,
            rule_id=RULE_ID,
            rule_title=title[:300],
            level="medium",
            event_id=_event_id(source.id, reference(source)),
            host=source.host_pattern[:255],
            event_time=now,
            created_at=now,
        )
        session.add(alert)
        alerts.append(alert)
        source.last_alerted_at = now
    session.flush()
    return group_alerts(session, settings, alerts)


def _event_id(source_id: int, since: datetime) -> str:
    return f"silent-{source_id}-{since:%Y%m%d%H%M%S%f}"


def run_silence_check(db: Database, settings: Settings, now: datetime | None = None) -> int:
    """One pass in its own transaction (the periodic job); returns the cases touched."""
    with db.session() as session:
        return len(raise_silence_cases(session, settings, now or utcnow()))
