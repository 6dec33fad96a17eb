"""Log sources per tenant: the sources a tenant declared (kind, host glob, expected volume)
and the hosts ingest actually saw.

Ingest calls `observe` once per recorded batch: one upsert per (tenant, host) into
`observed_hosts`, and the declared sources whose pattern a host of the batch matches get
their first and last seen moved, so nothing is written per event. A declared source is silent
when its last event (or its declaration, when it never sent one) is older than its own
`silent_after_hours`; hosts that match no declared pattern are listed for onboarding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import case, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ingest.events import Event
from ingest.models import SOURCE_KINDS, LogSource, ObservedHost
from soc.core import audit
from soc.core.db import utcnow
from soc.core.errors import Conflict, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from tenants import service as tenant_service
from tenants.models import UsageHostDaily

READ = "tenants.read"
MANAGE = "assets.manage"
MAX_HOURS = 24 * 366


def matches(pattern: str, host: str) -> bool:
    """Host names compare case-insensitively; the pattern is a shell glob (`dc*.alpha.local`)."""
    return fnmatchcase(host.lower(), pattern.lower())


def literal_pattern(host: str) -> str:
    """A glob matching exactly this host name (its glob characters escaped)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in host)


# --- at ingest -------------------------------------------------------------------------------


def observe(session: Session, events: Sequence[Event]) -> None:
    """Record the batch's hosts (one upsert row per tenant and host) and move the first and
    last seen of the declared sources they match, in the caller's transaction."""
    seen: dict[tuple[int, str], list[Any]] = {}
    for event in events:
        if not event.host:
            continue
        key = (event.tenant_id, event.host[:255])
        row = seen.get(key)
        if row is None:
            seen[key] = [event.received_at, event.received_at, 1, event.size]
        else:
            row[0] = min(row[0], event.received_at)
            row[1] = max(row[1], event.received_at)
            row[2] += 1
            row[3] += event.size
    if not seen:
        return
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(ObservedHost)
    table, new = ObservedHost.__table__.c, statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=["tenant_id", "host"],
        set_={
            "first_seen": case((new.first_seen < table.first_seen, new.first_seen),
                               else_=table.first_seen),
            "last_seen": case((new.last_seen > table.last_seen, new.last_seen),
                              else_=table.last_seen),
            "events": table.events + new.events,
            "bytes": table.bytes + new.bytes,
        },
    )  # fmt: skip
    rows = [
        {"tenant_id": t, "host": h, "first_seen": f, "last_seen": last, "events": n, "bytes": b}
        for (t, h), (f, last, n, b) in sorted(seen.items())
    ]
    session.execute(statement, rows)
    tenants = {t for t, _ in seen}
    for source in session.scalars(select(LogSource).where(LogSource.tenant_id.in_(tenants))):
        hits = [
            v
            for (t, h), v in seen.items()
            if t == source.tenant_id and matches(source.host_pattern, h)
        ]
        if hits:
            _saw(source, min(v[0] for v in hits), max(v[1] for v in hits))


def _saw(source: LogSource, first: datetime, last: datetime) -> None:
    if source.first_seen is None or first < source.first_seen:
        source.first_seen = first
    if source.last_seen is None or last > source.last_seen:
        source.last_seen = last


# --- status ----------------------------------------------------------------------------------


def reference(source: LogSource) -> datetime:
    """What silence counts from: the last event, or the declaration when none came yet."""
    return source.last_seen or source.created_at


def is_silent(source: LogSource, now: datetime) -> bool:
    return source.enabled and reference(source) <= now - timedelta(hours=source.silent_after_hours)


@dataclass(frozen=True)
class SourceStatus:
    source: LogSource
    status: str  # ok, silent, never_seen (declared, nothing yet, not overdue), disabled
    bytes_today: int  # today's (UTC) metered bytes of the matching hosts
    events_today: int


def _status(source: LogSource, now: datetime) -> str:
    if not source.enabled:
        return "disabled"
    if is_silent(source, now):
        return "silent"
    return "never_seen" if source.last_seen is None else "ok"


def _tenant_id(session: Session, actor: Principal, tenant: str | None) -> int:
    if tenant:
        return tenant_service.get_tenant(session, actor, tenant).id
    return actor.acting_tenant().id


def list_sources(
    session: Session, actor: Principal, tenant: str | None = None, now: datetime | None = None
) -> list[SourceStatus]:
    """The declared sources of the tenants the actor sees (or of the one named), with their
    status and today's volume; by tenant, then name."""
    actor.require(READ)
    now = now or utcnow()
    query = select(LogSource).where(actor.tenant_filter(LogSource.tenant_id))
    if tenant:
        query = query.where(LogSource.tenant_id == _tenant_id(session, actor, tenant))
    sources = list(session.scalars(query.order_by(LogSource.tenant_id, LogSource.name)))
    today: dict[int, list[tuple[str, int, int]]] = {}
    if sources:
        for t, host, n, size in session.execute(
            select(
                UsageHostDaily.tenant_id, UsageHostDaily.host, UsageHostDaily.events,
                UsageHostDaily.bytes,
            ).where(
                UsageHostDaily.day == now.date(),
                UsageHostDaily.tenant_id.in_({s.tenant_id for s in sources}),
            )
        ):  # fmt: skip
            today.setdefault(t, []).append((host, int(n), int(size)))
    out = []
    for source in sources:
        hits = [
            (n, b) for h, n, b in today.get(source.tenant_id, []) if matches(source.host_pattern, h)
        ]
        out.append(
            SourceStatus(
                source, _status(source, now), sum(b for _, b in hits), sum(n for n, _ in hits)
            )
        )
    return out


def status_of(session: Session, source: LogSource, now: datetime | None = None) -> SourceStatus:
    """One source's status and today's volume (the caller checked it may see it)."""
    now = now or utcnow()
    rows = session.execute(
        select(UsageHostDaily.host, UsageHostDaily.events, UsageHostDaily.bytes).where(
            UsageHostDaily.day == now.date(), UsageHostDaily.tenant_id == source.tenant_id
        )
    ).all()
    hits = [(int(n), int(b)) for h, n, b in rows if matches(source.host_pattern, h)]
    return SourceStatus(
        source, _status(source, now), sum(b for _, b in hits), sum(n for n, _ in hits)
    )


def get_source(session: Session, actor: Principal, source_id: int) -> LogSource:
    actor.require(READ)
    source = session.get(LogSource, source_id)
    if source is None or not actor.sees_tenant(source.tenant_id):
        raise NotFound(N_("log source {source_id} not found"), source_id=source_id)
    return source


def _check(kind: str, pattern: str, hours: int) -> None:
    if kind not in SOURCE_KINDS:
        raise Invalid(N_("kind must be one of {kinds}"), kinds=", ".join(SOURCE_KINDS))
    if not pattern.strip() or any(c.isspace() for c in pattern):
        raise Invalid(N_("give a host pattern without spaces"))
    if not 1 <= hours <= MAX_HOURS:
        raise Invalid(N_("silent_after_hours must be 1..{max_hours}"), max_hours=MAX_HOURS)


def _name_taken(session: Session, tenant_id: int, name: str, but: int | None = None) -> bool:
    query = select(LogSource.id).where(LogSource.tenant_id == tenant_id, LogSource.name == name)
    found = session.scalar(query)
    return found is not None and found != but


def _seen_so_far(session: Session, source: LogSource) -> None:
    """A new or re-patterned source takes the first and last seen of the hosts it matches."""
    source.first_seen = source.last_seen = None
    hosts = session.scalars(select(ObservedHost).where(ObservedHost.tenant_id == source.tenant_id))
    for host in hosts:
        if matches(source.host_pattern, host.host):
            _saw(source, host.first_seen, host.last_seen)


def declare(
    session: Session,
    actor: Principal,
    *,
    name: str,
    kind: str,
    host_pattern: str,
    silent_after_hours: int,
    expected_daily_bytes: int | None = None,
    enabled: bool = True,
    tenant: str | None = None,
) -> LogSource:
    """Declare a log source for the actor's tenant (or the one named)."""
    actor.require(MANAGE)
    tenant_id = _tenant_id(session, actor, tenant)
    name = " ".join(name.split())
    if not name:
        raise Invalid(N_("give the source a name"))
    _check(kind, host_pattern, silent_after_hours)
    if _name_taken(session, tenant_id, name):
        raise Conflict(N_("a log source named '{name}' exists"), name=name)
    source = LogSource(
        tenant_id=tenant_id,
        name=name,
        kind=kind,
        host_pattern=host_pattern.strip(),
        expected_daily_bytes=expected_daily_bytes,
        silent_after_hours=silent_after_hours,
        enabled=enabled,
        created_at=utcnow(),
    )
    _seen_so_far(session, source)
    session.add(source)
    session.flush()
    _audit(session, actor, "log_sources.declare", source, _fields(source))
    return source


UPDATABLE = (
    "name",
    "kind",
    "host_pattern",
    "expected_daily_bytes",
    "silent_after_hours",
    "enabled",
)


def update(
    session: Session, actor: Principal, source_id: int, changes: dict[str, Any]
) -> LogSource:
    """Change some fields of a source (keys of UPDATABLE)."""
    actor.require(MANAGE)
    source = get_source(session, actor, source_id)
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise Invalid(N_("cannot change {unknown}"), unknown=", ".join(sorted(unknown)))
    if "name" in changes:
        changes["name"] = " ".join(str(changes["name"]).split())
        if not changes["name"]:
            raise Invalid(N_("give the source a name"))
        if _name_taken(session, source.tenant_id, changes["name"], but=source.id):
            raise Conflict(N_("a log source named '{name}' exists"), name=changes["name"])
    _check(
        changes.get("kind", source.kind),
        changes.get("host_pattern", source.host_pattern),
        changes.get("silent_after_hours", source.silent_after_hours),
    )
    before = _fields(source)
    for key, value in changes.items():
        setattr(source, key, value)
    if "host_pattern" in changes and changes["host_pattern"] != before["host_pattern"]:
        _seen_so_far(session, source)
    after = _fields(source)
    diff = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    _audit(session, actor, "log_sources.update", source, diff)
    return source


def remove(session: Session, actor: Principal, source_id: int) -> None:
    actor.require(MANAGE)
    source = get_source(session, actor, source_id)
    _audit(session, actor, "log_sources.delete", source, _fields(source))
    session.execute(delete(LogSource).where(LogSource.id == source.id))


def unknown_hosts(
    session: Session, actor: Principal, tenant: str | None = None, limit: int = 200
) -> list[ObservedHost]:
    """Hosts that sent events but match no declared pattern of their tenant: to onboard.
    Most recently seen first."""
    actor.require(READ)
    query = select(ObservedHost).where(actor.tenant_filter(ObservedHost.tenant_id))
    if tenant:
        query = query.where(ObservedHost.tenant_id == _tenant_id(session, actor, tenant))
    hosts = list(session.scalars(query.order_by(ObservedHost.last_seen.desc(), ObservedHost.host)))
    patterns: dict[int, list[str]] = {}
    for t, pattern in session.execute(
        select(LogSource.tenant_id, LogSource.host_pattern).where(
            LogSource.tenant_id.in_({h.tenant_id for h in hosts})
        )
    ):
        patterns.setdefault(t, []).append(pattern)
    unknown = [
        h for h in hosts if not any(matches(p, h.host) for p in patterns.get(h.tenant_id, []))
    ]
    return unknown[:limit]


def adopt(
    session: Session,
    actor: Principal,
    host: str,
    *,
    kind: str,
    silent_after_hours: int,
    name: str | None = None,
    tenant: str | None = None,
) -> LogSource:
    """Declare an observed host as a source of its own (its exact name as the pattern)."""
    actor.require(MANAGE)
    tenant_id = _tenant_id(session, actor, tenant)
    observed = session.get(ObservedHost, (tenant_id, host))
    if observed is None:
        raise NotFound(N_("host '{host}' was not seen"), host=host)
    return declare(
        session,
        actor,
        name=name or host,
        kind=kind,
        host_pattern=literal_pattern(host),
        silent_after_hours=silent_after_hours,
        tenant=tenant,
    )


# --- the silence check (raising the case is the cases floor's) -------------------------------


def silent_sources(session: Session, now: datetime) -> list[LogSource]:
    """Enabled sources silent at `now` (the cases floor raises one case per silence)."""
    candidates = session.scalars(
        select(LogSource).where(LogSource.enabled.is_(True)).order_by(LogSource.id)
    )
    return [s for s in candidates if is_silent(s, now)]


def _fields(source: LogSource) -> dict[str, Any]:
    return {
        "name": source.name,
        "kind": source.kind,
        "host_pattern": source.host_pattern,
        "expected_daily_bytes": source.expected_daily_bytes,
        "silent_after_hours": source.silent_after_hours,
        "enabled": source.enabled,
    }


def _audit(
    session: Session, actor: Principal, action: str, source: LogSource, detail: dict[str, Any]
) -> None:
    audit.record(
        session,
        actor=actor.actor,
        action=action,
        object_type="log_source",
        object_id=source.id,
        tenant_id=source.tenant_id,
        detail=detail,
    )
