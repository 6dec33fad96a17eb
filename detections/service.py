"""Evaluate stored events against the loaded rules and record one alert per (rule, event)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from detections.engine import CompiledRule, RuleSet
from detections.models import Alert
from ingest.events import Event


@dataclass
class Match:
    rule: CompiledRule
    event: Event


class Detector:
    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset

    def evaluate(self, events: Sequence[Event]) -> list[Match]:
        return [Match(rule, event) for event in events for rule in self.ruleset.match(event.data)]


def record_alerts(session: Session, tenant_id: int, matches: Sequence[Match]) -> list[Alert]:
    """Insert alerts that do not exist yet (a replayed event never alerts twice)."""
    if not matches:
        return []
    event_ids = {m.event.id for m in matches}
    existing = {
        tuple(row)
        for row in session.execute(
            select(Alert.rule_id, Alert.event_id).where(
                Alert.tenant_id == tenant_id, Alert.event_id.in_(event_ids)
            )
        )
    }
    alerts: list[Alert] = []
    for m in matches:
        key = (m.rule.id, m.event.id)
        if key in existing:
            continue
        existing.add(key)
        alerts.append(
            Alert(
                tenant_id=tenant_id,
                rule_id=m.rule.id,
                rule_title=m.rule.title[:300],
                level=m.rule.level or "medium",
                event_id=m.event.id,
                host=m.event.host,
                event_time=m.event.event_time,
            )
        )
    session.add_all(alerts)
    session.flush()
    return alerts
