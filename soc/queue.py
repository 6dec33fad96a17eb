"""What the server hands to the Celery workers, sent by task name: the composition root
queues work without importing the task module (which imports the composition root)."""

from __future__ import annotations

from collections.abc import Sequence

from kombu.exceptions import OperationalError as BrokerError

from ingest.events import Event
from ingest.store.spool import encode_event
from soc.celery_app import celery_app
from soc.core.errors import Unavailable
from soc.core.i18n import N_
from soc.core.principal import TenantRef

DETECTION_CHUNK = 1000  # events per detection task
DETECT_EVENTS = "soc.tasks.detect_events"
RUN_JOB = "soc.tasks.run_job"
QUEUE_RETRY_AFTER = 5  # seconds: a restarted Redis answers again within a few


def enqueue_detection(tenant: TenantRef, events: Sequence[Event]) -> None:
    """The pipeline's hand-off in production mode: detection runs in the workers, in chunks.
    Redis unreachable: 503 + Retry-After. The events are stored and their batch is marked
    failed, so the shipper's retry (or the recovery pass) records and queues them, once."""
    for i in range(0, len(events), DETECTION_CHUNK):
        chunk = [encode_event(e).decode() for e in events[i : i + DETECTION_CHUNK]]
        try:
            celery_app.send_task(DETECT_EVENTS, args=(tenant.id, chunk))
        except BrokerError as exc:
            raise Unavailable(
                N_("the detection queue is unreachable; try again shortly"), QUEUE_RETRY_AFTER
            ) from exc


def enqueue_job(job_id: int) -> None:
    """A background job (a retro-hunt) for a worker."""
    celery_app.send_task(RUN_JOB, args=(job_id,))
