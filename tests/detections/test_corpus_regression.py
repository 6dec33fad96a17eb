"""SigmaHQ regression samples: each sample's own rule must fire on its .json and .evtx."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from detections.engine import RuleSet
from ingest.files import iter_events_from_file

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "sigmahq"
REGRESSION = CORPUS / "regression_data"
KNOWN_GAPS = REPO_ROOT / "detections" / "KNOWN_GAPS.md"


def corpus_available() -> bool:
    """True when the regression corpus is present."""
    return REGRESSION.is_dir()


pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not corpus_available(), reason="SigmaHQ corpus not available"),
]

MIN_RATE = 0.95


def _samples() -> list[tuple[str, Path]]:
    """(rule id, sample file) for every regression sample file (.json and .evtx)."""
    out: list[tuple[str, Path]] = []
    for info in sorted(REGRESSION.rglob("info.yml")):
        meta = yaml.safe_load(info.read_text(encoding="utf-8"))
        rule_id = str(meta["rule_metadata"][0]["id"])
        for ext in ("json", "evtx"):
            out.extend((rule_id, f) for f in sorted(info.parent.glob(f"*.{ext}")))
    return out


def _known_gaps() -> set[tuple[str, str]]:
    """(rule id, kind) pairs listed in detections/KNOWN_GAPS.md table rows."""
    gaps: set[tuple[str, str]] = set()
    if not KNOWN_GAPS.exists():
        return gaps
    row = re.compile(r"^\|\s*`?([0-9a-f-]{36})`?\s*\|\s*(json|evtx)\s*\|", re.I)
    for line in KNOWN_GAPS.read_text(encoding="utf-8").splitlines():
        if m := row.match(line.strip()):
            gaps.add((m.group(1).lower(), m.group(2).lower()))
    return gaps


def test_regression_samples_fire(corpus_ruleset: RuleSet) -> None:
    samples = _samples()
    assert len(samples) >= 2 * 90, "regression corpus looks incomplete"
    misses: set[tuple[str, str]] = set()
    per_kind: dict[str, list[int]] = {"json": [0, 0], "evtx": [0, 0]}
    for rule_id, path in samples:
        kind = path.suffix.lstrip(".")
        fired = any(
            any(r.id == rule_id for r in corpus_ruleset.match(ev))
            for ev in iter_events_from_file(path)
        )
        per_kind[kind][1] += 1
        if fired:
            per_kind[kind][0] += 1
        else:
            misses.add((rule_id.lower(), kind))
    for kind, (hit, total) in per_kind.items():
        assert hit / total >= MIN_RATE, f"{kind}: only {hit}/{total} samples fire"
    assert misses == _known_gaps(), (
        "regression misses differ from detections/KNOWN_GAPS.md: "
        f"new misses={sorted(misses - _known_gaps())}, "
        f"fixed gaps={sorted(_known_gaps() - misses)}"
    )
