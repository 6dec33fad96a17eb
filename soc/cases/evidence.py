"""Evidence files on a case: size-limited, content type declared and checked against the
bytes, stored content-addressed under data_dir/evidence/<tenant>/<case>/<sha256>.

Reading the file out of an HTTP request body is the router's side: `soc.cases.upload`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path, PurePath

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.cases.models import Evidence
from soc.cases.service import get_case
from soc.cases.timeline import note
from soc.core.db import utcnow
from soc.core.errors import DomainError, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings


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
        raise UnsupportedType(
            N_("content type '{kind}' is not accepted; allowed: {allowed}"),
            kind=kind,
            allowed=allowed,
        )
    if len(data) > settings.case_evidence_max_bytes:
        raise TooLarge(
            N_("evidence is at most {bytes} bytes"), bytes=settings.case_evidence_max_bytes
        )
    if not data:
        raise Invalid(N_("the file is empty"))
    sniff = SNIFFERS.get(kind)
    if sniff is not None and not sniff(data):
        raise UnsupportedType(N_("the file's content is not {kind}"), kind=kind)
    return kind


def may_add(session: Session, actor: Principal, case_id: int) -> None:
    """Refuse (403/404) before the body is read: who may not attach costs no upload."""
    actor.require("cases.comment")
    get_case(session, actor, case_id)


def _dir(settings: Settings, tenant_id: int, case_id: int) -> Path:
    return settings.data_dir / "evidence" / str(tenant_id) / str(case_id)


def add(
    session: Session,
    actor: Principal,
    case_id: int,
    filename: str,
    content_type: str,
    data: bytes,
    *,
    settings: Settings,
) -> Evidence:
    actor.require("cases.comment")
    case = get_case(session, actor, case_id)
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
    detail = {"evidence_id": row.id, "filename": name, "size": len(data), "sha256": digest}
    note(session, settings, case, actor.actor, "evidence", detail)
    return row


def list_for_case(session: Session, actor: Principal, case_id: int) -> list[Evidence]:
    case = get_case(session, actor, case_id)
    return list(
        session.scalars(select(Evidence).where(Evidence.case_id == case.id).order_by(Evidence.id))
    )


def open_file(
    session: Session, actor: Principal, case_id: int, evidence_id: int, *, settings: Settings
) -> tuple[Evidence, Path]:
    case = get_case(session, actor, case_id)
    row = session.get(Evidence, evidence_id)
    if row is None or row.case_id != case.id:
        raise NotFound(N_("evidence {name} not found"), name=evidence_id)
    return row, _dir(settings, row.tenant_id, row.case_id) / row.sha256
