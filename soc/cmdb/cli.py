"""`soc cmdb ...`: simulate the correlation rules, import and inspect the CMDB (thin)."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import typer

from soc.cmdb.inventory_cli import register as register_inventory
from soc.cmdb.simulate import SimulationError, simulate_with_cycles
from soc.core.cli import fail

app = typer.Typer(
    help="CMDB: configuration items, relations, operational status and its correlation.",
    no_args_is_help=True,
)


@app.command("simulate")
def simulate_command(
    file: Path = typer.Argument(..., help="JSON {cis, relations, events, ...}; '-' reads stdin."),
    pretty: bool = typer.Option(False, "--pretty", help="Indent the JSON output."),
) -> None:
    """Run the correlation rules on a topology and events without a database (what-if).

    Prints {cis, applications, incidents, unmatched, not_shared} (schema in the README);
    `depends_on` cycles are reported on stderr. Bad input exits 2 naming the item.
    """
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        doc = orjson.loads(text)
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}", 2)
    except orjson.JSONDecodeError as exc:
        fail(f"{file} is not valid JSON: {exc}", 2)
    if not isinstance(doc, dict):
        fail("input: expected a JSON object", 2)
    try:
        result, cycles = simulate_with_cycles(doc)
    except SimulationError as exc:
        fail(str(exc), 2)
    for cycle in cycles:
        typer.secho(f"warning: dependency cycle: {' -> '.join(cycle)}", err=True)
    option = orjson.OPT_INDENT_2 if pretty else 0
    typer.echo(orjson.dumps(result, option=option | orjson.OPT_SORT_KEYS).decode())


register_inventory(app)
