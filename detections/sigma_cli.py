"""`soc rules check` and `soc rules export`: sigma-cli's own `check` and `convert` commands,
run in-process on the product's pySigma, over rule files or over a tenant's enabled rule set.

sigma-cli 3.1 declares ``pysigma<2``; it is installed with ``--no-deps`` beside pySigma 2
(requirements/no-deps.txt) and tests/detections/test_sigma_cli.py proves both commands run on
it. Reusing the commands, not re-implementing them, keeps the validators, the wording of the
report, the exit codes and the backends' output exactly those of `sigma check` / `sigma
convert`; the installed pySigma backend plugins are the targets (`sigma list targets`).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from detections.attack_data import use_offline_reference_data
from detections.engine import CompiledRule


class SigmaCliMissing(RuntimeError):
    """sigma-cli is not installed (scripts/bootstrap.sh installs it from no-deps.txt)."""


def _command(name: str) -> Any:
    use_offline_reference_data()
    try:
        if name == "check":
            from sigma.cli.check import check as command
        else:
            from sigma.cli.convert import convert as command
    except ImportError as exc:  # pragma: no cover - bootstrap installs it
        raise SigmaCliMissing(
            "sigma-cli is not installed: pip install --no-deps -r requirements/no-deps.txt"
        ) from exc
    # sigma-cli binds `from sys import stderr` at import: rebind it to this run's stream (a
    # second run in one process, e.g. under a test runner, would write to a closed one).
    for module in ("sigma.cli.check", "sigma.cli.rules", "sigma.cli.convert"):
        loaded = sys.modules.get(module)
        if loaded is not None and hasattr(loaded, "stderr"):
            setattr(loaded, "stderr", sys.stderr)  # noqa: B010 - a module attribute
    return command


def run_sigma(name: str, args: list[str]) -> int:
    """Run sigma-cli's ``check`` or ``convert`` with ``args``; its exit code."""
    command = _command(name)
    try:
        # Without standalone mode click returns the command's ctx.exit() code.
        code = command.main(args=args, prog_name=f"soc rules {name}", standalone_mode=False)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    except Exception as exc:  # click usage errors and sigma errors: shown as sigma shows them
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return code if isinstance(code, int) else 0


def rule_documents(rules: Iterable[CompiledRule]) -> Iterator[tuple[str, str]]:
    """(file name, YAML) for each rule, written back from pySigma's parsed form."""
    for rule in rules:
        parsed = rule.sigma_rule
        if parsed is None:
            continue
        yield f"{rule.id}.yml", yaml.safe_dump(parsed.to_dict(), sort_keys=False)


@contextmanager
def rules_directory(rules: Iterable[CompiledRule]) -> Iterator[Path]:
    """A temporary directory holding ``rules`` as Sigma files (a tenant's enabled set)."""
    with tempfile.TemporaryDirectory(prefix="soc-rules-") as tmp:
        for name, text in rule_documents(rules):
            (Path(tmp) / name).write_text(text, encoding="utf-8")
        yield Path(tmp)
