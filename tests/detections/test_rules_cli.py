"""`soc rules ...` on a real (SQLite) database and event store: validate, import, list,
disable, test, hunt."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from ingest.events import normalise
from ingest.store.sqlite import SQLiteEventStore
from soc.cli import app
from soc.core.settings import get_settings
from tests.detections.test_rules_api import NET_RULE, net_event

runner = CliRunner()
WHOAMI = "e6fb6eac-9ce3-4c04-b51b-cdaed8a36161"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    assert runner.invoke(app, ["tenants", "create", "acme", "--name", "Acme"]).exit_code == 0
    yield tmp_path
    get_settings.cache_clear()


def soc(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_validate_import_list_disable(env: Path) -> None:
    rules = env / "rules"
    rules.mkdir()
    (rules / "net.yml").write_text(NET_RULE)
    (rules / "broken.yml").write_text("title: broken\nlogsource: {}\ndetection: {}\n")
    code, out = soc("rules", "validate", str(rules))
    assert code == 1 and "UNUSABLE" in out and "broken.yml" in out and "1 loaded" in out
    code, out = soc("rules", "validate", "--json", str(rules / "net.yml"))
    assert code == 0 and orjson.loads(out[: out.rindex("}") + 1])["summary"]["loaded"] == 1
    code, out = soc("rules", "import", str(rules), "--tenant", "acme")
    assert code == 0 and "1 created" in out
    code, out = soc("rules", "list", "--tenant", "acme", "--level", "medium")
    assert "Tenant net tool" in out
    code, out = soc("rules", "disable", "--tenant", "acme", "--level", "low")
    assert code == 0 and "disabled level=low" in out
    code, out = soc("rules", "list", "--tenant", "acme", "--disabled", "--json")
    assert WHOAMI in out
    code, out = soc("rules", "enable", "--tenant", "acme")
    assert code == 2  # no selector
    code, out = soc("rules", "disable", "no-such-rule", "--tenant", "acme")
    assert code == 1 and "not found" in out


def test_test_and_hunt(env: Path) -> None:
    sample = env / "sample.jsonl"
    sample.write_text("\n".join(orjson.dumps(e).decode() for e in (net_event(), {"a": 1})))
    rule_file = env / "net.yml"
    rule_file.write_text(NET_RULE)
    code, out = soc("rules", "test", str(rule_file), str(sample))
    assert code == 0 and "1 of 2 events match" in out
    code, out = soc("rules", "test", WHOAMI, str(sample))
    assert code == 1 and "0 of 2" in out
    store = SQLiteEventStore(get_settings().events_path)
    event = net_event("h-1", 60)
    store.write([normalise(event, orjson.dumps(event), 1, datetime.now(UTC))])
    store.close()
    code, out = soc("rules", "hunt", str(rule_file), "--tenant", "acme", "--days", "2")
    assert code == 0, out
    result = orjson.loads(out.splitlines()[-1])
    assert result["matched"] == 1 and result["new_alerts"] == 1
    code, out = soc("rules", "hunt", str(rule_file), "--tenant", "acme", "--days", "2")
    assert orjson.loads(out.splitlines()[-1])["existing_alerts"] == 1
