"""`soc risk ...`: simulate the deadline rules, import and export registers, run the
early-warning sweep and the monthly follow-up (thin: the work is in the services)."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import typer

from risk import actions_cli, io_cli
from risk.simulate import SimulationError, simulate
from soc.core.cli import fail

app = typer.Typer(
    help="Risk register and action registers: risks, acceptance, actions, deadlines.",
    no_args_is_help=True,
)
io_cli.register(app)
actions_cli.register(app)


@app.command("simulate")
def simulate_command(
    file: Path = typer.Argument(..., help="JSON {as_of, items, ...}; '-' reads stdin."),
    pretty: bool = typer.Option(False, "--pretty", help="Indent the JSON output."),
) -> None:
    """Apply the deadline rules to items without a database (what-if).

    Prints {items, period}: each item's early-warning day, warning state, status and deadline
    approver, and the period's on-time share (schema in the README). Bad input exits 2 naming
    the field.
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
