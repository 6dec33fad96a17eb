"""HTTP ingest (NDJSON or a JSON array, tenant from the API key) and event search."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from ingest.deps import IngestGateDep, PipelineDep, StoreDep
from ingest.http import read_limited, require_accepted
from ingest.parse import media_type
from ingest.pipeline_port import IngestPipeline
from ingest.schemas import EventOut, EventPage, IngestOut, LineErrorOut
from ingest.store.base import StoreBusy
from soc.core.deps import IngestKeyDep, PrincipalDep, SessionDep, SettingsDep
from soc.core.errors import Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal, TenantRef
from soc.core.schemas import ErrorOut
from tenants import service as tenant_service

router = APIRouter(prefix="/api/v1", tags=["ingest and events"])
NDJSON_HINT = "use application/x-ndjson (one JSON object a line) or application/json (an array)"


@router.post(
    "/ingest",
    response_model=IngestOut,
    responses={
        401: {"model": ErrorOut, "description": "Missing, unknown or revoked ingest key"},
        413: {"model": ErrorOut, "description": "Body or event over the size limit"},
        415: {"model": ErrorOut, "description": "Content type not accepted"},
        503: {
            "model": ErrorOut,
            "description": "At capacity, database busy, or store down and spool full: retry "
            "after the Retry-After seconds (nothing of this request was accepted)",
        },
        422: {
            "model": IngestOut | ErrorOut,
            "description": "No line could be accepted (per-line reasons), or an empty body",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {
                    "schema": {"type": "string", "description": "one JSON object a line"}
                },
                "application/json": {
                    "schema": {
                        "anyOf": [
                            {"type": "array", "items": {"type": "object", "minProperties": 1}},
                            {"type": "object", "minProperties": 1},
                        ],
                        "description": "an array of objects (or a single object)",
                    }
                },
            },
        }
    },
)
async def ingest(
    request: Request,
    principal: IngestKeyDep,
    settings: SettingsDep,
    gate: IngestGateDep,
    pipeline: PipelineDep,
    return_ids: bool = Query(default=False, description="list the stored event ids"),
) -> JSONResponse:
    """Store a batch of events for the key's tenant. Each line is accepted or refused on its
    own; the answer counts both and gives the reason per refused line (1-based line or item
    number). `accepted` counts the lines taken, `duplicates` those of them already known
    (stored before, or the same line earlier in the batch), `new` the events stored and
    metered now. 422 when no line could be accepted."""
    principal.require("ingest.write")
    tenant = principal.acting_tenant()
    kind = require_accepted(media_type(request.headers.get("content-type")), NDJSON_HINT)
    # The slot is taken before the body is read: waiting requests hold no body in memory.
    async with gate.slot():
        body = await read_limited(request, settings.max_request_bytes)
        return await _ingest_body(pipeline, tenant, body, kind, return_ids)


async def _ingest_body(
    pipeline: IngestPipeline, tenant: TenantRef, body: bytes, kind: str, return_ids: bool
) -> JSONResponse:
    try:
        result = await run_in_threadpool(pipeline.ingest_body, tenant, body, kind)
    except StoreBusy as busy:
        return JSONResponse(
            {"error": "unavailable", "detail": str(busy)},
            status_code=503,
            headers={"Retry-After": str(busy.retry_after)},
        )
    out = IngestOut(
        accepted=result.accepted,
        duplicates=result.duplicates,
        new=result.new,
        rejected=len(result.rejected),
        errors=[LineErrorOut(**asdict(r)) for r in result.rejected],
        ids=result.ids if return_ids else None,
    )
    status = 422 if out.accepted == 0 and out.rejected else 200
    return JSONResponse(out.model_dump(exclude_none=True), status_code=status)


def resolve_tenant_id(session: Session, principal: Principal, tenant: str | None) -> int:
    if tenant:
        return tenant_service.get_tenant(session, principal, tenant).id
    if principal.tenant_id is None:
        raise Invalid(N_("name the tenant: ?tenant=<slug>"))
    return principal.tenant_id


@router.get("/events", response_model=EventPage)
def search_events(
    tenant: str | None = Query(default=None, description="tenant slug (required for global users)"),
    start: datetime | None = None,
    end: datetime | None = None,
    q: str | None = Query(default=None, max_length=500, description="text contained in the event"),
    limit: int = Query(default=50, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=1_000_000),
    *,
    session: SessionDep,
    principal: PrincipalDep,
    store: StoreDep,
) -> EventPage:
    """Search a tenant's stored events by time range and text, newest first, paged. Analysts and
    admins (events.read); global users name the tenant (?tenant=<slug>); 422 for times without a
    timezone."""
    principal.require("events.read")
    tenant_id = resolve_tenant_id(session, principal, tenant)
    for value in (start, end):
        if value is not None and value.tzinfo is None:
            raise Invalid(N_("give times with a timezone, e.g. 2026-01-31T12:00:00Z"))
    page = store.search(tenant_id, start, end, q, limit, offset)
    items = [EventOut.from_event(e) for e in page.events]
    return EventPage(total=page.total, limit=limit, offset=offset, items=items)


@router.get("/events/{event_id}", response_model=EventOut)
def get_event(
    event_id: str,
    tenant: str | None = Query(default=None, description="tenant slug (required for global users)"),
    *,
    session: SessionDep,
    principal: PrincipalDep,
    store: StoreDep,
) -> EventOut:
    """One stored event of a tenant by its id. Needs events.read; 404 for an unknown id or another
    tenant's event."""
    principal.require("events.read")
    event = store.get(resolve_tenant_id(session, principal, tenant), event_id)
    if event is None:
        raise NotFound(N_("event {name} not found"), name=f"'{event_id}'")
    return EventOut.from_event(event)
