"""`soc detect`: run Sigma rules over event files and print matches as JSON lines."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import orjson
import typer
from tqdm import tqdm

from detections.engine import RuleLoadError, RuleSet
from detections.engine.cache import user_cache_dir
from detections.rules_cli import rules_app  # `soc rules ...`, registered by soc/cli.py
from detections.sigma_cli_commands import register as _register_sigma_commands
from detections.sources import describe_origin
from ingest.files import iter_events_from_file
from soc.core.settings import get_settings

app = typer.Typer(help="Sigma detection over event files.", no_args_is_help=True)
_register_sigma_commands(rules_app)  # `soc rules check|export` (sigma-cli)
__all__ = ["app", "detect", "rules_app"]


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _cache_dir(no_cache: bool) -> Path | None:
    """The compiled rule cache of this user (a forensic run needs no server data dir)."""
    settings = get_settings()
    if no_cache or not settings.rule_cache:
        return None
    return settings.rule_cache_dir or user_cache_dir()


def _match_record(rule: Any, path: Path, index: int, event: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "rule_id": rule.id,
            "rule_title": rule.title,
            "level": rule.level,
            "tags": rule.tags,
            "rule_path": rule.source,
            "file": str(path),
            "event_index": index,
            "event": event,
        },
        default=str,
    )


@app.command("detect")
def detect(
    rules: list[Path] = typer.Option(
        ..., "--rules", "-r", help="Sigma rule file or directory (repeatable)."
    ),
    files: list[Path] = typer.Argument(..., help="Event files (EVTX, JSON, JSONL, evtx_dump)."),
    show_rule_errors: bool = typer.Option(
        False, "--show-rule-errors", help="Print every rule that could not be loaded."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
    no_cache: bool = typer.Option(
        False,
        "--no-cache",
        help="Parse the rules from source; neither read nor write the compiled rule cache "
        "(SOC_RULE_CACHE_DIR, default ~/.cache/soc/rules).",
    ),
) -> None:
    """Evaluate every event of FILES against the Sigma RULES; one JSON line per match."""
    missing = [p for p in rules if not p.exists()]
    if missing:
        _err(f"error: rule path not found: {', '.join(map(str, missing))}")
        raise typer.Exit(2)
    started = time.perf_counter()
    errors: list[RuleLoadError] = []
    ruleset = RuleSet.from_dirs(rules, on_error=errors.append, cache_dir=_cache_dir(no_cache))
    if not quiet:
        _err(
            f"loaded {len(ruleset.rules)} rules in {time.perf_counter() - started:.2f}s "
            f"from {describe_origin(ruleset)}"
            + (f", {len(errors)} could not be used" if errors else "")
        )
    elif errors:
        _err(f"{len(errors)} rules could not be used")
    if show_rule_errors:
        for e in errors:
            _err(f"rule error: {e.path} [{e.rule_id or '-'}]: {e.reason}")
    if not ruleset.rules:
        _err("error: no usable rules")
        raise typer.Exit(2)

    out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
    show_bar = not quiet and sys.stderr.isatty()
    failed: list[tuple[Path, str]] = []
    n_events = n_matches = 0
    with tqdm(total=len(files), unit="file", disable=not show_bar, file=sys.stderr) as bar:
        for path in files:
            bar.set_postfix_str(path.name)
            try:
                for index, event in enumerate(iter_events_from_file(path)):
                    n_events += 1
                    for rule in ruleset.match(event):
                        n_matches += 1
                        line = _match_record(rule, path, index, event) + b"\n"
                        if out is not None:
                            out.write(line)
                        else:
                            sys.stdout.write(line.decode())
            except (OSError, ValueError) as exc:
                reason = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
                failed.append((path, reason))
                _err(f"error: {reason}")
            bar.update(1)
    if out is not None:
        out.flush()
    if not quiet:
        _err(f"{n_events} events, {n_matches} matches, {len(files) - len(failed)} files ok")
    if failed:
        _err(f"{len(failed)} file(s) failed:")
        for _path, reason in failed:
            _err(f"  {reason}")
        raise typer.Exit(1)


@app.callback()
def _main() -> None:
    """Sigma detection commands."""
