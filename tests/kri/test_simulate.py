"""`soc kri simulate`: the README's example, TC1–TC4 of the domain text on other months and
calendars, the seed 004-G worked example exactly, bad input, the CLI."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kri import rules
from kri.simulate import SimulationError, simulate
from risk.workdays import WorkCalendar
from soc.cli import app

CAL = WorkCalendar()


def readme_example() -> tuple[dict[str, Any], dict[str, Any]]:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    part = readme.split("## KRIs, monthly reports and the data-warehouse feed", 1)[1]
    section = part.split("### Simulate (what-if, no database)", 1)[1].split("\n### ", 1)[0]
    blocks = section.split("```json\n")[1:3]
    given, expected = (json.loads(block.split("```", 1)[0]) for block in blocks)
    return given, expected


def test_readme_example_is_what_simulate_prints() -> None:
    given, expected = readme_example()
    assert simulate(given) == expected


@pytest.mark.parametrize(
    ("period", "provider", "end_to_end"),
    [
        ("2026-03", "2026-04-03", "2026-04-09"),  # TC1: Easter Monday 6 Apr
        ("2026-04", "2026-05-06", "2026-05-11"),  # TC1: 1 May on a Friday
        ("2026-12", "2027-01-06", "2027-01-11"),  # year end: 1 Jan
        ("2027-02", "2027-03-03", "2027-03-08"),
        ("2027-03", "2027-04-05", "2027-04-08"),  # Easter Monday 29 Mar is in March
        ("2026-10", "2026-11-04", "2026-11-09"),  # 1 Nov on a Sunday
        ("2026-11", "2026-12-03", "2026-12-08"),  # 11 Nov is in the period itself
    ],
)
def test_due_dates(period: str, provider: str, end_to_end: str) -> None:
    assert rules.due_after_period(CAL, period, 3) == date.fromisoformat(provider)
    assert rules.due_after_period(CAL, period, 6) == date.fromisoformat(end_to_end)


def test_tc1_late_report_and_tc2_on_time_share() -> None:
    kris = [
        {"id": f"k{n}", "direction": "higher_better", "norm": 90, "green": 90, "amber": 80}
        for n in range(12)
    ]
    values = [{"kri": f"k{n}", "value": 95, "submitted": "2026-04-03"} for n in range(11)]
    values.append({"kri": "k11", "value": 95, "submitted": "2026-04-07"})  # TC1: late
    out = simulate({"period": "2026-03", "kris": kris, "values": values})
    assert [k["on_time"] for k in out["kris"]] == [True] * 11 + [False]
    assert (out["on_time_pct"], out["on_time_met"]) == ("91.67", False)  # TC2
    assert out["domains"] == [{"domain": "", "score": "100.00", "penalty_pct": "0.0"}] or (
        out["domains"] == []
    )


def _history(misses: dict[str, list[str]], measured: int) -> list[dict[str, Any]]:
    rows = [
        {"sla": f"sla{n}", "period": "2026-03", "met": True} for n in range(measured - len(misses))
    ]
    for sla, periods in misses.items():
        for month in ("2026-01", "2026-02", "2026-03", "2026-04"):
            rows.append({"sla": sla, "period": month, "met": month not in periods})
    return rows


def test_tc3_repeated_sla_failure() -> None:
    three = ["2026-01", "2026-02", "2026-03"]
    history = _history({"S": three, "R": three}, 40)
    base = {"period": "2026-03", "kris": [], "sla_history": history}
    out = simulate(base)
    assert out["repeated"] == ["R", "S"] and out["repeated_pct"] == "5.00" and out["repeated_met"]
    worse = simulate({**base, "sla_history": _history({"S": three, "R": three, "Q": three}, 40)})
    assert (worse["repeated_pct"], worse["repeated_met"]) == ("7.50", False)
    # S meets in April: no longer repeated; repeated only from the 3rd miss.
    april = simulate({**base, "period": "2026-04"})
    assert april["repeated"] == []
    february = simulate({**base, "period": "2026-02"})
    assert february["repeated"] == []
    assert rules.plan_due(CAL, date(2026, 4, 9)) == date(2026, 4, 23)  # TC3
    assert rules.plan_due(CAL, date(2026, 4, 3)) == date(2026, 4, 20)  # TC4


def test_seed_004g_example_exactly() -> None:
    parts = [
        (Decimal(75), Decimal(80), Decimal("0.25")),
        (Decimal(68), Decimal(70), Decimal("0.40")),
        (Decimal(98), Decimal(100), Decimal("0.25")),
        (Decimal(1), Decimal(2), Decimal("0.10")),
    ]
    achieved = [rules.achievement(v, n, "higher_better") for v, n, _ in parts]
    assert achieved == [Decimal("93.8"), Decimal("97.1"), Decimal("98.0"), Decimal("50.0")]
    [score] = rules.domain_scores(("d", a, w) for a, (_, _, w) in zip(achieved, parts, strict=True))
    assert (score.score, score.penalty_pct) == (Decimal("91.79"), Decimal("0.5"))


@pytest.mark.parametrize(
    ("score", "penalty"),
    [
        ("95.00", "0"),
        ("94.99", "0.5"),
        ("90.00", "0.5"),
        ("89.99", "1"),
        ("80.00", "1"),
        ("79.99", "2"),
        ("0.00", "2"),
    ],
)
def test_penalty_tiers(score: str, penalty: str) -> None:
    assert rules.penalty(Decimal(score), rules.DEFAULT_PENALTY_TIERS) == Decimal(penalty)


def test_lower_better_and_caps() -> None:
    assert rules.achievement(Decimal(4), Decimal(3), "lower_better") == Decimal("75.0")
    assert rules.achievement(Decimal(2), Decimal(3), "lower_better") == Decimal("100.0")
    assert rules.achievement(Decimal(0), Decimal(3), "lower_better") == Decimal("100.0")
    assert rules.achievement(Decimal(120), Decimal(100), "higher_better") == Decimal("100.0")
    assert rules.rag(Decimal(4), Decimal(3), Decimal(5), "lower_better") == "amber"
    assert rules.rag(Decimal(6), Decimal(3), Decimal(5), "lower_better") == "red"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"kris": []}, "period: required"),
        ({"period": "2026-13", "kris": []}, "period"),
        ({"period": "2026-03"}, "kris: required"),
        (
            {
                "period": "2026-03",
                "kris": [{"id": "a", "direction": "up", "norm": 1, "green": 1, "amber": 0}],
            },
            "kris[0].direction",
        ),
        ({"period": "2026-03", "kris": [], "values": [{"kri": "x", "value": 1}]}, "values[0].kri"),
        (
            {
                "period": "2026-03",
                "kris": [
                    {"id": "a", "direction": "higher_better", "norm": "NaN", "green": 1, "amber": 0}
                ],
            },
            "kris[0].norm",
        ),
        (
            {
                "period": "2026-03",
                "kris": [],
                "sla_history": [{"sla": "s", "period": "2026-03", "met": "no"}],
            },
            "sla_history[0].met",
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
    done = CliRunner().invoke(app, ["kri", "simulate", str(path)])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == expected
    path.write_text('{"period": "March", "kris": []}')
    bad = CliRunner().invoke(app, ["kri", "simulate", str(path)])
    assert bad.exit_code == 2 and "period" in bad.output
