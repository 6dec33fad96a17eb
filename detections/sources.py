"""Where a server's rules come from: the built-in directory and the configured ones."""

from __future__ import annotations

import logging
from pathlib import Path

from detections.engine import RuleSet
from soc.core.settings import Settings

log = logging.getLogger(__name__)
BUILTIN_RULES = Path(__file__).resolve().parent / "rules"


def rule_dirs(settings: Settings) -> list[Path]:
    dirs = [BUILTIN_RULES] if settings.include_builtin_rules else []
    return dirs + list(settings.rules_dirs)


def load_ruleset(settings: Settings) -> RuleSet:
    """The rule set of the configured directories; unusable rules are counted in the log
    (their reasons: `soc rules errors`)."""
    ruleset = RuleSet.from_dirs(rule_dirs(settings))
    if ruleset.errors:
        log.warning(
            "%d Sigma rules could not be used (see `soc rules errors`)", len(ruleset.errors)
        )
    return ruleset
