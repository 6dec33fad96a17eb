"""`soc users set-role`, `soc users end-sessions` and `soc users access`: role changes, ending a
user's sessions and the access overview (CSV) for operators at the console."""

from __future__ import annotations

import typer

from soc.core.cli import cli_session
from soc.core.principal import Principal
from tenants import access, tenant_admin
from tenants import sessions as sessions_svc

CLI_ACTOR = Principal(actor="cli", role="admin")


def set_role(
    username: str = typer.Argument(...),
    role: str = typer.Argument(..., help="the new role; it must fit the user's scope"),
) -> None:
    """Give a user another role; every session of the user ends now. Exit 1 for an unknown
    user or a role that does not fit its tenant or provider."""
    with cli_session() as session:
        user, secret = tenant_admin.change_role(session, CLI_ACTOR, username, role)
        typer.echo(f"user {user.username} is now {user.role}; sessions ended")
        if secret:
            typer.echo(f"TOTP secret (shown once, the role needs it): {secret}")


def end_sessions(username: str = typer.Argument(...)) -> None:
    """End every session of a user now (its tokens answer 401 from the next request)."""
    with cli_session() as session:
        ended = sessions_svc.end_sessions_of(session, CLI_ACTOR, username)
        typer.echo(f"{ended} session(s) of {username} ended")


def access_overview(
    approvers: bool = typer.Option(
        False, "--approvers", help="the approvers per tenant instead of the users"
    ),
) -> None:
    """The access overview as CSV on stdout (the columns of the /api/v1/access CSV exports)."""
    with cli_session() as session:
        if approvers:
            typer.echo(access.approvers_csv(access.approver_counts(session, CLI_ACTOR)), nl=False)
        else:
            typer.echo(access.overview_csv(access.overview(session, CLI_ACTOR)), nl=False)
