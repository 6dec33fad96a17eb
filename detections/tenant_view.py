"""Each tenant's view of the rules: which are enabled, its own rules, its exceptions.

Built once per tenant and cached; a detector compares the tenant's revision (one primary-key
read per batch, never per event) and rebuilds the view only when it moved. The per-tenant
RuleSet shares the compiled rules with the shared one (only its lazily built candidate indexes
are its own), and a tenant with no rule changes uses the shared RuleSet itself.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from detections.correlation import CorrelationRule
from detections.engine import CompiledRule, RuleSet
from detections.engine.loader import load_yaml_text
from detections.engine.safe_regex import untrusted as untrusted_regex
from detections.exceptions import ExceptionFilter, suppressed_by
from detections.models import (
    DetectionRevision,
    FieldMapping,
    RuleException,
    RuleSetting,
    TenantRule,
)
from detections.validation import explain_regex_errors
from soc.core.errors import Invalid
from soc.core.i18n import N_

log = logging.getLogger(__name__)
AnyRule = CompiledRule | CorrelationRule


def rule_product(rule: AnyRule) -> str | None:
    logsource = getattr(rule, "logsource", None) or {}
    return logsource.get("product")


def selector_matches(rule: AnyRule, selector: str, value: str) -> bool:
    """True if a (selector, value) setting applies to ``rule`` (values compare lower-case)."""
    want = value.lower()
    if selector == "rule":
        return bool(rule.id) and rule.id.lower() == want
    if selector == "level":
        return (rule.level or "").lower() == want
    if selector == "status":
        return (getattr(rule, "status", None) or "").lower() == want
    if selector == "tag":
        return any(t.lower() == want for t in getattr(rule, "tags", None) or ())
    if selector == "product":
        return (rule_product(rule) or "").lower() == want
    return False


FieldMap = tuple[tuple[str, str], ...]  # (the tenant's field, Sigma field), in source order
_MISSING = object()


def _source_value(event: dict[str, Any], source: str) -> Any:
    """The event's value at ``source``: the exact key, else the dotted path through nested
    objects; _MISSING if there is none."""
    if source in event:
        return event[source]
    if "." not in source:
        return _MISSING
    cur: Any = event
    for part in source.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


def apply_field_map(field_map: FieldMap, event: dict[str, Any]) -> dict[str, Any]:
    """The event with each mapped field's value copied to its Sigma name where the event has
    no such field, in any letter case (additive: an existing Sigma field is never overwritten).
    A copy only when something was added; the stored event is never changed."""
    added: dict[str, Any] = {}
    lower_keys: set[str] | None = None
    for source, sigma in field_map:
        if sigma in event or sigma in added:
            continue
        value = _source_value(event, source)
        if value is _MISSING:
            continue
        if lower_keys is None:
            # an object under another case (ECS `user` for Sigma `User`) is not a value
            lower_keys = {
                k.lower()
                for k, v in event.items()
                if isinstance(k, str) and not isinstance(v, dict)
            }
        if sigma.lower() not in lower_keys:
            added[sigma] = value
    return {**event, **added} if added else event


@dataclass(frozen=True)
class Setting:
    selector: str
    value: str
    enabled: bool


def effective_enabled(rule: AnyRule, settings: Sequence[Setting]) -> bool:
    """The rule's own setting wins; else the last applicable bulk setting (``settings`` in
    order of change); else enabled."""
    state = True
    for s in settings:
        if s.selector == "rule" and selector_matches(rule, s.selector, s.value):
            return s.enabled
        if s.selector != "rule" and selector_matches(rule, s.selector, s.value):
            state = s.enabled
    return state


@dataclass
class TenantView:
    """What one tenant's detection runs with (at ``revision``)."""

    tenant_id: int
    revision: int
    ruleset: RuleSet
    rules: dict[str, CompiledRule]
    tenant_rule_ids: frozenset[str]
    disabled: frozenset[str]
    exceptions: dict[str, tuple[ExceptionFilter, ...]] = field(default_factory=dict)
    signature: tuple[Any, ...] = ()
    field_map: FieldMap = ()

    def mapped(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event as the tenant's rules see it (its field map applied)."""
        return apply_field_map(self.field_map, event) if self.field_map else event

    def is_enabled(self, rule_id: str) -> bool:
        return rule_id not in self.disabled

    def allows(self, rule_id: str, event: dict[str, Any], now: datetime) -> bool:
        """Enabled, and no exception suppresses this match."""
        return self.is_enabled(rule_id) and self.suppressed(rule_id, event, now) is None

    def suppressed(self, rule_id: str, event: dict[str, Any], now: datetime) -> int | None:
        """Id of the exception that suppresses this match, or None."""
        filters = self.exceptions.get(rule_id)
        return suppressed_by(filters, event, now) if filters else None


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def compile_tenant_rule(text: str, source: str | None = None) -> CompiledRule:
    """The single Sigma detection rule of ``text``; Invalid with the reason otherwise. Compiled
    as untrusted: its regular expressions run on RE2 only (see detections.engine.safe_regex)."""
    correlations: list[CorrelationRule] = []
    with untrusted_regex():
        rules, errors = load_yaml_text(text, source, correlations)
    if errors:
        raise Invalid(explain_regex_errors(text, [e.reason for e in errors]))
    if correlations:
        raise Invalid(N_("correlation rules cannot be tenant rules yet (ship them in a rule dir)"))
    if len(rules) != 1:
        raise Invalid(N_("expected exactly one Sigma rule, found {count}"), count=len(rules))
    if not rules[0].id:
        raise Invalid(N_("a tenant rule needs an id"))
    return rules[0]


class TenantViews:
    """Cache of TenantView per tenant over one shared RuleSet."""

    def __init__(self, base: RuleSet) -> None:
        self.base = base
        self.base_rules: dict[str, CompiledRule] = {}
        for rule in base.rules:
            if rule.id:
                self.base_rules.setdefault(rule.id, rule)
        self._views: dict[int, TenantView] = {}
        self._compiled: dict[str, CompiledRule] = {}
        self._lock = threading.Lock()

    @staticmethod
    def revision(session: Session, tenant_id: int) -> int:
        found = session.scalar(
            select(DetectionRevision.revision).where(DetectionRevision.tenant_id == tenant_id)
        )
        return found or 0

    def get(self, session: Session, tenant_id: int) -> TenantView:
        """The tenant's current view (rebuilt only when its revision moved)."""
        revision = self.revision(session, tenant_id)
        view = self._views.get(tenant_id)
        if view is not None and view.revision == revision:
            return view
        with self._lock:
            view = self._build(session, tenant_id, revision, self._views.get(tenant_id))
            self._views[tenant_id] = view
        return view

    def base_view(self) -> TenantView:
        """The shipped rules as they are, without any tenant's changes."""
        return TenantView(-1, -1, self.base, dict(self.base_rules), frozenset(), frozenset())

    def invalidate(self, tenant_id: int) -> None:
        self._views.pop(tenant_id, None)

    def _compile(self, row: TenantRule) -> CompiledRule:
        rule = self._compiled.get(row.sha256)
        if rule is None:
            rule = compile_tenant_rule(row.yaml, f"tenant:{row.tenant_id}")
            self._compiled[row.sha256] = rule
        return rule

    def _build(
        self, session: Session, tenant_id: int, revision: int, previous: TenantView | None
    ) -> TenantView:
        settings = [
            Setting(s.selector, s.value, s.enabled)
            for s in session.scalars(
                select(RuleSetting)
                .where(RuleSetting.tenant_id == tenant_id)
                .order_by(RuleSetting.changed_at, RuleSetting.id)
            )
        ]
        own: dict[str, CompiledRule] = {}
        for row in session.scalars(
            select(TenantRule).where(TenantRule.tenant_id == tenant_id).order_by(TenantRule.id)
        ):
            try:
                own[row.rule_id] = self._compile(row)
            except Invalid as exc:  # validated on upload; an engine change must not stop detection
                log.warning("tenant %s rule %s no longer loads: %s", tenant_id, row.rule_id, exc)
        rules = {**self.base_rules, **own}
        disabled = frozenset(
            rid for rid, rule in rules.items() if settings and not effective_enabled(rule, settings)
        ) | frozenset(
            c.id for c in self.base.correlations if settings and not effective_enabled(c, settings)
        )
        signature = (disabled, tuple(sorted((rid, id(r)) for rid, r in own.items())))
        if previous is not None and previous.signature == signature:
            ruleset = previous.ruleset
        elif not disabled and not own:
            ruleset = self.base
        else:
            active = [
                r for r in self.base.rules if r.id not in disabled and (not r.id or r.id not in own)
            ] + [r for rid, r in own.items() if rid not in disabled]
            ruleset = RuleSet(active, correlations=self.base.correlations)
        exceptions: dict[str, list[ExceptionFilter]] = {}
        for exception in session.scalars(
            select(RuleException)
            .where(RuleException.tenant_id == tenant_id)
            .order_by(RuleException.id)
        ):
            conditions = orjson.loads(exception.conditions)
            exceptions.setdefault(exception.rule_id, []).append(
                ExceptionFilter.build(exception.id, conditions, exception.expires_at)
            )
        field_map = tuple(
            (m.source_field, m.sigma_field)
            for m in session.scalars(
                select(FieldMapping)
                .where(FieldMapping.tenant_id == tenant_id)
                .order_by(FieldMapping.source_field)
            )
        )
        return TenantView(
            tenant_id=tenant_id,
            revision=revision,
            ruleset=ruleset,
            rules=rules,
            tenant_rule_ids=frozenset(own),
            disabled=disabled,
            exceptions={k: tuple(v) for k, v in exceptions.items()},
            signature=signature,
            field_map=field_map,
        )
