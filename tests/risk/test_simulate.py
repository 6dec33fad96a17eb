"""`soc risk simulate`: the README's example, TB1/TB4 through the schema, bad input, the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from risk.simulate import SimulationError, simulate
from soc.cli import app


def readme_example() -> tuple[dict[str, Any], dict[str, Any]]:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    part = readme.split("## Risk register and action registers", 1)[1]
    section = part.split("### Simulate (what-if, no database)", 1)[1].split("\n### ", 1)[0]
    blocks = section.split("```json\n")[1:3]
    given, expected = (json.loads(block.split("```", 1)[0]) for block in blocks)
    return given, expected


def test_readme_example_is_what_simulate_prints() -> None:
    given, expected = readme_example()
    assert simulate(given) == expected


def test_tb1_and_tb4_through_the_schema() -> None:
    items: list[dict[str, Any]] = [
        {"id": n, "scope": "specific", "due": "2026-04-20", "handled": "2026-04-1" + str(n % 10)}
        for n in range(9)
    ]
    items.append({"id": 9, "scope": "common", "due": "2026-04-20", "handled": "2026-04-21"})
    items.append(
        {
            "id": "out",
            "scope": "common",
            "due": "2026-04-01",
            "handled": "2026-04-02",
            "outside_ecosystem": True,
        }
    )
    items.append({"id": "tb1", "scope": "specific", "due": "2026-04-08", "warned": "2026-04-01"})
    out = simulate(
        {
            "as_of": "2026-04-30",
            "period": {"from": "2026-04-01", "to": "2026-04-30"},
            "items": items,
        }
    )
    assert out["period"] == {
        "handled": 11,
        "excluded": 1,
        "on_time": 9,
        "on_time_pct": "90.00",
        "target_met": True,
    }
    tb1 = out["items"][-1]
    assert tb1 == {
        "id": "tb1",
        "warning_due": "2026-03-31",
        "warning": "late",
        "status": "overdue",
        "deadline_approver": "customer",
    }
    assert out["items"][0]["id"] == 0  # ids echoed as given


def test_other_calendars_and_working_day_counts() -> None:
    out = simulate(
        {
            "as_of": "2026-12-01",
            "early_warning_working_days": 3,
            "extra_closing_days": ["2026-12-28", "2026-12-29"],
            "items": [{"id": "ye", "scope": "common", "due": "2027-01-04"}],
        }
    )
    # 1 Jan holiday, 31 and 30 Dec count, 29 and 28 closed, 26-27 weekend, 25 Christmas.
    assert out["items"][0]["warning_due"] == "2026-12-24"
    assert out["period"]["on_time_pct"] == "100.00"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"items": []}, "as_of: required"),
        ({"as_of": "2026-4-1", "items": []}, "as_of: not a 'YYYY-MM-DD' date"),
        (
            {"as_of": "2026-04-01", "items": [{"id": "a", "scope": "x", "due": "2026-04-02"}]},
            "items[0].scope",
        ),
        ({"as_of": "2026-04-01", "items": [{"id": "a", "scope": "common"}]}, "items[0].due"),
        (
            {
                "as_of": "2026-04-01",
                "items": [
                    {"id": "a", "scope": "common", "due": "2026-04-02"},
                    {"id": "a", "scope": "common", "due": "2026-04-03"},
                ],
            },
            "items[1].id: duplicate",
        ),
        (
            {"as_of": "2026-04-01", "early_warning_working_days": True, "items": []},
            "early_warning_working_days",
        ),
        (
            {
                "as_of": "2026-04-01",
                "items": [],
                "period": {"from": "2026-05-01", "to": "2026-04-01"},
            },
            "before",
        ),
        (
            {
                "as_of": "2026-04-01",
                "items": [
                    {"id": "a", "scope": "common", "due": "2026-04-02", "outside_ecosystem": "yes"}
                ],
            },
            "outside_ecosystem",
        ),
    ],
)
def test_bad_input_names_the_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(SimulationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        simulate(doc)


def test_cli(tmp_path: Path) -> None:
    given, expected = readme_example()
    path = tmp_path / "in.json"
    path.write_text(json.dumps(given))
    runner = CliRunner()
    done = runner.invoke(app, ["risk", "simulate", str(path)])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == expected
    path.write_text('{"as_of": "2026-13-01", "items": []}')
    bad = runner.invoke(app, ["risk", "simulate", str(path)])
    assert bad.exit_code == 2
    assert "as_of" in bad.output
