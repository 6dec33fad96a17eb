"""`soc sources list|add|unknown`: the declared log sources on the command line (thin: the
work is ingest.sources, acting as an unscoped admin)."""

from __future__ import annotations

import typer

from ingest import sources
from ingest.models import SOURCE_KINDS
from soc.core.cli import cli_session
from soc.core.principal import Principal
from soc.core.settings import get_settings

CLI = Principal(actor="cli", role="admin")
app = typer.Typer(
    help="Declared log sources per tenant, and hosts to onboard.", no_args_is_help=True
)


@app.command("list")
def list_sources(tenant: str = typer.Option(None, help="Tenant slug (default: all).")) -> None:
    """Each source with its status (ok, silent, never_seen, disabled) and last seen."""
    with cli_session() as session:
        for s in sources.list_sources(session, CLI, tenant):
            seen = s.source.last_seen.isoformat() if s.source.last_seen else "-"
            typer.echo(
                f"{s.source.id}\t{s.source.tenant_id}\t{s.source.name}\t{s.source.kind}\t"
                f"{s.source.host_pattern}\t{s.status}\t{seen}\t{s.bytes_today}"
            )


@app.command("add")
def add(
    tenant: str = typer.Argument(..., help="Tenant slug."),
    name: str = typer.Argument(..., help="The source's name."),
    kind: str = typer.Argument(..., help=", ".join(SOURCE_KINDS)),
    pattern: str = typer.Argument(..., help="Host glob, e.g. 'dc*.alpha.local'."),
    hours: int = typer.Option(None, help="Silent after this many hours (default: setting)."),
    expected_bytes: int = typer.Option(None, help="Expected bytes per day."),
) -> None:
    with cli_session() as session:
        source = sources.declare(
            session,
            CLI,
            name=name,
            kind=kind,
            host_pattern=pattern,
            silent_after_hours=hours or get_settings().kri_silent_source_hours,
            expected_daily_bytes=expected_bytes,
            tenant=tenant,
        )
        typer.echo(f"declared log source {source.id}: {source.name}")


@app.command("unknown")
def unknown(tenant: str = typer.Option(None, help="Tenant slug (default: all).")) -> None:
    """Hosts that sent events but match no declared source."""
    with cli_session() as session:
        for h in sources.unknown_hosts(session, CLI, tenant):
            typer.echo(f"{h.tenant_id}\t{h.host}\t{h.last_seen.isoformat()}\t{h.events}")
