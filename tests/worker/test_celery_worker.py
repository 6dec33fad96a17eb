"""Production-mode detection through Celery on a real Redis: the API enqueues, a worker runs
the same service function as embedded mode, cases appear; retention runs as a task too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from fastapi.testclient import TestClient

import soc.tasks
from soc.app import create_app
from soc.cases.models import Case
from soc.celery_app import celery_app
from soc.core.migrate import upgrade
from soc.core.principal import SYSTEM
from soc.core.settings import Settings, get_settings
from soc.services import build_services
from tenants import service as tenant_service
from tests.helpers import benign_event, key_headers, ndjson, whoami_event
from tests.services import service_url


@pytest.fixture
def worker_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings shared by the API and the worker thread (same database, real Redis)."""
    redis_url = service_url("redis")
    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SOC_REDIS_URL", redis_url)
    prices = Path(__file__).resolve().parents[2] / "docs" / "billing-prices.example.json"
    monkeypatch.setenv("SOC_BILLING_PRICES_FILE", str(prices))
    get_settings.cache_clear()
    celery_app.conf.broker_url = celery_app.conf.result_backend = redis_url
    soc.tasks._services = None
    settings = get_settings().model_copy(update={"detect_in_worker": True})
    upgrade(settings.sqlalchemy_url)
    yield settings
    if soc.tasks._services is not None:
        soc.tasks._services.close()
        soc.tasks._services = None
    get_settings.cache_clear()


def test_detection_runs_in_a_worker(worker_env: Settings) -> None:
    services = build_services(worker_env)
    assert services.settings.detection_async
    with services.db.session() as session:
        tenant_service.create_tenant(session, SYSTEM, "acme", "Acme")
        _, key = tenant_service.create_api_key(session, SYSTEM, "acme", "test")
    body = ndjson(benign_event(1), whoami_event("ws-1", 3, "a"), whoami_event("ws-1", 2, "b"))
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        with TestClient(create_app(worker_env, services)) as client:
            answer = client.post("/api/v1/ingest", content=body, headers=key_headers(key))
            assert answer.status_code == 200
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with services.db.session() as session:
                cases = session.query(Case).all()
                if cases:
                    break
            time.sleep(0.2)
    services.close()
    assert [(c.host, c.alert_count) for c in cases] == [("ws-1", 2)]


def test_retention_task_runs_on_the_worker(worker_env: Settings) -> None:
    services = build_services(worker_env)
    with services.db.session() as session:
        tenant_service.create_tenant(session, SYSTEM, "acme", "Acme")
    services.close()
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        result = soc.tasks.apply_retention.delay().get(timeout=30)
    assert result == {"acme": 0}


def test_monthly_billing_close_runs_on_the_worker(worker_env: Settings) -> None:
    services = build_services(worker_env)
    with services.db.session() as session:
        tenant_service.create_tenant(session, SYSTEM, "acme", "Acme")
    services.close()
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        first = soc.tasks.close_previous_month.delay().get(timeout=60)
        again = soc.tasks.close_previous_month.delay().get(timeout=60)
    assert soc.tasks.previous_month(date(2026, 1, 15)) == "2025-12"
    assert first.startswith(soc.tasks.previous_month(date.today()))
    assert "already closed" in again
