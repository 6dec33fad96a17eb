"""`soc rules validate|list|enable|disable|test|import|map-field|field-maps`: thin commands
over the same service functions as the rules API, acting as the CLI admin (`soc rules hunt`
raises cases, so the shell adds it: soc.pipeline_cli)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import typer
from sqlalchemy.orm import Session
from tqdm import tqdm

from detections import service as mgmt
from detections.sources import load_ruleset
from detections.tenant_view import TenantViews
from detections.validation import ValidationReport, validate_paths
from soc.core.cli import cli_database, fail
from soc.core.db import Database
from soc.core.errors import DomainError
from soc.core.principal import Principal
from soc.core.settings import get_settings

rules_app = typer.Typer(
    help="Sigma rules per tenant: state, exceptions, hunts.", no_args_is_help=True
)
CLI_ACTOR = Principal(actor="cli", role="admin")
TENANT = typer.Option(..., "--tenant", "-t", help="Tenant slug.")


def _err(message: str) -> None:
    typer.echo(message, err=True)


@dataclass
class RulesContext:
    """What the rule commands need: the database and the tenants' rule views."""

    db: Database
    views: TenantViews


@contextmanager
def _context() -> Iterator[tuple[RulesContext, Session]]:
    """Migrated database and rules as the server has them; one transaction."""
    with cli_database() as db:
        try:
            with db.session() as session:
                yield RulesContext(db, TenantViews(load_ruleset(get_settings()))), session
        except DomainError as exc:
            fail(exc.message)


def _print_report(report: ValidationReport, as_json: bool, verbose: bool) -> None:
    if as_json:
        body = {
            "summary": report.summary(),
            "skipped_validators": report.skipped_validators,
            "rules": [r.as_dict() for r in report.rules],
        }
        typer.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return
    for r in report.rules:
        if r.status == "unusable":
            typer.echo(f"UNUSABLE {r.path} [{r.rule_id or '-'}]: {r.reason}")
        if verbose or r.status == "unusable":
            for f in r.findings:
                typer.echo(f"  {f.severity:<6} {f.validator}: {f.description}  ({r.path})")
    for name, reason in report.skipped_validators.items():
        _err(f"validator {name} skipped: {reason}")
    s = report.summary()
    _err(
        f"{s['rules']} rules: {s['loaded']} loaded, {s['unusable']} unusable, "
        f"{s['with_findings']} with validator findings"
    )


def _validate_with_bar(paths: list[Path]) -> ValidationReport:
    missing = [p for p in paths if not p.exists()]
    if missing:
        _err(f"error: not found: {', '.join(map(str, missing))}")
        raise typer.Exit(2)
    with tqdm(unit="file", disable=not sys.stderr.isatty(), file=sys.stderr) as bar:
        return validate_paths(paths, on_file=lambda _p: bar.update(1))


@rules_app.command("validate")
def validate(
    paths: list[Path] = typer.Argument(..., help="Rule files or directories."),
    as_json: bool = typer.Option(False, "--json", help="The full report as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show every validator finding."),
) -> None:
    """Validation report: loaded / unusable with reason / pySigma validator findings.
    Exit 1 if any rule is unusable."""
    report = _validate_with_bar(paths)
    _print_report(report, as_json, verbose)
    if report.unusable:
        raise typer.Exit(1)


@rules_app.command("import")
def import_dir(
    directory: Path = typer.Argument(..., help="A SigmaHQ checkout or any rule directory."),
    tenant: str = typer.Option(None, "--tenant", "-t", help="Store the rules as this tenant's."),
    as_json: bool = typer.Option(False, "--json", help="The full report as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show every validator finding."),
) -> None:
    """Validate a rule directory; with --tenant, store every loaded rule as the tenant's."""
    report = _validate_with_bar([directory])
    _print_report(report, as_json, verbose)
    if tenant is None:
        _err("nothing stored (give --tenant to store the loaded rules as a tenant's rules)")
        return
    texts = [r.text for r in report.rules if r.status == "loaded" and r.kind == "rule" and r.text]
    with _context() as (_, session):
        counts = mgmt.import_tenant_rules(session, CLI_ACTOR, tenant, texts)
    _err(", ".join(f"{v} {k}" for k, v in counts.items()) + f" for tenant {tenant}")


@rules_app.command("list")
def list_rules(
    tenant: str = TENANT,
    level: str = typer.Option(None, help="Only this level."),
    status: str = typer.Option(None, help="Only this status."),
    tag: str = typer.Option(None, help="Only rules with this tag."),
    product: str = typer.Option(None, help="Only this log source product."),
    enabled: bool = typer.Option(None, "--enabled/--disabled", help="Only enabled/disabled."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines."),
) -> None:
    """The tenant's rules with their effective state."""
    with _context() as (ctx, session):
        found = mgmt.resolve_tenant(session, CLI_ACTOR, tenant)
        view = ctx.views.get(session, found.id)
        rows = mgmt.list_rules(view, level, status, tag, product, enabled)
    for row in rows:
        if as_json:
            typer.echo(orjson.dumps(row).decode())
        else:
            state = "on " if row["enabled"] else "off"
            typer.echo(f"{state} {row['level'] or '-':<13} {row['id']}  {row['title']}")
    _err(f"{len(rows)} rules, {sum(not r['enabled'] for r in rows)} disabled")


def _selector(
    rule_id: str | None, level: str | None, status: str | None, tag: str | None, product: str | None
) -> tuple[str, str]:
    given = [
        (k, v)
        for k, v in (
            ("rule", rule_id),
            ("level", level),
            ("status", status),
            ("tag", tag),
            ("product", product),
        )
        if v
    ]
    if len(given) != 1:
        _err("error: give exactly one of RULE_ID, --level, --status, --tag, --product")
        raise typer.Exit(2)
    return given[0]


def _set_state(enabled: bool, tenant: str, selector: tuple[str, str]) -> None:
    with _context() as (ctx, session):
        change = mgmt.set_state(session, CLI_ACTOR, ctx.views, tenant, *selector, enabled)
    word = "enabled" if enabled else "disabled"
    typer.echo(
        f"{word} {change.selector}={change.value} for {tenant}: {change.rules_selected} rules"
    )


@rules_app.command("enable")
def enable(
    rule_id: str = typer.Argument(None, help="A rule id (or use one bulk option)."),
    tenant: str = TENANT,
    level: str = typer.Option(None),
    status: str = typer.Option(None),
    tag: str = typer.Option(None),
    product: str = typer.Option(None),
) -> None:
    """Enable one rule, or all of a level, status, tag or product, for a tenant."""
    _set_state(True, tenant, _selector(rule_id, level, status, tag, product))


@rules_app.command("disable")
def disable(
    rule_id: str = typer.Argument(None, help="A rule id (or use one bulk option)."),
    tenant: str = TENANT,
    level: str = typer.Option(None),
    status: str = typer.Option(None),
    tag: str = typer.Option(None),
    product: str = typer.Option(None),
) -> None:
    """Disable one rule, or all of a level, status, tag or product, for a tenant."""
    _set_state(False, tenant, _selector(rule_id, level, status, tag, product))


def rule_arg(rule: str) -> tuple[str | None, str | None]:
    """(rule id, YAML): RULE is a YAML file if such a file exists, else a rule id."""
    path = Path(rule)
    if path.is_file():
        return None, path.read_text(encoding="utf-8")
    return rule, None


@rules_app.command("test")
def test(
    rule: str = typer.Argument(..., help="Rule YAML file, or a rule id."),
    sample: Path = typer.Argument(..., help="Event file (EVTX, JSON, JSONL, evtx_dump)."),
    tenant: str = typer.Option(None, "--tenant", "-t", help="Apply this tenant's exceptions."),
) -> None:
    """Which events of SAMPLE the rule matches (JSON line per event). Exit 1 if none."""
    from detections.ruletest import pick_rule, test_rule
    from ingest.files import iter_events_from_file

    rule_id, yaml = rule_arg(rule)
    try:
        events: list[dict[str, Any]] = list(iter_events_from_file(sample))
    except (OSError, ValueError) as exc:
        _err(f"error: {exc}")
        raise typer.Exit(2) from None
    with _context() as (ctx, session):
        view = None
        if tenant:
            view = ctx.views.get(session, mgmt.resolve_tenant(session, CLI_ACTOR, tenant).id)
        elif rule_id:
            view = ctx.views.base_view()
        picked = pick_rule(view, rule_id, yaml)
        results = test_rule(picked, events, view)
    hits = [r for r in results if r.matched and r.suppressed_by is None]
    for r in results:
        typer.echo(orjson.dumps(r.__dict__ | {"rule_id": picked.id}).decode())
    _err(f"{len(hits)} of {len(results)} events match {picked.id} ({picked.title})")
    if not hits:
        raise typer.Exit(1)


@rules_app.command("map-field")
def map_field(
    tenant: str = typer.Argument(..., help="Tenant slug."),
    source: str = typer.Argument(..., help="The tenant's field name (a dotted path allowed)."),
    sigma: str = typer.Argument(None, help="The Sigma field it holds (not with --remove)."),
    remove: bool = typer.Option(False, "--remove", help="Remove the tenant's map of SOURCE."),
) -> None:
    """Map a tenant's own field to a Sigma field: before matching, its value is copied to the
    Sigma name when the event has no such field."""
    if remove == bool(sigma):
        _err("error: give SIGMA, or --remove without it")
        raise typer.Exit(2)
    with _context() as (_, session):
        if remove:
            mgmt.delete_field_map(session, CLI_ACTOR, tenant, source)
            typer.echo(f"removed {source} for {tenant}")
            return
        row, changed = mgmt.put_field_map(session, CLI_ACTOR, tenant, source, sigma)
    state = "mapped" if changed else "unchanged"
    typer.echo(f"{state} {row.source_field} -> {row.sigma_field} for {tenant}")


@rules_app.command("field-maps")
def field_maps(
    tenant: str = typer.Argument(..., help="Tenant slug."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines."),
) -> None:
    """The tenant's field map: its field -> Sigma field."""
    with _context() as (_, session):
        rows = [
            {"source_field": r.source_field, "sigma_field": r.sigma_field, "author": r.author}
            for r in mgmt.list_field_maps(session, CLI_ACTOR, tenant)
        ]
    for row in rows:
        if as_json:
            typer.echo(orjson.dumps(row).decode())
        else:
            typer.echo(f"{row['source_field']} -> {row['sigma_field']}  ({row['author']})")
    _err(f"{len(rows)} field maps")
