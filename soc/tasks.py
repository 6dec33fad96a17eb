"""Celery tasks: thin wrappers that call the same service functions as the API and the CLI
(detection through the same `soc.pipeline` steps as embedded mode)."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from ingest.store.spool import decode_event
from soc.celery_app import celery_app
from soc.core.db import utcnow
from soc.core.principal import TenantRef
from soc.core.settings import get_settings
from soc.services import Services, build_services
from tenants.models import Tenant

log = logging.getLogger(__name__)
_services: Services | None = None


def worker_services() -> Services:
    """One set of services per worker process, built on first use."""
    global _services
    if _services is None:
        settings = get_settings().model_copy(update={"detect_in_worker": False})
        _services = build_services(settings)
        from kri.catalogue import seed_catalogue

        with _services.db.session() as session:  # the compute tasks need the catalogue
            seed_catalogue(session, _services.settings)
    return _services


@celery_app.task(
    name="soc.tasks.detect_events",
    bind=True,
    max_retries=10,
    autoretry_for=(OSError,),
    retry_backoff=True,
)
def detect_events(self: Any, tenant_id: int, encoded: list[str]) -> int:
    """Evaluate a batch of ingested events; alerts and cases as in embedded mode. Returns the
    number of new alerts."""
    services = worker_services()
    events = [decode_event(line.encode()) for line in encoded]
    # The tenant was checked against the ingest key when the batch was taken.
    with services.db.session() as session:
        return services.pipeline.detect_and_raise(session, TenantRef(tenant_id), events)


@celery_app.task(name="soc.tasks.recover_ingest_batches")
def recover_ingest_batches() -> dict[str, int]:
    """Meter and detect the events of ingest batches whose request died after storing them
    (the API process does the same; a batch's record happens once whoever runs it)."""
    report = worker_services().recover_ingest()
    return {
        "recovered": report.recovered,
        "events": report.events,
        "abandoned": report.abandoned,
        "failed": report.failed,
    }


def retention_for_all(services: Services) -> dict[str, int]:
    """Delete every tenant's events older than its retention (at most 365 days)."""
    removed: dict[str, int] = {}
    with services.db.session() as session:
        tenants = list(session.scalars(select(Tenant)))
    for tenant in tenants:
        cutoff = utcnow() - timedelta(days=tenant.retention_days)
        removed[tenant.slug] = services.store.retention(tenant.id, cutoff)
    return removed


@celery_app.task(name="soc.tasks.expire_correlation_windows")
def expire_correlation_windows() -> int:
    """Sweep correlation windows past their timespan (database store; Redis keys expire)."""
    from detections.windows import expire_correlation_windows as sweep

    return sweep(worker_services().detector.windows)


@celery_app.task(name="soc.tasks.apply_retention")
def apply_retention() -> dict[str, int]:
    return retention_for_all(worker_services())


def previous_month(today: date) -> str:
    first = today.replace(day=1)
    last_month_day = first - timedelta(days=1)
    return f"{last_month_day:%Y-%m}"


@celery_app.task(name="soc.tasks.close_previous_month")
def close_previous_month() -> str:
    """Monthly billing close of the month that just ended (idempotent: re-running is safe)."""
    from tenants.billing.service import close_month

    services = worker_services()
    with services.db.session() as session:
        return close_month(session, previous_month(utcnow().date())).summary()


@celery_app.task(name="soc.tasks.check_billing_ceilings")
def check_billing_ceilings() -> list[str]:
    """Daily: notice every customer whose projected month spend passes its contract ceiling."""
    from tenants.billing.service import check_ceilings

    services = worker_services()
    with services.db.session() as session:
        return [usage.tenant.slug for usage in check_ceilings(session)]


@celery_app.task(name="soc.tasks.case_breach_warnings")
def case_breach_warnings() -> int:
    """Issue 5: warn on cases about to breach an SLA clock (once per clock)."""
    from soc.cases.warnings import send_breach_warnings

    services = worker_services()
    with services.db.session() as session:
        return len(send_breach_warnings(session, settings=services.settings))


@celery_app.task(name="soc.tasks.itsm_deliver")
def itsm_deliver() -> dict[str, int]:
    """Issue 5: send the ITSM outbox (retries with backoff, dead letters)."""
    from soc.cases.connector import deliver_due
    from soc.cases.itsm_inbound import poll_servicenow

    services = worker_services()
    counts = deliver_due(services.db, services.settings)
    if services.settings.servicenow_poll_seconds:
        counts["polled"] = poll_servicenow(services.db, services.settings)
    return counts


@celery_app.task(name="soc.tasks.mail_deliver")
def mail_deliver() -> int:
    """Send the due e-mails of the outbox (retries with backoff, dead letters)."""
    from soc.core.mail_outbox import deliver_due

    services = worker_services()
    return deliver_due(services.db, services.settings)


@celery_app.task(name="soc.tasks.status_upkeep")
def status_upkeep() -> int:
    """Open and close maintenance windows, settle flapping fingerprints."""
    from soc.cmdb.upkeep import run_upkeep

    services = worker_services()
    return run_upkeep(services.db, services.settings, services.cmdb_engine)


@celery_app.task(name="soc.tasks.log_source_silence")
def log_source_silence() -> int:
    """Raise a case for each declared log source that fell silent (once per silence)."""
    from soc.cases.source_silence import run_silence_check

    services = worker_services()
    return run_silence_check(services.db, services.settings)


@celery_app.task(name="soc.tasks.risk_upkeep")
def risk_upkeep() -> dict[str, int]:
    """Risk register: expired acceptances, review reminders, early warnings, and the monthly
    follow-up of audit findings (each pass idempotent)."""
    from risk.upkeep import run_upkeep

    services = worker_services()
    return vars(run_upkeep(services.db, services.settings))


@celery_app.task(name="soc.tasks.kri_compute")
def kri_compute() -> dict[str, Any]:
    """Computed KRIs: last month and the running one, then repeated SLA failures and their
    corrective-action plans (idempotent)."""
    from kri.computed import compute_due

    services = worker_services()
    with services.db.session() as session:
        return compute_due(session, services.settings, utcnow())


@celery_app.task(name="soc.tasks.kri_flag_missing")
def kri_flag_missing() -> int:
    """Submitted KRI input whose due date passed with no value: a row not on time and a
    non-conformity for its provider (idempotent)."""
    from kri.deps import local_day
    from kri.submissions import flag_missing

    services = worker_services()
    with services.db.session() as session:
        today = local_day(services.settings, utcnow())
        return len(flag_missing(session, services.settings, today))


@celery_app.task(name="soc.tasks.kri_monthly_reports")
def kri_monthly_reports() -> list[int]:
    """Last month's reports not yet published, from the end-to-end due working day on."""
    from kri.reports import publish_due

    services = worker_services()
    with services.db.session() as session:
        return [r.id for r in publish_due(session, services.settings, utcnow(), services.store)]


@celery_app.task(name="soc.tasks.audit_checkpoint")
def audit_checkpoint() -> int | None:
    """Daily: sign the audit chain's head and each tenant's statement (none when one was
    taken within SOC_AUDIT_CHECKPOINT_SECONDS, e.g. on demand)."""
    from soc.core.checkpoints import take_if_due

    services = worker_services()
    with services.db.session() as session:
        return take_if_due(session, services.settings, slack=timedelta(hours=1))


@celery_app.task(name="soc.tasks.dwh_export")
def dwh_export() -> dict[str, Any] | None:
    """The daily data-warehouse feed: today's (Europe/Brussels) export unless already made."""
    from kri.dwh import export_due

    services = worker_services()
    with services.db.session() as session:
        row = export_due(session, services.settings, utcnow())
        return None if row is None else {"day": row.day.isoformat(), "rows": dict(row.rows)}


@celery_app.task(
    name="soc.tasks.run_job",
    bind=True,
    max_retries=5,
    autoretry_for=(OSError,),
    retry_backoff=True,
)
def run_job(self: Any, job_id: int) -> None:
    """A background job (a retro-hunt) started from the API; progress and result go to its row."""
    from soc.core.jobs import run_job as run

    run(worker_services(), job_id, runner="celery")
