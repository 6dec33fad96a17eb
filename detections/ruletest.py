"""Pick a rule (a tenant's by id, or given as YAML) and test it against sample events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from detections.engine import CompiledRule
from detections.hunting import HuntRule
from detections.tenant_view import TenantView, compile_tenant_rule
from soc.core.db import utcnow
from soc.core.errors import Invalid, NotFound
from soc.core.i18n import N_


def pick_rule(
    view: TenantView | None, rule_id: str | None = None, yaml: str | None = None
) -> CompiledRule:
    """The rule given as YAML (validated), else the tenant's rule with that id."""
    if yaml:
        return compile_tenant_rule(yaml)
    if not rule_id:
        raise Invalid(N_("give a rule id or the rule's YAML"))
    rule = view.rules.get(rule_id) if view is not None else None
    if rule is None:
        raise NotFound(N_("rule '{rule_id}' not found"), rule_id=rule_id)
    return rule


@dataclass
class SampleResult:
    index: int
    matched: bool
    suppressed_by: int | None = None


def test_rule(
    rule: CompiledRule, events: Iterable[dict[str, Any]], view: TenantView | None = None
) -> list[SampleResult]:
    """Whether ``rule`` (log source included) matches each event, and which of the tenant's
    exceptions would suppress the match."""
    hunt = HuntRule(rule, view.field_map if view is not None else ())
    now = utcnow()
    out: list[SampleResult] = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise Invalid(N_("event {index} is not a JSON object"), index=index)
        matched = hunt.matches(event)
        suppressed = view.suppressed(rule.id, view.mapped(event), now) if matched and view else None
        out.append(SampleResult(index, matched, suppressed))
    return out


test_rule.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported
