"""`soc kri ...`: simulate the KRI rules (thin: the work is in the services)."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import typer

from kri import reports_cli
from kri.simulate import SimulationError, simulate
from soc.core.cli import fail

app = typer.Typer(
    help="KRIs: catalogue, submissions, scores, monthly reports, the data-warehouse feed.",
    no_args_is_help=True,
)
reports_cli.register(app)


@app.command("simulate")
def simulate_command(
    file: Path = typer.Argument(..., help="JSON {period, kris, values, ...}; '-' reads stdin."),
    pretty: bool = typer.Option(False, "--pretty", help="Indent the JSON output."),
) -> None:
    """Apply the KRI rules without a database (what-if).

    Prints {due, kris, on_time_pct, on_time_met, domains, repeated, repeated_pct,
    repeated_met} (schema in the README). Bad input exits 2 naming the field.
    """
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        doc = orjson.loads(text)
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}", 2)
    except orjson.JSONDecodeError as exc:
        fail(f"{file} is not valid JSON: {exc}", 2)
    try:
        result = simulate(doc)
    except SimulationError as exc:
        fail(str(exc), 2)
    option = orjson.OPT_INDENT_2 if pretty else 0
    typer.echo(orjson.dumps(result, option=option).decode())
