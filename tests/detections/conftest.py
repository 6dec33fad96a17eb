"""Shared fixtures: the SigmaHQ corpus (loaded once per session) and helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from detections.engine import RuleSet

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "sigmahq"
RULE_DIRS = ("rules", "rules-emerging-threats", "rules-threat-hunting")
REGRESSION = CORPUS / "regression_data"
KNOWN_GAPS = REPO_ROOT / "detections" / "KNOWN_GAPS.md"


def corpus_available() -> bool:
    """True when the read-only SigmaHQ corpus is present."""
    return all((CORPUS / d).is_dir() for d in RULE_DIRS)


@pytest.fixture(scope="session")
def corpus_ruleset() -> RuleSet:
    """All corpus rules, loaded once per test session."""
    if not corpus_available():
        pytest.skip("SigmaHQ corpus not available")
    return RuleSet.from_dirs([CORPUS / d for d in RULE_DIRS])
