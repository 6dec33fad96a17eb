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
    """The rule set of the configured directories, through the compiled rule-set cache unless
    it is off; what was loaded, from where and in how long goes to the log (the reasons of
    unusable rules: `soc rules errors`)."""
    ruleset = RuleSet.from_dirs(rule_dirs(settings), cache_dir=settings.rule_cache_path)
    log.info(
        "loaded %d Sigma rules (%d unusable) in %.2fs from %s",
        len(ruleset.rules),
        len(ruleset.errors),
        ruleset.load_seconds or 0.0,
        describe_origin(ruleset),
    )
    if ruleset.errors:
        log.warning(
            "%d Sigma rules could not be used (see `soc rules errors`)", len(ruleset.errors)
        )
    return ruleset


def describe_origin(ruleset: RuleSet) -> str:
    """Where a rule set came from: cache ENTRY, source (cached to ENTRY), source (no cache)."""
    if ruleset.load_origin == "cache":
        return f"cache {ruleset.cache_path}"
    if ruleset.cache_path is not None:
        return f"source (cached to {ruleset.cache_path})"
    return "source (no cache)"
