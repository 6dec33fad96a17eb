"""Nothing accepted is lost: OpenSearch is stopped for real in the middle of a stream of ingest
requests and started again; every accepted event ends up stored exactly once."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from ingest.store.spool import SpoolingStore
from soc.app import create_app
from soc.core.migrate import upgrade
from soc.core.principal import SYSTEM
from soc.core.settings import Settings
from soc.services import build_services
from tenants import service as tenant_service
from tests.helpers import benign_event, key_headers

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "opensearch.sh"
REQUESTS, PER_REQUEST, STOP_AT, START_AT = 30, 50, 8, 20


def opensearch(action: str) -> None:
    subprocess.run(["bash", str(DEPLOY), action], check=True, capture_output=True, timeout=300)


@pytest.mark.alone  # the node is stopped: no test on another xdist worker may use it then
def test_events_accepted_during_an_outage_are_stored_exactly_once(
    opensearch_url: str, tmp_path: Path
) -> None:
    prefix = f"soc-outage-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        data_dir=tmp_path / "var",
        mode="production",
        detect_in_worker=False,
        opensearch_url=opensearch_url,
        opensearch_index_prefix=prefix,
    )
    upgrade(settings.sqlalchemy_url)
    services = build_services(settings)
    store = services.store
    assert isinstance(store, SpoolingStore)
    store.retry_seconds = 0.5
    with services.db.session() as session:
        tenant_service.create_tenant(session, SYSTEM, "acme", "Acme")
        _, key = tenant_service.create_api_key(session, SYSTEM, "acme", "test")
    accepted, spooled_seen = 0, 0
    try:
        with TestClient(create_app(settings, services)) as client:
            for n in range(REQUESTS):
                if n == STOP_AT:
                    opensearch("stop")
                if n == START_AT:
                    opensearch("start")
                body = b"\n".join(
                    orjson.dumps(benign_event(n * 1000 + i)) for i in range(PER_REQUEST)
                )
                answer = client.post("/api/v1/ingest", content=body, headers=key_headers(key))
                assert answer.status_code == 200, answer.text
                accepted += answer.json()["accepted"]
                spooled_seen = max(spooled_seen, store.pending())
        deadline = time.monotonic() + 60
        while store.replay() and time.monotonic() < deadline:
            time.sleep(1)
        store.inner.refresh(1)
        stored = store.inner.client.count(index=f"{prefix}-1-*")["count"]
        ids = {e.id for e in store.inner.iter_query(1, {"match_all": {}})}
    finally:
        opensearch("start")  # whatever happened, leave the node up for the other tests
        store.inner.client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
        services.close()
    assert spooled_seen > 0, "the outage never reached the spool: the test proved nothing"
    assert accepted == REQUESTS * PER_REQUEST
    assert store.pending() == 0
    assert stored == len(ids) == accepted  # every accepted event, once


def test_full_spool_pushes_back_with_503_and_accepts_nothing(
    opensearch_url: str, tmp_path: Path
) -> None:
    """With the store unreachable and the spool at its limit, ingest answers 503 + Retry-After
    (back-pressure) instead of accepting events it could lose."""
    settings = Settings(
        data_dir=tmp_path / "var",
        mode="production",
        detect_in_worker=False,
        opensearch_url="http://127.0.0.1:9",
        spool_max_bytes=3000,
    )
    upgrade(settings.sqlalchemy_url)
    services = build_services(settings)
    with services.db.session() as session:
        tenant_service.create_tenant(session, SYSTEM, "acme", "Acme")
        _, key = tenant_service.create_api_key(session, SYSTEM, "acme", "test")
    statuses = []
    with TestClient(create_app(settings, services)) as client:
        for n in range(6):
            body = b"\n".join(orjson.dumps(benign_event(n * 100 + i)) for i in range(10))
            answer = client.post("/api/v1/ingest", content=body, headers=key_headers(key))
            statuses.append(answer.status_code)
            if answer.status_code == 503:
                assert int(answer.headers["Retry-After"]) > 0
                assert "spool is full" in answer.json()["detail"]
    spooled = services.store.pending()
    services.close()
    assert statuses[0] == 200 and 503 in statuses
    assert spooled == 10 * statuses.count(200)  # exactly what was accepted is kept
