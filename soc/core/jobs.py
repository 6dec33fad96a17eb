"""Background jobs: work too long for a request (a retro-hunt over months of events) runs
outside it and reports its progress in a row the caller polls (`GET /api/v1/jobs/{id}`).

A job never holds a transaction across its work: the runner writes its state, progress and
result in short transactions of their own, so a long job never stalls other requests. In
embedded mode jobs run in this process's threads; with `settings.detection_async` they run as
Celery tasks (`soc.tasks.run_job`).
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

import orjson
from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Mapped, Session, mapped_column

from soc.core.db import Base, Database, UTCDateTime, utcnow
from soc.core.errors import DomainError, NotFound, Unavailable
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings


class JobHost(Protocol):
    """What runs jobs: the database, the settings, and a queue for production mode (the
    shell's services implement it; a job's handler gets the host it runs on)."""

    @property
    def db(self) -> Database: ...

    @property
    def settings(self) -> Settings: ...

    def enqueue_job(self, job_id: int) -> None: ...


log = logging.getLogger(__name__)
T = TypeVar("T")

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
FINISHED = frozenset({DONE, FAILED})
# kind -> (permission to start and read it, "module:function" that runs it). The function
# takes (host, job) and returns the result to store; imported when a job runs, so this
# module needs no domain imports.
KINDS: dict[str, tuple[str, str]] = {
    "retro_hunt": ("rules.manage", "soc.pipeline:run_hunt_job"),
}


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(16), default=QUEUED)
    actor: Mapped[str] = mapped_column(String(160))
    params: Mapped[str] = mapped_column(Text, default="{}")
    runner: Mapped[str | None] = mapped_column(String(200))
    progress_done: Mapped[int] = mapped_column(BigInteger, default=0)
    progress_total: Mapped[int | None] = mapped_column(BigInteger)
    result: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def create_job(
    session: Session, actor: Principal, tenant_id: int, kind: str, params: dict[str, Any]
) -> Job:
    """A queued job in the caller's transaction; `submit` it once that has committed."""
    permission, _ = KINDS[kind]
    actor.require(permission)
    job = Job(
        tenant_id=tenant_id,
        kind=kind,
        state=QUEUED,
        actor=actor.actor,
        params=orjson.dumps(params).decode(),
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, actor: Principal, job_id: int) -> Job:
    """The job, if the actor may run its kind and sees its tenant (else 403 / 404)."""
    job = session.get(Job, job_id)
    if job is None or not actor.sees_tenant(job.tenant_id):
        raise NotFound(N_("job {name} not found"), name=job_id)
    actor.require(KINDS[job.kind][0])
    return job


_BOOT = uuid.uuid4().hex[:12]  # tells this process from an earlier one with the same pid


def _this_process() -> str:
    return f"thread:{socket.gethostname()}:{os.getpid()}:{_BOOT}"


def _runner_gone(runner: str | None) -> bool:
    """True when an embedded runner's process (on this host) no longer exists."""
    if not runner or not runner.startswith("thread:"):
        return False
    host, pid, boot = runner.removeprefix("thread:").rsplit(":", 2)
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return boot != _BOOT  # a restarted server that got the same pid (containers)
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, another user's
        return False
    return False


def job_view(job: Job) -> dict[str, Any]:
    """The job as the API shows it. A job whose embedded runner died with its process (a
    restart) shows as failed: nothing will finish it; start it again."""
    state, error = job.state, job.error
    if state not in FINISHED and _runner_gone(job.runner):
        state, error = FAILED, "interrupted: the server stopped while it ran; start it again"
    total = job.progress_total
    return {
        "id": job.id,
        "kind": job.kind,
        "tenant_id": job.tenant_id,
        "state": state,
        "actor": job.actor,
        "params": orjson.loads(job.params),
        "progress": {
            "done": job.progress_done,
            "total": total,
            "percent": round(min(100.0, 100.0 * job.progress_done / total), 1)
            if total
            else (100.0 if state == DONE else 0.0),
        },
        "result": orjson.loads(job.result) if job.result else None,
        "error": error,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "updated_at": job.updated_at,
        "finished_at": job.finished_at,
    }


def write_with_retry(db: Database, work: Callable[[Session], T], attempts: int = 6) -> T:
    """Run ``work`` in a short write transaction, retried with backoff while the database is
    busy: a background job waits its turn rather than failing on a moment of contention."""
    for attempt in range(attempts):
        try:
            with db.session() as session:
                return work(session)
        except (OperationalError, PoolTimeout) as exc:
            if attempt == attempts - 1 or not _is_busy(exc):
                raise
            time.sleep(min(0.25 * 2**attempt, 5.0))
    raise AssertionError("unreachable")


def _is_busy(exc: Exception) -> bool:
    if isinstance(exc, PoolTimeout):
        return True
    text = str(getattr(exc, "orig", exc)).lower()
    return "locked" in text or "busy" in text


def report_progress(db: Database, job_id: int, done: int, total: int | None) -> None:
    """Store the job's progress (also its heartbeat) in a transaction of its own."""

    def update(session: Session) -> None:
        job = session.get(Job, job_id)
        if job is not None:
            job.progress_done, job.progress_total, job.updated_at = done, total, utcnow()

    write_with_retry(db, update)


def run_job(host: JobHost, job_id: int, runner: str | None = None) -> None:
    """Run one job to its end, recording running → done (with its result) or failed (with the
    reason). A job already finished is left alone (a redelivered task)."""
    db = host.db

    def start(session: Session) -> tuple[str, str] | None:
        job = session.get(Job, job_id)
        if job is None or job.state in FINISHED:
            return None
        job.state, job.runner = RUNNING, runner or _this_process()
        job.started_at = job.updated_at = utcnow()
        return job.kind, job.params

    started = write_with_retry(db, start)
    if started is None:
        return
    kind, _ = started
    try:
        module, _, name = KINDS[kind][1].partition(":")
        handler = getattr(importlib.import_module(module), name)
        with db.read_session() as session:
            job = session.get(Job, job_id)
            assert job is not None
            session.expunge(job)
        result = handler(host, job)
    except Exception as exc:  # noqa: BLE001 - any failure is the job's outcome, shown to the caller
        if not isinstance(exc, DomainError):
            log.exception("job %s (%s) failed", job_id, kind)
        reason = exc.message if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
        _finish(db, job_id, FAILED, error=reason[:2000])
        return
    _finish(db, job_id, DONE, result=result)


def _finish(
    db: Database, job_id: int, state: str, result: Any = None, error: str | None = None
) -> None:
    def finish(session: Session) -> None:
        job = session.get(Job, job_id)
        if job is None:
            return
        job.state, job.error = state, error
        job.result = orjson.dumps(result).decode() if result is not None else None
        job.finished_at = job.updated_at = utcnow()
        if state == DONE and job.progress_total is not None:
            job.progress_done = max(job.progress_done, job.progress_total)

    write_with_retry(db, finish)


# Embedded runner: daemon threads, at most `settings.job_workers` jobs at once per database.
_slots: weakref.WeakKeyDictionary[Database, threading.BoundedSemaphore] = (
    weakref.WeakKeyDictionary()
)
_slots_lock = threading.Lock()


def submit(host: JobHost, job_id: int) -> None:
    """Start a committed job: on the host's queue when detection runs in workers, else in a
    thread of this process."""
    if host.settings.detection_async:
        try:
            host.enqueue_job(job_id)
        except Exception as exc:  # noqa: BLE001 - broker down: the job cannot start
            log.exception("could not queue job %s", job_id)
            _finish(host.db, job_id, FAILED, error=f"could not be queued: {exc}")
            raise Unavailable(N_("the job queue is unreachable; try again shortly"), 30) from exc
        return
    runner = _this_process()

    def claim(session: Session) -> None:  # a queued job of a process that died shows so
        job = session.get(Job, job_id)
        if job is not None and job.runner is None:
            job.runner = runner

    write_with_retry(host.db, claim)
    with _slots_lock:
        slots = _slots.setdefault(host.db, threading.BoundedSemaphore(host.settings.job_workers))

    def work() -> None:
        with slots:
            try:
                run_job(host, job_id, runner)
            except Exception:  # the database itself failed: nothing more to record
                log.exception("job %s could not be run", job_id)

    threading.Thread(target=work, daemon=True, name=f"job-{job_id}").start()


def wait(db: Database, job_id: int, timeout: float = 30.0) -> dict[str, Any]:
    """The job once finished (for the CLI and tests); TimeoutError if it takes longer."""
    deadline = time.monotonic() + timeout
    while True:
        with db.read_session() as session:
            job = session.get(Job, job_id)
            if job is None:
                raise NotFound(N_("job {name} not found"), name=job_id)
            if job.state in FINISHED:
                return job_view(job)
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job.state} after {timeout} s")
        time.sleep(0.05)
