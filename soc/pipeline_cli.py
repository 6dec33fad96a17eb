"""`soc rules hunt`: a retro-hunt run to its end from the command line. It raises cases, so it
lives with the shell, on the same `Pipeline.hunt` the API's hunt jobs use."""

from __future__ import annotations

import sys
import time

import orjson
import typer
from tqdm import tqdm

from detections.retrohunt import HuntProgress
from detections.rules_cli import CLI_ACTOR, TENANT, rule_arg
from soc.core.cli import fail
from soc.core.errors import DomainError
from soc.core.migrate import upgrade
from soc.core.settings import get_settings


def _say(message: str) -> None:
    typer.echo(message, err=True)


def hunt(
    rule: str = typer.Argument(..., help="Rule YAML file, or a rule id."),
    tenant: str = TENANT,
    days: int = typer.Option(7, "--days", "-d", min=1, max=365, help="How far back."),
) -> None:
    """Retro-hunt RULE over the tenant's stored events of the last N days; alerts for new
    matches, grouped into cases as at ingest."""
    from soc.services import build_services  # the whole server's objects: only when hunting

    rule_id, yaml = rule_arg(rule)
    settings = get_settings()
    upgrade(settings.sqlalchemy_url)
    services = build_services(settings)
    tty = sys.stderr.isatty()
    try:
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
                    _say(
                        f"hunt: {step.scanned}/{step.total} events scanned, "
                        f"{step.matched} matches, day {step.windows_done}/{step.windows}"
                    )

            result = services.pipeline.hunt(CLI_ACTOR, tenant, days, rule_id, yaml, progress)
    except DomainError as exc:
        fail(exc.message)
    finally:
        services.close()
    typer.echo(orjson.dumps(result.as_dict()).decode())
