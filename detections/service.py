"""Rule management per tenant: the rules' effective state (list, enable/disable), and, for the
callers that import them from here, tenant rules (detections.tenant_rules), field maps
(detections.field_maps) and exceptions (detections.rule_exceptions). Every change is audited
and bumps the tenant's detection revision (detectors then rebuild their view)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from detections.changes import audit_change, bump_revision, resolve_tenant
from detections.field_maps import delete_field_map, list_field_maps, put_field_map
from detections.models import SELECTORS, RuleSetting
from detections.rule_exceptions import (
    create_exception,
    delete_exception,
    exception_row,
    get_exception,
    list_exceptions,
    update_exception,
)
from detections.tenant_rules import (
    TenantRuleUpload,
    delete_tenant_rule,
    get_tenant_rule,
    import_tenant_rules,
    put_tenant_rule,
    upload_tenant_rule,
)
from detections.tenant_view import TenantView, TenantViews, selector_matches
from soc.core.db import utcnow
from soc.core.errors import Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal

__all__ = [
    "StateChange",
    "TenantRuleUpload",
    "bump_revision",
    "create_exception",
    "delete_exception",
    "delete_field_map",
    "delete_tenant_rule",
    "exception_row",
    "get_exception",
    "get_rule",
    "get_tenant_rule",
    "import_tenant_rules",
    "list_exceptions",
    "list_field_maps",
    "list_rules",
    "put_field_map",
    "put_tenant_rule",
    "resolve_tenant",
    "rule_row",
    "set_state",
    "update_exception",
    "upload_tenant_rule",
]


# --- listing ----------------------------------------------------------------------------------


def rule_row(view: TenantView, rule: Any) -> dict[str, Any]:
    logsource = getattr(rule, "logsource", {}) or {}
    return {
        "id": rule.id,
        "title": rule.title,
        "level": rule.level,
        "status": rule.status,
        "tags": list(rule.tags),
        "product": logsource.get("product"),
        "category": logsource.get("category"),
        "service": logsource.get("service"),
        "origin": "tenant" if rule.id in view.tenant_rule_ids else "shipped",
        "enabled": view.is_enabled(rule.id),
        "exceptions": len(view.exceptions.get(rule.id, ())),
    }


def list_rules(
    view: TenantView,
    level: str | None = None,
    status: str | None = None,
    tag: str | None = None,
    product: str | None = None,
    enabled: bool | None = None,
    q: str | None = None,
) -> list[dict[str, Any]]:
    """The tenant's rules with their effective state, filtered, in id order."""
    wanted = [(s, v) for s, v in (("level", level), ("status", status), ("tag", tag)) if v]
    if product:
        wanted.append(("product", product))
    text = (q or "").lower()
    out = []
    for rid in sorted(view.rules):
        rule = view.rules[rid]
        if not all(selector_matches(rule, s, v) for s, v in wanted):
            continue
        if enabled is not None and view.is_enabled(rid) is not enabled:
            continue
        if text and text not in rid.lower() and text not in rule.title.lower():
            continue
        out.append(rule_row(view, rule))
    return out


def get_rule(view: TenantView, rule_id: str) -> Any:
    rule = view.rules.get(rule_id)
    if rule is None:
        raise NotFound(N_("rule '{rule_id}' not found"), rule_id=rule_id)
    return rule


# --- enable / disable -------------------------------------------------------------------------


@dataclass
class StateChange:
    selector: str
    value: str
    enabled: bool
    rules_selected: int


def set_state(
    session: Session,
    actor: Principal,
    views: TenantViews,
    tenant_ref: int | str | None,
    selector: str,
    value: str,
    enabled: bool,
) -> StateChange:
    """Enable or disable the rules ``selector``/``value`` picks for one tenant."""
    actor.require("rules.manage")
    tenant = resolve_tenant(session, actor, tenant_ref)
    if selector not in SELECTORS:
        raise Invalid(
            N_("unknown selector {selector!r}; use one of {selectors}"),
            selector=selector,
            selectors=", ".join(SELECTORS),
        )
    value = value.strip()
    if not value:
        raise Invalid(N_("name the rule, level, status, tag or product"))
    view = views.get(session, tenant.id)
    rules = list(view.rules.values()) + list(views.base.correlations)
    selected = sum(selector_matches(r, selector, value) for r in rules)
    if selector == "rule" and not selected:
        raise NotFound(N_("rule '{rule_id}' not found"), rule_id=value)
    stored = value if selector == "rule" else value.lower()
    row = session.scalar(
        select(RuleSetting).where(
            RuleSetting.tenant_id == tenant.id,
            RuleSetting.selector == selector,
            RuleSetting.value == stored,
        )
    )
    if row is None:
        row = RuleSetting(tenant_id=tenant.id, selector=selector, value=stored)
        session.add(row)
    row.enabled, row.changed_by, row.changed_at = enabled, actor.actor, utcnow()
    session.flush()
    audit_change(
        session,
        actor,
        "rules.enable" if enabled else "rules.disable",
        "rule_setting",
        row.id,
        tenant.id,
        selector=selector,
        value=stored,
        rules_selected=selected,
    )
    bump_revision(session, tenant.id)
    return StateChange(selector, stored, enabled, selected)
