"""An Elasticsearch/OpenSearch-compatible ingest surface under /es, so Beats, Fluent Bit,
Logstash and Vector ship to the SOC with their stock Elasticsearch outputs: the tenant comes
from the ingest key, whatever index the shipper names."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ingest.api import UnsupportedMediaType, read_limited
from ingest.bulk import BulkItem, split_bulk
from ingest.parse import ACCEPTED_TYPES, media_type
from ingest.store.base import StoreBusy
from soc.deps import get_services, ingest_principal
from soc.errors import Invalid, Unavailable
from soc.services import Services
from tenants.principal import Principal

router = APIRouter(prefix="/es", tags=["Elasticsearch-compatible ingest"])
COMPAT_VERSION = "8.11.0"  # what shippers' version checks are told


@router.get("/")
def es_info(principal: Principal = Depends(ingest_principal)) -> dict[str, Any]:
    """The cluster-info answer shippers ask for before sending (version detection)."""
    return {
        "name": "soc",
        "cluster_name": "soc",
        "tagline": "You Know, for Search",
        "version": {
            "number": COMPAT_VERSION,
            "distribution": "soc",
            "minimum_wire_compatibility_version": "7.10.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
    }


@router.get("/_cluster/health")
def es_health(principal: Principal = Depends(ingest_principal)) -> dict[str, Any]:
    """Health as shippers' health checks expect it (Vector calls this)."""
    return {"cluster_name": "soc", "status": "green", "timed_out": False}


@router.get("/_license")
def es_license(principal: Principal = Depends(ingest_principal)) -> dict[str, Any]:
    """Beats ask for the license before sending."""
    return {"license": {"status": "active", "type": "basic", "uid": "soc"}}


def _item(item: BulkItem, status: int, event_id: str | None, error: str | None) -> dict:
    body: dict[str, Any] = {"_index": item.index or "soc", "_id": event_id, "status": status}
    if error:
        body["error"] = {
            "type": "illegal_argument_exception"
            if status == 400
            else "version_conflict_engine_exception",
            "reason": error,
        }
    else:
        body["result"] = "created" if status == 201 else "noop"
    return {
        item.action if item.action in ("index", "create", "delete", "update") else "index": body
    }


async def _bulk(request: Request, principal: Principal, services: Services) -> JSONResponse:
    principal.require("ingest.write")
    try:
        async with services.ingest_gate.slot():  # before the body is read, like /api/v1/ingest
            return await _bulk_admitted(request, principal, services)
    except Unavailable as busy:  # Elasticsearch clients back off on 429 with this error type
        return JSONResponse(
            {
                "error": {"type": "es_rejected_execution_exception", "reason": busy.message},
                "status": 429,
            },
            status_code=429,
            headers={"Retry-After": str(busy.retry_after)},
        )


async def _bulk_admitted(
    request: Request, principal: Principal, services: Services
) -> JSONResponse:
    started = time.perf_counter()
    kind = media_type(request.headers.get("content-type")) or "application/x-ndjson"
    if kind not in ACCEPTED_TYPES:
        raise UnsupportedMediaType(
            f"content type '{kind}' is not accepted for _bulk; use application/x-ndjson"
        )
    settings = services.settings
    body = await read_limited(request, settings.max_request_bytes)
    if not body.strip():
        raise Invalid("the request body is empty")
    tenant_id = principal.tenant_id
    assert tenant_id is not None
    items = split_bulk(body, settings.max_event_bytes)
    good = [item for item in items if item.parsed is not None]

    def work() -> tuple[list[str], set[str]]:
        with services.db.session() as session:
            events, new_ids = services.ingestor.accept_objects(
                session, tenant_id, [item.parsed for item in good if item.parsed]
            )
        return [e.id for e in events], set(new_ids)

    try:
        ids, new = await run_in_threadpool(work)
    except StoreBusy as busy:
        return JSONResponse(
            {
                "error": {"type": "es_rejected_execution_exception", "reason": str(busy)},
                "status": 429,
            },
            status_code=429,
            headers={"Retry-After": str(busy.retry_after)},
        )
    stored = dict(zip((id(item) for item in good), ids, strict=True))
    answer = []
    created: set[str] = set()  # the same document twice in one request: created once
    for item in items:
        if item.error:
            answer.append(_item(item, 400, item.doc_id, item.error))
            continue
        event_id = stored[id(item)]
        if event_id in new and event_id not in created:
            created.add(event_id)
            answer.append(_item(item, 201, event_id, None))
        elif item.action == "create":
            answer.append(_item(item, 409, event_id, "document already exists"))
        else:
            answer.append(_item(item, 200, event_id, None))
    took = int((time.perf_counter() - started) * 1000)
    errors = any(next(iter(a.values()))["status"] >= 300 for a in answer)
    return JSONResponse({"took": took, "errors": errors, "items": answer})


@router.post("/_bulk")
async def bulk(
    request: Request,
    principal: Principal = Depends(ingest_principal),
    services: Services = Depends(get_services),
) -> JSONResponse:
    """Elasticsearch `_bulk`: index/create pairs; one result item per action, in order."""
    return await _bulk(request, principal, services)


@router.post("/{index}/_bulk")
async def bulk_into_index(
    index: str,
    request: Request,
    principal: Principal = Depends(ingest_principal),
    services: Services = Depends(get_services),
) -> JSONResponse:
    """`_bulk` with a default index in the path (the index is informational: the tenant comes
    from the key)."""
    return await _bulk(request, principal, services)
