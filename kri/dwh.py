"""The daily data-warehouse feed (issue 13, Must have 7; C8, D6, TD4).

The export of day D holds every reporting row changed before D 00:00 Europe/Brussels
(`settings.dwh_timezone`), i.e. up to D-1 23:59:59 local, since the previous export's cut-off;
the first export holds everything up to its cut-off. Closed items are included (a row is
exported when it changes, whatever its state). Tables and their change columns:
kri/dwh_tables.py; their JSON Schemas (draft 2020-12, `schema_version`): kri/dwh_schemas/.

Files, in `out_dir/D/`: `<table>.csv` (header row, columns in the schema's property order,
empty cell for null, booleans `true`/`false`) and `<table>.jsonl` (JSON Lines: one object per
line, same keys in the same order), and `manifest.json` (schema version, the window, row
counts and the sha256 of every file). Times are UTC ISO 8601 ending in Z. A CSV text cell that
a spreadsheet would run as a formula (starting with = + - @ tab or CR, other than a plain
number) gets a leading apostrophe (as risk.register_columns.FORMULA_START); the JSON Lines
hold the value as is.

Who: `dwh.export` and an unscoped principal (the feed spans every tenant: a tenant- or
provider-scoped admin is refused on every route).

Exports are immutable and sequential: a second export of the same day is refused (Conflict,
naming the existing one; the beat task treats that as done), as is a day before the latest
export (its window would overlap) and a day whose cut-off has not passed. Files are written
to a temporary directory of this run and renamed into place, so a crash leaves no half
export; a folder already at the target (another run's, committed or not) is never removed:
the export is refused (Conflict).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from kri.dwh_tables import TABLES, Row, Window, load_names
from kri.models import DwhExport
from soc.core import audit
from soc.core.errors import Conflict, Forbidden, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import SYSTEM, Principal
from soc.core.settings import Settings

SCHEMA_DIR = Path(__file__).resolve().parent / "dwh_schemas"
SCHEMA_VERSION = "1.0"
MANIFEST = "manifest.json"
EARLIEST = date(2000, 1, 2)  # no reporting data before; also keeps cut-offs in range


@cache
def schema(table: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / f"{table}.json").read_text("utf-8"))
    return loaded


def columns(table: str) -> list[str]:
    """The table's columns: its schema's properties, in order."""
    return list(schema(table)["properties"])


def cutoff(settings: Settings, day: date) -> datetime:
    """The exclusive end of day D's window: D 00:00 in the feed's time zone, as UTC."""
    local = datetime.combine(day, time(0), tzinfo=ZoneInfo(settings.dwh_timezone))
    return local.astimezone(UTC)


def default_out_dir(settings: Settings) -> Path:
    return settings.data_dir / "dwh"


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")


def require_feed(principal: Principal) -> None:
    """`dwh.export`, and unscoped: the feed holds every tenant's data."""
    principal.require("dwh.export")
    if not principal.is_global:
        raise Forbidden(N_("the feed spans every tenant: only unscoped users"))


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    text = isinstance(value, str) and value.startswith(FORMULA_START)
    if text and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _write_table(directory: Path, table: str, rows: list[Row]) -> dict[str, str]:
    """Write the CSV and JSON Lines files of one table; return {file name: sha256}."""
    cols = columns(table)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(cols)
    writer.writerows([_csv_cell(v) for v in row] for row in rows)
    csv_bytes = buffer.getvalue().encode("utf-8")
    json_bytes = b"".join(orjson.dumps(dict(zip(cols, row, strict=True))) + b"\n" for row in rows)
    out: dict[str, str] = {}
    for name, data in ((f"{table}.csv", csv_bytes), (f"{table}.jsonl", json_bytes)):
        (directory / name).write_bytes(data)
        out[name] = hashlib.sha256(data).hexdigest()
    return out


def previous_export(session: Session, day: date) -> DwhExport | None:
    return session.scalars(
        select(DwhExport).where(DwhExport.day < day).order_by(DwhExport.day.desc()).limit(1)
    ).first()


def _check_day(session: Session, settings: Settings, day: date, now: datetime) -> None:
    if day < EARLIEST:
        raise Invalid(
            N_("{day} is before the feed's first day {earliest}"),
            day=day.isoformat(),
            earliest=EARLIEST.isoformat(),
        )
    same = session.scalars(select(DwhExport).where(DwhExport.day == day)).first()
    if same is not None:
        raise Conflict(
            N_(
                "the DWH export of {day} exists (id {id}, {path}): exports "
                "are immutable, nothing was written"
            ),
            day=day.isoformat(),
            id=same.id,
            path=same.path,
        )
    latest = session.scalars(select(DwhExport).order_by(DwhExport.day.desc()).limit(1)).first()
    if latest is not None and latest.day > day:
        raise Conflict(
            N_(
                "the DWH export of {day} exists: exports are sequential, {new_day} would overlap it"
            ),
            day=latest.day.isoformat(),
            new_day=day.isoformat(),
        )
    if cutoff(settings, day) > now:
        raise Invalid(
            N_("{day}'s cut-off (00:00 {dwh_timezone}) has not passed"),
            day=day.isoformat(),
            dwh_timezone=settings.dwh_timezone,
        )


@dataclass
class Written:
    rows: dict[str, int]
    files: dict[str, str]
    manifest_sha256: str


def _write_all(
    session: Session, settings: Settings, window: Window, day: date, target: Path
) -> Written:
    if target.exists():
        raise Conflict(
            N_("{target} exists: exports are immutable, nothing was written"), target=target
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    tmp.mkdir()
    try:
        return _fill(session, settings, window, day, target, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fill(
    session: Session, settings: Settings, window: Window, day: date, target: Path, tmp: Path
) -> Written:
    names = load_names(session)
    counts: dict[str, int] = {}
    files: dict[str, str] = {}
    for table, build in TABLES.items():
        rows = build(session, settings, window, names)
        counts[table] = len(rows)
        files.update(_write_table(tmp, table, rows))
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "day": day.isoformat(),
        "timezone": settings.dwh_timezone,
        "changed_from": None if window.since is None else _z(window.since),
        "changed_until": _z(window.until),
        "cutoff_local": _cutoff_local(settings, window.until),
        "json_format": "jsonl",
        "tables": {
            t: {"rows": counts[t], "schema": f"{t}.json", "csv": f"{t}.csv", "json": f"{t}.jsonl"}
            for t in TABLES
        },
        "files": files,
    }
    data = orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n"
    (tmp / MANIFEST).write_bytes(data)
    try:
        tmp.rename(target)  # atomic; fails when another run put a folder there meanwhile
    except OSError as exc:
        raise Conflict(
            N_("{target} exists: exports are immutable, nothing was written"), target=target
        ) from exc
    return Written(counts, files, hashlib.sha256(data).hexdigest())


def _z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cutoff_local(settings: Settings, until: datetime) -> str:
    """The last second in the window, local time (e.g. 2026-03-17T23:59:59+01:00)."""
    last = (until - timedelta(seconds=1)).astimezone(ZoneInfo(settings.dwh_timezone))
    return last.isoformat(timespec="seconds")


def export_day(
    session: Session,
    settings: Settings,
    day: date,
    out_dir: Path,
    now: datetime,
    principal: Principal = SYSTEM,
) -> DwhExport:
    """Export day D (see the module docstring); the DwhExport row and the audit entry are in
    the caller's transaction."""
    require_feed(principal)
    _check_day(session, settings, day, now)
    prev = previous_export(session, day)
    window = Window(None if prev is None else cutoff(settings, prev.day), cutoff(settings, day))
    target = out_dir / day.isoformat()
    written = _write_all(session, settings, window, day, target)
    row = DwhExport(
        day=day,
        schema_version=SCHEMA_VERSION,
        path=str(target),
        rows=written.rows,
        sha256=written.manifest_sha256,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=principal.actor,
        action="kri.dwh.export",
        object_type="dwh_export",
        object_id=row.id,
        detail={
            "day": day.isoformat(),
            "rows": written.rows,
            "manifest_sha256": written.manifest_sha256,
            "changed_from": None if window.since is None else _z(window.since),
            "changed_until": _z(window.until),
        },
    )
    return row


def local_today(settings: Settings, now: datetime) -> date:
    return now.astimezone(ZoneInfo(settings.dwh_timezone)).date()


def export_due(
    session: Session, settings: Settings, now: datetime, out_dir: Path | None = None
) -> DwhExport | None:
    """The beat task: export today's (local) day unless done; None when it already was."""
    day = local_today(settings, now)
    if session.scalars(select(DwhExport.id).where(DwhExport.day >= day)).first() is not None:
        return None
    return export_day(session, settings, day, out_dir or default_out_dir(settings), now)


def list_exports(session: Session, principal: Principal, limit: int = 100) -> list[DwhExport]:
    require_feed(principal)
    return list(
        session.scalars(select(DwhExport).order_by(DwhExport.day.desc()).limit(limit)).all()
    )


def file_names() -> list[str]:
    names = [MANIFEST]
    for table in TABLES:
        names += [f"{table}.csv", f"{table}.jsonl"]
    return names


def open_file(session: Session, principal: Principal, export_id: int, name: str) -> Path:
    """The path of one file of an export (only the names an export writes)."""
    require_feed(principal)
    row = session.get(DwhExport, export_id)
    if row is None or name not in file_names():
        raise NotFound(N_("export file not found"))
    path = Path(row.path) / name
    if not path.is_file():
        raise NotFound(N_("export file {name} is no longer on disk"), name=name)
    return path
