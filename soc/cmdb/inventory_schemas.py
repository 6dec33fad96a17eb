"""Pydantic in/out models of the CMDB inventory endpoints: CIs, relations, imports, the map."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from soc.cmdb.cistore import CIState, Lookup
from soc.cmdb.cmdb_map import MapEntry
from soc.cmdb.import_formats import RowError
from soc.cmdb.import_plan import CIItem, ImportPlan, RelationItem
from soc.cmdb.inventory import ChangeView, CIDetail
from soc.cmdb.models import CIType, CMDBSource, ConfigurationItem, Relation, RelType
from soc.core.principal import Principal
from soc.core.schemas import Id

Slug = str
Criticality = Literal["low", "medium", "high", "critical"]


class ExternalIdIO(BaseModel):
    source: str = Field(min_length=1, max_length=64)
    external_id: str = Field(min_length=1, max_length=200)


class CIPatch(BaseModel):
    """Fields to change; an absent field keeps its value (`provider: null` = the
    integrator's own CI; lists replace the stored ones)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    ci_type: CIType | None = None
    provider: Slug | None = Field(default=None, max_length=64)
    tenants: list[Slug] | None = Field(default=None, max_length=1000)
    environment: str | None = Field(default=None, min_length=1, max_length=32)
    criticality: Criticality | None = None
    always_on: StrictBool | None = Field(default=None, description="operated 24/7")
    min_healthy: int | None = Field(default=None, ge=1, le=100_000, description="clusters")
    source: str | None = Field(default=None, min_length=1, max_length=64)
    attributes: dict[str, Any] | None = None
    names: list[str] | None = Field(
        default=None, max_length=200, description="host names and aliases"
    )
    external_ids: list[ExternalIdIO] | None = Field(default=None, max_length=100)

    def changes(self) -> dict[str, Any]:
        """The given fields only; a null list means an empty one."""
        out = self.model_dump(exclude_unset=True)
        for key, empty in (
            ("tenants", []),
            ("names", []),
            ("external_ids", []),
            ("attributes", {}),
        ):
            if key in out and out[key] is None:
                out[key] = empty
        for key in ("name", "ci_type", "environment", "criticality", "always_on", "source"):
            if key in out and out[key] is None:
                del out[key]
        return out


class CIIn(CIPatch):
    name: str = Field(min_length=1, max_length=200)
    ci_type: CIType


class RelationBrief(BaseModel):
    id: int
    from_ci_id: int
    to_ci_id: int
    rel_type: str
    source: str
    created_by: str
    created_at: datetime
    retired_at: datetime | None
    from_name: str | None = None
    to_name: str | None = None

    @classmethod
    def of(cls, rel: Relation, names: dict[int, str] | None = None) -> RelationBrief:
        names = names or {}
        return cls(
            id=rel.id,
            from_ci_id=rel.from_ci_id,
            to_ci_id=rel.to_ci_id,
            rel_type=rel.rel_type,
            source=rel.source,
            created_by=rel.created_by,
            created_at=rel.created_at,
            retired_at=rel.retired_at,
            from_name=names.get(rel.from_ci_id),
            to_name=names.get(rel.to_ci_id),
        )


class ChangeOut(BaseModel):
    id: int
    ci_id: int | None
    relation_id: int | None
    action: str
    actor: str
    at: datetime
    diff: dict[str, Any]

    @classmethod
    def of(cls, change: ChangeView) -> ChangeOut:
        return cls(**vars(change))


class CIOut(BaseModel):
    id: int
    name: str
    ci_type: str
    provider: str | None
    tenants: list[str] = Field(description="the tenants served that the reader may see")
    environment: str
    criticality: str
    always_on: bool
    min_healthy: int | None
    source: str
    attributes: dict[str, Any]
    names: list[str]
    external_ids: list[ExternalIdIO]
    status: str = "operational"
    created_at: datetime
    updated_at: datetime
    retired_at: datetime | None

    @classmethod
    def of(
        cls,
        ci: ConfigurationItem,
        state: CIState,
        lookup: Lookup,
        principal: Principal,
        status: str = "operational",
    ) -> CIOut:
        return cls(
            id=ci.id,
            name=ci.name,
            ci_type=ci.ci_type,
            provider=lookup.provider_slugs.get(ci.provider_id) if ci.provider_id else None,
            tenants=sorted(
                lookup.tenant_slugs[t]
                for t in state.tenant_ids
                if principal.sees_tenant(t) and t in lookup.tenant_slugs
            ),
            environment=ci.environment,
            criticality=ci.criticality,
            always_on=ci.always_on,
            min_healthy=ci.min_healthy,
            source=ci.source,
            attributes=dict(ci.attributes or {}),
            names=list(state.names),
            external_ids=[ExternalIdIO(source=s, external_id=e) for s, e in state.external_ids],
            status=status,
            created_at=ci.created_at,
            updated_at=ci.updated_at,
            retired_at=ci.retired_at,
        )


class CIDetailOut(CIOut):
    relations: list[RelationBrief]
    history: list[ChangeOut] = Field(description="the latest changes, newest first")

    @classmethod
    def of_detail(cls, detail: CIDetail, lookup: Lookup, principal: Principal) -> CIDetailOut:
        base = CIOut.of(detail.ci, detail.state, lookup, principal, detail.status)
        return cls(
            **base.model_dump(),
            relations=[RelationBrief.of(r, detail.names) for r in detail.relations],
            history=[ChangeOut.of(c) for c in detail.history],
        )


class RelationIn(BaseModel):
    """`from_ci_id` depends on / runs on / is hosted in / is a member of / connects to
    `to_ci_id`."""

    model_config = ConfigDict(extra="forbid")

    from_ci_id: Id
    to_ci_id: Id
    rel_type: RelType


class RelationCreatedOut(BaseModel):
    relation: RelationBrief
    restored: bool = Field(description="a retired identical relation was brought back")
    cycle: list[int] = Field(description="the dependency loop it closes (from … from), if any")


class ImportIn(BaseModel):
    """A file to import, as text in the body (CSV, JSON, or a ServiceNow export)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["csv", "json", "servicenow"]
    provider: Slug | None = Field(
        default=None, max_length=64, description="whose CMDB; null = the integrator's (GOS)"
    )
    source: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="default servicenow:<provider> or file:<provider>",
    )
    full_sync: StrictBool = Field(default=False, description="retire what the file no longer lists")
    content: str = Field(min_length=1)


class RowErrorOut(BaseModel):
    where: str
    message: str

    @classmethod
    def of(cls, error: RowError) -> RowErrorOut:
        return cls(where=error.where, message=error.message)


class CIItemOut(BaseModel):
    external_id: str
    name: str
    ci_type: str
    ci_id: int | None
    diff: dict[str, Any]

    @classmethod
    def of(cls, item: CIItem) -> CIItemOut:
        return cls(**vars(item))


class RelationItemOut(BaseModel):
    from_ref: str
    to_ref: str
    rel_type: str
    relation_id: int | None

    @classmethod
    def of(cls, item: RelationItem) -> RelationItemOut:
        return cls(**vars(item))


class ImportPlanOut(BaseModel):
    format: str
    provider: str | None
    source: str
    full_sync: bool
    applied: bool
    added: list[CIItemOut]
    changed: list[CIItemOut]
    restored: list[CIItemOut]
    retired: list[CIItemOut]
    unchanged: int
    relations_added: list[RelationItemOut]
    relations_retired: list[RelationItemOut]
    errors: list[RowErrorOut]
    warnings: list[RowErrorOut]
    cycles: list[list[str]]

    @classmethod
    def of(cls, plan: ImportPlan) -> ImportPlanOut:
        return cls(
            format=plan.format,
            provider=plan.provider,
            source=plan.source,
            full_sync=plan.full_sync,
            applied=plan.applied,
            added=[CIItemOut.of(i) for i in plan.added],
            changed=[CIItemOut.of(i) for i in plan.changed],
            restored=[CIItemOut.of(i) for i in plan.restored],
            retired=[CIItemOut.of(i) for i in plan.retired],
            unchanged=plan.unchanged,
            relations_added=[RelationItemOut.of(i) for i in plan.relations_added],
            relations_retired=[RelationItemOut.of(i) for i in plan.relations_retired],
            errors=[RowErrorOut.of(e) for e in plan.errors],
            warnings=[RowErrorOut.of(e) for e in plan.warnings],
            cycles=plan.cycles,
        )


class MapEntryIO(BaseModel):
    """Which CMDB holds a CI type (for one provider, or any), and where it is copied to."""

    model_config = ConfigDict(extra="forbid")

    ci_type: CIType
    provider: Slug | None = Field(default=None, max_length=64)
    source_cmdb: CMDBSource
    replicated_to: list[Literal["cmdb2", "gos", "provider", "dwh"]] = Field(
        default_factory=list, max_length=4
    )
    note: str = Field(default="", max_length=2000)

    def to_entry(self) -> MapEntry:
        return MapEntry(
            ci_type=self.ci_type,
            source_cmdb=self.source_cmdb,
            provider=self.provider,
            replicated_to=tuple(self.replicated_to),
            note=self.note,
        )

    @classmethod
    def of(cls, entry: MapEntry) -> MapEntryIO:
        return cls.model_validate(
            {
                "ci_type": entry.ci_type,
                "provider": entry.provider,
                "source_cmdb": entry.source_cmdb,
                "replicated_to": list(entry.replicated_to),
                "note": entry.note,
            }
        )
