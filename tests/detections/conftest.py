"""Where the SigmaHQ corpus is; its rule set fixture `corpus_ruleset` is in tests/conftest.py
(one load per session for every test folder)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "sigmahq"
RULE_DIRS = ("rules", "rules-emerging-threats", "rules-threat-hunting")
REGRESSION = CORPUS / "regression_data"
KNOWN_GAPS = REPO_ROOT / "detections" / "KNOWN_GAPS.md"


def corpus_available() -> bool:
    """True when the read-only SigmaHQ corpus is present."""
    return all((CORPUS / d).is_dir() for d in RULE_DIRS)
