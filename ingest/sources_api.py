"""`/api/v1/log-sources`: the tenant's declared log sources (with status and today's volume)
and the observed hosts no source declares yet. Thin: the work is ingest.sources."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from ingest import sources as svc
from ingest.models import LogSource, ObservedHost
from soc.core.deps import PrincipalDep, SessionDep, SettingsDep
from soc.core.schemas import Id

router = APIRouter(prefix="/api/v1/log-sources", tags=["ingest and events"])

Kind = Literal["windows", "linux_syslog", "firewall", "proxy", "cloud", "other"]


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=120)
    kind: Kind
    host_pattern: str = Field(
        min_length=1, max_length=255, pattern=r"^\S+$", description="a glob: dc*.alpha.local"
    )
    expected_daily_bytes: int | None = Field(default=None, ge=0, le=10**15)
    silent_after_hours: int | None = Field(
        default=None, ge=1, le=svc.MAX_HOURS, description="default: kri_silent_source_hours"
    )
    enabled: bool = True
    tenant: str | None = Field(
        default=None, min_length=1, max_length=63, description="tenant slug (global users)"
    )


class SourcePatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = Field(default=None, min_length=1, max_length=120)
    kind: Kind | None = None
    host_pattern: str | None = Field(default=None, min_length=1, max_length=255, pattern=r"^\S+$")
    expected_daily_bytes: int | None = Field(default=None, ge=0, le=10**15)
    silent_after_hours: int | None = Field(default=None, ge=1, le=svc.MAX_HOURS)
    enabled: bool | None = None


class AdoptIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    host: str = Field(min_length=1, max_length=255)
    kind: Kind
    name: str | None = Field(default=None, min_length=1, max_length=120)
    silent_after_hours: int | None = Field(default=None, ge=1, le=svc.MAX_HOURS)
    tenant: str | None = Field(default=None, min_length=1, max_length=63)


class SourceOut(BaseModel):
    id: int
    tenant_id: int
    name: str
    kind: str
    host_pattern: str
    expected_daily_bytes: int | None
    silent_after_hours: int
    enabled: bool
    first_seen: datetime | None
    last_seen: datetime | None
    last_alerted_at: datetime | None
    created_at: datetime
    status: str = Field(description="ok, silent, never_seen or disabled")
    events_today: int
    bytes_today: int


class HostOut(BaseModel):
    tenant_id: int
    host: str
    first_seen: datetime
    last_seen: datetime
    events: int
    bytes: int


def _out(status: svc.SourceStatus) -> SourceOut:
    s = status.source
    return SourceOut(
        id=s.id,
        tenant_id=s.tenant_id,
        name=s.name,
        kind=s.kind,
        host_pattern=s.host_pattern,
        expected_daily_bytes=s.expected_daily_bytes,
        silent_after_hours=s.silent_after_hours,
        enabled=s.enabled,
        first_seen=s.first_seen,
        last_seen=s.last_seen,
        last_alerted_at=s.last_alerted_at,
        created_at=s.created_at,
        status=status.status,
        events_today=status.events_today,
        bytes_today=status.bytes_today,
    )


def _one(session: SessionDep, source: LogSource) -> SourceOut:
    session.flush()
    return _out(svc.status_of(session, source))


def _host(h: ObservedHost) -> HostOut:
    return HostOut(
        tenant_id=h.tenant_id,
        host=h.host,
        first_seen=h.first_seen,
        last_seen=h.last_seen,
        events=h.events,
        bytes=h.bytes,
    )


TenantQuery = Query(default=None, min_length=1, max_length=63, description="tenant slug")


@router.get("", response_model=list[SourceOut])
def list_sources(
    session: SessionDep, principal: PrincipalDep, tenant: str | None = TenantQuery
) -> list[SourceOut]:
    """The declared sources the caller sees, with status and today's volume."""
    return [_out(s) for s in svc.list_sources(session, principal, tenant)]


@router.get("/unknown", response_model=list[HostOut])
def unknown_hosts(
    session: SessionDep,
    principal: PrincipalDep,
    tenant: str | None = TenantQuery,
    limit: int = Query(default=200, ge=1, le=1000),
) -> list[HostOut]:
    """Hosts that sent events but match no declared source: to onboard."""
    return [_host(h) for h in svc.unknown_hosts(session, principal, tenant, limit)]


@router.post("", response_model=SourceOut, status_code=201, summary="Create a declared log source")
def declare(
    body: SourceIn, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> SourceOut:
    """Declare a source (admins and analysts); 409 when the tenant has one of that name."""
    source = svc.declare(
        session,
        principal,
        name=body.name,
        kind=body.kind,
        host_pattern=body.host_pattern,
        silent_after_hours=body.silent_after_hours or settings.kri_silent_source_hours,
        expected_daily_bytes=body.expected_daily_bytes,
        enabled=body.enabled,
        tenant=body.tenant,
    )
    return _one(session, source)


@router.post(
    "/adopt",
    response_model=SourceOut,
    status_code=201,
    summary="Create a log source from an unknown host",
)
def adopt(
    body: AdoptIn, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> SourceOut:
    """Declare an unknown host as a source of its own."""
    source = svc.adopt(
        session,
        principal,
        body.host,
        kind=body.kind,
        silent_after_hours=body.silent_after_hours or settings.kri_silent_source_hours,
        name=body.name,
        tenant=body.tenant,
    )
    return _one(session, source)


@router.get("/{source_id}", response_model=SourceOut)
def get_source(source_id: Id, session: SessionDep, principal: PrincipalDep) -> SourceOut:
    """One declared log source with its status and today's volume."""
    return _one(session, svc.get_source(session, principal, source_id))


@router.patch("/{source_id}", response_model=SourceOut)
def update_source(
    source_id: Id, body: SourcePatch, session: SessionDep, principal: PrincipalDep
) -> SourceOut:
    """Change a declared source (admins and analysts); first/last seen follow a new pattern."""
    changes = body.model_dump(exclude_unset=True)
    nulls = [k for k, v in changes.items() if v is None and k != "expected_daily_bytes"]
    for key in nulls:
        del changes[key]
    return _one(session, svc.update(session, principal, source_id, changes))


@router.delete("/{source_id}", status_code=204)
def delete_source(source_id: Id, session: SessionDep, principal: PrincipalDep) -> Response:
    """Delete a declared source; the hosts it matched become unknown again."""
    svc.remove(session, principal, source_id)
    return Response(status_code=204)
