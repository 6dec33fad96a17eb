"""Which fields of an event made a Sigma rule match: the fields the rule's detection names
whose values in the event contain one of the rule's values (wildcards ignored)."""

from __future__ import annotations

from typing import Any

from detections.engine import RuleSet


def _items(detection: Any) -> list[Any]:
    found: list[Any] = []
    for item in getattr(detection, "detection_items", []):
        if hasattr(item, "detection_items"):
            found.extend(_items(item))
        else:
            found.append(item)
    return found


def rule_values(ruleset: RuleSet, rule_id: str) -> dict[str, list[str]]:
    """Field name (lower case) -> the rule's values for it (lower case, wildcards removed)."""
    rule = next((r for r in ruleset.rules if r.id == rule_id), None)
    if rule is None or rule.sigma_rule is None:
        return {}
    fields: dict[str, list[str]] = {}
    for detection in rule.sigma_rule.detection.detections.values():
        for item in _items(detection):
            if not getattr(item, "field", None):
                continue
            values = [str(v).replace("*", "").strip().lower() for v in item.value]
            fields.setdefault(item.field.lower(), []).extend(v for v in values if v)
    return fields


def matched_fields(values: dict[str, list[str]], event: dict[str, Any]) -> set[str]:
    hits: set[str] = set()
    for name, value in event.items():
        wanted = values.get(name.lower())
        if wanted is None:
            continue
        text = str(value).lower()
        if not wanted or any(w in text for w in wanted):
            hits.add(name)
    return hits
