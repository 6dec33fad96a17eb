"""Answers in the Elasticsearch shape for the /es surface, so the official clients and stock
shipper outputs accept the SOC as a cluster.

- every answer carries `X-Elastic-Product: Elasticsearch` (the `elasticsearch` 8/9 Python
  clients refuse a 2xx answer without it);
- the compatible-with media types (`application/vnd.elasticsearch+json; compatible-with=8`,
  `application/vnd.elasticsearch+x-ndjson; compatible-with=9`) are read as their plain
  counterparts, and a JSON answer is labelled with the compatible type the client asked for;
- every refusal (bad key, wrong media type, unknown route, wrong method, invalid input) is an
  Elasticsearch error: `{"error": {"root_cause": [...], "type": ..., "reason": ...},
  "status": N}`, the shape clients parse into their exception types.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingest.http import PayloadTooLarge
from soc.core.errors import DomainError, Invalid
from soc.core.i18n import N_

PRODUCT_HEADER = ("X-Elastic-Product", "Elasticsearch")
COMPAT_VERSIONS = frozenset({"7", "8", "9"})
_COMPAT = re.compile(
    r"^application/vnd\.elasticsearch\+(?P<kind>json|x-ndjson)\s*(;\s*compatible-with\s*=\s*"
    r"(?P<version>[^;\s]*))?",
    re.IGNORECASE,
)
ERROR_TYPES = {
    400: "illegal_argument_exception",
    401: "security_exception",
    403: "security_exception",
    404: "resource_not_found_exception",
    405: "method_not_allowed_exception",
    409: "version_conflict_engine_exception",
    413: "content_too_long_exception",
    415: "media_type_header_exception",
    422: "illegal_argument_exception",
    429: "es_rejected_execution_exception",
    503: "unavailable_shards_exception",
    507: "cluster_block_exception",
}


class EsCause(BaseModel):
    type: str
    reason: str


class EsErrorBody(BaseModel):
    root_cause: list[EsCause]
    type: str
    reason: str


class EsError(BaseModel):
    """An Elasticsearch error answer."""

    error: EsErrorBody
    status: int


ES_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": EsError, "description": description}
    for status, description in (
        (400, "Bad request (Elasticsearch error shape)"),
        (401, "No ingest key, or an unknown or revoked one"),
        (403, "The key may not write"),
        (404, "No such endpoint"),
        (409, "The document exists already (op_type=create)"),
        (413, "Request body too large"),
        (415, "Media type not accepted"),
        (422, "Invalid input"),
        (429, "Ingest is busy; retry after Retry-After seconds"),
    )
}


class MediaTypeRefused(DomainError):
    """A compatible-with version the SOC does not speak (Elasticsearch answers 400 too)."""

    status_code = 400
    code = "media_type_header_exception"


def plain_media_type(content_type: str | None) -> str | None:
    """`application/vnd.elasticsearch+x-ndjson; compatible-with=8` → `application/x-ndjson`,
    `...+json` → `application/json`; other types as they are (lower case, no parameters).
    None when no Content-Type is sent."""
    if not content_type:
        return None
    match = _COMPAT.match(content_type.strip())
    if match:
        version = match.group("version")
        if version is not None and version not in COMPAT_VERSIONS:
            raise MediaTypeRefused(
                N_("compatible-with={version} is not supported; use one of {versions}"),
                version=version,
                versions=", ".join(sorted(COMPAT_VERSIONS)),
            )
        return (
            "application/x-ndjson"
            if match.group("kind").lower() == "x-ndjson"
            else "application/json"
        )
    return content_type.split(";", 1)[0].strip().lower()


def answer_media_type(request: Request) -> str | None:
    """The compatible JSON type to label an answer with, when the client's Accept asks one."""
    match = _COMPAT.match(request.headers.get("accept", "").strip())
    if not match:
        return None
    version = match.group("version")
    if version in COMPAT_VERSIONS:
        return f"application/vnd.elasticsearch+json;compatible-with={version}"
    return "application/vnd.elasticsearch+json"


def decoded_body(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body after its Content-Encoding (gzip or deflate, as Beats and Logstash compress),
    refused as soon as it inflates past `limit` (no zip bomb in memory)."""
    kind = (encoding or "identity").strip().lower()
    if kind in ("", "identity"):
        return body
    if kind not in ("gzip", "x-gzip", "deflate"):
        raise Invalid(N_("Content-Encoding '{kind}' is not supported; use gzip or none"), kind=kind)
    inflater = zlib.decompressobj(wbits=47)  # gzip or zlib, told apart by the header
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise Invalid(
            N_("the {kind} body does not decompress: {exc}"), kind=kind, exc=exc
        ) from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(
            N_("the decompressed body passes the limit of {limit} bytes"), limit=limit
        )
    return out


def es_error(
    status: int, reason: str, kind: str | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    kind = kind or ERROR_TYPES.get(status, "exception")
    cause = {"type": kind, "reason": reason}
    return JSONResponse(
        {"error": {"root_cause": [cause], **cause}, "status": status},
        status_code=status,
        headers=dict(headers) if headers else None,
    )


def _from_domain(exc: DomainError) -> JSONResponse:
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    if exc.status_code == 401:  # what Elasticsearch challenges with
        headers["WWW-Authenticate"] = 'ApiKey, Basic realm="soc" charset="UTF-8"'
    kind = exc.code if exc.code.endswith("_exception") else None
    status = 400 if exc.status_code == 422 else exc.status_code  # Elasticsearch says 400
    return es_error(status, exc.message, kind, headers or None)


def _from_validation(exc: RequestValidationError) -> JSONResponse:
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return es_error(400, problems)


def finish(request: Request, response: Response) -> Response:
    """The product header on every answer; a JSON answer in the compatible type asked for."""
    response.headers[PRODUCT_HEADER[0]] = PRODUCT_HEADER[1]
    wanted = answer_media_type(request)
    if wanted and response.headers.get("content-type", "").startswith("application/json"):
        response.headers["content-type"] = wanted
    return response


class EsRoute(APIRoute):
    """A route of the /es surface: refusals from the route, its dependencies (the ingest key)
    and its input validation come out in the Elasticsearch error shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def es_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except DomainError as exc:
                response = _from_domain(exc)
            except RequestValidationError as exc:
                response = _from_validation(exc)
            except StarletteHTTPException as exc:
                response = es_error(exc.status_code, str(exc.detail), headers=exc.headers)
            return finish(request, response)

        return es_handler
