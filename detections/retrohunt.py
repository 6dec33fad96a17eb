"""Retro-hunt: run a new or changed rule over the last N days of a tenant's stored events and
raise alerts for the matches (never twice for one rule and event), grouped like ingest's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from detections.engine import CompiledRule
from detections.hunting import HuntRule
from detections.management import resolve_tenant
from detections.models import Alert
from detections.ruletest import pick_rule
from detections.service import Match, record_alerts
from detections.tenant_view import TenantView, TenantViews
from ingest.store.base import EventStore
from soc import audit
from soc.db import utcnow
from soc.errors import Invalid
from tenants.principal import Principal

MAX_DAYS = 365
ALERT_CHUNK = 1000
# progress(windows done, windows in all, matches so far)
Progress = Callable[[int, int, int], None]
GroupAlerts = Callable[[Session, Sequence[Alert]], object]


@dataclass
class HuntResult:
    rule_id: str
    tenant_id: int
    start: datetime
    end: datetime
    windows: int
    matched: int = 0
    suppressed: int = 0
    new_alerts: int = 0
    existing_alerts: int = 0
    event_ids: list[str] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, object]:
        return {
            "rule_id": self.rule_id,
            "tenant_id": self.tenant_id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "windows": self.windows,
            "matched": self.matched,
            "suppressed": self.suppressed,
            "new_alerts": self.new_alerts,
            "existing_alerts": self.existing_alerts,
        }


def day_windows(days: int, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) windows of one day each, oldest first, covering ``days`` before ``end``."""
    if not 1 <= days <= MAX_DAYS:
        raise Invalid(f"days must be between 1 and {MAX_DAYS}")
    start = end - timedelta(days=days)
    return [(start + timedelta(days=i), start + timedelta(days=i + 1)) for i in range(days)]


def retro_hunt(
    session: Session,
    store: EventStore,
    view: TenantView,
    rule: CompiledRule,
    days: int,
    group: GroupAlerts | None = None,
    progress: Progress | None = None,
    end: datetime | None = None,
) -> HuntResult:
    """Hunt ``rule`` over the tenant's events of the last ``days`` days, one day per store
    query (the progress unit); the tenant's field map and exceptions apply; new alerts go to
    ``group``."""
    end = end or utcnow()
    windows = day_windows(days, end)
    result = HuntResult(rule.id, view.tenant_id, windows[0][0], end, len(windows))
    hunt_rule = HuntRule(rule, view.field_map)
    seen: set[str] = set()
    matches: list[Match] = []
    now = utcnow()
    if progress is not None:
        progress(0, len(windows), 0)
    for done, (start, stop) in enumerate(windows, 1):
        for event in store.hunt(view.tenant_id, hunt_rule, start, stop):
            if event.id in seen:
                continue
            seen.add(event.id)
            if view.suppressed(rule.id, view.mapped(event.data), now) is not None:
                result.suppressed += 1
                continue
            matches.append(Match(rule, event))
        if progress is not None:
            progress(done, len(windows), len(matches))
    result.matched = len(matches)
    result.event_ids = [m.event.id for m in matches]
    for i in range(0, len(matches), ALERT_CHUNK):
        alerts = record_alerts(session, view.tenant_id, matches[i : i + ALERT_CHUNK])
        result.new_alerts += len(alerts)
        if alerts and group is not None:
            group(session, alerts)
    result.existing_alerts = result.matched - result.new_alerts
    return result


def hunt_for_tenant(
    session: Session,
    actor: Principal,
    views: TenantViews,
    store: EventStore,
    tenant_ref: int | str | None,
    days: int,
    rule_id: str | None = None,
    yaml: str | None = None,
    group: GroupAlerts | None = None,
    progress: Progress | None = None,
) -> HuntResult:
    """Permission, tenant scope and audit around ``retro_hunt``."""
    actor.require("rules.manage")
    tenant = resolve_tenant(session, actor, tenant_ref)
    view = views.get(session, tenant.id)
    rule = pick_rule(view, rule_id, yaml)
    result = retro_hunt(session, store, view, rule, days, group, progress)
    audit.record(
        session,
        actor=actor.actor,
        action="rules.hunt",
        object_type="rule",
        object_id=rule.id,
        tenant_id=tenant.id,
        detail=result.as_dict(),
    )
    return result
