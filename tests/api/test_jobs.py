"""Retro-hunts run as background jobs: 202 with a job, progress and result in
`GET /api/v1/jobs/{id}` for the tenant's managers only, failures reported on the job, and the
audit chain intact while jobs and requests write at once."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient
from sqlalchemy import select

from detections import service as mgmt
from detections.models import Alert
from detections.retrohunt import start_hunt_job
from soc.core import audit, jobs
from soc.core.audit import AuditEntry
from soc.core.principal import SYSTEM
from soc.services import Services
from tests.conftest import World
from tests.helpers import key_headers, ndjson, whoami_event

WHOAMI = "e6fb6eac-9ce3-4c04-b51b-cdaed8a36161"
# Probed for every kind of user by the first test below.
ISOLATION_COVERED = {("GET", "/api/v1/jobs/{job_id}")}
NET_RULE = """title: Tenant net tool
id: 0b4e2f8e-5a55-4c2b-9d2e-7d1a6f0c0002
status: test
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\\\\net.exe'
    condition: selection
level: medium
"""


def wait_done(client: TestClient, headers: dict[str, str], job_id: int) -> dict:
    deadline = time.monotonic() + 30
    while True:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        if job["state"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_hunt_job_reports_progress_and_result_to_its_tenant_only(
    client: TestClient, world: World, services: Services
) -> None:
    analyst = world["soc_analyst"].headers

    def whoami_for_alpha(enabled: bool) -> None:
        body = {"selector": "rule", "value": WHOAMI, "enabled": enabled}
        answer = client.post("/api/v1/rules/state?tenant=alpha", json=body, headers=analyst)
        assert answer.status_code == 200, answer.text

    whoami_for_alpha(False)  # stored while the rule is off: only a hunt alerts on them
    events = [whoami_event(f"ws-{i}", minutes_ago=10 + i) for i in range(3)]
    answer = client.post(
        "/api/v1/ingest",
        content=ndjson(*events, {"EventID": 1, "Image": "C:\\x\\notepad.exe"}),
        headers=key_headers(world.keys["alpha"]),
    )
    assert answer.status_code == 200, answer.text
    whoami_for_alpha(True)
    rule_id = WHOAMI

    started = client.post(
        "/api/v1/rules/hunt?tenant=alpha", json={"rule_id": rule_id, "days": 1}, headers=analyst
    )
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["state"] in ("queued", "running", "done") and job["tenant_id"] == 1
    assert job["kind"] == "retro_hunt" and job["params"]["rule_id"] == rule_id
    assert started.headers["location"] == f"/api/v1/jobs/{job['id']}"

    done = wait_done(client, analyst, job["id"])
    assert done["state"] == "done" and done["error"] is None, done
    assert done["progress"] == {"done": 4, "total": 4, "percent": 100.0}
    result = done["result"]
    assert result["scanned"] == 4 and result["matched"] == 3 and result["new_alerts"] == 3
    assert result["cases"] >= 1 and result["tenant_id"] == 1
    assert done["started_at"] and done["finished_at"]
    with services.db.session() as session:
        beta = select(Alert).where(Alert.tenant_id == 2, Alert.rule_id == rule_id)
        assert session.scalar(beta.limit(1)) is None  # alpha's hunt never touches beta
        actions = list(
            session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("rules.hunt%")))
        )
    assert actions == ["rules.hunt", "rules.hunt.done"]

    # who may read the job: the tenant's managers; another tenant's users never learn of it
    want = {
        "admin": 200,
        "soc_analyst": 200,
        "soc_analyst-prov-a": 200,  # prov-a serves alpha
        "soc_analyst-prov-b": 404,
        "provider-prov-b": 404,
        "customer-beta": 404,
        "risk_owner-beta": 404,
        "customer-alpha": 403,  # its own tenant, but not a rules manager
        "finance": 403,
    }
    got = {
        user: client.get(f"/api/v1/jobs/{job['id']}", headers=world[user].headers).status_code
        for user in want
    }
    assert got == want
    assert client.get(f"/api/v1/jobs/{job['id']}").status_code == 401
    assert client.get("/api/v1/jobs/999999", headers=analyst).status_code == 404
    for bad in ("abc", "0", str(2**70)):
        answer = client.get(f"/api/v1/jobs/{bad}", headers=analyst)
        assert answer.status_code == 422 and answer.json()["error"] == "invalid"

    # a hunt another tenant's manager may not start is refused before any job exists
    refused = client.post(
        "/api/v1/rules/hunt?tenant=alpha",
        json={"rule_id": WHOAMI, "days": 1},
        headers=world["soc_analyst-prov-b"].headers,
    )
    assert refused.status_code == 404
    bad_days = client.post(
        "/api/v1/rules/hunt?tenant=alpha", json={"rule_id": WHOAMI, "days": 0}, headers=analyst
    )
    assert bad_days.status_code == 422


def test_a_job_that_fails_says_why(services: Services, world: World) -> None:
    """The rule is deleted between the request and the run: the job fails with the reason."""
    views = services.detector.views
    with services.db.session() as session:
        row, _ = mgmt.put_tenant_rule(session, SYSTEM, "alpha", NET_RULE)
        job = start_hunt_job(session, SYSTEM, views, "alpha", 1, rule_id=row.rule_id)
    with services.db.session() as session:
        mgmt.delete_tenant_rule(session, SYSTEM, "alpha", row.rule_id)
    jobs.run_job(services, job.id)
    with services.db.read_session() as session:
        view = jobs.job_view(jobs.get_job(session, SYSTEM, job.id))
    assert view["state"] == "failed" and "not found" in view["error"]
    assert view["finished_at"] is not None and view["result"] is None
    jobs.run_job(services, job.id)  # a redelivered task leaves a finished job alone
    with services.db.read_session() as session:
        assert jobs.get_job(session, SYSTEM, job.id).error == view["error"]


def test_concurrent_writers_and_readers_keep_the_audit_chain(
    services: Services, world: World
) -> None:
    """Writers serialise (IMMEDIATE on SQLite, an advisory lock on PostgreSQL) while readers
    take no lock: the hash chain never forks."""
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                with services.db.session() as session:
                    audit.record(
                        session, actor=f"w{n}", action="test.write", object_type="t", object_id=i
                    )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(20):
                with services.db.read_session() as session:
                    session.execute(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(5))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    with services.db.read_session() as session:
        count, problems = audit.verify(session)
    assert not problems and count >= 60


def test_a_job_whose_server_restarted_shows_as_failed(services: Services, world: World) -> None:
    """An embedded job dies with its process: after a restart it must not look running
    forever (the same pid may come back, as in a container)."""
    import os
    import socket

    with services.db.session() as session:
        job = jobs.create_job(session, SYSTEM, 1, "retro_hunt", {"rule_id": WHOAMI, "days": 1})
        job.state = jobs.RUNNING
        job.runner = f"thread:{socket.gethostname()}:{os.getpid()}:an-earlier-boot"
    with services.db.read_session() as session:
        view = jobs.job_view(jobs.get_job(session, SYSTEM, job.id))
    assert view["state"] == "failed" and view["error"].startswith("interrupted")
