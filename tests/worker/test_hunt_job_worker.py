"""Production mode: a retro-hunt job started by the API runs as a Celery task on a worker,
which writes its progress and result to the job."""

from __future__ import annotations

import orjson

from detections.retrohunt import start_hunt_job
from ingest.events import normalise
from soc.core import jobs
from soc.core.db import utcnow
from soc.core.principal import SYSTEM
from soc.core.settings import Settings
from soc.services import build_services
from tenants import service as tenant_service
from tests.helpers import benign_event, whoami_event
from tests.worker.test_celery_worker import celery_app, start_worker, worker_env

__all__ = ["worker_env"]  # the fixture, shared with the detection worker tests
WHOAMI = "e6fb6eac-9ce3-4c04-b51b-cdaed8a36161"


def test_a_hunt_job_runs_on_the_worker(worker_env: Settings) -> None:
    services = build_services(worker_env)
    with services.db.session() as session:
        tenant = tenant_service.create_tenant(session, SYSTEM, "acme", "Acme")
    objs = [whoami_event("ws-1", 5, "a"), whoami_event("ws-2", 4, "b"), benign_event(1)]
    services.store.write([normalise(o, orjson.dumps(o), tenant.id, utcnow()) for o in objs])
    with services.db.session() as session:
        job = start_hunt_job(session, SYSTEM, services.detector.views, "acme", 1, rule_id=WHOAMI)
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        jobs.submit(services, job.id)
        done = jobs.wait(services.db, job.id, timeout=60)
    services.close()
    assert done["state"] == "done", done
    assert done["result"]["matched"] == 2 and done["result"]["new_alerts"] == 2
    assert done["progress"]["done"] == done["progress"]["total"] == 3
