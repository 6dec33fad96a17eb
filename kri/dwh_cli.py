"""`soc dwh export --date D [--out DIR]`: the daily data-warehouse export on the command line
(thin: the work is in `kri.dwh`, as for the beat task)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from kri import dwh
from soc.core.cli import cli_session, fail
from soc.core.db import utcnow
from soc.core.settings import get_settings

app = typer.Typer(help="Data-warehouse feed")


@app.command("export")
def export_command(
    day: str = typer.Option(..., "--date", help="YYYY-MM-DD: rows changed before its 00:00"),
    out: Path | None = typer.Option(None, "--out", help="default DATA_DIR/dwh"),
) -> None:
    """Write day D's export (CSV, JSON Lines, manifest) of every reporting row changed up to
    D-1 23:59:59 in the feed's time zone since the previous export; prints files and counts.
    A day already exported is refused (exports are immutable)."""
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        fail(f"--date is not a YYYY-MM-DD date: {day!r}", 2)
    settings = get_settings()
    with cli_session() as session:
        row = dwh.export_day(
            session, settings, parsed, out or dwh.default_out_dir(settings), utcnow()
        )
        path, rows, sha = Path(row.path), dict(row.rows), row.sha256
    typer.echo(f"DWH export {parsed.isoformat()} (schema {dwh.SCHEMA_VERSION}) in {path}")
    for table, count in rows.items():
        typer.echo(f"  {table}: {count} rows  {table}.csv {table}.jsonl")
    typer.echo(f"  {dwh.MANIFEST} sha256 {sha}")
