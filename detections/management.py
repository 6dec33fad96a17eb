"""Rule management per tenant: enable/disable, tenant rules, exceptions, field maps. Every
change is audited and bumps the tenant's detection revision (detectors then rebuild their view)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from detections.dryrun import DryRun, dry_run
from detections.exceptions import normalise_conditions
from detections.models import (
    SELECTORS,
    DetectionRevision,
    FieldMapping,
    RuleException,
    RuleSetting,
    TenantRule,
)
from detections.tenant_view import (
    TenantView,
    TenantViews,
    compile_tenant_rule,
    selector_matches,
    sha256,
)
from ingest.store.base import EventStore
from soc import audit
from soc.db import utcnow
from soc.errors import Invalid, NotFound
from soc.settings import Settings, get_settings
from tenants import service as tenant_service
from tenants.models import Tenant
from tenants.principal import Principal


def resolve_tenant(session: Session, actor: Principal, ref: int | str | None) -> Tenant:
    """The named tenant if the actor sees it (else NotFound); a user of one tenant defaults to
    it, everyone else (unscoped or provider-scoped) names the tenant."""
    if ref is None or ref == "":
        if actor.tenant_id is None:
            raise Invalid("name the tenant: ?tenant=<slug>")
        ref = actor.tenant_id
    return tenant_service.get_tenant(session, actor, ref)


def bump_revision(session: Session, tenant_id: int) -> None:
    changed = session.execute(
        update(DetectionRevision)
        .where(DetectionRevision.tenant_id == tenant_id)
        .values(revision=DetectionRevision.revision + 1)
    ).rowcount
    if not changed:
        session.add(DetectionRevision(tenant_id=tenant_id, revision=1))
    session.flush()


def _audit(
    session: Session,
    actor: Principal,
    action: str,
    kind: str,
    oid: object,
    tenant_id: int,
    **d: Any,
) -> None:
    audit.record(
        session,
        actor=actor.actor,
        action=action,
        object_type=kind,
        object_id=oid,
        tenant_id=tenant_id,
        detail=d,
    )


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
        raise NotFound(f"rule '{rule_id}' not found")
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
        raise Invalid(f"unknown selector {selector!r}; use one of {', '.join(SELECTORS)}")
    value = value.strip()
    if not value:
        raise Invalid("name the rule, level, status, tag or product")
    view = views.get(session, tenant.id)
    rules = list(view.rules.values()) + list(views.base.correlations)
    selected = sum(selector_matches(r, selector, value) for r in rules)
    if selector == "rule" and not selected:
        raise NotFound(f"rule '{value}' not found")
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
    _audit(
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


# --- tenant rules -----------------------------------------------------------------------------


@dataclass
class TenantRuleUpload:
    row: TenantRule
    changed: bool
    dry_run: DryRun | None = None  # None when nothing changed or no store was given
    warnings: list[str] = field(default_factory=list)


def upload_tenant_rule(
    session: Session,
    actor: Principal,
    tenant_ref: int | str | None,
    text: str,
    store: EventStore | None = None,
    views: TenantViews | None = None,
    settings: Settings | None = None,
    force: bool = False,
) -> TenantRuleUpload:
    """Store (or replace) one Sigma rule of the tenant; Invalid with the reason if it does not
    load. A new or changed rule is first dry-run over the tenant's recent stored events (with
    ``store`` and ``views``): above the match-rate limit it is refused (Invalid) unless
    ``force``, which stores it with a warning. Both are audited with the figures."""
    actor.require("rules.manage")
    tenant = resolve_tenant(session, actor, tenant_ref)
    rule = compile_tenant_rule(text)
    digest = sha256(text)
    row = session.scalar(
        select(TenantRule).where(TenantRule.tenant_id == tenant.id, TenantRule.rule_id == rule.id)
    )
    if row is not None and row.sha256 == digest:
        return TenantRuleUpload(row, False)
    trial: DryRun | None = None
    warnings: list[str] = []
    if store is not None and views is not None:
        settings = settings or get_settings()
        trial = dry_run(
            store,
            views.get(session, tenant.id),
            rule,
            settings.rule_dryrun_days,
            settings.rule_dryrun_max_events,
            settings.rule_max_match_rate,
            settings.rule_dryrun_min_events,
        )
        if trial.over_limit and not force:
            raise Invalid(
                f"tenant rule {rule.id} refused: {trial.message()}. Narrow the rule, or upload "
                "it again with force=true to store it anyway"
            )
        if trial.over_limit:
            trial = replace(trial, forced=True)
            warnings.append(f"stored although {trial.message()} (force=true)")
    action = "rules.tenant_rule.create" if row is None else "rules.tenant_rule.update"
    if row is None:
        row = TenantRule(tenant_id=tenant.id, rule_id=rule.id)
        session.add(row)
    row.title, row.yaml, row.sha256 = rule.title[:300], text, digest
    row.changed_by, row.changed_at = actor.actor, utcnow()
    session.flush()
    extra = {"dry_run": trial.as_dict()} if trial is not None else {}
    _audit(session, actor, action, "tenant_rule", rule.id, tenant.id, sha256=digest, **extra)
    bump_revision(session, tenant.id)
    return TenantRuleUpload(row, True, trial, warnings)


def put_tenant_rule(
    session: Session, actor: Principal, tenant_ref: int | str | None, text: str
) -> tuple[TenantRule, bool]:
    """Store (or replace) one Sigma rule of the tenant without a dry-run (no event store at
    hand). Returns the row and whether anything changed."""
    upload = upload_tenant_rule(session, actor, tenant_ref, text)
    return upload.row, upload.changed


def get_tenant_rule(
    session: Session, actor: Principal, tenant_ref: int | str | None, rule_id: str
) -> TenantRule | None:
    actor.require("rules.read")
    tenant = resolve_tenant(session, actor, tenant_ref)
    return session.scalar(
        select(TenantRule).where(TenantRule.tenant_id == tenant.id, TenantRule.rule_id == rule_id)
    )


def delete_tenant_rule(
    session: Session, actor: Principal, tenant_ref: int | str | None, rule_id: str
) -> None:
    actor.require("rules.manage")
    tenant = resolve_tenant(session, actor, tenant_ref)
    row = session.scalar(
        select(TenantRule).where(TenantRule.tenant_id == tenant.id, TenantRule.rule_id == rule_id)
    )
    if row is None:
        raise NotFound(f"tenant rule '{rule_id}' not found")
    session.delete(row)
    _audit(session, actor, "rules.tenant_rule.delete", "tenant_rule", rule_id, tenant.id)
    bump_revision(session, tenant.id)


# --- field maps -------------------------------------------------------------------------------


def _field_name(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise Invalid(f"name the {what}")
    if len(value) > 200:
        raise Invalid(f"the {what} is longer than 200 characters")
    return value


def list_field_maps(
    session: Session, actor: Principal, tenant_ref: int | str | None
) -> list[FieldMapping]:
    """The tenant's field map (its field → Sigma field), by the tenant's field name."""
    actor.require("rules.read")
    tenant = resolve_tenant(session, actor, tenant_ref)
    return list(
        session.scalars(
            select(FieldMapping)
            .where(FieldMapping.tenant_id == tenant.id)
            .order_by(FieldMapping.source_field)
        )
    )


def put_field_map(
    session: Session,
    actor: Principal,
    tenant_ref: int | str | None,
    source_field: str,
    sigma_field: str,
) -> tuple[FieldMapping, bool]:
    """Map the tenant's field ``source_field`` to ``sigma_field`` (replacing its earlier
    mapping); audited. Returns the row and whether anything changed."""
    actor.require("rules.manage")
    tenant = resolve_tenant(session, actor, tenant_ref)
    source = _field_name(source_field, "tenant's field")
    sigma = _field_name(sigma_field, "Sigma field")
    if source == sigma:
        raise Invalid("the tenant's field and the Sigma field are the same")
    row = session.scalar(
        select(FieldMapping).where(
            FieldMapping.tenant_id == tenant.id, FieldMapping.source_field == source
        )
    )
    if row is not None and row.sigma_field == sigma:
        return row, False
    before = row.sigma_field if row is not None else None
    if row is None:
        row = FieldMapping(tenant_id=tenant.id, source_field=source)
        session.add(row)
    row.sigma_field, row.author, row.created_at = sigma, actor.actor, utcnow()
    session.flush()
    _audit(
        session,
        actor,
        "rules.field_map.set",
        "field_mapping",
        source,
        tenant.id,
        source_field=source,
        sigma_field=sigma,
        before=before,
    )
    bump_revision(session, tenant.id)
    return row, True


def delete_field_map(
    session: Session, actor: Principal, tenant_ref: int | str | None, source_field: str
) -> None:
    actor.require("rules.manage")
    tenant = resolve_tenant(session, actor, tenant_ref)
    row = session.scalar(
        select(FieldMapping).where(
            FieldMapping.tenant_id == tenant.id, FieldMapping.source_field == source_field.strip()
        )
    )
    if row is None:
        raise NotFound(f"no field map for '{source_field}'")
    gone = row.sigma_field
    session.delete(row)
    _audit(
        session,
        actor,
        "rules.field_map.delete",
        "field_mapping",
        row.source_field,
        tenant.id,
        source_field=row.source_field,
        sigma_field=gone,
    )
    bump_revision(session, tenant.id)


# --- exceptions -------------------------------------------------------------------------------


def exception_row(row: RuleException) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenant_id": row.tenant_id,
        "rule_id": row.rule_id,
        "conditions": orjson.loads(row.conditions),
        "reason": row.reason,
        "author": row.author,
        "expires_at": row.expires_at,
        "created_at": row.created_at,
        "changed_at": row.changed_at,
        "active": row.expires_at is None or row.expires_at > utcnow(),
    }


def _check_expiry(expires_at: datetime | None) -> None:
    if expires_at is None:
        return
    if expires_at.tzinfo is None:
        raise Invalid("expires_at needs a timezone (UTC)")
    if expires_at <= utcnow():
        raise Invalid("expires_at is in the past")


def _check_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise Invalid("an exception needs a reason")
    return reason


def create_exception(
    session: Session,
    actor: Principal,
    views: TenantViews,
    tenant_ref: int | str | None,
    rule_id: str,
    conditions: Any,
    reason: str,
    expires_at: datetime | None = None,
) -> RuleException:
    """Suppress the rule's matches for the tenant when every condition holds (audited)."""
    actor.require("rules.manage")
    tenant = resolve_tenant(session, actor, tenant_ref)
    view = views.get(session, tenant.id)
    if rule_id not in view.rules and not any(c.id == rule_id for c in views.base.correlations):
        raise NotFound(f"rule '{rule_id}' not found")
    canonical = normalise_conditions(conditions)
    _check_expiry(expires_at)
    now = utcnow()
    row = RuleException(
        tenant_id=tenant.id,
        rule_id=rule_id,
        conditions=orjson.dumps(canonical).decode(),
        reason=_check_reason(reason),
        author=actor.actor,
        expires_at=expires_at,
        created_at=now,
        changed_at=now,
    )
    session.add(row)
    session.flush()
    _audit(
        session,
        actor,
        "rules.exception.create",
        "rule_exception",
        row.id,
        tenant.id,
        rule_id=rule_id,
        conditions=canonical,
        reason=row.reason,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    bump_revision(session, tenant.id)
    return row


def list_exceptions(
    session: Session, actor: Principal, tenant_ref: int | str | None, rule_id: str | None = None
) -> list[RuleException]:
    actor.require("rules.read")
    tenant = resolve_tenant(session, actor, tenant_ref)
    query = select(RuleException).where(RuleException.tenant_id == tenant.id)
    if rule_id:
        query = query.where(RuleException.rule_id == rule_id)
    return list(session.scalars(query.order_by(RuleException.id)))


def get_exception(session: Session, actor: Principal, exception_id: int) -> RuleException:
    actor.require("rules.read")
    row = session.get(RuleException, exception_id)
    if row is None or not actor.sees_tenant(row.tenant_id):
        raise NotFound(f"exception {exception_id} not found")
    return row


def update_exception(
    session: Session,
    actor: Principal,
    exception_id: int,
    conditions: Any = None,
    reason: str | None = None,
    expires_at: datetime | None = None,
    clear_expiry: bool = False,
) -> RuleException:
    """Change an exception's conditions, reason or expiry (audited with before and after)."""
    actor.require("rules.manage")
    row = get_exception(session, actor, exception_id)
    before = exception_row(row)
    if conditions is not None:
        row.conditions = orjson.dumps(normalise_conditions(conditions)).decode()
    if reason is not None:
        row.reason = _check_reason(reason)
    if clear_expiry:
        row.expires_at = None
    elif expires_at is not None:
        _check_expiry(expires_at)
        row.expires_at = expires_at
    row.changed_at = utcnow()
    session.flush()
    after = exception_row(row)
    fields = ("conditions", "reason", "expires_at")
    _audit(
        session,
        actor,
        "rules.exception.update",
        "rule_exception",
        row.id,
        row.tenant_id,
        rule_id=row.rule_id,
        before={k: _plain(before[k]) for k in fields},
        after={k: _plain(after[k]) for k in fields},
    )
    bump_revision(session, row.tenant_id)
    return row


def delete_exception(session: Session, actor: Principal, exception_id: int) -> None:
    actor.require("rules.manage")
    row = get_exception(session, actor, exception_id)
    gone = exception_row(row)
    session.delete(row)
    _audit(
        session,
        actor,
        "rules.exception.delete",
        "rule_exception",
        exception_id,
        gone["tenant_id"],
        rule_id=gone["rule_id"],
        conditions=gone["conditions"],
        reason=gone["reason"],
    )
    bump_revision(session, gone["tenant_id"])


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def import_tenant_rules(
    session: Session,
    actor: Principal,
    tenant_ref: int | str | None,
    texts: list[str],
) -> dict[str, int]:
    """Store many single-rule YAML texts as the tenant's rules (one audit entry, one revision
    bump). Returns counts: created, updated, unchanged, refused."""
    actor.require("rules.manage")
    tenant = resolve_tenant(session, actor, tenant_ref)
    existing = {
        r.rule_id: r
        for r in session.scalars(select(TenantRule).where(TenantRule.tenant_id == tenant.id))
    }
    counts = {"created": 0, "updated": 0, "unchanged": 0, "refused": 0}
    now = utcnow()
    for text in texts:
        try:
            rule = compile_tenant_rule(text)
        except Invalid:
            counts["refused"] += 1
            continue
        digest = sha256(text)
        row = existing.get(rule.id)
        if row is not None and row.sha256 == digest:
            counts["unchanged"] += 1
            continue
        if row is None:
            row = existing[rule.id] = TenantRule(tenant_id=tenant.id, rule_id=rule.id)
            session.add(row)
            counts["created"] += 1
        else:
            counts["updated"] += 1
        row.title, row.yaml, row.sha256 = rule.title[:300], text, digest
        row.changed_by, row.changed_at = actor.actor, now
    session.flush()
    if counts["created"] or counts["updated"]:
        _audit(session, actor, "rules.tenant_rule.import", "tenant_rule", "*", tenant.id, **counts)
        bump_revision(session, tenant.id)
    return counts
