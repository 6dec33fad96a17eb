"""`soc risk warn` and `soc risk followup`: the early-warning sweep and the monthly follow-up
of audit findings on the command line (thin: the work is in `risk.warnings` and
`risk.followup`, as for the Celery tasks)."""

from __future__ import annotations

from datetime import date

import typer

from risk.followup import MONTH, generate_followup, tenant_slugs
from risk.warnings import send_due_warnings
from soc.core.cli import cli_session, fail
from soc.core.db import utcnow
from soc.core.settings import get_settings


def register(app: typer.Typer) -> None:
    """Add `warn` and `followup` to `soc risk`."""

    @app.command("warn")
    def warn_command(
        today: str | None = typer.Option(None, "--today", help="YYYY-MM-DD; default today."),
    ) -> None:
        """Send the early warnings due by today (late ones recorded late); prints the counts."""
        try:
            day = date.fromisoformat(today) if today else date.today()
        except ValueError:
            fail(f"--today is not a YYYY-MM-DD date: {today!r}", 2)
        with cli_session() as session:
            run = send_due_warnings(session, get_settings(), day)
        typer.echo(
            f"{run.today.isoformat()}: checked {run.checked}, warned {run.warned} "
            f"(late {run.late}), notices {run.notices}"
        )

    @app.command("followup")
    def followup_command(
        month: str = typer.Option(..., "--month", help="YYYY-MM"),
    ) -> None:
        """Archive the month's follow-up of open audit findings (per tenant and common); a
        month already archived is shown, not regenerated."""
        if not MONTH.match(month):
            fail(f"--month is not YYYY-MM: {month!r}", 2)
        with cli_session() as session:
            rows = generate_followup(session, get_settings(), month, utcnow(), actor="cli")
            slugs = tenant_slugs(session, rows)
            lines = [
                f"{r.id} {r.month} {slugs.get(r.tenant_id or 0, 'common')} {r.sha256}" for r in rows
            ]
        for line in lines:
            typer.echo(line)
