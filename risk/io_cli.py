"""`soc risk import FILE --kind risks|actions [--dry-run] [--as USERNAME]` and
`soc risk export --kind risks|actions --format csv|xlsx --out FILE` (thin: the work is in
`risk.register_io`).

An import prints its report per row; with any row error nothing is written and it exits 1,
as a dry run with errors does. Without `--as` it acts as the command line's own integrator
(`cli`, an unscoped admin); `--as` acts as that user, with their role and scope.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from risk import register_io
from soc.core.cli import cli_session, fail
from soc.core.principal import Principal
from soc.core.settings import get_settings
from tenants.login import principal_for
from tenants.models import User

CLI = Principal(actor="cli", role="admin")


def acting(session: Session, username: str | None) -> Principal:
    if username is None:
        return CLI
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        fail(f"no user '{username}'")
    return principal_for(session, user)


def _kind(value: str) -> register_io.Kind:
    if value == "risks":
        return "risks"
    if value == "actions":
        return "actions"
    fail("--kind is risks or actions", 2)


def register(app: typer.Typer) -> None:
    """Add `import` and `export` to `soc risk`."""

    @app.command("import")
    def import_command(
        file: Path = typer.Argument(..., help="A CSV or XLSX register, first row the columns."),
        kind: str = typer.Option(..., "--kind", help="risks | actions"),
        dry_run: bool = typer.Option(False, "--dry-run", help="Report only, write nothing."),
        username: str | None = typer.Option(None, "--as", help="Act as this user."),
    ) -> None:
        """Import an existing register: a report per row; all rows or none are written.
        Columns and aliases (Dutch ones too): risk/register_columns.py."""
        which = _kind(kind)
        try:
            data = file.read_bytes()
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror}", 2)
        fmt = register_io.sniff_format(file.name, data)
        settings = get_settings()
        with cli_session() as session:
            principal = acting(session, username)
            report = register_io.run_import(
                session, principal, settings, which, fmt, data, dry_run, date.today()
            )
        for line in report.report:
            ref = f" [{line.external_ref}]" if line.external_ref else ""
            made = f" (id {line.id})" if line.id else ""
            text = f"row {line.row}{ref}: {line.status}: {line.message}{made}"
            if line.status == "error":
                typer.secho(text, err=True, fg="red")
            else:
                typer.echo(text)
        for name in report.ignored_columns:
            typer.secho(f"warning: column '{name}' ignored", err=True)
        summary = (
            f"{report.count('ok')} ok, {report.count('duplicate')} duplicate(s), "
            f"{report.errors} error(s)"
        )
        if report.errors:
            fail(f"{summary}: nothing was imported")
        if report.applied:
            typer.echo(f"{summary}: applied")
        else:
            typer.echo(f"{summary}: dry run, nothing written")

    @app.command("export")
    def export_command(
        kind: str = typer.Option(..., "--kind", help="risks | actions"),
        fmt: str = typer.Option("csv", "--format", help="csv | xlsx"),
        out: Path = typer.Option(..., "--out", help="The file to write."),
        username: str | None = typer.Option(None, "--as", help="Act as this user."),
    ) -> None:
        """Export the register (what the acting user sees) in the import's columns."""
        which = _kind(kind)
        if fmt not in ("csv", "xlsx"):
            fail("--format is csv or xlsx", 2)
        with cli_session() as session:
            principal = acting(session, username)
            rows = register_io.export_rows(session, principal, which)
        xlsx = fmt == "xlsx"
        content = register_io.to_xlsx(rows, which) if xlsx else register_io.to_csv(rows)
        try:
            out.write_bytes(content)
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror}", 2)
        typer.echo(f"{len(rows) - 1} {which} written to {out}")
