"""Evidence files on a case: size-limited, content type declared and checked against the
bytes, stored content-addressed under data_dir/evidence/<tenant>/<case>/<sha256>."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path, PurePath

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from soc.cases.models import Evidence
from soc.cases.service import _note, get_case, settings_of
from soc.db import utcnow
from soc.errors import DomainError, Invalid, NotFound
from soc.settings import Settings
from tenants.principal import Principal


class TooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedType(DomainError):
    status_code = 415
    code = "unsupported_media_type"


def _text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data


def _json(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


SNIFFERS: dict[str, Callable[[bytes], bool]] = {
    "application/pdf": lambda d: d.startswith(b"%PDF-"),
    "image/png": lambda d: d.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": lambda d: d.startswith(b"\xff\xd8\xff"),
    "application/zip": lambda d: d[:4] in (b"PK\x03\x04", b"PK\x05\x06"),
    "text/plain": _text,
    "text/csv": _text,
    "application/json": _json,
}


def check(settings: Settings, content_type: str, data: bytes) -> str:
    """The normalised content type, if allowed and matching the bytes."""
    kind = content_type.split(";")[0].strip().lower()
    if kind not in settings.case_evidence_content_types:
        allowed = ", ".join(settings.case_evidence_content_types)
        raise UnsupportedType(f"content type '{kind}' is not accepted; allowed: {allowed}")
    if len(data) > settings.case_evidence_max_bytes:
        raise TooLarge(f"evidence is at most {settings.case_evidence_max_bytes} bytes")
    if not data:
        raise Invalid("the file is empty")
    sniff = SNIFFERS.get(kind)
    if sniff is not None and not sniff(data):
        raise UnsupportedType(f"the file's content is not {kind}")
    return kind


# Room for the multipart framing around the file (boundaries, part headers, small fields).
MULTIPART_SLACK = 64 * 1024


@dataclass
class Upload:
    filename: str
    content_type: str
    data: bytes


def may_add(session: Session, actor: Principal, case_id: int) -> None:
    """Refuse (403/404) before the body is read: who may not attach costs no upload."""
    actor.require("cases.comment")
    get_case(session, actor, case_id)


async def _bounded(stream: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """The body, refused with 413 as soon as more than `limit` bytes have arrived."""
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > limit:
            raise TooLarge(f"evidence is at most {limit - MULTIPART_SLACK} bytes")
        yield chunk


async def read_upload(headers: Headers, stream: AsyncIterator[bytes], max_bytes: int) -> Upload:
    """The `file` part of a multipart/form-data body, streamed with a running byte count: an
    over-limit body is refused when the limit passes (and at once when Content-Length says so),
    and the file is held in memory up to the limit, never spooled to a temporary file."""
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        raise UnsupportedType("send the file as multipart/form-data in a field named 'file'")
    limit = max_bytes + MULTIPART_SLACK
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"evidence is at most {max_bytes} bytes")
    parser = MultiPartParser(headers, _bounded(stream, limit), max_files=1, max_fields=10)
    parser.spool_max_size = limit + 1  # the bound above keeps it in memory
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise Invalid(f"not a valid multipart body: {exc.message}") from exc
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise Invalid("the multipart body has no file field named 'file'")
        return Upload(
            part.filename or "evidence",
            part.content_type or "application/octet-stream",
            await part.read(max_bytes + 1),
        )
    finally:
        await form.close()


def _dir(settings: Settings, tenant_id: int, case_id: int) -> Path:
    return settings.data_dir / "evidence" / str(tenant_id) / str(case_id)


def add(
    session: Session,
    actor: Principal,
    case_id: int,
    filename: str,
    content_type: str,
    data: bytes,
) -> Evidence:
    actor.require("cases.comment")
    case = get_case(session, actor, case_id)
    settings = settings_of(session)
    kind = check(settings, content_type, data)
    name = PurePath(filename.replace("\\", "/")).name.strip()[:255] or "evidence"
    digest = hashlib.sha256(data).hexdigest()
    folder = _dir(settings, case.tenant_id, case.id)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / digest
    if not target.exists():
        partial = folder / f".{digest}.part"
        partial.write_bytes(data)
        os.replace(partial, target)
    row = Evidence(
        case_id=case.id,
        tenant_id=case.tenant_id,
        filename=name,
        content_type=kind,
        size=len(data),
        sha256=digest,
        uploaded_by=actor.actor,
        uploaded_at=utcnow(),
    )
    session.add(row)
    session.flush()
    case.updated_at = utcnow()
    _note(
        session,
        case,
        actor.actor,
        "evidence",
        {"evidence_id": row.id, "filename": name, "size": len(data), "sha256": digest},
    )
    return row


def list_for_case(session: Session, actor: Principal, case_id: int) -> list[Evidence]:
    case = get_case(session, actor, case_id)
    return list(
        session.scalars(select(Evidence).where(Evidence.case_id == case.id).order_by(Evidence.id))
    )


def open_file(
    session: Session, actor: Principal, case_id: int, evidence_id: int
) -> tuple[Evidence, Path]:
    case = get_case(session, actor, case_id)
    row = session.get(Evidence, evidence_id)
    if row is None or row.case_id != case.id:
        raise NotFound(f"evidence {evidence_id} not found")
    return row, _dir(settings_of(session), row.tenant_id, row.case_id) / row.sha256
