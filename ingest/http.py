"""The HTTP side shared by the ingest routers: bounded body reads and their refusals."""

from __future__ import annotations

from fastapi import Request

from ingest.parse import ACCEPTED_TYPES
from soc.core.errors import DomainError, Invalid
from soc.core.i18n import N_


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
        raise PayloadTooLarge(
            N_("request body is {size} bytes; the limit is {limit}"), size=declared, limit=limit
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(N_("request body passes the limit of {limit} bytes"), limit=limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise Invalid(N_("the request body is empty"))
    return body


def require_accepted(kind: str | None, hint: str) -> str:
    """The media type if ingest takes it, else a 415 saying what to send."""
    if kind not in ACCEPTED_TYPES:
        raise UnsupportedMediaType(
            N_("content type '{kind}' is not accepted; {hint}"), kind=kind or "(none)", hint=hint
        )
    return kind
