"""Detection through Celery under faults, with real processes: a production server (`soc run`,
PostgreSQL, OpenSearch) queues SigmaHQ regression samples for `soc worker` processes on a
private Redis. A worker is SIGKILLed while it works (its pool child, then the whole worker:
tasks are acknowledged late, so another worker takes them again), and Redis itself is killed
and started again during ingest. Every acknowledged event is stored once and raises its
rule's alert once, and no case is opened twice."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from soc.core.migrate import upgrade
from tests.detections.conftest import corpus_available
from tests.faults.procs import Redis, Server, Worker, report, wait_until
from tests.faults.traffic import (
    Detected,
    Shipper,
    corpus_batch,
    corpus_rules,
    detected,
    drop_opensearch_prefix,
    make_tenant,
    opensearch_ids,
    server_errors,
    tally,
)
from tests.services import create_database, drop_database, service_url

pytestmark = pytest.mark.skipif(not corpus_available(), reason="SigmaHQ corpus not available")
VISIBILITY = 4  # seconds before a dead worker's task goes to another worker


@dataclass
class Stack:
    server: Server
    redis: Redis
    env: dict[str, str]
    url: str
    opensearch: str
    prefix: str
    samples: list[dict[str, Any]]
    logs: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("queue-faults")
    samples = corpus_rules(root / "rules")
    redis = Redis(root / "redis")
    redis.start()
    pg = service_url("postgresql")
    name, url = create_database(pg)
    upgrade(url)
    opensearch = service_url("opensearch")
    prefix = f"soc-faults-q-{uuid.uuid4().hex[:8]}"
    env = {
        "SOC_MODE": "production",
        "SOC_DATABASE_URL": url,
        "SOC_OPENSEARCH_URL": opensearch,
        "SOC_OPENSEARCH_INDEX_PREFIX": prefix,
        "SOC_REDIS_URL": redis.url(),
        "SOC_RULES_DIRS": json.dumps([str(root / "rules")]),
        "SOC_INCLUDE_BUILTIN_RULES": "false",
        "SOC_CELERY_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY),
        "SOC_INGEST_RECOVERY_GRACE_SECONDS": "3",
        "SOC_INGEST_RECOVERY_EVERY_SECONDS": "1",
    }
    data = root / "var"
    data.mkdir()
    server = Server(data, env)
    try:
        server.start()
        yield Stack(server, redis, server.env, url, opensearch, prefix, samples, root)
    finally:
        server.stop()
        redis.stop()
        drop_opensearch_prefix(opensearch, prefix)
        drop_database(pg, name)


def queue_depth(redis: Redis) -> tuple[int, int]:
    """Tasks waiting in the default queue, and tasks taken but not acknowledged."""
    client = redis.client()
    return int(client.llen("celery")), int(client.hlen("unacked"))


def settled(stack: Stack, tenant_id: int, ids: set[str]) -> Detected | None:
    """The detections once every acknowledged event has its alert and the queue is empty."""
    found = detected(stack.url, tenant_id)
    if found.alerted_events >= ids and queue_depth(stack.redis) == (0, 0):
        return found
    return None


def log_tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"


def test_worker_sigkilled_mid_batch(stack: Stack) -> None:
    tenant = make_tenant(stack.url, "killed", migrate=False)
    batches, size = 30, 100
    bodies = [corpus_batch(stack.samples, n, size, "kill") for n in range(batches)]
    log = stack.logs / "worker-kill.log"
    first = Worker(stack.env, log)
    second = Worker(stack.env, log)
    total = batches * size
    try:
        shipper = Shipper(stack.server.url, tenant.key, bodies, senders=2).start()
        # A backlog first, so the worker is busy whatever the machine's load.
        assert wait_until(lambda: shipper.acknowledged >= batches // 2, 90), "no ingest"
        first.start()

        def busy(at_least: int) -> bool:
            done = len(detected(stack.url, tenant.id).alerted_events)
            return done >= at_least and queue_depth(stack.redis)[1] >= 1

        # The pool child that runs the task dies: the worker requeues the task itself.
        assert wait_until(lambda: busy(1), 60, 0.05), log_tail(log)
        children = first.children()
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        # Then the whole worker with a task taken: it comes back after the visibility timeout.
        assert wait_until(lambda: busy(total // 3), 60, 0.05), log_tail(log)
        in_flight = queue_depth(stack.redis)[1]
        first.kill9()
        done_at_kill = len(detected(stack.url, tenant.id).alerted_events)
        unacked_after_kill = queue_depth(stack.redis)[1]
        second.start()
        assert shipper.join(90), f"{shipper.acknowledged}/{batches} acknowledged"
        ids = set(shipper.ids)
        found = wait_until(lambda: settled(stack, tenant.id, ids), 120, 0.5)
    finally:
        first.kill9()
        second.stop()
    stored_ids = opensearch_ids(stack.opensearch, stack.prefix)
    last = found if isinstance(found, Detected) else detected(stack.url, tenant.id)
    mine = [i for i in stored_ids if i in ids]
    accepted, stored, lost, duplicated = tally(shipper.ids, mine)
    undetected = len(ids - last.alerted_events)
    report(
        "worker_sigkill",
        accepted,
        stored,
        lost + undetected,
        duplicated + last.duplicated,
        pool_children_killed=len(children),
        in_flight_at_kill=in_flight,
        detected_at_kill=done_at_kill,
        alerts=len(last.alerts),
        cases=len(last.cases),
    )
    assert children, "the worker had no pool child to kill"
    assert "signal 9 (SIGKILL)" in log.read_text(errors="replace")  # seen as a lost child
    assert in_flight >= 1 and unacked_after_kill >= 1, "no task was in flight at the kill"
    assert done_at_kill < total, "the worker had finished before it was killed"
    assert isinstance(found, Detected), (queue_depth(stack.redis), undetected, log_tail(log))
    assert accepted == batches * size and lost == 0 and duplicated == 0
    assert undetected == 0 and last.duplicated == 0
    assert len(set(last.cases)) == len({(r, h) for r, h in last.cases})


def test_redis_restart_during_ingest(stack: Stack) -> None:
    tenant = make_tenant(stack.url, "restarted", migrate=False)
    batches, size, kill_after, down = 40, 50, 8, 3.0
    bodies = [corpus_batch(stack.samples, n, size, "redis") for n in range(batches)]
    log = stack.logs / "worker-redis.log"
    worker = Worker(stack.env, log)
    worker.start()
    try:
        shipper = Shipper(stack.server.url, tenant.key, bodies, senders=2).start()
        assert wait_until(lambda: shipper.acknowledged >= kill_after, 60), "no ingest before"
        stack.redis.kill9()
        time.sleep(down)
        stack.redis.start()  # the same port and append-only file
        assert shipper.join(90), f"{shipper.acknowledged}/{batches} acknowledged"
        ids = set(shipper.ids)
        found = wait_until(lambda: settled(stack, tenant.id, ids), 120, 0.5)
    finally:
        worker.stop()
    stored_ids = opensearch_ids(stack.opensearch, stack.prefix)
    last = found if isinstance(found, Detected) else detected(stack.url, tenant.id)
    mine = [i for i in stored_ids if i in ids]
    accepted, stored, lost, duplicated = tally(shipper.ids, mine)
    undetected = len(ids - last.alerted_events)
    report(
        "redis_restart",
        accepted,
        stored,
        lost + undetected,
        duplicated + last.duplicated,
        ingest_answers=dict(shipper.statuses),
        refusals=dict(shipper.refusals),
        alerts=len(last.alerts),
        cases=len(last.cases),
    )
    assert shipper.statuses[503] > 0, "no request met the outage: the test proved nothing"
    assert not server_errors(shipper.statuses), dict(shipper.statuses)
    assert not shipper.no_retry_after and not shipper.bad_bodies, shipper.bad_bodies[:3]
    assert isinstance(found, Detected), (queue_depth(stack.redis), undetected, log_tail(log))
    assert accepted == batches * size and lost == 0 and duplicated == 0
    assert undetected == 0 and last.duplicated == 0
