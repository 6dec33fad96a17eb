"""Parity: every SigmaHQ regression sample, ingested into both stores, is found by its own
rule in both — the same events, by id — with the rule run as a Python predicate on SQLite and
as a pySigma-converted query on OpenSearch."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import yaml

from detections.engine import RuleSet
from detections.hunting import HuntRule
from ingest.events import normalise
from ingest.files import iter_events_from_file
from ingest.store.opensearch import OpenSearchEventStore
from ingest.store.sqlite import SQLiteEventStore
from tests.detections.conftest import REGRESSION, corpus_available

pytestmark = pytest.mark.skipif(not corpus_available(), reason="SigmaHQ corpus not available")


def samples() -> list[tuple[str, Path]]:
    found = []
    for info in sorted(REGRESSION.glob("**/info.yml")):
        rule_id = yaml.safe_load(info.read_text())["rule_metadata"][0]["id"]
        found.append((rule_id, next(info.parent.glob("*.json"))))
    return found


def test_each_sample_rule_finds_the_same_events_in_both_stores(
    corpus_ruleset: RuleSet, os_store: OpenSearchEventStore, tmp_path: Path
) -> None:
    sqlite = SQLiteEventStore(tmp_path / "events.sqlite")
    now = datetime.now(UTC)
    cases = []
    for tenant_id, (rule_id, path) in enumerate(samples(), start=1):  # a tenant per sample
        events = [
            normalise(o, orjson.dumps(o), tenant_id, now) for o in iter_events_from_file(path)
        ]
        sqlite.write(events)
        os_store.write(events)
        cases.append((tenant_id, rule_id, path))
    os_store.refresh()
    rules = {r.id: r for r in corpus_ruleset.rules}
    differences, empty = [], []
    for tenant_id, rule_id, path in cases:
        hunt = HuntRule(rules[rule_id])
        in_sqlite = {e.id for e in sqlite.hunt(tenant_id, hunt)}
        in_opensearch = {e.id for e in os_store.hunt(tenant_id, hunt)}
        if in_sqlite != in_opensearch:
            differences.append(
                f"{path.parent.name}: sqlite {len(in_sqlite)}, opensearch {len(in_opensearch)}"
            )
        if not in_sqlite:
            empty.append(path.parent.name)
    sqlite.close()
    assert len(cases) >= 90
    assert not differences, "\n".join(differences)
    assert not empty, f"samples whose rule found nothing: {empty}"
