"""`soc billing simulate` (no database) and `soc billing close` exit codes and messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soc.cli import app
from tests.billing.conftest import PRICES_FILE, example_prices

EXAMPLE = PRICES_FILE.parent / "billing-simulate.example.json"


def test_simulate_the_documented_example() -> None:
    result = CliRunner().invoke(app, ["billing", "simulate", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    bills = json.loads(result.stdout)
    assert [(b["customer"], b["month"], b["total"]) for b in bills] == [
        ("alpha", "2025-01", "350.00"),
        ("alpha", "2025-02", "350.00"),
        ("alpha", "2025-03", "904.34"),
        ("beta", "2025-02", "350.00"),
        ("beta", "2025-03", "350.00"),
    ]
    assert bills[1]["notify"] is True and bills[2]["case_tier"] == "0-25"


def test_simulate_above_200_cases_exits_1_naming_the_customer(tmp_path: Path) -> None:
    data = {
        "prices": example_prices(),
        "customers": [
            {
                "id": "bigco",
                "plans": [{"from": "2025-01", "plan": "enterprise"}],
                "usage": {"2025-01": {"bytes": 0, "cases": 201}},
            }
        ],
    }
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(app, ["billing", "simulate", str(path)])
    assert result.exit_code == 1
    assert "bigco" in result.stderr and "above the highest contractual tier" in result.stderr
    assert json.loads(result.stdout)[0]["total"] is None


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not valid JSON"), ('{"prices": {}, "customers": []}', "prices")],
)
def test_simulate_bad_input_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "in.json"
    path.write_text(content)
    result = CliRunner().invoke(app, ["billing", "simulate", str(path)])
    assert result.exit_code == 1 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_close_without_price_table_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from soc.core.settings import get_settings

    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("SOC_BILLING_PRICES", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["billing", "close", "--month", "2001-01"])
        assert result.exit_code == 1
        assert "no price table" in result.stderr
        monkeypatch.setenv("SOC_BILLING_PRICES_FILE", str(PRICES_FILE))
        get_settings.cache_clear()
        result = CliRunner().invoke(app, ["billing", "close", "--month", "2001-01"])
        assert result.exit_code == 0, result.stderr
        assert "2001-01 closed: 0 invoice(s)" in result.stdout
    finally:
        get_settings.cache_clear()


STANDALONE = """
import sys
from typer.testing import CliRunner
from tenants.billing.cli import app
result = CliRunner().invoke(app, ["close", "--month", "2001-01"])
shell = sorted(m for m in ("soc.cli", "soc.services", "soc.app") if m in sys.modules)
print(result.stdout, "shell:", shell)
sys.exit(result.exit_code or bool(shell))
"""


def test_billing_commands_need_no_shell(tmp_path: Path) -> None:
    """The billing sub-app opens and migrates a fresh database itself, without importing the
    shell that registers it (`soc.cli` once did, and imported it back)."""
    env = os.environ | {
        "SOC_DATA_DIR": str(tmp_path / "var"),
        "SOC_BILLING_PRICES_FILE": str(PRICES_FILE),
    }
    env.pop("SOC_BILLING_PRICES", None)
    env.pop("SOC_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", STANDALONE],
        env=env,
        cwd=PRICES_FILE.parents[1],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2001-01 closed: 0 invoice(s)" in done.stdout and "shell: []" in done.stdout
