"""Acceptance (issue 10, fault c): Sigma correlation windows are shared by every Celery worker
and survive a worker restart. Two real worker processes on real Redis (production mode: the
windows are in Redis; alerts in PostgreSQL) each get half of a burst that crosses an
event_count threshold: exactly one correlation alert. A worker killed mid-window and started
again: still exactly one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from celery.result import AsyncResult
from sqlalchemy import select

import soc.tasks
from detections.models import Alert
from ingest.events import normalise
from ingest.store.spool import encode_event
from soc.celery_app import celery_app
from soc.core.db import Database, utcnow
from soc.core.migrate import upgrade
from tenants.models import Tenant
from tests.helpers import whoami_event
from tests.services import create_database, drop_database, service_url

REPO = Path(__file__).resolve().parents[2]
BASE_RULE = (
    REPO.parent
    / "shared/corpus/sigmahq/rules/windows/process_creation"
    / "proc_creation_win_whoami_all_execution.yml"
)
BASE_ID = "c248c896-e412-4279-8c15-1c558067b6fa"
THRESHOLD = 20


@dataclass
class Cluster:
    """A database, a rule directory and the environment the worker processes run with."""

    tmp: Path
    env: dict[str, str]
    db: Database
    tenant_id: int
    correlation_id: str
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)  # event ids, in order

    def start(self, name: str) -> None:
        """A worker process named ``name`` consuming its own queue."""
        queue = self.queues.setdefault(name, f"corr-test-{name}-{uuid.uuid4().hex[:8]}")
        log = open(self.tmp / f"{name}-{len(self.workers)}.log", "ab")  # noqa: SIM115
        self.workers[name] = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "soc.celery_app", "worker", "-P", "solo"]
            + ["-Q", queue, "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h", "-l", "WARNING"]
            + ["--without-mingle", "--without-gossip", "--without-heartbeat"],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def kill(self, name: str) -> None:
        worker = self.workers.pop(name)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)

    def send(self, count: int, names: list[str]) -> list[AsyncResult]:
        """``count`` whoami events of one host, one detection task each, dealt in turn to the
        workers ``names`` (all queued at once: the workers run side by side)."""
        results = []
        for i in range(count):
            obj = whoami_event("ws-7", 1, f"burst-{len(self.sent)}")
            event = normalise(obj, orjson.dumps(obj), self.tenant_id, utcnow())
            self.sent.append(event.id)
            queue = self.queues[names[i % len(names)]]
            args = (self.tenant_id, [encode_event(event).decode()])
            results.append(soc.tasks.detect_events.apply_async(args, queue=queue))
        return results

    def correlation_alerts(self) -> list[Alert]:
        with self.db.read_session() as session:
            return list(session.scalars(select(Alert).where(Alert.rule_id == self.correlation_id)))

    def base_alerts(self) -> int:
        with self.db.read_session() as session:
            return len(list(session.scalars(select(Alert.id).where(Alert.rule_id == BASE_ID))))


def wait(results: list[AsyncResult]) -> int:
    return sum(int(r.get(timeout=90)) for r in results)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    redis_url = service_url("redis")
    server = service_url("postgresql")
    name, url = create_database(server)
    upgrade(url)
    db = Database(url)
    with db.session() as session:
        tenant = Tenant(slug="acme", name="Acme")
        session.add(tenant)
        session.flush()
        tenant_id = tenant.id
    correlation_id = str(uuid.uuid4())  # Redis keys of its own, whatever ran before
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "whoami_burst.yml").write_text(
        BASE_RULE.read_text()
        + f"---\ntitle: whoami burst\nid: {correlation_id}\nlevel: high\ncorrelation:\n"
        f"  type: event_count\n  rules: [{BASE_ID}]\n  group-by: [Computer]\n"
        f"  timespan: 10m\n  condition: {{gte: {THRESHOLD}}}\n"
    )
    prices = REPO / "docs" / "billing-prices.example.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SOC_")},
        "SOC_MODE": "production",  # windows in Redis
        "SOC_EVENT_STORE": "sqlite",
        "SOC_DATA_DIR": str(tmp_path / "var"),
        "SOC_DATABASE_URL": url,
        "SOC_REDIS_URL": redis_url,
        "SOC_RULES_DIRS": orjson.dumps([str(rules)]).decode(),
        "SOC_INCLUDE_BUILTIN_RULES": "false",
        "SOC_BILLING_PRICES_FILE": str(prices),
    }
    celery_app.conf.broker_url = celery_app.conf.result_backend = redis_url
    built = Cluster(tmp_path, env, db, tenant_id, correlation_id)
    yield built
    for worker in built.workers.values():
        worker.send_signal(signal.SIGTERM)
    for worker in built.workers.values():
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
    db.engine.dispose()
    drop_database(server, name)


def test_two_workers_each_with_half_a_burst_raise_one_alert(cluster: Cluster) -> None:
    cluster.start("w1")
    cluster.start("w2")
    total = THRESHOLD + THRESHOLD // 2  # crosses the threshold once, not twice
    new_alerts = wait(cluster.send(total, ["w1", "w2"]))
    alerts = cluster.correlation_alerts()
    assert len(alerts) == 1, [a.event_id for a in alerts]
    assert len(orjson.loads(alerts[0].related_event_ids or "[]")) == THRESHOLD
    assert cluster.base_alerts() == total and new_alerts == total + 1


def test_a_worker_restarted_mid_window_still_raises_one_alert(cluster: Cluster) -> None:
    cluster.start("w1")
    cluster.start("w2")
    before = THRESHOLD // 2 + 2
    assert wait(cluster.send(before, ["w1", "w2"])) == before  # mid-window: no correlation
    assert cluster.correlation_alerts() == []
    cluster.kill("w1")  # no goodbye: its process and memory are gone
    cluster.start("w1")
    rest = THRESHOLD + THRESHOLD // 2 - before
    wait(cluster.send(rest, ["w1", "w2"]))
    alerts = cluster.correlation_alerts()
    assert len(alerts) == 1, [a.event_id for a in alerts]
    related = orjson.loads(alerts[0].related_event_ids or "[]")
    assert len(related) == THRESHOLD
    assert set(cluster.sent[:before]) <= set(related)  # the window outlived the worker
    assert cluster.base_alerts() == THRESHOLD + THRESHOLD // 2
