"""Sigma correlation rules over sliding windows (event_count, value_count, temporal[_ordered])."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from detections.correlation import CorrelationEngine, CorrelationHit
from detections.engine import RuleSet

BASE = """
title: failed logon
name: failed_logon
id: 5f2c0c1e-0000-4000-8000-000000000001
logsource: {product: windows, service: security}
detection:
  sel: {EventID: 4625}
  condition: sel
---
title: success logon
name: success_logon
id: 5f2c0c1e-0000-4000-8000-000000000002
logsource: {product: windows, service: security}
detection:
  sel: {EventID: 4624}
  condition: sel
"""
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def correlation(body: str) -> str:
    return (
        "title: corr\nid: 5f2c0c1e-0000-4000-8000-0000000000aa\nlevel: high\ncorrelation:\n" + body
    )


def run(
    corr: str, events: list[tuple[int, dict[str, Any]]], tenant: int = 1
) -> list[CorrelationHit]:
    ruleset = RuleSet.from_rules([BASE, corr])
    assert not ruleset.errors, ruleset.errors
    engine = CorrelationEngine(ruleset.correlations)
    hits: list[CorrelationHit] = []
    for n, (seconds, data) in enumerate(events):
        event = {"Channel": "Security", **data}
        for rule in ruleset.match(event):
            keys = [k for k in (rule.id, rule.name) if k]
            hits += engine.observe(tenant, keys, event, f"e{n}", T0 + timedelta(seconds=seconds))
    return hits


def fail(user: str, ip: str = "10.0.0.1") -> dict[str, Any]:
    return {"EventID": 4625, "TargetUserName": user, "IpAddress": ip}


def test_event_count_fires_once_per_burst_with_contributing_events() -> None:
    corr = correlation(
        "  type: event_count\n  rules: [failed_logon]\n  group-by: [TargetUserName]\n"
        "  timespan: 5m\n  condition: {gte: 3}\n"
    )
    hits = run(corr, [(0, fail("bob")), (10, fail("bob")), (20, fail("eve")), (30, fail("bob"))])
    assert len(hits) == 1
    assert hits[0].group == ("bob",) and hits[0].event_ids == ["e0", "e1", "e3"]


def test_event_count_window_slides() -> None:
    corr = correlation(
        "  type: event_count\n  rules: [failed_logon]\n  group-by: [TargetUserName]\n"
        "  timespan: 1m\n  condition: {gte: 3}\n"
    )
    assert run(corr, [(0, fail("bob")), (50, fail("bob")), (70, fail("bob"))]) == []
    assert len(run(corr, [(0, fail("bob")), (50, fail("bob")), (59, fail("bob"))])) == 1


def test_value_count_counts_distinct_values() -> None:
    corr = correlation(
        "  type: value_count\n  rules: [failed_logon]\n  group-by: [IpAddress]\n"
        "  timespan: 10m\n  condition: {gte: 3, field: TargetUserName}\n"
    )
    same = [(i, fail("bob")) for i in range(5)]
    assert run(corr, same) == []
    spray = [(i, fail(u)) for i, u in enumerate(["a", "b", "a", "c"])]
    assert [h.event_ids for h in run(corr, spray)] == [["e0", "e1", "e2", "e3"]]


def test_temporal_and_ordered() -> None:
    ok = {"EventID": 4624, "TargetUserName": "bob"}
    for kind, events, expected in [
        ("temporal", [(0, ok), (5, fail("bob"))], 1),
        ("temporal_ordered", [(0, ok), (5, fail("bob"))], 0),
        ("temporal_ordered", [(0, fail("bob")), (5, ok)], 1),
        ("temporal", [(0, ok), (500, fail("bob"))], 0),
    ]:
        corr = correlation(
            f"  type: {kind}\n  rules: [failed_logon, success_logon]\n"
            "  group-by: [TargetUserName]\n  timespan: 1m\n"
        )
        assert len(run(corr, events)) == expected, kind


def test_windows_are_per_tenant() -> None:
    corr = correlation(
        "  type: event_count\n  rules: [failed_logon]\n  group-by: [TargetUserName]\n"
        "  timespan: 5m\n  condition: {gte: 2}\n"
    )
    ruleset = RuleSet.from_rules([BASE, corr])
    engine = CorrelationEngine(ruleset.correlations)
    rule = next(r for r in ruleset.rules if r.name == "failed_logon")
    keys = [rule.id, "failed_logon"]
    first = engine.observe(1, keys, fail("bob"), "a", T0)
    second = engine.observe(2, keys, fail("bob"), "b", T0)
    assert first == second == []
    assert len(engine.observe(1, keys, fail("bob"), "c", T0)) == 1
