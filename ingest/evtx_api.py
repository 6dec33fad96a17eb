"""POST /api/v1/ingest/evtx: binary EVTX files, raw or multipart, for the key's tenant.

The body is streamed to files under the upload directory as it arrives (never held in
memory, bounded by `ingest_evtx_max_bytes`), every file's header is checked, and only then are
the files parsed from disk, chunk by chunk, and stored in batches (ingest.evtx_ingest). An
ingest slot is taken after the upload: a slow upload holds disk, not a slot.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from ingest.deps import IngestGateDep, PipelineDep
from ingest.evtx_ingest import EvtxFileResult, ingest_evtx_file
from ingest.evtx_reader import EVTX_MAGIC, HEADER_BLOCK, NOT_EVTX, NotEvtx, check_header
from ingest.http import PayloadTooLarge, UnsupportedMediaType
from ingest.parse import media_type
from ingest.store.base import StoreBusy
from soc.core.deps import IngestKeyDep, SettingsDep
from soc.core.errors import Invalid
from soc.core.i18n import N_
from soc.core.schemas import ErrorOut

router = APIRouter(prefix="/api/v1", tags=["ingest and events"])
RAW_TYPES = frozenset({"application/octet-stream", "application/x-evtx", "application/evtx"})
MULTIPART = "multipart/form-data"
MAX_FILES = 100
HINT = "send application/octet-stream (one EVTX file) or multipart/form-data (one or more files)"


class RecordErrorOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str
    record: int | None = Field(description="EVTX record number, when the parser names it")
    offset: int = Field(description="byte offset in the file of the record (or its chunk)")
    reason: str


class EvtxFileOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    bytes: int
    accepted: int
    duplicates: int
    new: int
    rejected: int


class EvtxIngestOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accepted: int = Field(description="records taken: stored now or already stored")
    duplicates: int = Field(description="of those, records whose event was already known")
    new: int = Field(description="events this request stored and metered")
    rejected: int = Field(description="records (or chunks) that could not be read or stored")
    errors: list[RecordErrorOut] = Field(description="the first 100 rejections of each file")
    files: list[EvtxFileOut]


@dataclass
class Upload:
    name: str
    path: Path
    size: int = 0
    head: bytes = b""


class Spool:
    """The request's files on disk; removed when the request ends, however it ends."""

    def __init__(self, directory: Path, limit: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory, self.limit = directory, limit
        self.files: list[Upload] = []
        self.total = 0
        self._open: IO[bytes] | None = None

    def start(self, name: str) -> None:
        if len(self.files) >= MAX_FILES:
            raise Invalid(N_("at most {max_files} files a request"), max_files=MAX_FILES)
        fd, path = tempfile.mkstemp(prefix="evtx-", suffix=".upload", dir=self.directory)
        self._open = os.fdopen(fd, "wb")
        self.files.append(Upload(name, Path(path)))

    def write(self, data: bytes) -> None:
        self.total += len(data)
        if self.total > self.limit:
            raise PayloadTooLarge(
                N_("upload passes the EVTX limit of {limit} bytes"), limit=self.limit
            )
        if self._open is not None:
            upload = self.files[-1]
            if len(upload.head) < len(EVTX_MAGIC):  # refuse a wrong file before its end
                upload.head += data[: len(EVTX_MAGIC) - len(upload.head)]
                if not EVTX_MAGIC.startswith(upload.head):
                    _refuse(upload.name, NotEvtx(NOT_EVTX))
            self._open.write(data)
            upload.size += len(data)

    def end(self) -> None:
        if self._open is not None:
            self._open.close()
            self._open = None

    def close(self) -> None:
        self.end()
        for upload in self.files:
            with contextlib.suppress(OSError):
                upload.path.unlink()


class _Parts:
    """python-multipart callbacks: a spool file per part with a filename, other parts
    (form fields) are counted against the limit and dropped."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.field, self.value = b"", b""
        self.headers: dict[bytes, bytes] = {}
        self.in_file = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": lambda d, s, e: setattr(self, "field", self.field + d[s:e]),
            "on_header_value": lambda d, s, e: setattr(self, "value", self.value + d[s:e]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self.headers, self.in_file = {}, False

    def header_end(self) -> None:
        self.headers[self.field.lower()] = self.value
        self.field, self.value = b"", b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        filename = options.get(b"filename")
        if filename is not None:
            name = filename.decode("utf-8", "replace")[:255] or "upload.evtx"
            self.spool.start(os.path.basename(name.replace("\\", "/")) or "upload.evtx")
            self.in_file = True

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.spool.write(data[start:end])
        else:
            self.spool.total += end - start
            if self.spool.total > self.spool.limit:
                raise PayloadTooLarge(
                    N_("upload passes the EVTX limit of {limit} bytes"), limit=self.spool.limit
                )

    def part_end(self) -> None:
        if self.in_file:
            self.spool.end()
            self.in_file = False


async def _receive(request: Request, spool: Spool, kind: str) -> None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > spool.limit:
        raise PayloadTooLarge(
            N_("request body is {size} bytes; the limit is {limit}"),
            size=declared,
            limit=spool.limit,
        )
    if kind != MULTIPART:
        spool.start("body")
        async for chunk in request.stream():
            spool.write(chunk)
        spool.end()
        return
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise Invalid(N_("multipart/form-data needs a boundary parameter"))
    parts = _Parts(spool)
    parser = MultipartParser(boundary, parts.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise Invalid(N_("malformed multipart body: {exc}"), exc=exc) from None
    spool.end()
    if not spool.files:
        raise Invalid(N_("the multipart body holds no file (a part with a filename)"))


def _check_files(files: list[Upload]) -> None:
    for upload in files:
        if upload.size == 0:
            raise Invalid(N_("{name}: the file is empty"), name=upload.name)
        with upload.path.open("rb") as fh:
            head = fh.read(HEADER_BLOCK)
        try:
            check_header(head)
        except NotEvtx as exc:
            _refuse(upload.name, exc)


def _refuse(name: str, exc: NotEvtx) -> NoReturn:
    raise Invalid(
        N_("{name}: {exc}; send JSON or NDJSON to /api/v1/ingest"), name=name, exc=exc
    ) from None


def _answer(results: list[EvtxFileResult]) -> EvtxIngestOut:
    return EvtxIngestOut(
        accepted=sum(r.accepted for r in results),
        duplicates=sum(r.duplicates for r in results),
        new=sum(r.new for r in results),
        rejected=sum(r.rejected for r in results),
        errors=[
            RecordErrorOut(file=r.name, record=e.record, offset=e.offset, reason=e.reason)
            for r in results
            for e in r.errors
        ],
        files=[
            EvtxFileOut(
                name=r.name,
                bytes=r.size,
                accepted=r.accepted,
                duplicates=r.duplicates,
                new=r.new,
                rejected=r.rejected,
            )
            for r in results
        ],
    )


@router.post(
    "/ingest/evtx",
    response_model=EvtxIngestOut,
    responses={
        401: {"model": ErrorOut, "description": "Missing, unknown or revoked ingest key"},
        413: {"model": ErrorOut, "description": "Upload over ingest_evtx_max_bytes"},
        415: {"model": ErrorOut, "description": "Content type not accepted"},
        422: {
            "model": EvtxIngestOut | ErrorOut,
            "description": "Not an EVTX file (nothing ingested), an empty or malformed body, "
            "or no record could be read (per-record reasons)",
        },
        503: {
            "model": ErrorOut,
            "description": "At capacity or store busy: retry the whole upload after the "
            "Retry-After seconds (records already stored count as duplicates then)",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {
                    "schema": {"type": "string", "format": "binary", "description": "one .evtx"}
                },
                MULTIPART: {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                                "description": "one or more .evtx files",
                            }
                        },
                        "required": ["file"],
                    }
                },
            },
        }
    },
)
async def ingest_evtx(
    request: Request,
    principal: IngestKeyDep,
    settings: SettingsDep,
    gate: IngestGateDep,
    pipeline: PipelineDep,
) -> JSONResponse:
    """Store the records of binary Windows event log files (.evtx) for the key's tenant, as
    POST /api/v1/ingest does for JSON. The body is streamed to disk and may be hundreds of MB
    (up to `ingest_evtx_max_bytes`). A record that cannot be read is listed with its record
    number and byte offset in the file, and the rest of the file is still stored. Records
    become the same events `soc ingest` or evtx_dump JSON give, so a replay counts as
    duplicates."""
    principal.require("ingest.write")
    tenant = principal.acting_tenant()
    kind = media_type(request.headers.get("content-type"))
    if kind not in RAW_TYPES and kind != MULTIPART:
        raise UnsupportedMediaType(
            N_("content type '{kind}' is not accepted; {hint}"), kind=kind or "(none)", hint=HINT
        )
    spool = Spool(settings.upload_path, settings.ingest_evtx_max_bytes)
    try:
        await _receive(request, spool, kind)
        _check_files(spool.files)
        results: list[EvtxFileResult] = []
        async with gate.slot():
            for upload in spool.files:
                try:
                    result = await run_in_threadpool(
                        ingest_evtx_file,
                        lambda items: pipeline.ingest_items(tenant, items),
                        upload.path,
                        upload.name,
                        upload.size,
                        settings.max_event_bytes,
                    )
                except StoreBusy as busy:
                    return JSONResponse(
                        {"error": "unavailable", "detail": str(busy)},
                        status_code=503,
                        headers={"Retry-After": str(busy.retry_after)},
                    )
                results.append(result)
    finally:
        await run_in_threadpool(spool.close)
    out = _answer(results)
    status = 422 if out.accepted == 0 and out.rejected else 200
    return JSONResponse(out.model_dump(), status_code=status)
