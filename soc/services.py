"""The composition root: build the long-lived objects the API, CLI and workers share —
database, event store, rules, detector, ingestor and the pipeline that joins them — and
publish them on `app.state`, where the routers' typed dependencies read them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from detections.engine import RuleSet
from detections.matcher import Detector
from detections.sources import BUILTIN_RULES, load_ruleset, rule_dirs
from detections.windows import build_window_store
from ingest.gate import IngestGate
from ingest.service import Ingestor, RecoveryReport
from ingest.store.base import EventStore
from ingest.store.factory import build_store
from soc.cases.problems import open_incident_problem
from soc.cases.service import cases_on_hosts
from soc.cmdb.engine import StatusEngine
from soc.cmdb.models import OpsIncident
from soc.core import secrets
from soc.core.db import Database
from soc.core.principal import Principal
from soc.core.settings import Settings
from soc.pipeline import Pipeline
from tenants.authenticator import TenantAuthenticator
from tenants.login_guard import LoginGuard

__all__ = ["BUILTIN_RULES", "Services", "build_services", "rule_dirs"]


@dataclass
class Services:
    settings: Settings
    db: Database
    store: EventStore
    ruleset: RuleSet
    detector: Detector
    ingestor: Ingestor
    pipeline: Pipeline
    # Login rate limits and password-check slots: state for the life of the process.
    login_guard: LoginGuard = field(init=False)
    # Ingest admission (a few requests at once, the rest wait or are refused with Retry-After).
    ingest_gate: IngestGate = field(init=False)
    # The CMDB graph and computed status of this process (loaded on first use).
    cmdb_engine: StatusEngine = field(init=False)

    def __post_init__(self) -> None:
        self.login_guard = LoginGuard.from_settings(self.settings)
        s = self.settings
        self.ingest_gate = IngestGate(
            s.ingest_slots, s.ingest_queue, s.ingest_wait_seconds, s.busy_retry_after_seconds
        )
        self.cmdb_engine = StatusEngine(self.db, self.open_incident_problem, self.cases_on_hosts)

    @staticmethod
    def cases_on_hosts(
        session: Session, principal: Principal, hosts: list[str]
    ) -> list[tuple[datetime, str, dict[str, Any]]]:
        """Security cases on a CI's host names, for the CI's timeline (soc.cases)."""
        return [
            (
                case.first_seen,
                f"{case.priority} {case.title}",
                {"case_id": case.id, "status": case.status, "host": case.host},
            )
            for case in cases_on_hosts(session, principal, hosts)
        ]

    def open_incident_problem(self, session: Session, incident: OpsIncident) -> int:
        """A resolved critical operational incident opens a problem record (soc.cases)."""
        names = ", ".join(str(ci) for ci in incident.root_causes[:5])
        title = f"Problem: operational incident {incident.id} (root causes {names})"
        return open_incident_problem(session, self.settings, incident, title).id

    def publish(self, state: Any) -> None:
        """Put what the routers' dependencies read on `app.state` (see soc.core.deps)."""
        state.services = self
        state.settings, state.db, state.store = self.settings, self.db, self.store
        state.ruleset, state.detector, state.pipeline = self.ruleset, self.detector, self.pipeline
        state.login_guard, state.ingest_gate = self.login_guard, self.ingest_gate
        state.authenticator = TenantAuthenticator()
        state.job_host = self
        state.cmdb_engine = self.cmdb_engine

    def recover_ingest(self) -> RecoveryReport:
        """Meter and detect the events of ingest batches whose request died after storing
        them (at startup, then periodically: the app's thread and the beat task)."""
        return self.pipeline.recover()

    def enqueue_job(self, job_id: int) -> None:
        """Production mode: a background job runs on a Celery worker (soc.core.jobs.JobHost)."""
        from soc.queue import enqueue_job

        enqueue_job(job_id)

    def close(self) -> None:
        self.store.close()
        self.db.engine.dispose()


def build_services(settings: Settings, ruleset: RuleSet | None = None) -> Services:
    secrets.install(settings)  # encrypted columns use these settings' key ring
    db = Database(
        settings.sqlalchemy_url,
        busy_timeout=settings.db_busy_timeout_seconds,
        pool_timeout=settings.db_pool_timeout_seconds,
    )
    store = build_store(settings)
    ruleset = ruleset if ruleset is not None else load_ruleset(settings)
    detector = Detector(ruleset, build_window_store(settings, db))
    ingestor = Ingestor(store)
    pipeline = Pipeline(settings, db, ingestor, detector)
    if settings.detection_async:
        from soc.queue import enqueue_detection

        pipeline.hand_off = enqueue_detection
    return Services(settings, db, store, ruleset, detector, ingestor, pipeline)
