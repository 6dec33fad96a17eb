"""`soc rules validate|list|enable|disable|test|import|hunt|map-field|field-maps`: thin
commands over the same service functions as the rules API, acting as the CLI admin."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer
from tqdm import tqdm

from detections import management as mgmt
from detections.validation import ValidationReport, validate_paths
from soc.errors import DomainError
from tenants.principal import Principal

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from soc.services import Services

rules_app = typer.Typer(
    help="Sigma rules per tenant: state, exceptions, hunts.", no_args_is_help=True
)
CLI_ACTOR = Principal(actor="cli", role="admin")
TENANT = typer.Option(..., "--tenant", "-t", help="Tenant slug.")


def _err(message: str) -> None:
    typer.echo(message, err=True)


@contextmanager
def _services() -> Iterator[tuple[Services, Session]]:
    """Migrated database, rules and event store as the server has them; one transaction."""
    from soc.migrate import upgrade
    from soc.services import build_services
    from soc.settings import get_settings

    settings = get_settings()
    upgrade(settings.sqlalchemy_url)
    services = build_services(settings)
    try:
        with services.db.session() as session:
            yield services, session
    except DomainError as exc:
        typer.secho(f"error: {exc.message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    finally:
        services.close()


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
    with _services() as (_, session):
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
    with _services() as (services, session):
        found = mgmt.resolve_tenant(session, CLI_ACTOR, tenant)
        view = services.detector.views.get(session, found.id)
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
    with _services() as (services, session):
        change = mgmt.set_state(
            session, CLI_ACTOR, services.detector.views, tenant, *selector, enabled
        )
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


def _rule_arg(rule: str) -> tuple[str | None, str | None]:
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

    rule_id, yaml = _rule_arg(rule)
    try:
        events: list[dict[str, Any]] = list(iter_events_from_file(sample))
    except (OSError, ValueError) as exc:
        _err(f"error: {exc}")
        raise typer.Exit(2) from None
    with _services() as (services, session):
        view = None
        if tenant:
            view = services.detector.views.get(
                session, mgmt.resolve_tenant(session, CLI_ACTOR, tenant).id
            )
        elif rule_id:
            view = services.detector.views.base_view()
        picked = pick_rule(view, rule_id, yaml)
        results = test_rule(picked, events, view)
    hits = [r for r in results if r.matched and r.suppressed_by is None]
    for r in results:
        typer.echo(orjson.dumps(r.__dict__ | {"rule_id": picked.id}).decode())
    _err(f"{len(hits)} of {len(results)} events match {picked.id} ({picked.title})")
    if not hits:
        raise typer.Exit(1)


@rules_app.command("hunt")
def hunt(
    rule: str = typer.Argument(..., help="Rule YAML file, or a rule id."),
    tenant: str = TENANT,
    days: int = typer.Option(7, "--days", "-d", min=1, max=365, help="How far back."),
) -> None:
    """Retro-hunt RULE over the tenant's stored events of the last N days; alerts for new
    matches, grouped into cases as at ingest."""
    from detections.retrohunt import HuntProgress, hunt_for_tenant
    from soc.cases.service import group_alerts

    rule_id, yaml = _rule_arg(rule)
    # The hunt opens its own short transactions (no write lock across the scan), so the
    # session of _services() stays unused.
    with _services() as (services, _):
        window = timedelta(minutes=services.settings.case_group_window_minutes)
        tty = sys.stderr.isatty()
        with tqdm(unit="event", unit_scale=True, file=sys.stderr, disable=not tty) as bar:
            last = [0.0]

            def progress(step: HuntProgress) -> None:
                bar.total = step.total
                bar.n = step.scanned
                bar.set_postfix(matches=step.matched, days=f"{step.windows_done}/{step.windows}")
                bar.refresh()
                now = time.monotonic()
                if not tty and (now - last[0] >= 2 or step.windows_done == step.windows):
                    last[0] = now
                    _err(
                        f"hunt: {step.scanned}/{step.total} events scanned, "
                        f"{step.matched} matches, day {step.windows_done}/{step.windows}"
                    )

            result = hunt_for_tenant(
                services.db,
                CLI_ACTOR,
                services.detector.views,
                services.store,
                tenant,
                days,
                rule_id,
                yaml,
                group=lambda s, alerts: group_alerts(s, alerts, window),
                progress=progress,
            )
    typer.echo(orjson.dumps(result.as_dict()).decode())


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
    with _services() as (_, session):
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
    with _services() as (_, session):
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
