"""The corpus through the product: every SigmaHQ regression sample, posted raw (evtx_dump JSON)
to POST /api/v1/ingest, raises an alert for its own rule — embedded (SQLite) and production
(OpenSearch) alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from detections.engine import RuleSet
from detections.models import Alert
from ingest.windows import iter_concatenated_json
from soc.app import create_app
from soc.core.migrate import upgrade
from soc.core.principal import SYSTEM
from soc.core.settings import Settings
from soc.services import Services, build_services
from tenants import service as tenant_service
from tests.detections.conftest import REGRESSION, corpus_available
from tests.detections.test_corpus_regression import _known_gaps as known_gaps
from tests.services import service_url

pytestmark = pytest.mark.skipif(not corpus_available(), reason="SigmaHQ corpus not available")


def samples() -> list[tuple[str, Path]]:
    found = []
    for info in sorted(REGRESSION.glob("**/info.yml")):
        rule_id = yaml.safe_load(info.read_text())["rule_metadata"][0]["id"]
        found.append((rule_id, next(info.parent.glob("*.json"))))
    return found


@pytest.fixture(params=["sqlite", "opensearch"])
def corpus_services(
    request: pytest.FixtureRequest, tmp_path: Path, corpus_ruleset: RuleSet
) -> Iterator[Services]:
    if request.param == "sqlite":
        settings = Settings(data_dir=tmp_path / "var")
    else:
        settings = Settings(
            data_dir=tmp_path / "var",
            mode="production",
            detect_in_worker=False,
            opensearch_url=service_url("opensearch"),
            opensearch_index_prefix=f"soc-corpus-{uuid.uuid4().hex[:8]}",
        )
    upgrade(settings.sqlalchemy_url)
    services = build_services(settings, ruleset=corpus_ruleset)
    yield services
    if request.param == "opensearch":
        services.store.inner.client.indices.delete(
            index=f"{settings.opensearch_index_prefix}-*", ignore_unavailable=True
        )
    services.close()


def test_each_sample_posted_to_the_api_raises_its_own_rule(corpus_services: Services) -> None:
    with corpus_services.db.session() as session:
        tenant_service.create_tenant(session, SYSTEM, "corpus", "Corpus")
        _, key = tenant_service.create_api_key(session, SYSTEM, "corpus", "test")
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    misses = set()
    with TestClient(create_app(corpus_services.settings, corpus_services)) as client:
        for rule_id, path in samples():
            raw = list(iter_concatenated_json(path.read_text(encoding="utf-8")))
            answer = client.post(
                "/api/v1/ingest?return_ids=true", content=orjson.dumps(raw), headers=headers
            )
            assert answer.status_code == 200, (path, answer.text)
            ids = answer.json()["ids"]
            with corpus_services.db.session() as session:
                fired = session.scalars(
                    select(Alert.id).where(Alert.rule_id == rule_id, Alert.event_id.in_(ids))
                ).first()
            if fired is None:
                misses.add((rule_id, "json"))
    assert corpus_services.store.stats(1).events > 0
    assert misses <= known_gaps(), f"samples whose rule did not fire via the API: {misses}"
