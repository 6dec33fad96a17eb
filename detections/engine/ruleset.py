"""A set of compiled rules and the per-event path: log source, candidate index, predicates."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from os import PathLike
from pathlib import Path
from typing import Any

from sigma.rule import SigmaRule

from detections.correlation import CorrelationRule
from detections.engine.fields import EventContext
from detections.engine.index import KeyIndex
from detections.engine.loader import load_paths, load_yaml_text
from detections.engine.logsources import EventKey, event_key
from detections.engine.logsources import normalise_event as _normalise
from detections.engine.rule import CompiledRule, RuleLoadError


class RuleSet:
    """A set of compiled rules with logsource-based candidate selection."""

    def __init__(
        self,
        rules: Iterable[CompiledRule],
        errors: Iterable[RuleLoadError] = (),
        correlations: Iterable[CorrelationRule] = (),
    ) -> None:
        self.rules: list[CompiledRule] = list(rules)
        self.errors: list[RuleLoadError] = list(errors)
        self.correlations: list[CorrelationRule] = list(correlations)
        self._indexes: dict[EventKey, KeyIndex] = {}
        self.load_seconds: float | None = None

    def __len__(self) -> int:
        return len(self.rules)

    @classmethod
    def from_dirs(
        cls,
        dirs: Iterable[str | PathLike[str]],
        on_error: Callable[[RuleLoadError], None] | None = None,
    ) -> RuleSet:
        """Load every *.yml/*.yaml rule below ``dirs`` (files are accepted too)."""
        started = time.perf_counter()
        correlations: list[CorrelationRule] = []
        rules, errors = load_paths([Path(d) for d in dirs], on_error, correlations)
        ruleset = cls(rules, errors, correlations)
        ruleset.load_seconds = time.perf_counter() - started
        return ruleset

    @classmethod
    def from_rules(cls, rules: Iterable[CompiledRule | SigmaRule | str]) -> RuleSet:
        """Build from compiled rules, pySigma rules or YAML texts (errors are collected)."""
        compiled: list[CompiledRule] = []
        errors: list[RuleLoadError] = []
        correlations: list[CorrelationRule] = []
        for item in rules:
            if isinstance(item, CompiledRule):
                compiled.append(item)
            elif isinstance(item, SigmaRule):
                try:
                    compiled.append(CompiledRule.from_sigma(item))
                except Exception as exc:  # noqa: BLE001 - every failure becomes a load error
                    errors.append(RuleLoadError(None, str(item.id) if item.id else None, str(exc)))
            else:
                good, bad = load_yaml_text(item, None, correlations)
                compiled.extend(good)
                errors.extend(bad)
        return cls(compiled, errors, correlations)

    def index_for(self, key: EventKey) -> KeyIndex:
        """The candidate index of the rules whose logsource accepts ``key`` (built once)."""
        index = self._indexes.get(key)
        if index is None:
            index = KeyIndex([r for r in self.rules if r._filter.accepts_key(key)])
            self._indexes[key] = index
        return index

    def candidates(self, event: dict[str, Any]) -> list[CompiledRule]:
        """Rules whose logsource can match ``event`` (all of them, before literal indexing)."""
        return self.index_for(event_key(event)).rules

    def match(self, event: dict[str, Any]) -> list[CompiledRule]:
        """Return the rules matching ``event`` (after additive normalisation), in rule order."""
        event = _normalise(event)
        ctx = EventContext(event)
        return [
            r
            for r in self.index_for(event_key(event)).candidates(ctx)
            if r._filter.accepts_event(event) and r._matcher(ctx)
        ]

    def match_all(self, event: dict[str, Any]) -> list[CompiledRule]:
        """Like ``match`` but without the literal index (reference path for tests)."""
        event = _normalise(event)
        ctx = EventContext(event)
        return [
            r for r in self.candidates(event) if r._filter.accepts_event(event) and r._matcher(ctx)
        ]


def normalise_event(event: dict[str, Any]) -> dict[str, Any]:
    """Additive normalisation applied before matching (e.g. Security 4688 aliases)."""
    return _normalise(event)
