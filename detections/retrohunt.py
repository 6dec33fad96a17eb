"""Retro-hunt: run a new or changed rule over the last N days of a tenant's stored events and
raise alerts for the matches (never twice for one rule and event), grouped like ingest's.

A hunt over a big tenant takes minutes, so it never runs inside one transaction: the range is
cut into slices of at most `SLICE_EVENTS` events (a day, or parts of a busy day), the store is
read with no database transaction open, and each slice's alerts are written in a short
transaction of their own. The API runs hunts as background jobs (`soc.core.jobs`, the job
kind is `soc.pipeline.run_hunt_job`) with progress; new alerts go to the caller's `group`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from detections.engine import CompiledRule
from detections.hunting import HuntRule
from detections.matcher import Match, record_alerts
from detections.models import Alert
from detections.ruletest import pick_rule
from detections.service import resolve_tenant
from detections.tenant_view import TenantView, TenantViews
from ingest.store.base import EventStore
from soc.core import audit, jobs
from soc.core.db import Database, utcnow
from soc.core.errors import Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal

MAX_DAYS = 365
ALERT_CHUNK = 1000
# A slice (one store read, one alert transaction) holds at most about this many events: a
# busier day is halved until its parts do (or a part spans a second).
SLICE_EVENTS = 50_000
MIN_SLICE = timedelta(seconds=1)
GroupAlerts = Callable[[Session, Sequence[Alert]], object]


@dataclass(frozen=True)
class HuntProgress:
    windows_done: int
    windows: int
    scanned: int  # events read so far
    total: int  # events in the hunted range when the hunt started (at least `scanned`)
    matched: int


Progress = Callable[[HuntProgress], None]
SliceWork = Callable[[Session], tuple[int, set[int]]]
# Runs one slice's alert writes: in the caller's session, or in a short transaction of its own
# (re-run from the start if the database was busy, so the work returns its counts).
Write = Callable[[SliceWork], tuple[int, set[int]]]


@dataclass
class HuntResult:
    rule_id: str
    tenant_id: int
    start: datetime
    end: datetime
    windows: int
    scanned: int = 0
    matched: int = 0
    suppressed: int = 0
    new_alerts: int = 0
    existing_alerts: int = 0
    cases: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "rule_id": self.rule_id,
            "tenant_id": self.tenant_id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "windows": self.windows,
            "scanned": self.scanned,
            "matched": self.matched,
            "suppressed": self.suppressed,
            "new_alerts": self.new_alerts,
            "existing_alerts": self.existing_alerts,
            "cases": self.cases,
        }


def day_windows(days: int, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) windows of one day each, oldest first, covering ``days`` before ``end``."""
    if not 1 <= days <= MAX_DAYS:
        raise Invalid(N_("days must be between 1 and {max_days}"), max_days=MAX_DAYS)
    start = end - timedelta(days=days)
    return [(start + timedelta(days=i), start + timedelta(days=i + 1)) for i in range(days)]


def _count(store: EventStore, tenant_id: int, start: datetime, stop: datetime) -> int:
    return store.search(tenant_id, start, stop, limit=0).total


def _slices(
    store: EventStore, tenant_id: int, start: datetime, stop: datetime, count: int
) -> Iterator[tuple[datetime, datetime, int]]:
    """[start, stop) in time order, halved until each part holds at most SLICE_EVENTS."""
    if count <= SLICE_EVENTS or stop - start <= MIN_SLICE:
        yield start, stop, count
        return
    middle = start + (stop - start) / 2
    left = _count(store, tenant_id, start, middle)
    yield from _slices(store, tenant_id, start, middle, left)
    yield from _slices(store, tenant_id, middle, stop, max(count - left, 0))


def _hunt(
    store: EventStore,
    view: TenantView,
    rule: CompiledRule,
    days: int,
    write: Write,
    group: GroupAlerts | None,
    progress: Progress | None,
    end: datetime | None,
) -> HuntResult:
    end = end or utcnow()
    windows = day_windows(days, end)
    tenant_id = view.tenant_id
    result = HuntResult(rule.id, tenant_id, windows[0][0], end, len(windows))
    hunt_rule = HuntRule(rule, view.field_map)
    total = _count(store, tenant_id, windows[0][0], end)
    cases: set[int] = set()
    now = utcnow()

    def report(done: int) -> None:
        if progress is not None:
            progress(
                HuntProgress(
                    done, len(windows), result.scanned, max(total, result.scanned), result.matched
                )
            )

    report(0)
    for done, (start, stop) in enumerate(windows, 1):
        for part_start, part_stop, count in _slices(
            store, tenant_id, start, stop, _count(store, tenant_id, start, stop)
        ):
            matches: list[Match] = []
            seen: set[str] = set()
            if count:
                for event in store.hunt(tenant_id, hunt_rule, part_start, part_stop):
                    if event.id in seen:
                        continue
                    seen.add(event.id)
                    if view.suppressed(rule.id, view.mapped(event.data), now) is not None:
                        result.suppressed += 1
                        continue
                    matches.append(Match(rule, event))
            result.scanned += count
            result.matched += len(matches)
            if matches:
                new, touched = write(_slice_work(tenant_id, matches, group))
                result.new_alerts += new
                cases |= touched
            if part_stop < stop:
                report(done - 1)
        report(done)
    result.existing_alerts = result.matched - result.new_alerts
    result.cases = len(cases)
    return result


def _slice_work(tenant_id: int, matches: list[Match], group: GroupAlerts | None) -> SliceWork:
    def work(session: Session) -> tuple[int, set[int]]:
        new, cases = 0, set[int]()
        for i in range(0, len(matches), ALERT_CHUNK):
            alerts = record_alerts(session, tenant_id, matches[i : i + ALERT_CHUNK])
            new += len(alerts)
            if alerts and group is not None:
                touched = group(session, alerts)
                if isinstance(touched, list):
                    cases.update(c.id for c in touched if c.id is not None)
        return new, cases

    return work


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
    """Hunt ``rule`` over the tenant's events of the last ``days`` days, writing alerts in the
    caller's session (scripts and tests); the tenant's field map and exceptions apply; new
    alerts go to ``group``. Servers use `run_hunt`, which holds no transaction across reads."""
    return _hunt(store, view, rule, days, lambda work: work(session), group, progress, end)


def run_hunt(
    db: Database,
    store: EventStore,
    view: TenantView,
    rule: CompiledRule,
    days: int,
    group: GroupAlerts | None = None,
    progress: Progress | None = None,
    end: datetime | None = None,
) -> HuntResult:
    """As `retro_hunt`, each slice's alerts in a short write transaction of its own (retried
    while the database is busy): other writers wait at most one slice's alert inserts."""

    def write(work: SliceWork) -> tuple[int, set[int]]:
        return jobs.write_with_retry(db, work)

    return _hunt(store, view, rule, days, write, group, progress, end)


@dataclass
class HuntPlan:
    tenant_id: int
    view: TenantView
    rule: CompiledRule


def plan_hunt(
    session: Session,
    actor: Principal,
    views: TenantViews,
    tenant_ref: int | str | None,
    days: int,
    rule_id: str | None = None,
    yaml: str | None = None,
) -> HuntPlan:
    """Permission, tenant scope, the rule and the range, checked before any work starts."""
    actor.require("rules.manage")
    day_windows(days, utcnow())
    tenant = resolve_tenant(session, actor, tenant_ref)
    view = views.get(session, tenant.id)
    return HuntPlan(tenant.id, view, pick_rule(view, rule_id, yaml))


def hunt_for_tenant(
    db: Database,
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
    """A hunt run to its end here (the CLI): checks in a read transaction, the hunt in short
    ones, then its audit entry."""
    with db.read_session() as session:
        plan = plan_hunt(session, actor, views, tenant_ref, days, rule_id, yaml)
    result = run_hunt(db, store, plan.view, plan.rule, days, group, progress)
    with db.session() as session:
        audit_hunt(
            session, actor.actor, plan.tenant_id, "rules.hunt", plan.rule.id, result.as_dict()
        )
    return result


def audit_hunt(
    session: Session, actor: str, tenant_id: int, action: str, rule_id: str, detail: dict[str, Any]
) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        object_type="rule",
        object_id=rule_id,
        tenant_id=tenant_id,
        detail=detail,
    )


def start_hunt_job(
    session: Session,
    actor: Principal,
    views: TenantViews,
    tenant_ref: int | str | None,
    days: int,
    rule_id: str | None = None,
    yaml: str | None = None,
) -> jobs.Job:
    """A queued retro-hunt job (audited), after the same checks as a hunt run here; the
    caller submits it once its transaction has committed."""
    plan = plan_hunt(session, actor, views, tenant_ref, days, rule_id, yaml)
    params = {"rule_id": plan.rule.id, "days": days, "yaml": yaml or None}
    job = jobs.create_job(session, actor, plan.tenant_id, "retro_hunt", params)
    audit_hunt(
        session,
        actor.actor,
        plan.tenant_id,
        "rules.hunt",
        plan.rule.id,
        {"job_id": job.id, "days": days},
    )
    return job
