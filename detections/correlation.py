"""Sigma correlation rules (event_count, value_count, temporal, temporal_ordered) over sliding
windows kept per tenant and group.

The streaming matcher reports each base-rule match here with the event's time; a correlation
fires when its condition holds inside the last ``timespan`` of its group, carries the ids of the
contributing events, and then starts a fresh window for that group (one alert per burst).
Conditions are evaluated when an event arrives, so ``lt``/``lte`` thresholds are not supported.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sigma.correlations import SigmaCorrelationConditionOperator as Op
from sigma.correlations import SigmaCorrelationRule

SUPPORTED_TYPES = ("event_count", "value_count", "temporal", "temporal_ordered")
_OPS = {
    Op.GT: lambda n, ref: n > ref,
    Op.GTE: lambda n, ref: n >= ref,
    Op.EQ: lambda n, ref: n == ref,
}


class UnsupportedCorrelationError(ValueError):
    """A correlation rule this engine cannot evaluate."""


@dataclass
class CorrelationRule:
    """A parsed Sigma correlation rule, ready for the engine."""

    id: str
    title: str
    level: str | None
    type: str
    rule_refs: list[str]
    group_by: list[str]
    timespan: timedelta
    op: Any = None
    count: int = 0
    value_field: str | None = None
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)
    source: str | None = None
    sigma_rule: SigmaCorrelationRule | None = field(default=None, repr=False)

    @classmethod
    def from_sigma(cls, rule: SigmaCorrelationRule, source: str | None = None) -> CorrelationRule:
        """Convert a pySigma correlation rule; raises UnsupportedCorrelationError."""
        ctype = rule.type.name.lower()
        if ctype not in SUPPORTED_TYPES:
            raise UnsupportedCorrelationError(f"correlation type {ctype} is not supported")
        cond = rule.condition
        op = getattr(cond, "op", None) if cond is not None else None
        if ctype in ("event_count", "value_count") and op not in _OPS:
            raise UnsupportedCorrelationError(f"condition operator {op} is not supported")
        aliases: dict[str, dict[str, str]] = {}
        for alias in getattr(rule.aliases, "aliases", {}).values():
            aliases[alias.alias] = {str(ref.reference): f for ref, f in alias.mapping.items()}
        return cls(
            id=str(rule.id) if rule.id else (rule.name or rule.title or ""),
            title=rule.title or "",
            level=rule.level.name.lower() if rule.level else None,
            type=ctype,
            rule_refs=[str(r.reference) for r in rule.rules],
            group_by=list(rule.group_by or []),
            timespan=timedelta(seconds=rule.timespan.seconds),
            op=op,
            count=int(getattr(cond, "count", 0) or 0),
            value_field=getattr(cond, "fieldref", None),
            aliases=aliases,
            source=source,
            sigma_rule=rule,
        )

    def field_for(self, name: str, ref: str) -> str:
        """The event field that group-by name ``name`` means for base rule ``ref``."""
        return self.aliases.get(name, {}).get(ref, name)


@dataclass
class CorrelationHit:
    """A fired correlation: the rule, the tenant, the group and the contributing events."""

    rule: CorrelationRule
    tenant_id: int
    group: tuple[str, ...]
    event_ids: list[str]
    first_time: datetime
    last_time: datetime


@dataclass
class _Seen:
    time: datetime
    event_id: str
    ref: str
    value: Any


class CorrelationEngine:
    """Sliding-window state for every (tenant, correlation rule, group)."""

    def __init__(self, rules: Iterable[CorrelationRule]) -> None:
        self.rules = list(rules)
        self._by_ref: dict[str, list[CorrelationRule]] = {}
        for rule in self.rules:
            for ref in rule.rule_refs:
                self._by_ref.setdefault(ref, []).append(rule)
        self._windows: dict[tuple[int, str, tuple[str, ...]], deque[_Seen]] = {}

    def observe(
        self,
        tenant_id: int,
        base_rule_keys: Iterable[str],
        event: dict[str, Any],
        event_id: str,
        event_time: datetime,
    ) -> list[CorrelationHit]:
        """Feed one base-rule match (``base_rule_keys``: the rule's id and name)."""
        hits: list[CorrelationHit] = []
        done: set[str] = set()
        for key in base_rule_keys:
            for rule in self._by_ref.get(key, ()):
                if rule.id in done:
                    continue
                done.add(rule.id)
                hit = self._observe_one(rule, key, tenant_id, event, event_id, event_time)
                if hit is not None:
                    hits.append(hit)
        return hits

    def _observe_one(
        self,
        rule: CorrelationRule,
        ref: str,
        tenant_id: int,
        event: dict[str, Any],
        event_id: str,
        event_time: datetime,
    ) -> CorrelationHit | None:
        group = tuple(_text(event.get(rule.field_for(g, ref))) for g in rule.group_by)
        window = self._windows.setdefault((tenant_id, rule.id, group), deque())
        value = (
            event.get(rule.field_for(rule.value_field, ref))
            if rule.value_field is not None
            else None
        )
        window.append(_Seen(event_time, event_id, ref, value))
        cutoff = event_time - rule.timespan
        while window and window[0].time < cutoff:
            window.popleft()
        if not self._fires(rule, window):
            return None
        seen = list(window)
        window.clear()
        return CorrelationHit(
            rule=rule,
            tenant_id=tenant_id,
            group=group,
            event_ids=[s.event_id for s in seen],
            first_time=min(s.time for s in seen),
            last_time=max(s.time for s in seen),
        )

    @staticmethod
    def _fires(rule: CorrelationRule, window: deque[_Seen]) -> bool:
        if rule.type == "event_count":
            return _OPS[rule.op](len(window), rule.count)
        if rule.type == "value_count":
            distinct = {_text(s.value) for s in window if s.value is not None}
            return _OPS[rule.op](len(distinct), rule.count)
        if rule.type == "temporal":
            return set(rule.rule_refs) <= {s.ref for s in window}
        # temporal_ordered: the references must appear in order within the window
        position = 0
        for seen in sorted(window, key=lambda s: s.time):
            if seen.ref == rule.rule_refs[position]:
                position += 1
                if position == len(rule.rule_refs):
                    return True
        return False

    def expire(self, now: datetime) -> None:
        """Drop windows whose newest entry is older than their rule's timespan."""
        spans = {r.id: r.timespan for r in self.rules}
        for key in [k for k, w in self._windows.items() if not w or w[-1].time < now - spans[k[1]]]:
            del self._windows[key]


def _text(value: Any) -> str:
    return "" if value is None else str(value)
