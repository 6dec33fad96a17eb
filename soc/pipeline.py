"""The one path from a batch of events to security cases, with one function per step:

    store → meter → detect → alerts → group into cases → case meters → ITSM outbox

The ingest API, the `_bulk` API, the detection worker task, retro-hunts (API job and CLI) and
the recovery of interrupted batches all go through a `Pipeline`, so every path meters,
detects and raises cases the same way. Store and meter are the ingestor's (one batch marker,
so a stored event is metered and detected exactly once, see ingest.service); detect and
alerts the detector's; grouping, case meters and the ITSM outbox the cases domain's
(`soc.cases.grouping`). Settings are passed in, never looked up.

In production the steps after metering run in the workers: `hand_off` queues them and the
worker's task calls `detect_and_raise`, the same function embedded mode calls inline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy.orm import Session

from detections.matcher import Detector, Match, record_alerts
from detections.models import Alert
from detections.retrohunt import (
    HuntProgress,
    HuntResult,
    Progress,
    audit_hunt,
    hunt_for_tenant,
    run_hunt,
)
from detections.ruletest import pick_rule
from ingest.events import Event
from ingest.parse import Parsed
from ingest.service import Ingestor, IngestResult, RecoveryReport, StoredBatch
from soc.cases.grouping import group_alerts
from soc.cases.models import Case
from soc.core import jobs
from soc.core.db import Database
from soc.core.principal import Principal, TenantRef
from soc.core.settings import Settings

# Production mode: queue the detect → cases steps for the workers instead of running them here.
HandOff = Callable[[TenantRef, Sequence[Event]], None]


@dataclass
class Pipeline:
    settings: Settings
    db: Database
    ingestor: Ingestor
    detector: Detector
    hand_off: HandOff | None = None

    def __post_init__(self) -> None:
        # The ingestor calls back after metering, in the same transaction.
        self.ingestor.listeners = [self.after_metering]

    # -- store and meter -------------------------------------------------------------------

    def ingest_body(self, tenant: TenantRef, body: bytes, content_type: str) -> IngestResult:
        """Parse a request body, store its events, meter and detect the new ones."""
        with self.db.session() as session:
            return self.ingestor.ingest_body(
                session, tenant, body, content_type, self.settings.max_event_bytes
            )

    def ingest_items(self, tenant: TenantRef, items: Sequence[Parsed]) -> StoredBatch:
        """As `ingest_body`, for objects already parsed (`_bulk`)."""
        with self.db.session() as session:
            return self.ingestor.accept_objects(session, tenant, items)

    def recover(self) -> RecoveryReport:
        """Meter and detect what interrupted batches stored (startup, then periodically)."""
        return self.ingestor.recover(self.db, self.settings.ingest_recovery_grace_seconds)

    def after_metering(self, session: Session, tenant: TenantRef, events: Sequence[Event]) -> None:
        if self.hand_off is not None:
            self.hand_off(tenant, events)
        else:
            self.detect_and_raise(session, tenant, events)

    # -- detect, alerts, cases -------------------------------------------------------------

    def detect(self, session: Session, tenant: TenantRef, events: Sequence[Event]) -> list[Match]:
        """Every match of the tenant's enabled rules that no exception suppresses."""
        view = self.detector.views.get(session, tenant.id)
        return self.detector.evaluate(events, view, session)

    def raise_alerts(
        self, session: Session, tenant: TenantRef, matches: Sequence[Match]
    ) -> list[Alert]:
        """One alert per (rule, event) not alerted before (a replay never alerts twice)."""
        return record_alerts(session, tenant.id, matches)

    def raise_cases(self, session: Session, alerts: Sequence[Alert]) -> list[Case]:
        """Group alerts into cases; new cases are metered and queued for the ITSM tool."""
        return group_alerts(session, self.settings, alerts)

    def detect_and_raise(self, session: Session, tenant: TenantRef, events: Sequence[Event]) -> int:
        """Detect, alert and raise cases for events already stored and metered; returns the
        number of new alerts."""
        alerts = self.raise_alerts(session, tenant, self.detect(session, tenant, events))
        self.raise_cases(session, alerts)
        return len(alerts)

    # -- retro-hunts -----------------------------------------------------------------------

    def hunt(
        self,
        actor: Principal,
        tenant_ref: int | str | None,
        days: int,
        rule_id: str | None = None,
        yaml: str | None = None,
        progress: Progress | None = None,
    ) -> HuntResult:
        """A retro-hunt run to its end here (the CLI); new alerts raise cases as at ingest."""
        return hunt_for_tenant(
            self.db,
            actor,
            self.detector.views,
            self.ingestor.store,
            tenant_ref,
            days,
            rule_id,
            yaml,
            group=self.raise_cases,
            progress=progress,
        )


PROGRESS_EVERY = 1.0  # seconds between stored progress updates of a hunt job


def run_hunt_job(host: jobs.JobHost, job: jobs.Job) -> dict[str, object]:
    """The `retro_hunt` job kind (see soc.core.jobs.KINDS): hunt, store progress as it goes,
    audit the outcome, return the result. `host` is the shell's services."""
    pipeline = getattr(host, "pipeline", None)
    if not isinstance(pipeline, Pipeline):
        raise TypeError("retro-hunt jobs run on a host with a pipeline")
    db = pipeline.db
    params = orjson.loads(job.params)
    with db.read_session() as session:
        view = pipeline.detector.views.get(session, job.tenant_id)
    yaml = params.get("yaml")
    rule = pick_rule(view, None if yaml else params["rule_id"], yaml)
    last = [0.0]

    def progress(step: HuntProgress) -> None:
        moment = time.monotonic()
        if step.windows_done in (0, step.windows) or moment - last[0] >= PROGRESS_EVERY:
            last[0] = moment
            jobs.report_progress(db, job.id, step.scanned, step.total)

    result = run_hunt(
        db,
        pipeline.ingestor.store,
        view,
        rule,
        int(params["days"]),
        group=pipeline.raise_cases,
        progress=progress,
    )
    detail = result.as_dict() | {"job_id": job.id}
    jobs.write_with_retry(
        db, lambda s: audit_hunt(s, job.actor, job.tenant_id, "rules.hunt.done", rule.id, detail)
    )
    return result.as_dict()
