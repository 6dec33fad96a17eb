"""`soc mail`: the e-mail outbox for operators (what waits, what died, replay, send now) and
`soc users mail-profile` (a user's notice address, language and opt-out)."""

from __future__ import annotations

import typer

from soc.core.cli import cli_database, cli_session
from soc.core.mail_outbox import STATES, deliver_due, listing, replay
from soc.core.principal import Principal
from soc.core.settings import get_settings
from tenants.mail import set_mail_profile

app = typer.Typer(help="The e-mail outbox of every notice.", no_args_is_help=True)
CLI_ACTOR = Principal(actor="cli", role="admin")


@app.command("list")
def mail_list(
    state: str = typer.Option(None, "--state", help=f"one of {', '.join(STATES)}"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
) -> None:
    """The newest mails: id, state, attempts, kind, recipient, subject, last error."""
    with cli_session() as session:
        for m in listing(session, state, limit):
            error = f"  ({m.last_error})" if m.last_error else ""
            typer.echo(
                f"{m.id}\t{m.state}\t{m.attempts}\t{m.kind}\t{m.recipient}\t{m.subject}{error}"
            )


@app.command("replay")
def mail_replay(
    ids: list[int] = typer.Argument(None, help="dead mails to queue again; none: every one"),
) -> None:
    """Queue dead mails again, attempts from zero (sent mails are never replayed)."""
    with cli_session() as session:
        count = replay(session, ids or None)
    typer.echo(f"{count} mail(s) queued again")


@app.command("deliver")
def mail_deliver() -> None:
    """Send the due mails now (what the worker and the server do on their own)."""
    with cli_database() as db:
        typer.echo(f"{deliver_due(db, get_settings())} mail(s) sent")


def mail_profile(
    username: str = typer.Argument(...),
    email: str = typer.Option(None, "--email", help='notice address; "" removes it'),
    language: str = typer.Option(None, "--language", help="en or nl"),
    opt_out: bool = typer.Option(None, "--opt-out/--opt-in", help="no notice e-mails"),
) -> None:
    """Set where a user's notice e-mails go, in which language, or turn them off."""
    with cli_session() as session:
        user = set_mail_profile(session, CLI_ACTOR, username, email, language, opt_out)
        state = "opted out" if user.mail_opt_out else "on"
        typer.echo(f"{user.username}: {user.email or '-'} ({user.language or 'default'}), {state}")
