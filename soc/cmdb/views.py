"""Read models of the status pages and endpoints, cut to what the principal may see: the
dashboard, one CI with its causes and timeline, incidents, monthly availability."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.cmdb.availability import AvailabilityRules, intervals_from_changes, monthly_availability
from soc.cmdb.engine import StatusEngine
from soc.cmdb.models import CIName, CIStatus, ConfigurationItem, OpsEvent, OpsIncident, StatusChange
from soc.cmdb.rules import IMPAIRED, OPERATIONAL, STATE_RANK, Correlator
from soc.cmdb.schemas import (
    ApplicationStatus,
    CIRef,
    CIStatusOut,
    DashboardOut,
    IncidentOut,
    RootCauseOut,
    TimelineEntry,
)
from soc.cmdb.visibility import visible_cis
from soc.core.db import utcnow
from soc.core.errors import Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.models import Tenant


class Names:
    """CI names and types, fetched once per page for the ids it shows."""

    def __init__(self, session: Session, corr: Correlator[int]) -> None:
        self.session, self.corr = session, corr
        self.names: dict[int, str] = {}

    def want(self, ids: Iterable[int]) -> None:
        missing = [i for i in set(ids) if i not in self.names]
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            rows = self.session.execute(
                select(ConfigurationItem.id, ConfigurationItem.name).where(
                    ConfigurationItem.id.in_(chunk)
                )
            )
            self.names.update((r[0], r[1]) for r in rows)

    def ref(self, ci: int) -> CIRef:
        self.want([ci])
        return CIRef(
            id=ci,
            name=self.names.get(ci, f"CI {ci}"),
            type=self.corr.ci_type.get(ci, "unknown"),
            state=self.corr.state.get(ci, OPERATIONAL),  # type: ignore[arg-type]
        )


def _root_causes(
    corr: Correlator[int], names: Names, ci: int, visible: frozenset[int] | None
) -> list[RootCauseOut]:
    paths = corr.root_paths(ci)
    names.want(n for path in paths.values() for n in path)
    out = []
    for root in sorted(paths):
        if visible is not None and root not in visible:
            continue
        path = [names.ref(n) for n in paths[root] if visible is None or n in visible]
        out.append(RootCauseOut(**names.ref(root).model_dump(), path=path))
    return out


def dashboard(session: Session, principal: Principal, engine: StatusEngine) -> DashboardOut:
    engine.catch_up(session)
    corr = engine.corr
    visible = visible_cis(session, principal, corr)
    names = Names(session, corr)
    apps = [a for a in corr.applications() if visible is None or a in visible]
    since = {r[0]: r[1] for r in session.execute(select(CIStatus.ci_id, CIStatus.since))}
    names.want(apps)
    out: list[ApplicationStatus] = []
    for app in apps:
        roots = _root_causes(corr, names, app, visible)
        components = {n.id: n for r in roots for n in r.path if n.id != app}
        out.append(
            ApplicationStatus(
                **names.ref(app).model_dump(),
                since=since.get(app),
                root_causes=roots,
                components=sorted(components.values(), key=lambda c: c.name),
            )
        )
    out.sort(key=lambda a: (-STATE_RANK[a.state], a.name.lower()))
    counts = {state: 0 for state in STATE_RANK}
    for status in out:
        counts[status.state] += 1
    impaired_ids = [
        ci
        for ci in since
        if ci in corr.state
        and corr.state[ci] in IMPAIRED
        and (visible is None or ci in visible)
        and corr.ci_type.get(ci) != "application"
    ]
    names.want(impaired_ids)
    impaired = sorted((names.ref(ci) for ci in impaired_ids), key=lambda c: c.name)
    unmatched = None
    if principal.can("ops.events.read") and principal.is_global:
        unmatched = len(
            session.scalars(
                select(OpsEvent.id).where(OpsEvent.outcome == "unmatched").limit(10_000)
            ).all()
        )
    return DashboardOut(
        as_of=utcnow(),
        counts=counts,
        applications=out,
        impaired=impaired,
        unmatched_events=unmatched,
    )


def ci_status(
    session: Session, principal: Principal, engine: StatusEngine, ci_id: int
) -> CIStatusOut:
    engine.catch_up(session)
    corr = engine.corr
    visible = visible_cis(session, principal, corr)
    if ci_id not in corr.ci_type or (visible is not None and ci_id not in visible):
        raise NotFound(N_("no CI {name}"), name=ci_id)
    names = Names(session, corr)
    deps = [d for d in corr.graph.successors(ci_id) if visible is None or d in visible]
    users = [d for d in corr.graph.predecessors(ci_id) if visible is None or d in visible]
    names.want([ci_id, *deps, *users])
    return CIStatusOut(
        **names.ref(ci_id).model_dump(),
        own=corr.is_own(ci_id),
        impacted=corr.impacted(ci_id),
        root_causes=_root_causes(corr, names, ci_id, visible),
        dependencies=[names.ref(d) for d in sorted(deps)],
        dependents=[names.ref(d) for d in sorted(users)],
        timeline=timeline(session, ci_id, security_cases(session, principal, engine, ci_id)),
    )


def security_cases(
    session: Session, principal: Principal, engine: StatusEngine, ci_id: int
) -> list[TimelineEntry]:
    """SIEM security cases on the CI's host names and aliases (the principal's own view)."""
    if engine.cases_on_hosts is None:
        return []
    hosts = list(session.scalars(select(CIName.name).where(CIName.ci_id == ci_id)))
    return [
        TimelineEntry(at=at, kind="case", text=text, detail=detail)
        for at, text, detail in engine.cases_on_hosts(session, principal, hosts)
    ]


def timeline(
    session: Session, ci_id: int, cases: list[TimelineEntry] | None = None, limit: int = 200
) -> list[TimelineEntry]:
    """The CI's operational events, state changes and security cases, newest first."""
    entries = list(cases or [])
    entries += [
        TimelineEntry(
            at=e.occurred_at,
            kind="event",
            text=f"{e.severity} {e.state}: {e.summary or e.event_type or e.fingerprint}",
            detail={"fingerprint": e.fingerprint, "outcome": e.outcome, "source": e.source},
        )
        for e in session.scalars(
            select(OpsEvent)
            .where(OpsEvent.ci_id == ci_id)
            .order_by(OpsEvent.occurred_at.desc())
            .limit(limit)
        )
    ]
    entries += [
        TimelineEntry(at=c.at, kind="status", text=f"{c.previous} → {c.state}")
        for c in session.scalars(
            select(StatusChange)
            .where(StatusChange.ci_id == ci_id)
            .order_by(StatusChange.at.desc())
            .limit(limit)
        )
    ]
    entries.sort(key=lambda t: t.at, reverse=True)
    return entries[:limit]


def incidents(
    session: Session,
    principal: Principal,
    engine: StatusEngine,
    status: str | None = None,
    limit: int = 100,
) -> list[IncidentOut]:
    engine.catch_up(session)
    corr = engine.corr
    visible = visible_cis(session, principal, corr)
    query = select(OpsIncident).order_by(OpsIncident.id.desc()).limit(limit)
    if status:
        query = query.where(OpsIncident.status == status)
    names = Names(session, corr)
    slugs = {r[0]: r[1] for r in session.execute(select(Tenant.id, Tenant.slug))}
    out = []
    for row in session.scalars(query):
        apps = [a for a in row.applications if visible is None or a in visible]
        if visible is not None and not apps:
            continue
        roots = [r for r in row.root_causes if visible is None or r in visible]
        tenants = [t for t in row.tenants if principal.sees_tenant(t)]
        names.want([*apps, *roots])
        out.append(
            IncidentOut(
                id=row.id,
                status=row.status,
                severity=row.severity,
                root_causes=[names.ref(r) for r in roots],
                applications=[names.ref(a) for a in apps],
                tenants=[slugs.get(t, str(t)) for t in tenants],
                opened_at=row.opened_at,
                resolved_at=row.resolved_at,
                problem_id=row.problem_id,
            )
        )
    return out


def parse_month(month: str) -> tuple[int, int]:
    try:
        year, number = (int(part) for part in month.split("-"))
    except ValueError as exc:
        raise Invalid(N_("month must be YYYY-MM, got {month!r}"), month=month) from exc
    if not 1 <= number <= 12 or not 1970 <= year <= 9999:
        raise Invalid(N_("month must be YYYY-MM, got {month!r}"), month=month)
    return year, number


def availability(
    session: Session,
    principal: Principal,
    engine: StatusEngine,
    settings: Settings,
    month: str,
    ci_id: int | None = None,
) -> list[tuple[CIRef, dict[str, object]]]:
    """Each visible application's availability and MTTR for the month (A12 rules)."""
    year, number = parse_month(month)
    engine.catch_up(session)
    corr = engine.corr
    visible = visible_cis(session, principal, corr)
    apps = [a for a in corr.applications() if visible is None or a in visible]
    if ci_id is not None:
        if ci_id not in apps:
            raise NotFound(N_("no application {name}"), name=ci_id)
        apps = [ci_id]
    rules = AvailabilityRules(
        target_pct=settings.availability_target_pct,
        max_planned_minutes_per_month=settings.availability_max_planned_minutes,
        max_planned_weekends_per_year=settings.availability_max_planned_weekends,
        tz=settings.case_timezone,
    )
    start = datetime(year - 1, 12, 1, tzinfo=UTC)  # the year's weekends, and what came before
    names = Names(session, corr)
    names.want(apps)
    out = []
    for app in apps:
        changes = [
            (c.at, c.state)
            for c in session.scalars(
                select(StatusChange)
                .where(StatusChange.ci_id == app, StatusChange.at >= start)
                .order_by(StatusChange.at, StatusChange.id)
            )
        ]
        figures = monthly_availability(
            intervals_from_changes(changes), year, number, rules, as_of=utcnow()
        )
        out.append((names.ref(app), figures.to_dict()))
    return out
