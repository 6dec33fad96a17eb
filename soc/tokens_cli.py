"""`soc tokens`: integrations' API tokens for operators (create for a user, list, revoke)."""

from __future__ import annotations

import typer

from soc.core.cli import cli_session, fail
from soc.core.principal import TOKEN_SCOPES, Principal
from soc.core.settings import get_settings
from tenants import api_tokens
from tenants.users import find_user

app = typer.Typer(help="API tokens of integrations (scoped, expiring).", no_args_is_help=True)
CLI_ACTOR = Principal(actor="cli", role="admin")


@app.command("create")
def tokens_create(
    username: str = typer.Option(..., "--user", help="the user the token acts as"),
    name: str = typer.Option(..., "--name", min=1, help="what the token is for"),
    scopes: list[str] = typer.Option(
        ..., "--scope", help=f"repeat for each; one of {', '.join(TOKEN_SCOPES)}"
    ),
    days: int = typer.Option(90, "--days", min=1, help="expires after this many days"),
) -> None:
    """Create a token acting as USER cut to the scopes; the secret is printed once."""
    with cli_session() as session:
        owner = find_user(session, CLI_ACTOR, username)
        token, secret = api_tokens.create_token(
            session,
            CLI_ACTOR,
            name.strip(),
            scopes,
            days,
            get_settings().api_token_max_days,
            owner=owner,
        )
        typer.echo(f"token {token.id} for {username}: {', '.join(token.scope_names)}")
        typer.echo(f"expires {token.expires_at.isoformat()}")
        typer.echo(f"API token (shown once): {secret}")


@app.command("list")
def tokens_list(
    username: str = typer.Option(None, "--user", help="one user's tokens only"),
) -> None:
    """id, user, name, prefix, scopes, state, expiry and last use of every token."""
    with cli_session() as session:
        user_id = find_user(session, CLI_ACTOR, username).id if username else None
        for token, owner in api_tokens.list_tokens(
            session, CLI_ACTOR, every_user=True, user_id=user_id
        ):
            state = api_tokens.state(token)
            used = token.last_used_at.isoformat() if token.last_used_at else "never"
            typer.echo(
                f"{token.id}\t{owner}\t{token.name}\t{token.prefix}\t{token.scopes}\t{state}"
                f"\texpires {token.expires_at.isoformat()}\tused {used}"
            )


@app.command("revoke")
def tokens_revoke(
    token_id: int = typer.Argument(None, help="the token to revoke"),
    username: str = typer.Option(None, "--user", help="revoke every live token of this user"),
) -> None:
    """Revoke one token, or every live token of a user: refused from the next request on."""
    if (token_id is None) == (username is None):
        fail("name a token id or --user, not both")
    with cli_session() as session:
        if username:
            user = find_user(session, CLI_ACTOR, username)
            count = api_tokens.revoke_user_tokens(session, CLI_ACTOR, user.id)
            typer.echo(f"{count} token(s) of {username} revoked")
        else:
            token = api_tokens.revoke_token(session, CLI_ACTOR, token_id, any_user=True)
            typer.echo(f"token {token.id} ({token.prefix}) revoked")
