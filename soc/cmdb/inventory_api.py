"""CMDB inventory endpoints: CIs, relations, imports (preview and apply), the CMDB map.

A CI the reader may not see (outside `visible_cis`) is a 404. Writes rebuild this process's
status graph in the same transaction (other processes reload on the revision bump).
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from soc.cmdb import cmdb_map, importer, inventory, relations
from soc.cmdb.cistore import Lookup, snapshots
from soc.cmdb.deps import CmdbEngineDep
from soc.cmdb.engine import StatusEngine
from soc.cmdb.inventory_schemas import (
    ChangeOut,
    CIDetailOut,
    CIIn,
    CIOut,
    CIPatch,
    ImportIn,
    ImportPlanOut,
    MapEntryIO,
    RelationBrief,
    RelationCreatedOut,
    RelationIn,
)
from soc.cmdb.models import CIType, ConfigurationItem, RelType
from soc.cmdb.visibility import visible_cis
from soc.core.deps import PrincipalDep, SessionDep
from soc.core.principal import Principal
from soc.core.schemas import DB_INT_MAX, ErrorOut, Page, RowId

router = APIRouter(prefix="/api/v1/cmdb", tags=["cmdb"])


def _visible(session: Session, principal: Principal, engine: StatusEngine) -> frozenset[int] | None:
    engine.catch_up(session)
    return visible_cis(session, principal, engine.corr)


def _out(session: Session, principal: Principal, cis: list[ConfigurationItem]) -> list[CIOut]:
    lookup, states = Lookup(session), snapshots(session, cis)
    status = inventory.states(session, [c.id for c in cis])
    return [CIOut.of(c, states[c.id], lookup, principal, status[c.id]) for c in cis]


@router.get("/cis", response_model=Page[CIOut])
def list_cis(
    session: SessionDep,
    principal: PrincipalDep,
    engine: CmdbEngineDep,
    type: CIType | None = None,
    provider: str | None = Query(default=None, max_length=64),
    q: str | None = Query(default=None, max_length=200, description="name, host name, ext. id"),
    include_retired: bool = False,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=10_000_000),
) -> Page[CIOut]:
    """List the configuration items the caller may see, filtered by type, provider or text,
    paged. Retired items only on request."""
    filters = inventory.CIFilter(type, provider, q, include_retired)
    visible = _visible(session, principal, engine)
    total, rows = inventory.list_cis(session, principal, visible, filters, limit, offset)
    return Page[CIOut](
        total=total, limit=limit, offset=offset, items=_out(session, principal, rows)
    )


@router.post("/cis", response_model=CIOut, status_code=201)
def create_ci(
    body: CIIn, session: SessionDep, principal: PrincipalDep, engine: CmdbEngineDep
) -> CIOut:
    """A new CI; a provider's user creates CIs of its own provider only."""
    ci = inventory.create_ci(session, principal, body.changes(), engine)
    return _out(session, principal, [ci])[0]


@router.get("/cis/{ci_id}", response_model=CIDetailOut)
def get_ci(
    ci_id: RowId, session: SessionDep, principal: PrincipalDep, engine: CmdbEngineDep
) -> CIDetailOut:
    """The CI with its status, relations, tenants, names, external ids and latest changes."""
    detail = inventory.get_ci(session, principal, ci_id, _visible(session, principal, engine))
    return CIDetailOut.of_detail(detail, Lookup(session), principal)


@router.patch("/cis/{ci_id}", response_model=CIOut)
def update_ci(
    ci_id: RowId,
    body: CIPatch,
    session: SessionDep,
    principal: PrincipalDep,
    engine: CmdbEngineDep,
) -> CIOut:
    """Change a configuration item's attributes. Its provider's users and the integrator; 403
    for another provider's CI, 404 for one not visible."""
    visible = _visible(session, principal, engine)
    ci = inventory.update_ci(session, principal, ci_id, body.changes(), visible, engine)
    return _out(session, principal, [ci])[0]


@router.post("/cis/{ci_id}/retire", response_model=CIOut)
def retire_ci(
    ci_id: RowId, session: SessionDep, principal: PrincipalDep, engine: CmdbEngineDep
) -> CIOut:
    """Retire (never delete) the CI and its relations."""
    visible = _visible(session, principal, engine)
    ci = inventory.retire_ci(session, principal, ci_id, visible, engine)
    return _out(session, principal, [ci])[0]


@router.post("/cis/{ci_id}/restore", response_model=CIOut)
def restore_ci(
    ci_id: RowId, session: SessionDep, principal: PrincipalDep, engine: CmdbEngineDep
) -> CIOut:
    """Bring a retired CI back (its relations stay retired until related again)."""
    visible = _visible(session, principal, engine)
    ci = inventory.restore_ci(session, principal, ci_id, visible, engine)
    return _out(session, principal, [ci])[0]


@router.get("/cis/{ci_id}/history", response_model=Page[ChangeOut])
def ci_history(
    ci_id: RowId,
    session: SessionDep,
    principal: PrincipalDep,
    engine: CmdbEngineDep,
    limit: int = Query(default=100, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=10_000_000),
) -> Page[ChangeOut]:
    """Who changed what and when, on the CI and its relations, newest first."""
    visible = _visible(session, principal, engine)
    total, rows = inventory.ci_history(session, principal, ci_id, visible, limit, offset)
    return Page[ChangeOut](
        total=total, limit=limit, offset=offset, items=[ChangeOut.of(r) for r in rows]
    )


@router.get("/relations", response_model=Page[RelationBrief])
def list_relations(
    session: SessionDep,
    principal: PrincipalDep,
    engine: CmdbEngineDep,
    ci_id: int | None = Query(default=None, ge=1, le=DB_INT_MAX, description="either end"),
    rel_type: RelType | None = None,
    include_retired: bool = False,
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=10_000_000),
) -> Page[RelationBrief]:
    """List the relations between configuration items (optionally of one CI or one type),
    paged. Only relations between visible CIs."""
    filters = relations.RelationFilter(ci_id, rel_type, include_retired)
    visible = _visible(session, principal, engine)
    total, rows = relations.list_relations(session, principal, visible, filters, limit, offset)
    return Page[RelationBrief](
        total=total, limit=limit, offset=offset, items=[RelationBrief.of(r) for r in rows]
    )


@router.post("/relations", response_model=RelationCreatedOut, status_code=201)
def add_relation(
    body: RelationIn, session: SessionDep, principal: PrincipalDep, engine: CmdbEngineDep
) -> RelationCreatedOut:
    """Relate two CIs; across providers only the integrator may. A dependency loop it closes
    is accepted and returned in `cycle`."""
    visible = _visible(session, principal, engine)
    made = relations.add_relation(
        session, principal, body.from_ci_id, body.to_ci_id, body.rel_type, visible, engine
    )
    return RelationCreatedOut(
        relation=RelationBrief.of(made.relation), restored=made.restored, cycle=made.cycle
    )


@router.delete("/relations/{relation_id}", response_model=RelationBrief)
def retire_relation(
    relation_id: RowId, session: SessionDep, principal: PrincipalDep, engine: CmdbEngineDep
) -> RelationBrief:
    """Retire (never delete) the relation."""
    visible = _visible(session, principal, engine)
    rel = relations.retire_relation(session, principal, relation_id, visible, engine)
    return RelationBrief.of(rel)


def _request(body: ImportIn) -> importer.ImportRequest:
    return importer.ImportRequest(
        body.format, body.content, body.provider, body.source, body.full_sync
    )


@router.post("/imports/preview", response_model=ImportPlanOut)
def preview_import(body: ImportIn, session: SessionDep, principal: PrincipalDep) -> ImportPlanOut:
    """What the import would do (added / changed / retired, relations, per-row errors);
    writes nothing."""
    return ImportPlanOut.of(importer.preview(session, principal, _request(body)))


@router.post(
    "/imports/apply",
    response_model=ImportPlanOut,
    responses={
        422: {
            "model": ImportPlanOut | ErrorOut,
            "description": "Row errors (the plan; nothing was written) or invalid input",
        }
    },
)
def apply_import(
    body: ImportIn, session: SessionDep, principal: PrincipalDep, engine: CmdbEngineDep
) -> ImportPlanOut | JSONResponse:
    """Apply the import in one transaction when it has no error; with errors nothing is
    written and the plan comes back with status 422."""
    plan = importer.apply(session, principal, _request(body), engine)
    out = ImportPlanOut.of(plan)
    if not plan.applied:
        return JSONResponse(status_code=422, content=out.model_dump(mode="json"))
    return out


@router.get("/map", response_model=list[MapEntryIO])
def get_map(session: SessionDep, principal: PrincipalDep) -> list[MapEntryIO]:
    """Which CMDB holds each CI type (per provider or for all), and where it is copied."""
    return [MapEntryIO.of(e) for e in cmdb_map.list_map(session, principal)]


@router.put("/map", response_model=list[MapEntryIO])
def put_map(
    body: list[MapEntryIO], session: SessionDep, principal: PrincipalDep
) -> list[MapEntryIO]:
    """Replace the whole map (the integrator's)."""
    entries = cmdb_map.replace_map(session, principal, [e.to_entry() for e in body])
    return [MapEntryIO.of(e) for e in entries]
