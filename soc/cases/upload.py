"""The HTTP side of evidence uploads: the `file` part of a multipart/form-data request body,
read as it streams in and refused as soon as it passes the size limit.

Only the router (`soc.cases.api`) uses this module: it is the one place of the cases domain,
with the router, that knows Starlette. The evidence rules themselves are in
`soc.cases.evidence`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from soc.cases.evidence import TooLarge, UnsupportedType
from soc.core.errors import Invalid
from soc.core.i18n import N_

# Room for the multipart framing around the file (boundaries, part headers, small fields).
MULTIPART_SLACK = 64 * 1024


@dataclass
class Upload:
    filename: str
    content_type: str
    data: bytes


async def _bounded(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    """The body, refused with 413 as soon as more than `limit` bytes have arrived."""
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > limit:
            raise TooLarge(N_("evidence is at most {bytes} bytes"), bytes=limit - MULTIPART_SLACK)
        yield chunk


async def read_upload(headers: Headers, stream: AsyncIterator[bytes], max_bytes: int) -> Upload:
    """The `file` part of a multipart/form-data body, streamed with a running byte count: an
    over-limit body is refused when the limit passes (and at once when Content-Length says so),
    and the file is held in memory up to the limit, never spooled to a temporary file."""
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        raise UnsupportedType(N_("send the file as multipart/form-data in a field named 'file'"))
    limit = max_bytes + MULTIPART_SLACK
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(N_("evidence is at most {bytes} bytes"), bytes=max_bytes)
    parser = MultiPartParser(headers, _bounded(stream, limit), max_files=1, max_fields=10)
    parser.spool_max_size = limit + 1  # the bound above keeps it in memory
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise Invalid(N_("not a valid multipart body: {text}"), text=exc.message) from exc
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise Invalid(N_("the multipart body has no file field named 'file'"))
        return Upload(
            part.filename or "evidence",
            part.content_type or "application/octet-stream",
            await part.read(max_bytes + 1),
        )
    finally:
        await form.close()
