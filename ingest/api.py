"""HTTP ingest (NDJSON or a JSON array, tenant from the API key) and event search."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from ingest.events import Event
from ingest.parse import ACCEPTED_TYPES, media_type
from ingest.schemas import EventOut, EventPage, IngestOut, LineErrorOut
from ingest.store.base import StoreBusy
from soc.deps import current_principal, db_session, get_services, ingest_principal
from soc.errors import DomainError, Invalid, NotFound
from soc.schemas import ErrorOut
from soc.services import Services
from tenants import service as tenant_service
from tenants.principal import Principal

router = APIRouter(prefix="/api/v1", tags=["ingest and events"])


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    status_code = 415
    code = "unsupported_media_type"


async def read_limited(request: Request, limit: int) -> bytes:
    """Read the body, refusing it as soon as it passes the limit (before it is all in memory)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body passes the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


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
    return_ids: bool = Query(default=False, description="list the stored event ids"),
    principal: Principal = Depends(ingest_principal),
    services: Services = Depends(get_services),
) -> JSONResponse:
    """Store a batch of events for the key's tenant. Each line is accepted or refused on its
    own; the answer counts both and gives the reason per refused line (1-based line or item
    number). 422 when no line could be accepted."""
    principal.require("ingest.write")
    kind = media_type(request.headers.get("content-type"))
    if kind not in ACCEPTED_TYPES:
        raise UnsupportedMediaType(
            f"content type '{kind or '(none)'}' is not accepted; use application/x-ndjson "
            "(one JSON object a line) or application/json (an array of objects)"
        )
    # The slot is taken before the body is read: waiting requests hold no body in memory.
    async with services.ingest_gate.slot():
        return await _ingest_body(request, kind, return_ids, principal, services)


async def _ingest_body(
    request: Request, kind: str, return_ids: bool, principal: Principal, services: Services
) -> JSONResponse:
    settings = services.settings
    body = await read_limited(request, settings.max_request_bytes)
    if not body.strip():
        raise Invalid("the request body is empty")
    tenant_id = principal.tenant_id
    assert tenant_id is not None

    def work() -> IngestOut:
        with services.db.session() as session:
            result = services.ingestor.ingest_body(
                session, tenant_id, body, kind, settings.max_event_bytes
            )
        return IngestOut(
            accepted=result.accepted,
            duplicates=result.duplicates,
            rejected=len(result.rejected),
            errors=[LineErrorOut(**asdict(r)) for r in result.rejected],
            ids=result.ids if return_ids else None,
        )

    try:
        out = await run_in_threadpool(work)
    except StoreBusy as busy:
        return JSONResponse(
            {"error": "unavailable", "detail": str(busy)},
            status_code=503,
            headers={"Retry-After": str(busy.retry_after)},
        )
    status = 422 if out.accepted == 0 and out.rejected else 200
    return JSONResponse(out.model_dump(exclude_none=True), status_code=status)


def event_out(event: Event) -> EventOut:
    return EventOut(
        id=event.id,
        tenant_id=event.tenant_id,
        event_time=event.event_time,
        received_at=event.received_at,
        size=event.size,
        host=event.host,
        data=event.data,
    )


def resolve_tenant_id(session: Session, principal: Principal, tenant: str | None) -> int:
    if tenant:
        return tenant_service.get_tenant(session, principal, tenant).id
    if principal.tenant_id is None:
        raise Invalid("name the tenant: ?tenant=<slug>")
    return principal.tenant_id


@router.get("/events", response_model=EventPage)
def search_events(
    tenant: str | None = Query(default=None, description="tenant slug (required for global users)"),
    start: datetime | None = None,
    end: datetime | None = None,
    q: str | None = Query(default=None, max_length=500, description="text contained in the event"),
    limit: int = Query(default=50, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=1_000_000),
    session: Session = Depends(db_session),
    principal: Principal = Depends(current_principal),
    services: Services = Depends(get_services),
) -> EventPage:
    principal.require("events.read")
    tenant_id = resolve_tenant_id(session, principal, tenant)
    for value in (start, end):
        if value is not None and value.tzinfo is None:
            raise Invalid("give times with a timezone, e.g. 2026-01-31T12:00:00Z")
    page = services.store.search(tenant_id, start, end, q, limit, offset)
    return EventPage(
        total=page.total, limit=limit, offset=offset, items=[event_out(e) for e in page.events]
    )


@router.get("/events/{event_id}", response_model=EventOut)
def get_event(
    event_id: str,
    tenant: str | None = Query(default=None, description="tenant slug (required for global users)"),
    session: Session = Depends(db_session),
    principal: Principal = Depends(current_principal),
    services: Services = Depends(get_services),
) -> EventOut:
    principal.require("events.read")
    event = services.store.get(resolve_tenant_id(session, principal, tenant), event_id)
    if event is None:
        raise NotFound(f"event '{event_id}' not found")
    return event_out(event)
