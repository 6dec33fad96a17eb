"""`soc verify FILE`: check a published document (a monthly report or invoice PDF) against
its detached signature with the integrator's public key alone (no database, no server)."""

from __future__ import annotations

from pathlib import Path

import typer

from soc.core import signing
from soc.core.cli import fail
from soc.core.errors import DomainError


def verify(
    file: Path = typer.Argument(..., help="The document, e.g. a report or invoice PDF."),
    signature: Path = typer.Option(
        None, "--signature", help="Its detached signature (default FILE.sig)."
    ),
    public_key: Path = typer.Option(
        ..., "--public-key", help="The integrator's Ed25519 public key (PEM)."
    ),
) -> None:
    """Check that FILE is exactly what the integrator signed: exit 0 when it is, 1 naming the
    file when it was changed or signed by another key, 2 when a file cannot be read."""
    sig_path = signature or signing.signature_path(file)
    try:
        key = signing.load_public_key(public_key)
        data, sig = file.read_bytes(), sig_path.read_bytes()
    except DomainError as exc:
        fail(exc.message, code=2)
    except OSError as exc:
        fail(f"cannot read {exc.filename}: {exc.strerror}", code=2)
    result = signing.check_detached(key, data, sig)
    if not result.ok:
        fail(f"{file} does NOT verify: {result.reason}")
    typer.echo(f"{file}: signature OK ({result.reason})")
