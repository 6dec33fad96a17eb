"""Sigma correlation rules (event_count, value_count, temporal, temporal_ordered) over sliding
windows kept per tenant and group.

The streaming matcher reports each base-rule match here with the event's time; a correlation
fires when its condition holds inside the last ``timespan`` of its group, carries the ids of the
contributing events, and then starts a fresh window for that group (one alert per burst).
Conditions are evaluated when an event arrives, so ``lt``/``lte`` thresholds are not supported.

The windows live in a ``WindowStore``: Redis or the database (detections.windows), shared by
every worker and kept across restarts; ``MemoryWindowStore`` is for tests of the logic. A window
holds the entries of the last ``timespan`` of event time before its newest entry, in event-time
order; a window untouched for its timespan plus a grace (wall clock) is dropped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

import orjson
from sigma.correlations import SigmaCorrelationConditionOperator as Op
from sigma.correlations import SigmaCorrelationRule
from sqlalchemy.orm import Session

SUPPORTED_TYPES = ("event_count", "value_count", "temporal", "temporal_ordered")
WINDOW_GRACE = timedelta(seconds=60)
OP_NAMES = {Op.GT: "gt", Op.GTE: "gte", Op.EQ: "eq"}
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
            rule_refs=[str(r.reference) for r in rule.rules or ()],
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


class Entry(NamedTuple):
    """One base-rule match in a window: event time (epoch seconds), event id, the reference
    it matched, and the value_count field's value as text (None when the event lacks it)."""

    time: float
    event_id: str
    ref: str
    value: str | None


WindowKey = tuple[int, str, tuple[str, ...]]  # (tenant, correlation rule id, group values)


class Observation(NamedTuple):
    """One base-rule match to add to the window of (tenant, correlation rule, group)."""

    rule: CorrelationRule
    tenant_id: int
    group: tuple[str, ...]
    entry: Entry

    @property
    def key(self) -> WindowKey:
        return (self.tenant_id, self.rule.id, self.group)


@dataclass
class Burst:
    """A window that fired: the event that completed it, the contributing events (time
    order) and the first and last event times."""

    trigger: str
    event_ids: list[str]
    first: float
    last: float

    def hit(self, rule: CorrelationRule, tenant_id: int, group: tuple[str, ...]) -> CorrelationHit:
        return CorrelationHit(
            rule=rule,
            tenant_id=tenant_id,
            group=group,
            event_ids=list(self.event_ids),
            first_time=datetime.fromtimestamp(self.first, UTC),
            last_time=datetime.fromtimestamp(self.last, UTC),
        )


def window_ttl(rule: CorrelationRule, grace: timedelta = WINDOW_GRACE) -> timedelta:
    """How long an untouched window is kept (wall clock): its timespan plus a grace."""
    return rule.timespan + grace


class WindowStore(Protocol):
    """Where the windows live. ``observe`` applies each observation in order, atomically per
    window (two workers adding to one window never lose an entry nor both fire), and answers
    the burst each one completed, if any. A replayed event (a task run again) counts once;
    replaying the event that completed a burst answers that burst again, so an alert whose
    transaction was lost is raised by the retry, and never twice (same rule, same event).
    ``session``: the caller's transaction, for stores in the database (ignored by others)."""

    def observe(
        self, observations: Sequence[Observation], session: Session | None = None
    ) -> list[Burst | None]: ...

    def expire(self, now: datetime) -> int:
        """Remove windows untouched for longer than their TTL; returns how many."""
        ...


@dataclass
class WindowState:
    """One window: the newest event time seen, the entries of the last timespan (time order)
    and the bursts fired within it (to recognise replayed events)."""

    newest: float | None = None
    entries: list[Entry] = field(default_factory=list)
    bursts: list[Burst] = field(default_factory=list)
    _fired: dict[str, str] | None = field(default=None, repr=False, compare=False)

    def step(self, rule: CorrelationRule, entry: Entry) -> Burst | None:
        """Add one entry; drop what left the timespan; fire and start afresh if the rule's
        condition holds."""
        self.newest = entry.time if self.newest is None else max(self.newest, entry.time)
        cutoff = self.newest - rule.timespan.total_seconds()
        fired = self._forget_bursts(cutoff)
        trigger = fired.get(entry.event_id)
        if trigger is not None:  # a replay of an event that already fired
            if trigger != entry.event_id:
                return None
            return next(b for b in self.bursts if b.trigger == trigger)
        del self.entries[: bisect_left(self.entries, cutoff, key=_time)]
        order = _order(entry)
        at = bisect_left(self.entries, order, key=_order)
        if entry.time < cutoff or (at < len(self.entries) and _order(self.entries[at]) == order):
            return None  # outside the window, or already in it
        self.entries.insert(at, entry)
        if not _fires(rule, self.entries):
            return None
        ids = [e.event_id for e in self.entries]
        burst = Burst(entry.event_id, ids, self.entries[0].time, self.entries[-1].time)
        self.entries = []
        self.bursts.append(burst)
        fired.update((i, burst.trigger) for i in ids)
        return burst

    def _forget_bursts(self, cutoff: float) -> dict[str, str]:
        if self._fired is None:
            self._fired = {i: b.trigger for b in self.bursts for i in b.event_ids}
        old = 0
        while old < len(self.bursts) and self.bursts[old].last < cutoff:
            for i in self.bursts[old].event_ids:
                self._fired.pop(i, None)
            old += 1
        del self.bursts[:old]
        return self._fired

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "n": self.newest,
                "e": self.entries,
                "b": [[b.trigger, b.first, b.last, b.event_ids] for b in self.bursts],
            },
            default=list,  # an Entry (a named tuple) as a JSON list
        ).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> WindowState:
        data = orjson.loads(text)
        return cls(
            newest=data.get("n"),
            entries=[Entry(*e) for e in data.get("e", ())],
            bursts=[Burst(t, ids, first, last) for t, first, last, ids in data.get("b", ())],
        )


class MemoryWindowStore:
    """Windows in this process's memory: for unit tests of the window logic only (a restart
    loses them and workers do not share them; production uses detections.windows)."""

    def __init__(self, grace: timedelta = WINDOW_GRACE) -> None:
        self.grace = grace
        self._windows: dict[WindowKey, tuple[WindowState, datetime]] = {}

    def observe(
        self, observations: Sequence[Observation], session: Session | None = None
    ) -> list[Burst | None]:
        now = datetime.now(UTC)
        out: list[Burst | None] = []
        for obs in observations:
            state, expires = self._windows.get(obs.key, (None, now))
            if state is None or expires < now:
                state = WindowState()
            out.append(state.step(obs.rule, obs.entry))
            self._windows[obs.key] = (state, now + window_ttl(obs.rule, self.grace))
        return out

    def expire(self, now: datetime) -> int:
        stale = [k for k, (_, expires) in self._windows.items() if expires < now]
        for key in stale:
            del self._windows[key]
        return len(stale)


class CorrelationEngine:
    """The correlation rules by base-rule reference, over a store of sliding windows (one per
    tenant, correlation rule and group; in memory unless a store is given)."""

    def __init__(self, rules: Iterable[CorrelationRule], store: WindowStore | None = None) -> None:
        self.rules = list(rules)
        self.store: WindowStore = store if store is not None else MemoryWindowStore()
        self._by_ref: dict[str, list[CorrelationRule]] = {}
        for rule in self.rules:
            for ref in rule.rule_refs:
                self._by_ref.setdefault(ref, []).append(rule)

    def observe(
        self,
        tenant_id: int,
        base_rule_keys: Iterable[str],
        event: dict[str, Any],
        event_id: str,
        event_time: datetime,
        session: Session | None = None,
    ) -> list[CorrelationHit]:
        """Feed one base-rule match (``base_rule_keys``: the rule's id and name)."""
        seen = self.observations(tenant_id, base_rule_keys, event, event_id, event_time)
        found = self.apply(seen, session)
        return [hit for hit in found if hit is not None]

    def observations(
        self,
        tenant_id: int,
        base_rule_keys: Iterable[str],
        event: dict[str, Any],
        event_id: str,
        event_time: datetime,
    ) -> list[Observation]:
        """What one base-rule match adds: an entry for each correlation referencing it."""
        out: list[Observation] = []
        done: set[str] = set()
        for key in base_rule_keys:
            for rule in self._by_ref.get(key, ()):
                if rule.id in done:
                    continue
                done.add(rule.id)
                group = tuple(_text(event.get(rule.field_for(g, key))) for g in rule.group_by)
                value = (
                    event.get(rule.field_for(rule.value_field, key))
                    if rule.value_field is not None
                    else None
                )
                entry = Entry(
                    event_time.timestamp(), event_id, key, None if value is None else str(value)
                )
                out.append(Observation(rule, tenant_id, group, entry))
        return out

    def apply(
        self, observations: Sequence[Observation], session: Session | None = None
    ) -> list[CorrelationHit | None]:
        """Apply observations in order (one round trip to the store); one answer each."""
        if not observations:
            return []
        bursts = self.store.observe(observations, session)
        return [
            None if burst is None else burst.hit(obs.rule, obs.tenant_id, obs.group)
            for obs, burst in zip(observations, bursts, strict=True)
        ]

    def expire(self, now: datetime) -> int:
        """Drop windows untouched for longer than their TTL (see ``window_ttl``)."""
        return self.store.expire(now)


def _fires(rule: CorrelationRule, window: list[Entry]) -> bool:
    if rule.type == "event_count":
        return bool(_OPS[rule.op](len(window), rule.count))
    if rule.type == "value_count":
        distinct = {s.value for s in window if s.value is not None}
        return bool(_OPS[rule.op](len(distinct), rule.count))
    if rule.type == "temporal":
        return set(rule.rule_refs) <= {s.ref for s in window}
    # temporal_ordered: the references must appear in order within the window (time order)
    position = 0
    for seen in window:
        if seen.ref == rule.rule_refs[position]:
            position += 1
            if position == len(rule.rule_refs):
                return True
    return False


def _time(entry: Entry) -> float:
    return entry.time


def _order(entry: Entry | tuple[float, str, str]) -> tuple[float, str, str]:
    return (entry[0], entry[1], entry[2])


def _text(value: Any) -> str:
    return "" if value is None else str(value)
