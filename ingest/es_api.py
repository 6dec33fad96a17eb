"""An Elasticsearch/OpenSearch-compatible ingest surface under /es, so Beats, Fluent Bit,
Logstash and Vector ship to the SOC with their stock Elasticsearch outputs: the tenant comes
from the ingest key, whatever index the shipper names."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import Match

from ingest.bulk import BulkItem, split_bulk
from ingest.deps import IngestGateDep, PipelineDep
from ingest.es_compat import ES_ERROR_RESPONSES, EsRoute, decoded_body, es_error, plain_media_type
from ingest.gate import IngestGate
from ingest.http import read_limited, require_accepted
from ingest.parse import Rejected, check_object
from ingest.pipeline_port import IngestPipeline
from ingest.store.base import StoreBusy
from soc.core.deps import IngestKeyDep, SettingsDep
from soc.core.errors import Invalid, Unavailable
from soc.core.principal import Principal
from soc.core.settings import Settings

router = APIRouter(
    prefix="/es",
    tags=["Elasticsearch-compatible ingest"],
    route_class=EsRoute,  # Elasticsearch errors, X-Elastic-Product, compatible-with types
    responses=ES_ERROR_RESPONSES,
)
COMPAT_VERSION = "8.11.0"  # what shippers' version checks are told


@router.head("/", response_class=Response)
def es_ping(principal: IngestKeyDep) -> Response:
    """`HEAD /`: 200 for a valid key, so the clients' `ping()` is true."""
    return Response(status_code=200, media_type="application/json")


@router.get("/")
def es_info(principal: IngestKeyDep) -> dict[str, Any]:
    """The cluster-info answer shippers ask for before sending (version detection)."""
    return {
        "name": "soc",
        "cluster_name": "soc",
        "cluster_uuid": "soc-compatible-ingest",
        "tagline": "You Know, for Search",
        "version": {
            "number": COMPAT_VERSION,
            "build_flavor": "default",  # Logstash 8 tells serverless apart by this
            "distribution": "soc",
            "minimum_wire_compatibility_version": "7.10.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
    }


@router.get("/_cluster/health")
def es_health(principal: IngestKeyDep) -> dict[str, Any]:
    """Health as shippers' health checks expect it (Vector calls this)."""
    return {"cluster_name": "soc", "status": "green", "timed_out": False}


@router.get("/_license")
def es_license(principal: IngestKeyDep) -> dict[str, Any]:
    """Beats ask for the license before sending."""
    return {"license": {"status": "active", "type": "basic", "uid": "soc"}}


def _item(item: BulkItem, status: int, event_id: str | None, error: str | None) -> dict[str, Any]:
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


def _rejected(reason: str, retry_after: int) -> JSONResponse:
    """Elasticsearch clients back off on a 429 with this error type."""
    return es_error(429, reason, headers={"Retry-After": str(retry_after)})


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, bounded, after its Content-Encoding (Beats and Logstash send gzip)."""
    body = await read_limited(request, limit)
    return decoded_body(body, request.headers.get("content-encoding"), limit)


@dataclass
class BulkContext:
    principal: Principal
    settings: Settings
    gate: IngestGate
    pipeline: IngestPipeline


async def _bulk(request: Request, ctx: BulkContext) -> JSONResponse:
    ctx.principal.require("ingest.write")
    tenant = ctx.principal.acting_tenant()
    kind = plain_media_type(request.headers.get("content-type")) or "application/x-ndjson"
    require_accepted(kind, "use application/x-ndjson for _bulk")
    try:
        async with ctx.gate.slot():  # before the body is read, like /api/v1/ingest
            started = time.perf_counter()
            body = await _read_body(request, ctx.settings.max_request_bytes)
            items = split_bulk(body, ctx.settings.max_event_bytes)
            good = [item for item in items if item.parsed is not None]
            parsed = [item.parsed for item in good if item.parsed]
            batch = await run_in_threadpool(ctx.pipeline.ingest_items, tenant, parsed)
    except Unavailable as busy:
        return _rejected(busy.message, busy.retry_after)
    except StoreBusy as busy:
        return _rejected(str(busy), busy.retry_after)
    ids = [e.id for e in batch.events]
    stored = dict(zip((id(item) for item in good), ids, strict=True))
    answer = []
    created: set[str] = set()  # the same document twice in one request: created once
    for item in items:
        if item.error:
            answer.append(_item(item, 400, item.doc_id, item.error))
            continue
        event_id = stored[id(item)]
        if event_id in batch.new_ids and event_id not in created:
            created.add(event_id)
            answer.append(_item(item, 201, event_id, None))
        elif item.action == "create":
            answer.append(_item(item, 409, event_id, "document already exists"))
        else:
            answer.append(_item(item, 200, event_id, None))
    took = int((time.perf_counter() - started) * 1000)
    errors = any(next(iter(a.values()))["status"] >= 300 for a in answer)
    return JSONResponse({"took": took, "errors": errors, "items": answer})


@router.put("/_bulk")  # the elasticsearch 8/9 clients send PUT
@router.post("/_bulk")
async def bulk(
    request: Request,
    principal: IngestKeyDep,
    settings: SettingsDep,
    gate: IngestGateDep,
    pipeline: PipelineDep,
) -> JSONResponse:
    """Elasticsearch `_bulk`: index/create pairs; one result item per action, in order."""
    return await _bulk(request, BulkContext(principal, settings, gate, pipeline))


@router.put("/{index}/_bulk")
@router.post("/{index}/_bulk")
async def bulk_into_index(
    index: str,
    request: Request,
    principal: IngestKeyDep,
    settings: SettingsDep,
    gate: IngestGateDep,
    pipeline: PipelineDep,
) -> JSONResponse:
    """`_bulk` with a default index in the path (the index is informational: the tenant comes
    from the key)."""
    return await _bulk(request, BulkContext(principal, settings, gate, pipeline))


DocId = Annotated[str, PathParam(min_length=1, max_length=512)]
OpType = Annotated[Literal["index", "create"], Query()]


async def _one(request: Request, ctx: BulkContext, index: str, op_type: str) -> JSONResponse:
    """One document (`_doc`, `_create`): stored, metered and detected like a `_bulk` item."""
    ctx.principal.require("ingest.write")
    tenant = ctx.principal.acting_tenant()
    kind = plain_media_type(request.headers.get("content-type")) or "application/json"
    require_accepted(kind, "send the document as application/json")
    try:
        async with ctx.gate.slot():
            body = await _read_body(request, ctx.settings.max_request_bytes)
            checked = check_object(1, body.strip(), ctx.settings.max_event_bytes)
            if isinstance(checked, Rejected):
                raise Invalid(checked.reason)
            batch = await run_in_threadpool(ctx.pipeline.ingest_items, tenant, [checked])
    except Unavailable as busy:
        return _rejected(busy.message, busy.retry_after)
    except StoreBusy as busy:
        return _rejected(str(busy), busy.retry_after)
    event_id = batch.events[0].id
    created = event_id in batch.new_ids
    if not created and op_type == "create":
        return es_error(409, f"[{event_id}]: version conflict, document already exists")
    return JSONResponse(
        {
            "_index": index,
            "_id": event_id,
            "_version": 1,
            "result": "created" if created else "noop",
            "_shards": {"total": 1, "successful": 1, "failed": 0},
            "_seq_no": 0,
            "_primary_term": 1,
        },
        status_code=201 if created else 200,
    )


@router.post("/{index}/_doc", status_code=201)
async def index_document(
    index: str,
    request: Request,
    principal: IngestKeyDep,
    settings: SettingsDep,
    gate: IngestGateDep,
    pipeline: PipelineDep,
    op_type: OpType = "index",
) -> JSONResponse:
    """One document. The id comes from the content (a shipper's id never hides an event)."""
    return await _one(request, BulkContext(principal, settings, gate, pipeline), index, op_type)


@router.put("/{index}/_doc/{doc_id}", status_code=201)
@router.post("/{index}/_doc/{doc_id}", status_code=201)
async def index_document_with_id(
    index: str,
    doc_id: DocId,
    request: Request,
    principal: IngestKeyDep,
    settings: SettingsDep,
    gate: IngestGateDep,
    pipeline: PipelineDep,
    op_type: OpType = "index",
) -> JSONResponse:
    """One document with the shipper's id (informational: the stored id comes from the
    content); `op_type=create` answers 409 for a document stored before."""
    return await _one(request, BulkContext(principal, settings, gate, pipeline), index, op_type)


@router.put("/{index}/_create/{doc_id}", status_code=201)
@router.post("/{index}/_create/{doc_id}", status_code=201)
async def create_document(
    index: str,
    doc_id: DocId,
    request: Request,
    principal: IngestKeyDep,
    settings: SettingsDep,
    gate: IngestGateDep,
    pipeline: PipelineDep,
) -> JSONResponse:
    """`_create`: one document, 409 when it is stored already."""
    return await _one(request, BulkContext(principal, settings, gate, pipeline), index, "create")


ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@router.api_route("/{path:path}", methods=ALL_METHODS, include_in_schema=False)
def es_unknown(path: str, request: Request) -> JSONResponse:
    """Anything else under /es: 405 naming the allowed methods, or 404, as Elasticsearch
    errors (the clients parse no other shape)."""
    allowed = sorted(
        {
            method
            for route in router.routes
            if isinstance(route, APIRoute)
            and route.endpoint is not es_unknown
            and route.matches(request.scope)[0] is Match.PARTIAL
            for method in route.methods or ()
        }
    )
    uri, method = request.url.path, request.method
    if allowed:
        return es_error(
            405,
            f"Incorrect HTTP method for uri [{uri}] and method [{method}], "
            f"allowed: [{', '.join(allowed)}]",
            headers={"Allow": ", ".join(allowed)},
        )
    return es_error(404, f"no handler found for uri [{uri}] and method [{method}]")
