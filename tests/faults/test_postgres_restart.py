"""PostgreSQL stopped and started again under a production server (`soc run`, OpenSearch
store) while shippers ingest and a customer reads its cases: while the database is down every
answer is 503 with Retry-After (never a 500), and the same server process serves again once
it is back, without a restart; every acknowledged event is stored, detected and raises its
case once. The cluster is a private one (tests/faults/procs.py), never the shared server."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.procs import Postgres, Server, report, wait_until
from tests.faults.traffic import (
    Shipper,
    batch,
    detected,
    drop_opensearch_prefix,
    login,
    make_tenant,
    opensearch_ids,
    server_errors,
    tally,
    whoami_count,
)
from tests.services import service_url

BATCHES, SIZE, DOWN_AFTER, DOWN_SECONDS = 40, 25, 8, 4.0


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    cluster = Postgres()
    cluster.start()
    yield cluster
    cluster.destroy()


def test_postgres_restart_during_ingest_and_case_traffic(
    postgres: Postgres, tmp_path: Path
) -> None:
    opensearch = service_url("opensearch")
    prefix = f"soc-faults-pg-{uuid.uuid4().hex[:8]}"
    url = postgres.database("soc_faults")
    tenant = make_tenant(url)
    data = tmp_path / "var"
    data.mkdir()
    server = Server(
        data,
        {
            "SOC_MODE": "production",
            "SOC_DATABASE_URL": url,
            "SOC_OPENSEARCH_URL": opensearch,
            "SOC_OPENSEARCH_INDEX_PREFIX": prefix,
            "SOC_REDIS_URL": service_url("redis"),
            "SOC_DETECT_IN_WORKER": "false",
            "SOC_DB_POOL_TIMEOUT_SECONDS": "2",
            "SOC_INGEST_RECOVERY_GRACE_SECONDS": "2",
            "SOC_INGEST_RECOVERY_EVERY_SECONDS": "1",
        },
    )
    server.start()
    pid = server.proc.pid if server.proc else None
    reads: Counter[int] = Counter()
    outage_reads: Counter[int] = Counter()
    down = threading.Event()
    stop = threading.Event()
    missing_retry_after = [0]

    def read_cases(headers: dict[str, str]) -> None:
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            while not stop.is_set():
                try:
                    answer = client.get("/api/v1/cases", params={"limit": 20})
                    status = answer.status_code
                    if status == 503 and "retry-after" not in answer.headers:
                        missing_retry_after[0] += 1
                except httpx.HTTPError:
                    status = 0
                reads[status] += 1
                if down.is_set():
                    outage_reads[status] += 1
                stop.wait(0.1)

    try:
        reader = threading.Thread(target=read_cases, args=(login(server.url),), daemon=True)
        reader.start()
        bodies = [batch(n, SIZE, "pg") for n in range(BATCHES)]
        shipper = Shipper(server.url, tenant.key, bodies, senders=2).start()
        assert wait_until(lambda: shipper.acknowledged >= DOWN_AFTER, 60), "no ingest before"
        postgres.stop("fast")
        down.set()
        time.sleep(DOWN_SECONDS)
        health = httpx.get(f"{server.url}/api/v1/health", timeout=30)
        down.clear()
        postgres.start()
        assert shipper.join(90), f"only {shipper.acknowledged}/{BATCHES} batches acknowledged"
        want = whoami_count(BATCHES, SIZE)
        wait_until(lambda: len(set(detected(url, tenant.id).alerts)) >= want, 30, 0.5)
        found = detected(url, tenant.id)
        after = httpx.get(f"{server.url}/api/v1/cases", headers=login(server.url), timeout=30)
        stop.set()
        reader.join(30)
        stored_ids = opensearch_ids(opensearch, prefix)
    finally:
        stop.set()
        server.stop()
        drop_opensearch_prefix(opensearch, prefix)
    accepted, stored, lost, duplicated = tally(shipper.ids, stored_ids)
    report(
        "postgres_restart",
        accepted,
        stored,
        lost,
        duplicated + found.duplicated,
        ingest_answers=dict(shipper.statuses),
        refusals=dict(shipper.refusals),
        case_reads_while_down=dict(outage_reads),
        alerts=len(found.alerts),
        cases=len(found.cases),
    )
    assert server.proc is not None and server.proc.pid == pid  # the same process all along
    assert health.status_code == 503 and health.headers.get("retry-after"), health.text
    assert shipper.statuses[503] > 0, "no request met the outage: the test proved nothing"
    assert set(outage_reads) == {503}, dict(outage_reads)  # the database down: 503 only
    assert not server_errors(shipper.statuses), dict(shipper.statuses)
    assert not server_errors(reads), dict(reads)
    assert not shipper.no_retry_after and not missing_retry_after[0]
    assert not shipper.bad_bodies, shipper.bad_bodies[:3]
    assert after.status_code == 200, after.text
    assert accepted == BATCHES * SIZE and lost == 0 and duplicated == 0
    assert len(set(found.alerts)) == want and found.duplicated == 0
    assert found.alerted_events <= set(shipper.ids)
