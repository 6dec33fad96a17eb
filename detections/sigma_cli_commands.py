"""The `soc rules check` and `soc rules export` commands (sigma-cli in-process, see
detections.sigma_cli), registered on `soc rules` by detections.cli."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import typer

from detections import service as mgmt
from detections.rules_cli import CLI_ACTOR, _context
from detections.sigma_cli import SigmaCliMissing, rules_directory, run_sigma
from detections.sources import rule_dirs
from soc.core.settings import get_settings

# Everything after the soc options goes to sigma-cli unchanged (paths and its own options).
PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}
TENANT_HELP = "Use the tenant's enabled rules (its own rules included) instead of files."


def _sources(stack: ExitStack, tenant: str | None, args: list[str]) -> list[str]:
    """The rule inputs for sigma-cli: the tenant's enabled set, else what the caller named,
    else the server's rule directories."""
    if tenant is not None:
        ctx, session = stack.enter_context(_context())
        found = mgmt.resolve_tenant(session, CLI_ACTOR, tenant)
        view = ctx.views.get(session, found.id)
        enabled = [r for rule_id, r in view.rules.items() if view.is_enabled(rule_id)]
        typer.echo(f"{tenant}: {len(enabled)} enabled rules", err=True)
        return [str(stack.enter_context(rules_directory(enabled)))]
    if any(not a.startswith("-") for a in args):
        return []  # the caller named files or directories among the sigma options
    return [str(p) for p in rule_dirs(get_settings()) if Path(p).exists()]


def _run(name: str, args: list[str]) -> None:
    try:
        code = run_sigma(name, args)
    except SigmaCliMissing as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


def check(
    ctx: typer.Context,
    tenant: str | None = typer.Option(None, "--tenant", "-t", help=TENANT_HELP),
) -> None:
    """Check rules with the validators of `sigma check` and report in its terms (errors,
    condition errors, issues by validator). Other arguments go to `sigma check`: rule paths,
    --exclude VALIDATOR, --validation-config FILE, --fail-on-issues, --junitxml FILE.
    Without paths or --tenant: the server's rule directories. Exit codes are sigma's."""
    with ExitStack() as stack:
        args = list(ctx.args)
        _run("check", args + _sources(stack, tenant, args))


def export(
    ctx: typer.Context,
    target: str = typer.Option(..., "--target", "-t", help="Backend (`sigma list targets`)."),
    pipeline: list[str] = typer.Option(
        [], "--pipeline", "-p", help="Processing pipeline or file (repeatable)."
    ),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write to this file."),
) -> None:
    """Convert rules to a backend's queries with `sigma convert` (for a customer's own Splunk,
    Elastic or OpenSearch). Other arguments go to `sigma convert`: rule paths, --format F,
    --without-pipeline, --backend-option K=V. Without paths or --tenant: the server's rules."""
    args = ["--target", target]
    for name in pipeline:
        args += ["--pipeline", name]
    if out is not None:
        args += ["--output", str(out)]
    with ExitStack() as stack:
        extra = list(ctx.args)
        _run("convert", args + extra + _sources(stack, tenant, extra))


def register(app: typer.Typer) -> None:
    app.command("check", context_settings=PASS_THROUGH)(check)
    app.command("export", context_settings=PASS_THROUGH)(export)
