"""`soc cmdb import FILE` and `soc cmdb cis`: the CMDB inventory on the command line (thin).

Without --apply an import prints its diff preview and exits 0; with row errors it names them
and exits 1 (nothing is written, with or without --apply).
"""

from __future__ import annotations

from pathlib import Path

import typer

from soc.cmdb import importer, inventory
from soc.cmdb.cistore import Lookup
from soc.cmdb.import_plan import ImportPlan
from soc.core.cli import cli_session, fail
from soc.core.principal import Principal

CLI = Principal(actor="cli", role="admin")


def _print_plan(plan: ImportPlan) -> None:
    echo = typer.echo
    echo(f"source {plan.source}  provider {plan.provider or '-'}  full sync {plan.full_sync}")
    for label, items in (
        ("added", plan.added),
        ("changed", plan.changed),
        ("restored", plan.restored),
        ("retired", plan.retired),
    ):
        echo(f"{label}: {len(items)}")
        for item in items:
            ci = f" (ci {item.ci_id})" if item.ci_id else ""
            echo(f"  {item.external_id}{ci} {item.ci_type} {item.name}")
            if label == "changed":
                for key, (old, new) in sorted(item.diff.items()):
                    echo(f"      {key}: {old!r} -> {new!r}")
    echo(f"unchanged: {plan.unchanged}")
    for label, rels in (
        ("relations added", plan.relations_added),
        ("relations retired", plan.relations_retired),
    ):
        echo(f"{label}: {len(rels)}")
        for rel in rels:
            echo(f"  {rel.from_ref} {rel.rel_type} {rel.to_ref}")
    for cycle in plan.cycles:
        typer.secho(f"warning: dependency loop: {' -> '.join(cycle)}", err=True)
    for warning in plan.warnings:
        typer.secho(f"warning: {warning.where}: {warning.message}", err=True)


def register(app: typer.Typer) -> None:
    """Add the inventory commands to `soc cmdb`."""

    @app.command("import")
    def import_command(
        file: Path = typer.Argument(..., help="The file to import."),
        fmt: str = typer.Option(..., "--format", help="csv | json | servicenow"),
        provider: str | None = typer.Option(None, "--provider", help="Provider slug."),
        source: str | None = typer.Option(None, "--source", help="Source CMDB name."),
        full_sync: bool = typer.Option(False, "--full-sync", help="Retire what is missing."),
        do_apply: bool = typer.Option(False, "--apply", help="Write it (else: preview)."),
    ) -> None:
        """Import a provider's CMDB file: preview the diff, or --apply it (all or nothing).
        Formats: docs/cmdb-import.md."""
        if fmt not in ("csv", "json", "servicenow"):
            fail("--format is csv, json or servicenow", 2)
        try:
            content = file.read_text(encoding="utf-8-sig")
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror}", 2)
        except UnicodeDecodeError:
            fail(f"{file} is not UTF-8 text", 2)
        request = importer.ImportRequest(fmt, content, provider, source, full_sync)
        with cli_session() as session:
            if do_apply:
                plan = importer.apply(session, CLI, request)
            else:
                plan = importer.preview(session, CLI, request)
        _print_plan(plan)
        if plan.errors:
            for error in plan.errors:
                typer.secho(f"error: {error.where}: {error.message}", err=True, fg="red")
            fail(f"{len(plan.errors)} row error(s): nothing was imported")
        typer.echo("applied" if plan.applied else "preview only: add --apply to write it")

    @app.command("cis")
    def list_command(
        ci_type: str | None = typer.Option(None, "--type", help="Only CIs of this type."),
        provider: str | None = typer.Option(None, "--provider", help="Provider slug."),
        include_retired: bool = typer.Option(False, "--retired", help="Retired ones too."),
        limit: int = typer.Option(1000, "--limit", min=1),
    ) -> None:
        """List CIs: id, type, provider, name (retired ones marked)."""
        filters = inventory.CIFilter(ci_type, provider, None, include_retired)
        with cli_session() as session:
            total, rows = inventory.list_cis(session, CLI, None, filters, limit, 0)
            slugs = Lookup(session).provider_slugs
            for ci in rows:
                retired = "  (retired)" if ci.retired_at else ""
                owner = slugs.get(ci.provider_id, "-") if ci.provider_id else "-"
                typer.echo(f"{ci.id}\t{ci.ci_type}\t{owner}\t{ci.name}{retired}")
        typer.echo(f"{len(rows)} of {total}")
