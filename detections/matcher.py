"""Evaluate stored events against the loaded rules and record one alert per (rule, event)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from detections.correlation import CorrelationEngine, CorrelationRule, Observation, WindowStore
from detections.engine import CompiledRule, RuleSet
from detections.models import Alert
from detections.tenant_view import TenantView, TenantViews
from ingest.events import Event
from soc.core.db import utcnow


@dataclass
class Match:
    """A rule match on an event; for a correlation, ``event`` is the last contributing one."""

    rule: CompiledRule | CorrelationRule
    event: Event
    related_event_ids: list[str] = field(default_factory=list)


class Detector:
    """Streaming detection: Sigma rules per event, then the correlation windows (kept in
    ``windows``, shared by every worker: see detections.windows) per tenant."""

    def __init__(self, ruleset: RuleSet, windows: WindowStore) -> None:
        self.ruleset = ruleset
        self.windows = windows
        self.correlations = CorrelationEngine(ruleset.correlations, windows)
        self.views = TenantViews(ruleset)

    def evaluate(
        self,
        events: Sequence[Event],
        view: TenantView | None = None,
        session: Session | None = None,
    ) -> list[Match]:
        """Matches of every event, plus the correlations they complete (after the base
        matches, the windows updated once for the batch). With a tenant's ``view``: only its
        enabled rules (and its own), its field map applied, and no match an exception
        suppresses. ``session``: the caller's transaction (windows kept in the database join
        it; pass it whenever a transaction is open, SQLite has one writer at a time)."""
        out: list[Match] = []
        ruleset = view.ruleset if view is not None else self.ruleset
        now = utcnow()
        pending: list[tuple[Event, dict[str, Any], Observation]] = []
        for event in events:
            data = view.mapped(event.data) if view is not None else event.data
            for rule in ruleset.match(data):
                if view is not None and view.suppressed(rule.id, data, now) is not None:
                    continue
                out.append(Match(rule, event))
                if self.correlations.rules:
                    keys = [k for k in (rule.id, rule.name) if k]
                    seen = self.correlations.observations(
                        event.tenant_id, keys, data, event.id, event.event_time
                    )
                    pending += [(event, data, obs) for obs in seen]
        if pending:
            hits = self.correlations.apply([obs for _, _, obs in pending], session)
            for (event, data, _), hit in zip(pending, hits, strict=True):
                if hit is None or (view is not None and not view.allows(hit.rule.id, data, now)):
                    continue
                out.append(Match(hit.rule, event, hit.event_ids))
        return out


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
                related_event_ids=orjson.dumps(m.related_event_ids).decode()
                if m.related_event_ids
                else None,
            )
        )
    session.add_all(alerts)
    session.flush()
    return alerts
