"""A Sigma rule compiled to a predicate, and the record of a rule that failed to load."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sigma.rule import SigmaRule

from detections.engine.compile import Matcher, compile_condition
from detections.engine.errors import UnsupportedRuleError
from detections.engine.fields import EventContext
from detections.engine.logsources import LogsourceFilter, event_key, logsource_filter
from detections.engine.prefilter import Requirement, rule_requirement


def _never(ctx: EventContext) -> bool:
    return False


def _any_filter() -> LogsourceFilter:
    return LogsourceFilter("any")


@dataclass
class CompiledRule:
    """A Sigma rule compiled to a Python predicate."""

    id: str
    title: str
    level: str | None
    status: str | None
    tags: list[str]
    logsource: dict[str, str | None]
    source: str | None
    description: str | None = None
    name: str | None = None
    sigma_rule: SigmaRule | None = field(repr=False, default=None)
    requirement: Requirement = field(repr=False, default=None)
    _matcher: Matcher = field(repr=False, default=_never)
    _filter: LogsourceFilter = field(repr=False, default_factory=_any_filter)

    def matches(self, event: dict[str, Any]) -> bool:
        """True if the detection condition matches ``event`` (logsource is not checked)."""
        return self._matcher(EventContext(event))

    def applies_to(self, event: dict[str, Any]) -> bool:
        """True if the rule's logsource can match ``event``."""
        return self._filter.accepts_key(event_key(event)) and self._filter.accepts_event(event)

    @classmethod
    def from_sigma(cls, rule: SigmaRule, source: str | None = None) -> CompiledRule:
        """Compile a parsed pySigma rule; raises on unsupported constructs."""
        conditions = rule.detection.parsed_condition
        if not conditions:
            raise UnsupportedRuleError("rule has no condition")
        trees = [c.parse() for c in conditions]
        matchers = [compile_condition(t) for t in trees]
        matcher = matchers[0]
        if len(matchers) > 1:

            def matcher(ctx: EventContext) -> bool:
                return any(m(ctx) for m in matchers)

        ls = rule.logsource
        return cls(
            id=str(rule.id) if rule.id else "",
            title=rule.title or "",
            level=rule.level.name.lower() if rule.level else None,
            status=rule.status.name.lower() if rule.status else None,
            tags=[str(t) for t in rule.tags or []],
            logsource={"product": ls.product, "category": ls.category, "service": ls.service},
            source=source,
            description=rule.description,
            name=rule.name,
            sigma_rule=rule,
            requirement=rule_requirement(trees),
            _matcher=matcher,
            _filter=logsource_filter(ls.product, ls.category, ls.service),
        )


@dataclass
class RuleLoadError:
    """A rule that could not be loaded and why."""

    path: str | None
    rule_id: str | None
    reason: str
