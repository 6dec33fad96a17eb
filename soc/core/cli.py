"""What every command line shares: a one-line error and exit, and a session on the migrated
configured database whose domain errors end the command that way."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from sqlalchemy.orm import Session

from soc.core import secrets
from soc.core.db import Database
from soc.core.errors import DomainError
from soc.core.migrate import upgrade
from soc.core.settings import get_settings


def fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


@contextmanager
def cli_database() -> Iterator[Database]:
    """The configured database, migrated first; disposed of at the end."""
    settings = get_settings()
    secrets.install(settings)  # encrypted columns use this configuration's key ring
    upgrade(settings.sqlalchemy_url)
    db = Database(settings.sqlalchemy_url)
    try:
        yield db
    finally:
        db.engine.dispose()


@contextmanager
def cli_session() -> Iterator[Session]:
    """One transaction on the migrated database; a domain error becomes a one-line message
    and exit 1."""
    with cli_database() as db:
        try:
            with db.session() as session:
                yield session
        except DomainError as exc:
            fail(exc.message)
