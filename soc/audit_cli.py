"""`soc audit` commands of the signed checkpoints: keygen, checkpoint, export (a tenant's
bundle), public-key, and the database-free check of a bundle behind `soc audit verify
--anchor BUNDLE --public-key KEY.pem`."""

from __future__ import annotations

from pathlib import Path

import orjson
import typer

from soc.core import checkpoints, signing
from soc.core.checkpoint_verify import verify_bundle
from soc.core.cli import cli_session, fail
from soc.core.errors import DomainError
from soc.core.principal import Principal
from soc.core.settings import get_settings

CLI_ACTOR = Principal(actor="cli", role="admin")


def keygen(
    out: Path = typer.Option(
        None,
        "--out",
        help="Private key PEM to write (default SOC_SIGNING_KEY_PATH, else "
        "data_dir/keys/signing-ed25519.pem); the public key goes beside it as .pub.pem.",
    ),
) -> None:
    """Write a new Ed25519 key pair (the private file readable by its owner only); never
    overwrites a key. Give the .pub.pem to the customers and point SOC_SIGNING_KEY_PATH at
    the private one."""
    path = out or signing.signing_key_path(get_settings())
    try:
        key = signing.write_key_pair(path)
    except DomainError as exc:
        fail(exc.message)
    typer.echo(f"private key: {path}")
    typer.echo(f"public key:  {signing.public_path_of(path)}")
    typer.echo(f"key id:      {signing.key_id(key.public_key())}")


def public_key(
    out: Path = typer.Option(None, "--out", help="Write the PEM here instead of printing it."),
) -> None:
    """The public key of the configured signing key, for the customers."""
    try:
        pem = signing.public_pem(signing.signing_key(get_settings()).public_key())
    except DomainError as exc:
        fail(exc.message)
    if out:
        out.write_bytes(pem)
        typer.echo(f"public key written to {out}")
    else:
        typer.echo(pem.decode(), nl=False)


def checkpoint() -> None:
    """Sign the audit chain's head now, with a statement per tenant (beat and the embedded
    server do this daily). Exit 1 when the chain is broken: nothing is signed then."""
    settings = get_settings()
    with cli_session() as session:
        taken = checkpoints.take(session, settings, CLI_ACTOR.actor)
        number, head_id, head_hash, kid = taken.id, taken.head_id, taken.head_hash, taken.key_id
    typer.echo(f"checkpoint {number}: head {head_id}:{head_hash} signed by key {kid}")


def export(
    tenant: str = typer.Argument(..., help="Tenant slug."),
    out: Path = typer.Option(..., "--out", help="The bundle file to write (JSON)."),
    checkpoint_id: int = typer.Option(
        None, "--checkpoint", help="Up to this checkpoint (default the newest)."
    ),
) -> None:
    """Write a tenant's audit bundle: its own entries and its signed statements, to check
    with `soc audit verify --anchor BUNDLE --public-key KEY.pem`."""
    from tenants.tenancy import get_tenant

    with cli_session() as session:
        target = get_tenant(session, CLI_ACTOR, tenant)
        data = checkpoints.bundle(session, target.id, checkpoint_id)
    out.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    typer.echo(f"{len(data['entries'])} entries of {tenant} written to {out}")


def verify_bundle_file(bundle: Path, public: Path) -> None:
    """Check a bundle with the public key alone; exit 1 naming the first bad entry."""
    try:
        key = signing.load_public_key(public)
        data = bundle.read_bytes()
    except DomainError as exc:
        fail(exc.message, code=2)
    except OSError as exc:
        fail(f"cannot read {bundle}: {exc.strerror}", code=2)
    report = verify_bundle(data, key)
    if not report.ok:
        for problem in report.problems:
            typer.secho(str(problem), err=True, fg=typer.colors.RED)
        first = report.problems[0]
        named = f"first bad entry {first.entry_id}" if first.entry_id else str(first)
        fail(f"{bundle} does NOT verify: {len(report.problems)} problem(s); {named}")
    typer.echo(
        f"{bundle}: {report.entries} entries of tenant {report.tenant_id} verified against "
        f"checkpoint {report.checkpoint} (head {report.head_id}, signed {report.at}) "
        f"with key {report.key_id}"
    )


def register(audit_app: typer.Typer) -> None:
    audit_app.command("keygen")(keygen)
    audit_app.command("public-key")(public_key)
    audit_app.command("checkpoint")(checkpoint)
    audit_app.command("export")(export)
