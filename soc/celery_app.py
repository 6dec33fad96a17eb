"""The Celery application: broker and result backend on Redis, beat schedule for jobs."""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab

from soc.core.settings import get_settings


def make_celery() -> Celery:
    settings = get_settings()
    visibility = settings.celery_visibility_timeout_seconds
    app = Celery(
        "soc", broker=settings.redis_url, backend=settings.redis_url, include=["soc.tasks"]
    )
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_acks_late=True,  # a worker that dies mid-task leaves it for another
        task_reject_on_worker_lost=True,
        # A worker killed outright acknowledges nothing: Redis hands its tasks to another
        # worker after the visibility timeout, looked for every few seconds (kombu: 100 s).
        broker_transport_options={
            "visibility_timeout": visibility,
            "unacked_restore_interval": max(1, min(10, visibility // 4)),
            "unacked_restore_throttle": 1,
        },
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        result_expires=3600,
        timezone="UTC",
        beat_schedule={
            "retention-daily": {
                "task": "soc.tasks.apply_retention",
                "schedule": crontab(hour=2, minute=30),
            },
            # Issue 5: SLA breach warnings and ITSM outbox delivery.
            "case-breach-warnings": {"task": "soc.tasks.case_breach_warnings", "schedule": 60.0},
            "itsm-deliver": {"task": "soc.tasks.itsm_deliver", "schedule": 15.0},
            # The e-mail outbox (every notice mail; retries are due by their own next_at).
            "mail-deliver": {"task": "soc.tasks.mail_deliver", "schedule": 15.0},
            # Ingest batches whose request died between storing and recording.
            "ingest-recovery": {"task": "soc.tasks.recover_ingest_batches", "schedule": 60.0},
            # Correlation windows past their timespan (the database store; Redis keys expire).
            "correlation-windows-expire": {
                "task": "soc.tasks.expire_correlation_windows",
                "schedule": 300.0,
            },
            # Maintenance windows opening/closing and flapping settling (no event marks them).
            "status-upkeep": {"task": "soc.tasks.status_upkeep", "schedule": 20.0},
            # Declared log sources silent past their own hours raise a case (once per silence).
            "log-source-silence": {"task": "soc.tasks.log_source_silence", "schedule": 900.0},
            # Risk register: early warnings, reviews, expiries, the monthly follow-up.
            "risk-upkeep": {"task": "soc.tasks.risk_upkeep", "schedule": 900.0},
            # Computed KRIs and repeated SLA failures, before the feed takes them.
            "kri-compute-daily": {
                "task": "soc.tasks.kri_compute",
                "schedule": crontab(hour=0, minute=15),
            },
            "kri-flag-missing-daily": {
                "task": "soc.tasks.kri_flag_missing",
                "schedule": crontab(hour=4, minute=30),
            },
            # Monthly KRI reports: a no-op before the end-to-end due working day.
            "kri-reports-monthly": {
                "task": "soc.tasks.kri_monthly_reports",
                "schedule": crontab(hour=5, minute=0),
            },
            # The data-warehouse feed; Celery runs in UTC, 00:30 is after midnight in Brussels.
            "dwh-export-daily": {
                "task": "soc.tasks.dwh_export",
                "schedule": crontab(hour=0, minute=30),
            },
            # Signed audit checkpoints, published to each customer as its bundle.
            "audit-checkpoint-daily": {
                "task": "soc.tasks.audit_checkpoint",
                "schedule": crontab(hour=1, minute=0),
            },
            "billing-close-monthly": {
                "task": "soc.tasks.close_previous_month",
                "schedule": crontab(day_of_month=1, hour=3, minute=0),
            },
            "billing-ceilings-daily": {
                "task": "soc.tasks.check_billing_ceilings",
                "schedule": crontab(hour=6, minute=0),
            },
        },
    )
    return app


celery_app = make_celery()
