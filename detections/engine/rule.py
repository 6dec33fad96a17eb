"""A Sigma rule compiled to a predicate, and the record of a rule that failed to load."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sigma.rule import SigmaRule

from detections.engine.compile import Matcher, Plan, build, lower, number_text, text_number
from detections.engine.errors import UnsupportedRuleError
from detections.engine.fields import EventContext
from detections.engine.logsources import LogsourceFilter, event_key, logsource_filter
from detections.engine.prefilter import Requirement, rule_requirement

SigmaSource = Callable[[], SigmaRule | None]


def _never(ctx: EventContext) -> bool:
    return False


def _any_filter() -> LogsourceFilter:
    return LogsourceFilter("any")


def _matcher_of(plans: list[Plan]) -> Matcher:
    matchers = [build(p) for p in plans]
    matcher = matchers[0]
    if len(matchers) > 1:

        def matcher(ctx: EventContext) -> bool:
            return any(m(ctx) for m in matchers)

    return matcher


@dataclass
class CompiledRule:
    """A Sigma rule compiled to a Python predicate.

    ``plans`` is the compiled condition as data (detections.engine.compile), from which the
    matcher is built; a rule rebuilt from the on-disk cache has no parsed pySigma rule until
    ``sigma_rule`` is first read (then it is parsed from the rule's text).
    """

    id: str
    title: str
    level: str | None
    status: str | None
    tags: list[str]
    logsource: dict[str, str | None]
    source: str | None
    description: str | None = None
    name: str | None = None
    parsed_rule: SigmaRule | None = field(repr=False, default=None)
    requirement: Requirement = field(repr=False, default=None)
    plans: list[Plan] = field(repr=False, default_factory=list)
    _matcher: Matcher = field(repr=False, default=_never)
    _filter: LogsourceFilter = field(repr=False, default_factory=_any_filter)
    _sigma_source: SigmaSource | None = field(repr=False, default=None, compare=False)

    @property
    def sigma_rule(self) -> SigmaRule | None:
        """The parsed pySigma rule (for conversion to queries and for display)."""
        if self.parsed_rule is None and self._sigma_source is not None:
            self.parsed_rule = self._sigma_source()
            self._sigma_source = None
        return self.parsed_rule

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
        plans = [lower(t) for t in trees]
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
            parsed_rule=rule,
            requirement=rule_requirement(trees),
            plans=plans,
            _matcher=_matcher_of(plans),
            _filter=logsource_filter(ls.product, ls.category, ls.service),
        )

    def to_data(self) -> dict[str, Any]:
        """Everything but the closures and the pySigma rule, as JSON-ready data."""
        return {
            "id": self.id,
            "title": self.title,
            "level": self.level,
            "status": self.status,
            "tags": self.tags,
            "logsource": self.logsource,
            "description": self.description,
            "name": self.name,
            "requirement": _requirement_data(self.requirement),
            "plans": self.plans,
        }

    @classmethod
    def from_data(
        cls, data: dict[str, Any], source: str | None, sigma_source: SigmaSource | None
    ) -> CompiledRule:
        """The rule of ``to_data`` output, its closures rebuilt; ``sigma_source`` gives the
        pySigma rule when someone asks for it."""
        ls = data["logsource"]
        plans = data["plans"]
        return cls(
            id=data["id"],
            title=data["title"],
            level=data["level"],
            status=data["status"],
            tags=data["tags"],
            logsource=ls,
            source=source,
            description=data["description"],
            name=data["name"],
            requirement=_requirement_of(data["requirement"]),
            plans=plans,
            _matcher=_matcher_of(plans),
            _filter=logsource_filter(ls["product"], ls["category"], ls["service"]),
            _sigma_source=sigma_source,
        )


def _requirement_data(req: Requirement) -> list[list[Any]] | None:
    """Clauses as lists; literal tokens as strings, numbers as one-item lists of their text."""
    if req is None:
        return None
    clauses = [
        sorted((t if isinstance(t, str) else [number_text(t)] for t in clause), key=str)
        for clause in req
    ]
    return sorted(clauses, key=str)  # sets have no order: this one is stable


def _requirement_of(data: list[list[Any]] | None) -> Requirement:
    if data is None:
        return None
    return frozenset(
        frozenset(t if isinstance(t, str) else text_number(t[0]) for t in clause) for clause in data
    )


@dataclass
class RuleLoadError:
    """A rule that could not be loaded and why."""

    path: str | None
    rule_id: str | None
    reason: str
