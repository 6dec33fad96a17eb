"""Loading the whole corpus never crashes; every unusable rule carries a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from detections.engine import RuleLoadError, RuleSet

REPO_ROOT = Path(__file__).resolve().parents[2]
OWN_RULES = REPO_ROOT / "detections" / "rules"


@pytest.mark.corpus
def test_full_corpus_loads(corpus_ruleset: RuleSet) -> None:
    assert len(corpus_ruleset.rules) > 3000
    for err in corpus_ruleset.errors:
        assert isinstance(err, RuleLoadError)
        assert err.reason and err.path
    ids = [r.id for r in corpus_ruleset.rules]
    assert all(ids)
    # a fast load is part of the contract (generous bound for slow CI machines)
    assert corpus_ruleset.load_seconds is not None and corpus_ruleset.load_seconds < 120


def test_bad_rules_become_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.yml").write_text("title: [unclosed\n", encoding="utf-8")
    (tmp_path / "nodetect.yml").write_text(
        "title: x\nlogsource:\n  product: windows\n", encoding="utf-8"
    )
    (tmp_path / "badmod.yml").write_text(
        "title: x\nid: 5f2b8b8e-4a39-4c4e-9d8a-3b0a6a4c2f10\nlogsource:\n  product: windows\n"
        "detection:\n  sel:\n    Image|nosuchmodifier: a\n  condition: sel\n",
        encoding="utf-8",
    )
    (tmp_path / "corr.yml").write_text(
        "title: base\nname: base_rule\nid: 0b3f0a4e-8d36-4a2b-9d3c-2c8a1f4e5d61\n"
        "logsource:\n  product: windows\n  service: security\n"
        "detection:\n  sel:\n    EventID: 4625\n  condition: sel\n"
        "---\n"
        "title: corr\nid: 7d5a0c2e-1b6f-4f0a-8a9e-6c2d3b4e5f70\n"
        "correlation:\n  type: event_count\n  rules:\n    - base_rule\n"
        "  group-by:\n    - TargetUserName\n  timespan: 5m\n  condition:\n    gte: 10\n",
        encoding="utf-8",
    )
    (tmp_path / "binary.yml").write_bytes(b"\xff\xfe\x00garbage")
    seen: list[RuleLoadError] = []
    rs = RuleSet.from_dirs([tmp_path], on_error=seen.append)
    assert [r.title for r in rs.rules] == ["base"]
    assert seen == rs.errors
    reasons = {Path(e.path or "").name: e.reason for e in rs.errors}
    assert set(reasons) == {"broken.yml", "nodetect.yml", "badmod.yml", "binary.yml"}
    assert [c.title for c in rs.correlations] == ["corr"]
    assert all(reasons.values())


def test_own_rules_load() -> None:
    rs = RuleSet.from_dirs([OWN_RULES])
    assert not rs.errors, rs.errors
    assert 3 <= len(rs.rules) <= 5
    assert len({r.id for r in rs.rules}) == len(rs.rules)
