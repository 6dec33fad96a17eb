"""The CMDB map (A7): per CI type (and optionally per provider), which CMDB holds it (CMDB2,
the GOS CMDB, the provider's own) and where it is replicated to. The integrator keeps it;
everyone who reads the CMDB may read it. Changes are audited."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from soc.cmdb.cistore import Lookup
from soc.cmdb.models import CI_TYPES, CMDB_SOURCES, CmdbMapEntry
from soc.core import audit
from soc.core.errors import Forbidden, Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal

# Where a CI type's data may be copied to: the CMDBs, and the data warehouse (A8: daily flow).
REPLICATION_TARGETS = (*CMDB_SOURCES, "dwh")


@dataclass(frozen=True)
class MapEntry:
    ci_type: str
    source_cmdb: str
    provider: str | None = None
    replicated_to: tuple[str, ...] = ()
    note: str = ""
    id: int | None = field(default=None, compare=False)


def list_map(session: Session, principal: Principal) -> list[MapEntry]:
    principal.require("cmdb.read")
    lookup = Lookup(session)
    rows = session.scalars(select(CmdbMapEntry).order_by(CmdbMapEntry.ci_type, CmdbMapEntry.id))
    return [
        MapEntry(
            ci_type=r.ci_type,
            source_cmdb=r.source_cmdb,
            provider=lookup.provider_slugs.get(r.provider_id) if r.provider_id else None,
            replicated_to=tuple(r.replicated_to or ()),
            note=r.note,
            id=r.id,
        )
        for r in rows
    ]


def _check(entries: Iterable[MapEntry], lookup: Lookup) -> list[tuple[MapEntry, int | None]]:
    seen: set[tuple[str, int | None]] = set()
    out = []
    for n, entry in enumerate(entries):
        where = f"entries[{n}]"
        if entry.ci_type not in CI_TYPES:
            raise Invalid(
                N_("{where}: unknown CI type {ci_type!r}"), where=where, ci_type=entry.ci_type
            )
        if entry.source_cmdb not in CMDB_SOURCES:
            raise Invalid(
                N_("{where}: source_cmdb is one of {cmdb_sources}"),
                where=where,
                cmdb_sources=", ".join(CMDB_SOURCES),
            )
        bad = [t for t in entry.replicated_to if t not in REPLICATION_TARGETS]
        if bad:
            raise Invalid(N_("{where}: cannot replicate to {value!r}"), where=where, value=bad[0])
        if entry.source_cmdb in entry.replicated_to:
            raise Invalid(N_("{where}: a CMDB is not replicated to itself"), where=where)
        provider_id = lookup.provider_id(entry.provider) if entry.provider else None
        key = (entry.ci_type, provider_id)
        if key in seen:
            raise Invalid(
                N_("{where}: {ci_type} / {provider} twice"),
                where=where,
                ci_type=entry.ci_type,
                provider=entry.provider or "any provider",
            )
        seen.add(key)
        out.append((entry, provider_id))
    return out


def replace_map(session: Session, principal: Principal, entries: list[MapEntry]) -> list[MapEntry]:
    """The whole map, replaced (PUT): validated first, so a bad entry changes nothing."""
    principal.require("cmdb.manage")
    if not principal.is_global:
        raise Forbidden(N_("the CMDB map is the integrator's"))
    lookup = Lookup(session)
    checked = _check(entries, lookup)
    before = [_plain(e) for e in list_map(session, principal)]
    session.execute(delete(CmdbMapEntry))
    for entry, provider_id in checked:
        session.add(
            CmdbMapEntry(
                ci_type=entry.ci_type,
                provider_id=provider_id,
                source_cmdb=entry.source_cmdb,
                replicated_to=sorted(set(entry.replicated_to)),
                note=entry.note,
            )
        )
    session.flush()
    after = list_map(session, principal)
    audit.record(
        session,
        actor=principal.actor,
        action="cmdb.map.replace",
        object_type="cmdb_map",
        object_id="map",
        detail={"before": before, "after": [_plain(e) for e in after]},
    )
    return after


def _plain(entry: MapEntry) -> dict[str, object]:
    return {
        "ci_type": entry.ci_type,
        "provider": entry.provider,
        "source_cmdb": entry.source_cmdb,
        "replicated_to": list(entry.replicated_to),
    }


def source_of(session: Session, ci_type: str, provider_id: int | None) -> str | None:
    """Which CMDB holds this type for this provider (its own entry, else the general one)."""
    rows = {
        r.provider_id: r.source_cmdb
        for r in session.scalars(select(CmdbMapEntry).where(CmdbMapEntry.ci_type == ci_type))
    }
    return rows.get(provider_id) if provider_id in rows else rows.get(None)
