"""An Elasticsearch/OpenSearch-compatible ingest surface under /es, so Beats, Fluent Bit,
Logstash and Vector ship to the SOC with their stock Elasticsearch outputs: the tenant comes
from the ingest key, whatever index the shipper names."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ingest.bulk import BulkItem, split_bulk
from ingest.deps import IngestGateDep, PipelineDep
from ingest.gate import IngestGate
from ingest.http import read_limited, require_accepted
from ingest.parse import media_type
from ingest.pipeline_port import IngestPipeline
from ingest.store.base import StoreBusy
from soc.core.deps import IngestKeyDep, SettingsDep
from soc.core.errors import Unavailable
from soc.core.principal import Principal
from soc.core.settings import Settings

router = APIRouter(prefix="/es", tags=["Elasticsearch-compatible ingest"])
COMPAT_VERSION = "8.11.0"  # what shippers' version checks are told


@router.get("/")
def es_info(principal: IngestKeyDep) -> dict[str, Any]:
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
    return JSONResponse(
        {"error": {"type": "es_rejected_execution_exception", "reason": reason}, "status": 429},
        status_code=429,
        headers={"Retry-After": str(retry_after)},
    )


@dataclass
class BulkContext:
    principal: Principal
    settings: Settings
    gate: IngestGate
    pipeline: IngestPipeline


async def _bulk(request: Request, ctx: BulkContext) -> JSONResponse:
    ctx.principal.require("ingest.write")
    tenant = ctx.principal.acting_tenant()
    kind = media_type(request.headers.get("content-type")) or "application/x-ndjson"
    require_accepted(kind, "use application/x-ndjson for _bulk")
    try:
        async with ctx.gate.slot():  # before the body is read, like /api/v1/ingest
            started = time.perf_counter()
            body = await read_limited(request, ctx.settings.max_request_bytes)
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
