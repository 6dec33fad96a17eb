"""Operational events (JSON and Alertmanager), share policies, maintenance windows, the
status dashboard, one CI's status and timeline, incidents and monthly availability."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from sqlalchemy import select

from soc.cmdb import events as events_svc
from soc.cmdb import maintenance as maintenance_svc
from soc.cmdb import views
from soc.cmdb.deps import CmdbEngineDep
from soc.cmdb.models import OpsEvent, SharePolicy
from soc.cmdb.schemas import (
    AlertmanagerIn,
    AvailabilityOut,
    CIStatusOut,
    DashboardOut,
    EventIn,
    IncidentOut,
    MaintenanceIn,
    MaintenanceOut,
    OpsEventOut,
    OutcomeOut,
    ReceivedOut,
    SharePolicyIn,
    SharePolicyOut,
)
from soc.core import legacy_routes
from soc.core.deps import PrincipalDep, SessionDep, SettingsDep
from soc.core.errors import Invalid, NotFound
from soc.core.i18n import N_
from soc.core.schemas import RowId
from tenants.models import Provider

router = APIRouter(tags=["operations"])

MAX_EVENTS = 10_000


def _received(result: events_svc.Received) -> ReceivedOut:
    outcomes = [OutcomeOut(**vars(o)) for o in result.outcomes]
    return ReceivedOut(
        received=len(outcomes),
        applied=sum(1 for o in outcomes if o.outcome == "applied"),
        outcomes=outcomes,
        status_changes=len(result.changes),
    )


@router.post("/api/v1/ops/events", response_model=ReceivedOut)
def post_events(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    engine: CmdbEngineDep,
    body: Annotated[EventIn | list[EventIn], Body()],
) -> ReceivedOut:
    """One event or a list (at most 10,000). Every event is kept with its outcome: applied,
    duplicate, stale, not_shared (outside the provider's agreed subset) or unmatched."""
    items = body if isinstance(body, list) else [body]
    if len(items) > MAX_EVENTS:
        raise Invalid(N_("at most {max_events} events per request"), max_events=MAX_EVENTS)
    result = events_svc.receive(session, settings, engine, principal, [e.to_input() for e in items])
    return _received(result)


@router.post("/api/v1/ops/alertmanager", response_model=ReceivedOut)
def alertmanager(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    engine: CmdbEngineDep,
    body: AlertmanagerIn,
) -> ReceivedOut:
    """The Prometheus Alertmanager webhook (`webhook_configs` with a bearer token). The CI is
    the first of the labels ci, ci_id, cmdb_ci, host, hostname, nodename, instance."""
    result = events_svc.receive(
        session, settings, engine, principal, [a.to_input() for a in body.alerts]
    )
    return _received(result)


@router.get("/api/v1/ops/events", response_model=list[OpsEventOut])
def list_events(
    session: SessionDep,
    principal: PrincipalDep,
    outcome: Annotated[str | None, Query(max_length=16)] = None,
    ci_id: RowId | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[OpsEventOut]:
    """Received events, newest first; `outcome=unmatched` is the service desk's work list.
    A provider sees its own events only."""
    principal.require("ops.events.read")
    query = select(OpsEvent).order_by(OpsEvent.id.desc()).limit(limit)
    if outcome:
        query = query.where(OpsEvent.outcome == outcome)
    if ci_id is not None:
        query = query.where(OpsEvent.ci_id == ci_id)
    if principal.provider_id is not None:
        query = query.where(OpsEvent.provider_id == principal.provider_id)
    elif not principal.is_global:
        query = query.where(OpsEvent.id.is_(None))
    return [OpsEventOut.model_validate(e) for e in session.scalars(query)]


def _policy_out(session: SessionDep, row: SharePolicy) -> SharePolicyOut:
    slug = session.scalar(select(Provider.slug).where(Provider.id == row.provider_id)) or ""
    return SharePolicyOut(
        provider=slug,
        min_severity=row.min_severity,
        event_types=row.event_types,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


@router.get("/api/v1/ops/share-policies", response_model=list[SharePolicyOut])
def share_policies(session: SessionDep, principal: PrincipalDep) -> list[SharePolicyOut]:
    """The agreed subset per provider (a provider sees its own)."""
    principal.require("ops.events.read")
    query = select(SharePolicy)
    if principal.provider_id is not None:
        query = query.where(SharePolicy.provider_id == principal.provider_id)
    elif not principal.is_global:
        return []
    return [_policy_out(session, row) for row in session.scalars(query)]


@router.put("/api/v1/ops/share-policies/{provider}", response_model=SharePolicyOut)
def put_share_policy(
    session: SessionDep, principal: PrincipalDep, provider: str, body: SharePolicyIn
) -> SharePolicyOut:
    """Set a provider's agreed subset: events below `min_severity`, or of a type outside
    `event_types` (null = every type), stay with the provider."""
    row = events_svc.set_policy(session, principal, provider, body.min_severity, body.event_types)
    return _policy_out(session, row)


@router.post("/api/v1/cmdb/maintenance", response_model=MaintenanceOut, status_code=201)
def add_maintenance(
    session: SessionDep,
    principal: PrincipalDep,
    engine: CmdbEngineDep,
    body: MaintenanceIn,
) -> MaintenanceOut:
    """Plan a maintenance window on a CI: while it is open the CI is `maintenance`."""
    row = maintenance_svc.add(
        session, principal, engine, body.ci_id, body.starts_at, body.ends_at, body.title
    )
    return MaintenanceOut.model_validate(row)


@router.get("/api/v1/cmdb/maintenance", response_model=list[MaintenanceOut])
def list_maintenance(
    session: SessionDep, principal: PrincipalDep, engine: CmdbEngineDep
) -> list[MaintenanceOut]:
    """Current and future maintenance windows on the CIs the caller sees."""
    rows = maintenance_svc.upcoming(session, principal, engine)
    return [MaintenanceOut.model_validate(r) for r in rows]


@router.delete("/api/v1/cmdb/maintenance/{window_id}", status_code=204)
def cancel_maintenance(
    session: SessionDep, principal: PrincipalDep, engine: CmdbEngineDep, window_id: RowId
) -> None:
    """Cancel a maintenance window: its CIs count as in service again. 404 for an unknown
    window or one outside the caller's scope."""
    maintenance_svc.cancel(session, principal, engine, window_id)


@router.get("/api/v1/status", response_model=DashboardOut)
def dashboard(session: SessionDep, principal: PrincipalDep, engine: CmdbEngineDep) -> DashboardOut:
    """Every application the caller may see, worst first, with the probable root causes
    (and the path down to each) and the impaired components under it."""
    return views.dashboard(session, principal, engine)


@router.get("/api/v1/cmdb/cis/{ci_id}/status", response_model=CIStatusOut)
def ci_status(
    session: SessionDep, principal: PrincipalDep, engine: CmdbEngineDep, ci_id: RowId
) -> CIStatusOut:
    """One CI: state, own or impacted, root causes, neighbours and its timeline."""
    return views.ci_status(session, principal, engine, ci_id)


legacy_routes.alias(
    router, "/api/v1/status/cis/{ci_id}", ci_status, successor="/api/v1/cmdb/cis/{ci_id}/status"
)


@router.get("/api/v1/ops/incidents", response_model=list[IncidentOut])
def incidents(
    session: SessionDep,
    principal: PrincipalDep,
    engine: CmdbEngineDep,
    status: Annotated[str | None, Query(pattern="^(open|resolved)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[IncidentOut]:
    """Operational incidents: one per connected group of root causes and the applications
    they impair; a customer sees its own applications and tenants in them only."""
    return views.incidents(session, principal, engine, status, limit)


@router.get("/api/v1/status/availability", response_model=list[AvailabilityOut])
def availability(
    session: SessionDep,
    principal: PrincipalDep,
    engine: CmdbEngineDep,
    settings: SettingsDep,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")],
    ci_id: RowId | None = None,
) -> list[AvailabilityOut]:
    """Monthly availability and MTTR per application: planned downtime is excluded only in
    weekends, at most 9 a year and 16 h a month; the excess counts as unplanned."""
    rows = views.availability(session, principal, engine, settings, month, ci_id)
    if ci_id is not None and not rows:
        raise NotFound(N_("no application {name}"), name=ci_id)
    return [AvailabilityOut(application=ref, month=month, figures=fig) for ref, fig in rows]
