"""The status engine: one correlator per process, loaded from the database, kept current.

Writers (events, maintenance ticks) take the `cmdb_revision` row lock first, so changes are
recorded in one order whatever the number of server processes. Before any work the engine
catches up with the database: a new topology revision reloads the graph; alerts another
process applied since are replayed. Every state change is persisted (`cmdb_ci_status` holds
the CIs that are not operational; `cmdb_status_changes` the history), incidents follow their
root causes, and subscribers are notified once per application status change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from soc.cmdb import notify
from soc.cmdb.models import (
    ActiveAlert,
    CIStatus,
    CITenant,
    ConfigurationItem,
    Maintenance,
    OpsEvent,
    OpsIncident,
    Relation,
    StatusChange,
    TopologyRevision,
)
from soc.cmdb.rules import IMPAIRED, OPERATIONAL, Change, Correlator
from soc.core.db import Database, utcnow
from soc.core.principal import Principal

# Called when a critical incident resolves: (session, incident) → problem id. The shell wires
# it to the problem records of soc.cases (this domain may not import it).
IncidentResolvedHook = Callable[[Session, OpsIncident], int | None]
# Security cases on a CI's host names, for its timeline: (session, principal, names) →
# (time, title, detail) entries. Wired by the shell to soc.cases (see `IncidentResolvedHook`).
CaseTimelineHook = Callable[
    [Session, Principal, list[str]], list[tuple[datetime, str, dict[str, Any]]]
]


@dataclass(frozen=True)
class RecordedChange:
    """One recorded change of a CI's computed state."""

    ci_id: int
    state: str
    previous: str
    at: datetime


@dataclass(frozen=True)
class LoadStats:
    cis: int
    relations: int
    alerts: int
    cycles: list[list[int]]


def lock_revision(session: Session) -> TopologyRevision:
    """The revision row, locked for this transaction (created on first use)."""
    row = session.scalar(select(TopologyRevision).where(TopologyRevision.id == 1).with_for_update())
    if row is None:
        row = TopologyRevision(id=1, revision=0, updated_at=utcnow())
        session.add(row)
        session.flush()
    return row


def bump_revision(session: Session) -> int:
    """Mark the topology changed (CIs, relations, maintenance): every process reloads."""
    row = lock_revision(session)
    row.revision += 1
    row.updated_at = utcnow()
    session.flush()
    return row.revision


def current_revision(session: Session) -> int:
    value = session.scalar(select(TopologyRevision.revision).where(TopologyRevision.id == 1))
    return int(value or 0)


class StatusEngine:
    def __init__(
        self,
        db: Database,
        on_incident_resolved: IncidentResolvedHook | None = None,
        cases_on_hosts: CaseTimelineHook | None = None,
    ):
        self.db = db
        self.on_incident_resolved = on_incident_resolved
        self.cases_on_hosts = cases_on_hosts
        self.corr: Correlator[int] = Correlator()
        self.revision = -1
        self.seen_event_id = 0
        self.last_load: LoadStats | None = None
        self._lock = threading.RLock()

    # --- loading ----------------------------------------------------------------------------

    def load(self, session: Session, now: datetime | None = None) -> LoadStats:
        """Build the graph and alerts from the database and compute every state."""
        now = now or utcnow()
        corr: Correlator[int] = Correlator()
        tenants: dict[int, list[int]] = {}
        for ci_id, tenant_id in session.execute(select(CITenant.ci_id, CITenant.tenant_id)):
            tenants.setdefault(ci_id, []).append(tenant_id)
        cis = session.execute(
            select(
                ConfigurationItem.id, ConfigurationItem.ci_type, ConfigurationItem.min_healthy
            ).where(ConfigurationItem.retired_at.is_(None))
        ).all()
        for ci_id, ci_type, min_healthy in cis:
            corr.add_ci(ci_id, ci_type, min_healthy=min_healthy, tenants=tenants.get(ci_id, ()))
        relations = 0
        for source, target, rel_type in session.execute(
            select(Relation.from_ci_id, Relation.to_ci_id, Relation.rel_type).where(
                Relation.retired_at.is_(None)
            )
        ):
            if source in corr.ci_type and target in corr.ci_type:
                corr.add_relation(source, target, rel_type)
                relations += 1
        alerts = 0
        for row in session.scalars(select(ActiveAlert)):
            if row.ci_id in corr.ci_type and (row.state == "firing" or row.flapping):
                corr.apply_alert(_alert_key(row), row.ci_id, row.severity, True)
                alerts += 1
        for ci_id in _in_maintenance(session, now):
            if ci_id in corr.ci_type:
                corr.set_maintenance(ci_id, True)
        cycles = corr.finalize()
        self.corr = corr
        self.revision = current_revision(session)
        self.seen_event_id = int(session.scalar(select(func.max(OpsEvent.id))) or 0)
        self.last_load = LoadStats(len(cis), relations, alerts, cycles)
        return self.last_load

    def catch_up(self, session: Session) -> None:
        """Reload after a topology change; replay alerts other processes applied."""
        with self._lock:
            if current_revision(session) != self.revision:
                self.load(session)
                return
            newest = int(session.scalar(select(func.max(OpsEvent.id))) or 0)
            if newest <= self.seen_event_id:
                return
            keys = session.execute(
                select(OpsEvent.provider_id, OpsEvent.fingerprint)
                .where(OpsEvent.id > self.seen_event_id, OpsEvent.outcome == "applied")
                .distinct()
            ).all()
            touched: set[int] = set()
            for provider_id, fingerprint in keys:
                row = session.scalar(
                    select(ActiveAlert).where(
                        ActiveAlert.provider_key == (provider_id or 0),
                        ActiveAlert.fingerprint == fingerprint,
                    )
                )
                if row is not None and row.ci_id in self.corr.ci_type:
                    touched.update(
                        self.corr.apply_alert(
                            _alert_key(row), row.ci_id, row.severity, alert_is_firing(row)
                        )
                    )
            self.corr.update(touched)
            self.seen_event_id = newest

    # --- writing ----------------------------------------------------------------------------

    def apply_alerts(
        self, session: Session, alerts: Iterable[ActiveAlert], now: datetime | None = None
    ) -> list[RecordedChange]:
        """Put the alerts' latest states into the graph and record what changed. The caller
        holds the revision lock and has caught up (see `events.receive`)."""
        with self._lock:
            touched: set[int] = set()
            for row in alerts:
                if row.ci_id in self.corr.ci_type:
                    touched.update(
                        self.corr.apply_alert(
                            _alert_key(row), row.ci_id, row.severity, alert_is_firing(row)
                        )
                    )
            roots = set(self.corr.roots)
            changes = self.corr.update(touched)
            self.seen_event_id = max(
                self.seen_event_id, int(session.scalar(select(func.max(OpsEvent.id))) or 0)
            )
            regroup = self._regroup(roots, touched, changes)
            return self.record(session, changes, now or utcnow(), incidents=regroup)

    def tick(self, session: Session, now: datetime | None = None) -> list[RecordedChange]:
        """Open and close maintenance windows whose time came (no event marks it)."""
        now = now or utcnow()
        lock_revision(session)
        with self._lock:
            self.catch_up(session)
            active = {ci for ci in _in_maintenance(session, now) if ci in self.corr.ci_type}
            touched = active ^ self.corr.maintenance
            for ci in touched:
                self.corr.set_maintenance(ci, ci in active)
            roots = set(self.corr.roots)
            changes = self.corr.update(touched)
            regroup = self._regroup(roots, touched, changes)
            return self.record(session, changes, now, incidents=regroup)

    def reload(self, session: Session, now: datetime | None = None) -> list[RecordedChange]:
        """After a topology change in this transaction: rebuild and record the differences."""
        with self._lock:
            lock_revision(session)
            before = dict(self.corr.state) if self.revision >= 0 else _persisted(session)
            self.load(session, now)
            changes = [
                Change(ci, before.get(ci, OPERATIONAL), state)
                for ci, state in self.corr.state.items()
                if before.get(ci, OPERATIONAL) != state
            ]
            changes += [
                Change(ci, state, OPERATIONAL)
                for ci, state in before.items()
                if ci not in self.corr.state and state != OPERATIONAL
            ]
            return self.record(session, changes, now or utcnow())

    def _regroup(self, roots: set[int], touched: set[int], changes: list[Change[int]]) -> bool:
        """Whether the incidents may have changed: the root causes, a root's own alerts (its
        severity), or which CIs are impaired (what reaches what). A change between degraded
        and down alone moves no CI into or out of an incident."""
        if self.corr.roots != roots or touched & (roots | self.corr.roots):
            return True
        return any((c.previous in IMPAIRED) != (c.state in IMPAIRED) for c in changes)

    def record(
        self,
        session: Session,
        changes: list[Change[int]],
        at: datetime,
        *,
        incidents: bool = True,
    ) -> list[RecordedChange]:
        """Persist the changes: status rows replaced and history appended in bulk (a shared
        component's outage changes thousands of CIs), applications' changes as rows with ids
        for their subscribers; then incidents."""
        if not changes:
            return []
        corr = self.corr
        ids = [c.ci for c in changes]
        for i in range(0, len(ids), 5000):
            session.execute(delete(CIStatus).where(CIStatus.ci_id.in_(ids[i : i + 5000])))
        current = [
            {"ci_id": c.ci, "state": c.state, "own": corr.is_own(c.ci), "since": at}
            for c in changes
            if c.state != OPERATIONAL
        ]
        if current:
            session.execute(insert(CIStatus), current)
        apps = [c for c in changes if corr.ci_type.get(c.ci) == "application"]
        others = [
            {"ci_id": c.ci, "state": c.state, "previous": c.previous, "at": at}
            for c in changes
            if corr.ci_type.get(c.ci) != "application"
        ]
        if others:
            session.execute(insert(StatusChange), others)
        app_rows = [
            StatusChange(ci_id=c.ci, state=c.state, previous=c.previous, at=at) for c in apps
        ]
        session.add_all(app_rows)
        session.flush()
        if incidents:
            self.sync_incidents(session, at)
        notify.enqueue(session, app_rows)
        return [RecordedChange(c.ci, c.state, c.previous, at) for c in changes]

    def sync_incidents(self, session: Session, at: datetime) -> None:
        """Open an incident per new root-cause group, update the ones that persist, resolve the
        ones whose causes cleared (a critical one opens a problem record, same timestamp)."""
        current = self.corr.incidents()
        open_rows = list(session.scalars(select(OpsIncident).where(OpsIncident.status == "open")))
        claimed: set[int] = set()
        for incident in current:
            roots = set(incident.root_causes)
            match = next(
                (r for r in open_rows if r.id not in claimed and roots & set(r.root_causes)), None
            )
            severity = "critical" if incident.critical else "major"
            if match is None:
                match = OpsIncident(status="open", opened_at=at, severity=severity)
                session.add(match)
            elif match.severity != "critical":
                match.severity = severity
            match.root_causes = sorted(roots)
            match.applications = list(incident.applications)
            match.tenants = [int(t) for t in incident.tenants]
            session.flush()
            claimed.add(match.id)
        for row in open_rows:
            if row.id in claimed:
                continue
            row.status, row.resolved_at = "resolved", at
            if row.severity == "critical" and self.on_incident_resolved is not None:
                row.problem_id = self.on_incident_resolved(session, row)
        session.flush()


def alert_is_firing(row: ActiveAlert) -> bool:
    """A flapping fingerprint stays firing until it settles (suppression)."""
    return row.state == "firing" or row.flapping


def _alert_key(row: ActiveAlert) -> tuple[int, str]:
    return (row.provider_key, row.fingerprint)


def _in_maintenance(session: Session, now: datetime) -> set[int]:
    return set(
        session.scalars(
            select(Maintenance.ci_id).where(Maintenance.starts_at <= now, Maintenance.ends_at > now)
        )
    )


def _persisted(session: Session) -> dict[int, str]:
    return {r[0]: r[1] for r in session.execute(select(CIStatus.ci_id, CIStatus.state))}
