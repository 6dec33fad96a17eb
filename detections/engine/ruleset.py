"""A set of compiled rules and the per-event path: log source, candidate index, predicates."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import Any

from sigma.rule import SigmaRule

from detections.correlation import CorrelationRule
from detections.engine import cache as rule_cache
from detections.engine.fields import EventContext
from detections.engine.index import KeyIndex
from detections.engine.loader import load_paths, load_yaml_text
from detections.engine.logsources import EventKey, event_key
from detections.engine.logsources import normalise_event as _normalise
from detections.engine.rule import CompiledRule, RuleLoadError


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a load allocates millions of objects that all
    live on, and the collections they trigger would rescan them all, again and again (half of
    a warm load's time). Nothing of a load is cyclic garbage worth collecting early."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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
        # "source" (parsed now) or "cache" (rebuilt from detections.engine.cache); the entry
        self.load_origin: str | None = None
        self.cache_path: Path | None = None

    def __len__(self) -> int:
        return len(self.rules)

    @classmethod
    def from_dirs(
        cls,
        dirs: Iterable[str | PathLike[str]],
        on_error: Callable[[RuleLoadError], None] | None = None,
        cache_dir: str | PathLike[str] | None = None,
    ) -> RuleSet:
        """Load every *.yml/*.yaml rule below ``dirs`` (files are accepted too); with
        ``cache_dir``, through the compiled rule-set cache there (detections.engine.cache)."""
        started = time.perf_counter()
        paths = [Path(d) for d in dirs]
        with _collector_paused():
            if cache_dir is None:
                correlations: list[CorrelationRule] = []
                rules, errors = load_paths(paths, on_error, correlations)
                ruleset = cls(rules, errors, correlations)
                ruleset.load_origin = "source"
            else:
                loaded = rule_cache.load(paths, Path(cache_dir), on_error)
                ruleset = cls(loaded.rules, loaded.errors, loaded.correlations)
                ruleset.load_origin, ruleset.cache_path = loaded.origin, loaded.path
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
