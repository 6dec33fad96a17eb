"""Data-warehouse feed endpoints (admin and the authority: `dwh.export`, unscoped users only:
the feed spans every tenant): the exports made,
a new export of a day (as `soc dwh export`), and the download of one of its files. The router
is thin: `kri.dwh` does the work."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict

from kri import dwh
from kri.models import DwhExport
from risk.schemas import IsoDate
from soc.core.db import utcnow
from soc.core.deps import PrincipalDep, SessionDep, SettingsDep
from soc.core.schemas import ErrorOut, RowId

router = APIRouter(prefix="/api/v1/kri", tags=["dwh"])

FileName = Annotated[str, Path(max_length=64, pattern=r"^[a-z_]+\.(csv|jsonl|json)$")]
ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
    409: {"model": ErrorOut},
    422: {"model": ErrorOut},
}


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: IsoDate


class ExportOut(BaseModel):
    id: int
    day: date
    schema_version: str
    rows: dict[str, int]
    sha256: str
    created_at: datetime
    files: list[str]


def _out(row: DwhExport) -> ExportOut:
    return ExportOut(
        id=row.id,
        day=row.day,
        schema_version=row.schema_version,
        rows=dict(row.rows),
        sha256=row.sha256,
        created_at=row.created_at,
        files=dwh.file_names(),
    )


@router.get("/dwh/exports", response_model=list[ExportOut], responses=ERRORS)
def list_exports(
    session: SessionDep,
    principal: PrincipalDep,
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[ExportOut]:
    """The exports made, newest day first."""
    return [_out(r) for r in dwh.list_exports(session, principal, limit)]


@router.post("/dwh/exports", response_model=ExportOut, status_code=201, responses=ERRORS)
def create_export(
    body: ExportIn, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> ExportOut:
    """Export day `date`: rows changed up to date-1 23:59:59 Europe/Brussels since the
    previous export. A day already exported is a 409 (exports are immutable)."""
    row = dwh.export_day(
        session, settings, body.date, dwh.default_out_dir(settings), utcnow(), principal
    )
    return _out(row)


@router.get("/dwh/exports/{export_id}/files/{name}", response_class=FileResponse, responses=ERRORS)
def download_file(
    export_id: RowId, name: FileName, session: SessionDep, principal: PrincipalDep
) -> FileResponse:
    """One file of an export: manifest.json, <table>.csv or <table>.jsonl."""
    path = dwh.open_file(session, principal, export_id, name)
    media = {"csv": "text/csv", "jsonl": "application/x-ndjson"}.get(
        name.rsplit(".", 1)[-1], "application/json"
    )
    return FileResponse(
        path, media_type=media, filename=name, headers={"X-Content-Type-Options": "nosniff"}
    )
