"""`soc billing ...`: simulate, close, usage, plans, account, corrections, exports (thin)."""

from __future__ import annotations

import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import typer

from soc.core.cli import cli_session, fail
from soc.core.errors import DomainError
from soc.core.principal import Principal

if TYPE_CHECKING:
    from tenants.billing.invoices import InvoiceView

app = typer.Typer(
    help="SIEM/SOC billing: metering, monthly close, invoices (1 GB = 10^9 bytes).",
    no_args_is_help=True,
)
CLI_ACTOR = Principal(actor="cli", role="admin")


@app.command()
def simulate(
    file: Path = typer.Argument(..., help="JSON {prices, customers}; '-' reads stdin."),
    pretty: bool = typer.Option(False, "--pretty", help="Indent the JSON output."),
) -> None:
    """Compute invoices from given usage without touching the database (what-if).

    Prints a JSON list, one object per customer and month. A month above the highest case
    tier has no invoice: its `error` names the customer, and the command exits 1.
    """
    from tenants.billing import rules

    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        data = json.loads(text, parse_float=Decimal)
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
    except ValueError as exc:
        fail(f"{file} is not valid JSON: {exc}")
    try:
        bills = rules.simulate(data)
    except DomainError as exc:
        fail(exc.message)
    option = orjson.OPT_INDENT_2 if pretty else 0
    typer.echo(orjson.dumps([b.as_json() for b in bills], option=option).decode())
    problems = rules.errors_of(bills)
    if problems:
        for problem in problems[:-1]:
            typer.secho(f"error: {problem}", err=True, fg=typer.colors.RED)
        fail(problems[-1])


@app.command()
def close(
    month: str = typer.Option(..., "--month", help="The finished month to close, YYYY-MM."),
) -> None:
    """Close a month: freeze usage, issue one invoice per customer (re-running is harmless)."""
    from tenants.billing import service

    with cli_session() as session:
        result = service.close_month(session, month, actor=CLI_ACTOR)
    typer.echo(result.summary())
    if result.blocked:
        for problem in result.blocked[:-1]:
            typer.secho(f"error: {problem}", err=True, fg=typer.colors.RED)
        fail(result.blocked[-1])


@app.command()
def usage(
    month: str = typer.Option(None, "--month", help="YYYY-MM; default this month (UTC)."),
    tenant: str = typer.Option(None, "--tenant", help="One customer (slug)."),
) -> None:
    """Month-to-date usage and projected invoice total per customer."""
    from tenants.billing import rules, service

    with cli_session() as session:
        found = service.running_usage(session, CLI_ACTOR, month, tenant, with_hosts=False)
    typer.echo("customer\tmonth\tplan\tGB\tcases\tevents\tprojected_GB\tprojected_total")
    for u in found:
        total = u.projected_total if u.bill else u.prices_error
        typer.echo(
            f"{u.tenant.slug}\t{u.month}\t{u.plan}\t{rules.to_gb(u.usage.bytes)}\t"
            f"{u.usage.cases}\t{u.usage.events}\t{rules.to_gb(u.projected.bytes)}\t{total}"
        )


@app.command()
def plan(
    tenant: str = typer.Argument(..., help="Customer slug."),
    plan_name: str = typer.Argument(..., metavar="PLAN", help="standard or enterprise."),
    effective: str = typer.Option(..., "--from", help="Effective month, YYYY-MM (open)."),
    note: str = typer.Option("", "--note", help="Why (recorded with the decision)."),
) -> None:
    """Record a plan decision for a customer from a month on."""
    from tenants.billing import service

    with cli_session() as session:
        service.decide_plan(session, CLI_ACTOR, tenant, plan_name, effective, note)
    typer.echo(f"{tenant}: {plan_name} from {effective}")


@app.command()
def account(
    tenant: str = typer.Argument(..., help="Customer slug."),
    service_start: str = typer.Option(None, "--service-start", help="First month, YYYY-MM."),
    ceiling: str = typer.Option(None, "--ceiling", help="Monthly contract ceiling, e.g. 5000.00."),
    clear_ceiling: bool = typer.Option(False, "--clear-ceiling", help="Remove the ceiling."),
) -> None:
    """Show or set a customer's start of service and contract ceiling."""
    from tenants.billing import service

    amount = None
    if ceiling is not None:
        try:
            amount = Decimal(ceiling)
        except InvalidOperation:
            fail(f"'{ceiling}' is not an amount")
    with cli_session() as session:
        if service_start or amount is not None or clear_ceiling:
            found = service.set_account(
                session, CLI_ACTOR, tenant, service_start, amount, clear_ceiling
            )
        else:
            found = service.account(session, CLI_ACTOR, tenant)
        plans = ", ".join(f"{p} from {m}" for m, p in found.plans)
    typer.echo(f"{tenant}: service from {found.service_start}; ceiling {found.ceiling or '-'}")
    typer.echo(f"plans: {plans}")


@app.command()
def correct(
    tenant: str = typer.Argument(..., help="Customer slug."),
    refers_to: str = typer.Option(..., "--refers-to", help="The closed month corrected."),
    month: str = typer.Option(..., "--month", help="The open month whose invoice carries it."),
    amount: str = typer.Option(..., "--amount", help="Euros; negative for a credit."),
    reason: str = typer.Option(..., "--reason", help="Why (on the invoice line)."),
) -> None:
    """Add a credit or debit line for a closed month (audited)."""
    from tenants.billing import service

    try:
        value = Decimal(amount)
    except InvalidOperation:
        fail(f"'{amount}' is not an amount")
    with cli_session() as session:
        row = service.add_correction(session, CLI_ACTOR, tenant, refers_to, value, reason, month)
        typer.echo(f"correction {row.id}: {value} for {refers_to}, billed in {month}")


@app.command()
def export(
    month: str = typer.Option(..., "--month", help="A closed month, YYYY-MM."),
    fmt: str = typer.Option("csv", "--format", help="csv, xlsx or pdf."),
    out: Path = typer.Option(
        ...,
        "--out",
        help="A file (csv, xlsx; pdf: with --tenant or one invoice) or, for many PDF "
        "invoices, a folder (a path without a file suffix).",
    ),
    tenant: str = typer.Option(None, "--tenant", help="pdf: only this customer."),
) -> None:
    """Write the month's finance export (CSV/XLSX) or the customers' PDF invoices."""
    from tenants.billing import exports, months, rules, service

    with cli_session() as session:
        rules.check_month(month)
        if not months.is_closed(session, month):
            fail(f"{month} is not closed; run `soc billing close --month {month}` first")
        views = service.invoices(session, CLI_ACTOR, month)
    if fmt == "csv":
        out.write_text(exports.to_csv(views), encoding="utf-8")
    elif fmt == "xlsx":
        out.write_bytes(exports.to_xlsx(views, month))
    elif fmt == "pdf":
        chosen = [v for v in views if tenant is None or v.tenant.slug == tenant]
        if tenant and not chosen:
            fail(f"no invoice for '{tenant}' in {month}")
        if out.suffix and not out.is_dir():
            if len(chosen) != 1:
                fail(
                    f"--out {out} names one file but {month} has {len(chosen)} invoices; "
                    "add --tenant, or give a folder (a path without a file suffix)"
                )
            out.parent.mkdir(parents=True, exist_ok=True)
            _write_signed(out, chosen[0])
        else:
            if out.exists() and not out.is_dir():
                fail(f"--out {out} is a file; give a folder for many invoices")
            out.mkdir(parents=True, exist_ok=True)
            for view in chosen:
                _write_signed(out / exports.invoice_pdf_name(view), view)
        views = chosen
    else:
        fail(f"unknown format '{fmt}'; use csv, xlsx or pdf")
    typer.echo(f"{len(views)} customer(s) written to {out}")


def _write_signed(path: Path, view: InvoiceView) -> None:
    """The PDF and, beside it, its detached signature (`<file>.sig`, for `soc verify`)."""
    from soc.core import signing
    from soc.core.settings import get_settings
    from tenants.billing import exports

    pdf, signature = exports.signed_pdf(view, get_settings())
    path.write_bytes(pdf)
    signing.signature_path(path).write_bytes(signature)


@app.command("check-ceilings")
def check_ceilings(
    month: str = typer.Option(None, "--month", help="YYYY-MM; default this month (UTC)."),
) -> None:
    """Alert customers whose projected spend this month passes their contract ceiling."""
    from tenants.billing import service

    with cli_session() as session:
        found = service.check_ceilings(session, CLI_ACTOR, month)
        for u in found:
            typer.echo(f"{u.tenant.slug}: projected {u.projected_total} > ceiling {u.ceiling}")
    typer.echo(f"{len(found)} new ceiling alert(s)")
