"""`soc secrets`: the key ring of secrets at rest (soc.core.secrets) for operators.

Key rotation without downtime: put a new key first in SOC_SECRET_KEYS (keep the old one after
it), restart, run `soc secrets rotate`, then drop the old key. Every step keeps reads working.
"""

from __future__ import annotations

import re
from pathlib import Path

import typer

from soc.core import secrets
from soc.core.cli import cli_session, fail
from soc.core.db import Base
from soc.core.settings import get_settings

app = typer.Typer(help="Secrets encrypted at rest and their keys.", no_args_is_help=True)
# `NAME=enc:...` lines of an environment file (optionally quoted).
ENV_LINE = re.compile(
    r"^(?P<head>\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=\s*)(?P<q>['\"]?)"
    r"(?P<value>enc:[A-Za-z0-9_=-]+)(?P=q)\s*$"
)


def _columns() -> list[tuple[str, str]]:
    import soc.models  # noqa: F401  (every table in Base.metadata)

    return list(secrets.encrypted_columns(Base.metadata))


@app.command("new-key")
def new_key() -> None:
    """Print a new random key for SOC_SECRET_KEYS."""
    typer.echo(secrets.new_key())


@app.command("encrypt")
def encrypt(
    value: str = typer.Option(
        ..., "--value", prompt=True, hide_input=True, help="the secret (asked when not given)"
    ),
) -> None:
    """Print the `enc:` form of a secret for a setting (SOC_SMTP_PASSWORD=enc:... and the
    like): the environment and .env then hold no plaintext."""
    typer.echo(secrets.keyring(get_settings()).encrypt(value))


@app.command("status")
def status() -> None:
    """Per encrypted column: values under the first key, under an older key, in plaintext."""
    ring = secrets.keyring(get_settings())
    with cli_session() as session:
        for r in secrets.rotate_stored(session, ring, _columns(), write=False):
            typer.echo(
                f"{r.table}.{r.column}\tcurrent {r.current}\tolder key {r.older}"
                f"\tplaintext {r.plaintext}"
            )


@app.command("rotate")
def rotate(
    env_file: Path = typer.Option(
        None, "--env-file", help="also re-encrypt the enc: values of this environment file"
    ),
) -> None:
    """Re-encrypt every stored secret with the first key of SOC_SECRET_KEYS."""
    ring = secrets.keyring(get_settings())
    with cli_session() as session:
        for r in secrets.rotate_stored(session, ring, _columns()):
            typer.echo(f"{r.table}.{r.column}: {r.rotated} re-encrypted, {r.current} current")
    if env_file is not None:
        if not env_file.is_file():
            fail(f"no file {env_file}")
        lines = env_file.read_text().splitlines(keepends=True)
        changed = 0
        for number, line in enumerate(lines):
            match = ENV_LINE.match(line.rstrip("\n"))
            if match and not ring.is_current(match["value"]):
                value = ring.rotate(match["value"])
                lines[number] = f"{match['head']}{match['q']}{value}{match['q']}\n"
                changed += 1
        env_file.write_text("".join(lines))
        typer.echo(f"{env_file}: {changed} value(s) re-encrypted")
