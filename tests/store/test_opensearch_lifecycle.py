"""Shard economy on a real OpenSearch node: period indices by event time, generations when an
index is full, and "stored once" across generations, class changes and the old daily indices.

The node is the minimal distribution (no ISM plugin): the ISM policy's body is checked here,
its installation and effect are not (see README, "Index lifecycle")."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from detections.engine import RuleSet
from detections.hunting import HuntRule
from ingest.events import Event, normalise
from ingest.store import lifecycle
from ingest.store.factory import opensearch_client
from ingest.store.opensearch import OpenSearchEventStore
from soc.services import BUILTIN_RULES
from tests.helpers import benign_event, whoami_event

NOW = datetime.now(UTC).replace(microsecond=0)
TINY_GB = 4000 / lifecycle.GB  # a 4 kB "full" primary, so a few hundred events roll over


@pytest.fixture
def prefix(opensearch_url: str) -> Iterator[str]:
    name = f"soc-test-lc-{uuid.uuid4().hex[:8]}"
    yield name
    client = opensearch_client(opensearch_url)
    client.indices.delete(index=f"{name}-*", ignore_unavailable=True)
    client.indices.delete_index_template(name=name, ignore=[404])
    client.close()


def make(url: str, prefix: str, **options: object) -> OpenSearchEventStore:
    return OpenSearchEventStore(opensearch_client(url), prefix=prefix, **options)  # type: ignore[arg-type]


def event(obj: dict, when: datetime, tenant_id: int = 1) -> Event:
    obj = obj | {"@timestamp": when.isoformat()}
    return normalise(obj, orjson.dumps(obj), tenant_id, NOW)


def names(store: OpenSearchEventStore, tenant_id: int = 1) -> list[str]:
    rows = store.client.cat.indices(index=store.tenant_pattern(tenant_id), format="json", h="index")
    return sorted(r["index"][len(store.prefix) + 1 :] for r in rows)


def settle(store: OpenSearchEventStore) -> None:
    """Searchable and with its true store size (what the size class and 'full' read)."""
    store.client.indices.flush(index=f"{store.prefix}-*")
    store.refresh()
    store.forget()


def test_period_by_size_class_and_names() -> None:
    assert lifecycle.period_for(2 * lifecycle.GB) == "month"
    assert lifecycle.period_for(100 * lifecycle.GB) == "week"
    assert lifecycle.period_for(2000 * lifecycle.GB) == "day"
    when = datetime(2026, 12, 3, 23, 59, tzinfo=UTC)
    for period, token in (("month", "2026.12"), ("week", "2026w49"), ("day", "2026.12.03")):
        assert lifecycle.token_for(when, period) == token  # type: ignore[arg-type]
        parsed = lifecycle.parse_index("p", lifecycle.index_name("p", 7, token, 2))
        assert parsed and parsed.tenant_id == 7 and parsed.generation == 2
        assert parsed.start <= when < parsed.end
    legacy = lifecycle.parse_index("p", "p-7-2026.12.03")
    assert legacy and legacy.generation == 0 and legacy.end == datetime(2026, 12, 4, tzinfo=UTC)
    assert lifecycle.parse_index("p", "p-7-2026.12-000001").end == datetime(2027, 1, 1, tzinfo=UTC)  # type: ignore[union-attr]
    assert lifecycle.parse_index("p", "p-x-2026.12") is None
    assert lifecycle.parse_index("p", "p-7-2026.12") is None  # a month never had a bare name
    # a small tenant: 12 indices a year; a TB/month one: by size, not 365 x 1
    assert lifecycle.indices_per_year(5 * lifecycle.GB) == 12
    assert lifecycle.indices_per_year(1024 * lifecycle.GB) == 365 * 2
    assert lifecycle.replicas_for(None, 1) == 0 and lifecycle.replicas_for(None, 3) == 1
    assert lifecycle.replicas_for(2, 1) == 2


def test_ism_policy_body() -> None:
    body = lifecycle.ism_policy(90)["policy"]
    states = {s["name"]: s for s in body["states"]}
    assert body["default_state"] == "hot" and set(states) == {"hot", "full", "delete"}
    hot = {t["state_name"]: t["conditions"] for t in states["hot"]["transitions"]}
    assert hot["full"] == {"min_size": "30gb"}
    assert hot["delete"] == {"min_index_age": f"{90 + lifecycle.ISM_SPAN_MARGIN_DAYS}d"}
    assert states["full"]["actions"] == [{"read_only": {}}]
    assert states["delete"]["actions"] == [{"delete": {}}]


def test_small_tenant_month_and_template(opensearch_url: str, prefix: str) -> None:
    store = make(opensearch_url, prefix)
    start = NOW.replace(day=1, hour=0, minute=0, second=0)
    batch = [event(benign_event(i), start + timedelta(days=i % 5, hours=i)) for i in range(40)]
    assert len(store.write(batch)) == 40
    assert names(store) == [f"1-{start:%Y.%m}-000001"]  # not 5 daily indices
    template = store.client.indices.get_index_template(name=prefix)["index_templates"][0]
    assert template["index_template"]["template"]["settings"]["index"]["number_of_replicas"] == "0"
    assert store.ism_available() is False  # the minimal distribution
    assert store.attach_policy(1, 90) is False  # the beat task does the lifecycle then


def test_replay_after_rollover_is_not_stored_twice(opensearch_url: str, prefix: str) -> None:
    store = make(opensearch_url, prefix, primary_gb=TINY_GB)
    other_process = make(opensearch_url, prefix, primary_gb=TINY_GB)
    when = datetime(NOW.year, NOW.month, 15, tzinfo=UTC)  # no month boundary in the batch
    first = [event(benign_event(i), when + timedelta(seconds=i)) for i in range(300)]
    assert len(store.write(first)) == 300
    assert len(other_process.write(first[:10])) == 0  # its cache now lists generation 1
    settle(store)
    second = [event(benign_event(1000 + i), when + timedelta(seconds=i)) for i in range(50)]
    assert len(store.write(second)) == 50  # generation 1 is full: generation 2 opened
    token = lifecycle.token_for(when, "month")
    assert names(store) == [f"1-{token}-000001", f"1-{token}-000002"]
    # a shipper's retry minutes later, an old file replayed, by this process and by one whose
    # cache still says generation 1 is open (it is refused by the block, reloads, looks up)
    assert store.write(first + second) == []
    assert other_process.write(first[:100] + second[:10]) == []
    store.refresh()
    assert store.stats(1).events == 350
    assert store.search(1, limit=1).total == 350


def test_large_tenant_gets_day_indices(opensearch_url: str, prefix: str) -> None:
    store = make(opensearch_url, prefix, primary_gb=TINY_GB)
    when = NOW - timedelta(days=1)
    store.write([event(benign_event(i), when + timedelta(seconds=i)) for i in range(1000)])
    settle(store)
    assert store.monthly_bytes(1) > TINY_GB * lifecycle.GB * lifecycle.DAY_FROM_MONTH_FACTOR
    later = NOW + timedelta(days=40)  # a span with no index yet: chosen by the class now
    assert store.index_name(1, later) == f"{prefix}-1-{later:%Y.%m.%d}-000001"
    # the span already started keeps its month index (no class change mid-span)
    assert f"-{when:%Y.%m}-00000" in store.index_name(1, when)


def test_old_daily_indices_migrate_in_place(opensearch_url: str, prefix: str) -> None:
    store = make(opensearch_url, prefix)
    store.ensure_template()
    old_day = NOW - timedelta(days=3)
    expired_day = NOW - timedelta(days=40)
    legacy = [
        event(benign_event(1), old_day),
        event(whoami_event("h1", marker="a"), old_day),
        event(benign_event(2), expired_day),
    ]
    for e in legacy:  # what the daily scheme wrote
        store.client.create(
            index=f"{prefix}-1-{e.event_time:%Y.%m.%d}", id=e.id, body=store._source(e, None)
        )
    newer = [event(benign_event(3), NOW), event(whoami_event("h2", marker="b"), old_day)]
    assert len(store.write(legacy + newer)) == 2  # replays of the daily indices' events skipped
    store.refresh()
    assert store.stats(1).events == 5
    assert {e.id for e in store.get_many(1, [e.id for e in legacy + newer])} == {
        e.id for e in legacy + newer
    }
    assert store.get(1, legacy[0].id) is not None
    assert store.search(1, start=NOW - timedelta(days=5)).total == 4
    whoami = next(r for r in RuleSet.from_dirs([BUILTIN_RULES]).rules if "Whoami" in r.title)
    assert sorted(e.host for e in store.hunt(1, HuntRule(whoami))) == ["h1", "h2"]
    stats = store.stats(1)
    assert stats.first_event == expired_day and stats.last_event == NOW
    # retention at the tenant's 30 days: the expired daily index goes; nothing else
    assert store.retention(1, NOW - timedelta(days=30)) == 1
    store.refresh()
    assert store.stats(1).events == 4
    assert f"1-{expired_day:%Y.%m.%d}" not in names(store)


def test_retention_cuts_inside_a_month_index(opensearch_url: str, prefix: str) -> None:
    store = make(opensearch_url, prefix)
    month = datetime(2026, 1, 1, tzinfo=UTC)
    batch = [event(benign_event(i), month + timedelta(days=i)) for i in range(31)]
    batch += [event(benign_event(99), month, tenant_id=2)]
    store.write(batch)
    store.refresh()
    cutoff = month + timedelta(days=10)
    assert store.retention(1, cutoff) == 10  # retention is a maximum: not the whole month later
    store.refresh()
    left = store.search(1, limit=100).events
    assert len(left) == 21 and min(e.event_time for e in left) == cutoff
    assert store.retention(1, datetime(2026, 2, 1, tzinfo=UTC)) == 21
    assert names(store) == [] and store.stats(2).events == 1  # the other tenant untouched
