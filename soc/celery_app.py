"""The Celery application: broker and result backend on Redis, beat schedule for jobs."""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab

from soc.settings import get_settings


def make_celery() -> Celery:
    settings = get_settings()
    app = Celery(
        "soc", broker=settings.redis_url, backend=settings.redis_url, include=["soc.tasks"]
    )
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_acks_late=True,  # a worker that dies mid-task leaves it for another
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        result_expires=3600,
        timezone="UTC",
        beat_schedule={
            "retention-daily": {
                "task": "soc.tasks.apply_retention",
                "schedule": crontab(hour=2, minute=30),
            },
        },
    )
    return app


celery_app = make_celery()
