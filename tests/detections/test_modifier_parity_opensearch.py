"""Property tests: the streaming matcher's string modifiers agree with the OpenSearch store
(a real node; pySigma's OpenSearch backend through detections.hunting.HuntRule) on random
values. Each example writes its values under a fresh marker, so one index serves them all."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma.rule import SigmaRule

from detections.engine import CompiledRule
from detections.hunting import HuntRule
from ingest.events import normalise
from ingest.store.opensearch import OpenSearchEventStore
from tests.helpers import SYSMON_CHANNEL
from tests.store import conftest as store_fixtures

opensearch_url = store_fixtures.opensearch_url  # the real node (shared fixtures)
os_store = store_fixtures.os_store

TENANT = 7
# Mixed case (the store folds case like Sigma), Sigma wildcards in patterns, and characters
# that Lucene and Sigma treat specially in values.
VALUE = st.text(alphabet="aAbBz.- *?\\/:", max_size=8)
PATTERN = st.text(alphabet="aAbBz.- *?/:", min_size=1, max_size=6)
MODIFIERS = ["", "|contains", "|startswith", "|endswith"]
PROFILE = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
_markers = itertools.count(1)


def rule_for(field: str, values: Any, marker: int) -> CompiledRule:
    sigma = SigmaRule.from_dict(
        {
            "title": "property",
            "id": "6f1b1f4e-0000-4000-8000-000000000001",
            "logsource": {"product": "windows", "category": "process_creation"},
            "detection": {
                "sel": {field: values},
                "marker": {"Marker": marker},
                "condition": "sel and marker",
            },
        }
    )
    return CompiledRule.from_sigma(sigma)


def agree(store: OpenSearchEventStore, field: str, patterns: Any, values: list[str]) -> None:
    marker = next(_markers)
    now = datetime.now(UTC)
    events = []
    for n, value in enumerate(values):
        data = {
            "EventID": 1,
            "Channel": SYSMON_CHANNEL,
            "Marker": marker,
            "N": n,
            "Field": value,
        }
        events.append(normalise(data, orjson.dumps(data), TENANT, now))
    store.write(events)
    store.refresh(TENANT)
    hunt = HuntRule(rule_for(field, patterns, marker))
    streaming = {e.id for e in events if hunt.matches(e.data)}
    stored = {e.id for e in store.hunt(TENANT, hunt)}
    assert streaming == stored, {
        "patterns": patterns,
        "streaming": sorted(e.data["Field"] for e in events if e.id in streaming),
        "opensearch": sorted(e.data["Field"] for e in events if e.id in stored),
    }


def test_string_modifiers_agree_with_opensearch(os_store: OpenSearchEventStore) -> None:
    @PROFILE
    @given(
        values=st.lists(VALUE, min_size=1, max_size=5, unique=True),
        pattern=PATTERN,
        modifier=st.sampled_from(MODIFIERS),
    )
    def check(values: list[str], pattern: str, modifier: str) -> None:
        # a value built from the pattern makes a match likely, not just possible
        agree(os_store, "Field" + modifier, pattern, [*values, pattern.replace("*", "x")])

    check()


def test_value_lists_and_all_agree_with_opensearch(os_store: OpenSearchEventStore) -> None:
    @PROFILE
    @given(
        values=st.lists(VALUE, min_size=1, max_size=5, unique=True),
        patterns=st.lists(PATTERN, min_size=2, max_size=4),
        modifier=st.sampled_from([*MODIFIERS, "|contains|all"]),
    )
    def check(values: list[str], patterns: list[str], modifier: str) -> None:
        joined = "".join(p.replace("*", "").replace("?", "") for p in patterns)
        agree(os_store, "Field" + modifier, patterns, [*values, joined])

    check()
