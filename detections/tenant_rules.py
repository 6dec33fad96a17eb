"""The tenant's own Sigma rules: upload (dry-run first when an event store is at hand),
read, delete, bulk import. Audited; each change bumps the tenant's detection revision."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from detections.changes import audit_change, bump_revision, resolve_tenant
from detections.dryrun import DryRun, dry_run
from detections.models import TenantRule
from detections.tenant_view import TenantViews, compile_tenant_rule, sha256
from ingest.store.base import EventStore
from soc.core.db import utcnow
from soc.core.errors import Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings, get_settings


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
                N_(
                    "tenant rule {id} refused: {reason}. Narrow the rule, or "
                    "upload it again with force=true to store it anyway"
                ),
                id=rule.id,
                reason=trial.message(),
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
    audit_change(session, actor, action, "tenant_rule", rule.id, tenant.id, sha256=digest, **extra)
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
        raise NotFound(N_("tenant rule '{rule_id}' not found"), rule_id=rule_id)
    session.delete(row)
    audit_change(session, actor, "rules.tenant_rule.delete", "tenant_rule", rule_id, tenant.id)
    bump_revision(session, tenant.id)


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
        audit_change(
            session, actor, "rules.tenant_rule.import", "tenant_rule", "*", tenant.id, **counts
        )
        bump_revision(session, tenant.id)
    return counts
