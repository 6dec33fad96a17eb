"""`detect` command through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from detections.cli import app

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "sigmahq"
OWN_RULES = REPO_ROOT / "detections" / "rules"


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:  # click >= 8.2 always separates stderr
        return CliRunner()


def _sample() -> tuple[str, Path, Path]:
    """(rule id, rule file, sample dir) of one regression sample."""
    info = sorted((CORPUS / "regression_data").rglob("info.yml"))[0]
    rule_id = str(yaml.safe_load(info.read_text())["rule_metadata"][0]["id"])
    rel = info.parent.relative_to(CORPUS / "regression_data")
    rule_file = next((CORPUS / rel.parts[0]).rglob(f"{info.parent.name}.yml"))
    return rule_id, rule_file, info.parent


@pytest.mark.corpus
@pytest.mark.skipif(not (CORPUS / "regression_data").is_dir(), reason="corpus not available")
def test_detect_regression_sample(tmp_path: Path) -> None:
    rule_id, rule_file, sample_dir = _sample()
    files = sorted(sample_dir.glob("*.json")) + sorted(sample_dir.glob("*.evtx"))
    result = _runner().invoke(
        app,
        [
            "detect",
            "--rules",
            str(rule_file),
            "--rules",
            str(OWN_RULES),
            "--quiet",
            *map(str, files),
        ],
    )
    assert result.exit_code == 0, result.stderr
    lines = [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert lines
    assert {"rule_id", "rule_title", "level", "file", "event"} <= set(lines[0])
    fired = {(rec["rule_id"], Path(rec["file"]).suffix) for rec in lines}
    assert (rule_id, ".json") in fired and (rule_id, ".evtx") in fired
    assert all(isinstance(rec["event"], dict) and "EventID" in rec["event"] for rec in lines)


def test_detect_bad_file_continues(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(
        '{"EventID": 1102, "Channel": "Security", "Provider_Name": "Microsoft-Windows-Eventlog"}\n'
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{"b": oops}\n')
    missing = tmp_path / "missing.json"
    result = _runner().invoke(
        app,
        [
            "detect",
            "--rules",
            str(OWN_RULES),
            "--show-rule-errors",
            str(bad),
            str(good),
            str(missing),
        ],
    )
    assert result.exit_code == 1
    recs = [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [r["rule_title"] for r in recs] == ["SOC - Security Event Log Cleared"]
    assert "bad.jsonl" in result.stderr and "line 2" in result.stderr
    assert "missing.json" in result.stderr


def test_detect_reports_rule_errors(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "ok.yml").write_text(
        "title: ok\nid: 31111111-2222-4333-8444-555555555555\nlogsource:\n  product: test\n"
        "detection:\n  sel:\n    a: 1\n  condition: sel\n"
    )
    (rules / "bad.yml").write_text("title: [\n")
    events = tmp_path / "e.json"
    events.write_text('[{"a": 1, "logsource": {"product": "test"}}, {"a": 2}]')
    result = _runner().invoke(
        app, ["detect", "--rules", str(rules), "--show-rule-errors", str(events)]
    )
    assert result.exit_code == 0
    assert "1 could not be used" in result.stderr
    assert "bad.yml" in result.stderr
    assert len(result.stdout.splitlines()) == 1
