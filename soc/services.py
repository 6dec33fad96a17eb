"""Build the long-lived objects the API, CLI and workers share: database, event store, rules,
detector and the ingest pipeline (ingest → detection → cases)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from detections.engine import RuleSet
from detections.service import Detector, record_alerts
from ingest.events import Event
from ingest.gate import IngestGate
from ingest.service import Ingestor, RecoveryReport
from ingest.store.base import EventStore
from ingest.store.factory import build_store
from soc.cases.service import group_alerts
from soc.db import Database
from soc.settings import Settings
from tenants.login_guard import LoginGuard

log = logging.getLogger(__name__)
BUILTIN_RULES = Path(__file__).resolve().parent.parent / "detections" / "rules"


def rule_dirs(settings: Settings) -> list[Path]:
    dirs = [BUILTIN_RULES] if settings.include_builtin_rules else []
    return dirs + list(settings.rules_dirs)


@dataclass
class Services:
    settings: Settings
    db: Database
    store: EventStore
    ruleset: RuleSet
    detector: Detector
    ingestor: Ingestor
    # Login rate limits and password-check slots: state for the life of the process.
    login_guard: LoginGuard = field(init=False)
    # Ingest admission (a few requests at once, the rest wait or are refused with Retry-After).
    ingest_gate: IngestGate = field(init=False)

    def __post_init__(self) -> None:
        self.login_guard = LoginGuard.from_settings(self.settings)
        s = self.settings
        self.ingest_gate = IngestGate(
            s.ingest_slots, s.ingest_queue, s.ingest_wait_seconds, s.busy_retry_after_seconds
        )

    def detect(self, session: Session, tenant_id: int, events: Sequence[Event]) -> int:
        """Ingest listener: alerts for every match of the tenant's enabled rules that no
        exception suppresses, grouped into cases (also what the Celery detection task runs)."""
        view = self.detector.views.get(session, tenant_id)
        alerts = record_alerts(session, tenant_id, self.detector.evaluate(events, view))
        if alerts:
            window = timedelta(minutes=self.settings.case_group_window_minutes)
            group_alerts(session, alerts, window)
        return len(alerts)

    def recover_ingest(self) -> RecoveryReport:
        """Meter and detect the events of ingest batches whose request died after storing
        them (at startup, then periodically: the app's thread and the beat task)."""
        return self.ingestor.recover(self.db, self.settings.ingest_recovery_grace_seconds)

    def close(self) -> None:
        self.store.close()
        self.db.engine.dispose()


def build_services(settings: Settings, ruleset: RuleSet | None = None) -> Services:
    db = Database(
        settings.sqlalchemy_url,
        busy_timeout=settings.db_busy_timeout_seconds,
        pool_timeout=settings.db_pool_timeout_seconds,
    )
    db.configure(info={"settings": settings})  # case services read their contract
    store = build_store(settings)
    if ruleset is None:
        ruleset = RuleSet.from_dirs(rule_dirs(settings))
        if ruleset.errors:
            log.warning(
                "%d Sigma rules could not be used (see `soc rules errors`)", len(ruleset.errors)
            )
    services = Services(settings, db, store, ruleset, Detector(ruleset), Ingestor(store))
    if settings.detection_async:
        from soc.tasks import enqueue_detection

        services.ingestor.listeners.append(enqueue_detection)
    else:
        services.ingestor.listeners.append(services.detect)
    return services
