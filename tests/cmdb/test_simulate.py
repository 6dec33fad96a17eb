"""The correlation rules through `simulate` (the README's schema): TA1, TA2 of the wave-2
requirements with other dates, clusters, maintenance, cycles, incidents fanned out across
tenants, unmatched and not-shared events, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from soc.cli import app
from soc.cmdb.simulate import SimulationError, simulate


def ta1(when: str = "2026-05-13T10:00:00Z", **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "cis": [
            {"id": "payroll", "type": "application", "provider": "P5", "tenants": ["klant-1"]},
            {"id": "vm-42", "type": "vm", "provider": "P3"},
            {"id": "fw-1", "type": "firewall", "provider": "P4"},
        ],
        "relations": [
            {"from": "payroll", "to": "vm-42", "type": "depends_on"},
            {"from": "vm-42", "to": "fw-1", "type": "depends_on"},
        ],
        "share_policy": {"P4": {"min_severity": "major", "event_types": ["availability"]}},
        "events": [
            {
                "ci": "fw-1",
                "severity": "critical",
                "state": "firing",
                "time": when,
                "fingerprint": "fw-1-down",
                "provider": "P4",
                "event_type": "availability",
            }
        ],
        "as_of": "2030-01-01T00:00:00Z",
    }
    doc.update(extra)
    return doc


@pytest.mark.parametrize("when", ["2026-05-13T10:00:00Z", "2027-02-28T23:59:00+01:00"])
def test_ta1_critical_firewall_takes_down_vm_and_payroll(when: str) -> None:
    out = simulate(ta1(when))
    assert out["cis"]["fw-1"] == {"state": "down", "own": True}
    assert out["cis"]["vm-42"] == {"state": "down", "own": False}
    assert out["cis"]["payroll"] == {"state": "down", "own": False}
    assert out["applications"] == {"payroll": {"status": "down", "root_causes": ["fw-1"]}}
    assert out["incidents"] == [
        {"root_causes": ["fw-1"], "applications": ["payroll"], "tenants": ["klant-1"]}
    ]
    assert out["unmatched"] == [] and out["not_shared"] == []


def test_ta2_event_type_outside_agreed_subset_changes_nothing() -> None:
    doc = ta1()
    doc["events"][0]["event_type"] = "performance"
    out = simulate(doc)
    assert out["not_shared"] == ["fw-1-down"]
    assert all(ci["state"] == "operational" for ci in out["cis"].values())
    assert out["incidents"] == []


def test_below_min_severity_is_not_shared_and_later_events_do_not_exist_yet() -> None:
    doc = ta1()
    doc["events"][0]["severity"] = "minor"
    assert simulate(doc)["not_shared"] == ["fw-1-down"]
    late = ta1(as_of="2026-05-13T09:59:59Z")
    out = simulate(late)
    assert out["cis"]["fw-1"]["state"] == "operational" and out["not_shared"] == []


def test_resolved_clears_only_its_fingerprint_and_latest_event_wins() -> None:
    doc = ta1()
    base = doc["events"][0]
    doc["events"] += [
        {**base, "fingerprint": "fw-1-cpu", "severity": "major", "time": "2026-05-13T10:01:00Z"},
        {**base, "state": "resolved", "time": "2026-05-13T11:00:00Z"},
    ]
    out = simulate(doc)
    assert out["cis"]["fw-1"] == {"state": "degraded", "own": True}
    assert out["applications"]["payroll"] == {"status": "degraded", "root_causes": ["fw-1"]}
    # Input order does not matter: time does.
    doc["events"].reverse()
    assert simulate(doc)["cis"]["fw-1"]["state"] == "degraded"


def test_warning_and_info_change_no_state() -> None:
    doc = ta1(share_policy={})
    doc["events"][0]["severity"] = "warning"
    doc["events"].append({**doc["events"][0], "fingerprint": "i", "severity": "info"})
    out = simulate(doc)
    assert all(ci == {"state": "operational", "own": False} for ci in out["cis"].values())


def cluster_doc(down: int, min_healthy: int | None = 2, members: int = 3) -> dict[str, Any]:
    cluster: dict[str, Any] = {"id": "db-cluster", "type": "cluster"}
    if min_healthy is not None:
        cluster["min_healthy"] = min_healthy
    cis = [{"id": "crm", "type": "application", "tenants": ["t1"]}, cluster]
    rels = [{"from": "crm", "to": "db-cluster", "type": "runs_on"}]
    events = []
    for n in range(members):
        cis.append({"id": f"node-{n}", "type": "server"})
        rels.append({"from": f"node-{n}", "to": "db-cluster", "type": "member_of"})
        if n < down:
            events.append(
                {
                    "ci": f"node-{n}",
                    "severity": "critical",
                    "state": "firing",
                    "time": "2026-03-01T00:00:00Z",
                    "fingerprint": f"n{n}",
                }
            )
    return {
        "cis": cis,
        "relations": rels,
        "events": events,
        "as_of": "2026-03-02T00:00:00Z",
    }


@pytest.mark.parametrize(
    ("down", "min_healthy", "state"),
    [
        (0, 2, "operational"),
        (1, 2, "degraded"),
        (2, 2, "down"),
        (3, 2, "down"),
        (2, None, "degraded"),
        (3, None, "down"),
        (1, 3, "down"),
    ],
)
def test_cluster_needs_min_healthy_members_up(
    down: int, min_healthy: int | None, state: str
) -> None:
    out = simulate(cluster_doc(down, min_healthy))
    assert out["cis"]["db-cluster"] == {"state": state, "own": False}
    app = out["applications"]["crm"]
    assert app["status"] == state
    assert app["root_causes"] == [f"node-{n}" for n in range(down)]


def test_degraded_member_counts_as_up() -> None:
    doc = cluster_doc(0)
    doc["events"] = [
        {
            "ci": f"node-{n}",
            "severity": "major",
            "state": "firing",
            "time": "2026-03-01T00:00:00Z",
            "fingerprint": f"m{n}",
        }
        for n in range(3)
    ]
    assert simulate(doc)["cis"]["db-cluster"]["state"] == "degraded"


def test_maintenance_is_not_down_and_maintenance_only_application_shows_maintenance() -> None:
    doc = ta1(
        maintenance=[{"ci": "fw-1", "from": "2026-05-13T09:00:00Z", "to": "2026-05-13T12:00:00Z"}]
    )
    doc["as_of"] = "2026-05-13T11:00:00Z"
    out = simulate(doc)
    assert out["cis"]["fw-1"] == {"state": "maintenance", "own": False}
    assert out["applications"]["payroll"] == {"status": "maintenance", "root_causes": []}
    assert out["incidents"] == []
    doc["as_of"] = "2026-05-13T12:00:00Z"  # the window has closed: the alert counts again
    assert simulate(doc)["applications"]["payroll"]["status"] == "down"


def test_worst_wins_over_maintenance() -> None:
    doc = ta1(
        maintenance=[{"ci": "vm-42", "from": "2026-05-13T09:00:00Z", "to": "2026-05-14T00:00:00Z"}]
    )
    doc["as_of"] = "2026-05-13T11:00:00Z"
    out = simulate(doc)
    assert out["cis"]["vm-42"]["state"] == "down"  # its dependency is down
    assert out["applications"]["payroll"]["root_causes"] == ["fw-1"]


def test_connects_to_does_not_propagate() -> None:
    doc = ta1()
    doc["relations"] = [{"from": "payroll", "to": "fw-1", "type": "connects_to"}]
    out = simulate(doc)
    assert out["applications"]["payroll"]["status"] == "operational"


def test_only_the_deepest_impaired_ci_is_root_cause() -> None:
    doc = ta1(share_policy={})
    doc["events"].append(
        {
            "ci": "vm-42",
            "severity": "critical",
            "state": "firing",
            "time": "2026-05-13T10:02:00Z",
            "fingerprint": "vm-down",
        }
    )
    out = simulate(doc)
    assert out["cis"]["vm-42"] == {"state": "down", "own": True}
    assert out["applications"]["payroll"]["root_causes"] == ["fw-1"]


def test_shared_outage_fans_out_to_every_tenant_and_groups_incidents() -> None:
    doc = {
        "cis": [
            {"id": "core-fw", "type": "firewall", "provider": "P4", "tenants": ["a", "b"]},
            {"id": "app-a", "type": "application", "tenants": ["a"]},
            {"id": "app-b", "type": "application", "tenants": ["b", "c"]},
            {"id": "app-c", "type": "application", "tenants": ["c"]},
            {"id": "db-c", "type": "database"},
        ],
        "relations": [
            {"from": "app-a", "to": "core-fw", "type": "depends_on"},
            {"from": "app-b", "to": "core-fw", "type": "hosted_in"},
            {"from": "app-c", "to": "db-c", "type": "runs_on"},
        ],
        "events": [
            {
                "ci": "core-fw",
                "severity": "critical",
                "state": "firing",
                "time": "2026-01-05T08:00:00Z",
                "fingerprint": "fw",
            },
            {
                "ci": "db-c",
                "severity": "major",
                "state": "firing",
                "time": "2026-01-05T08:00:00Z",
                "fingerprint": "db",
            },
            {
                "ci": "ghost",
                "severity": "critical",
                "state": "firing",
                "time": "2026-01-05T08:00:00Z",
                "fingerprint": "nobody",
            },
            {
                "severity": "critical",
                "state": "firing",
                "time": "2026-01-05T08:00:00Z",
                "fingerprint": "no-ci",
            },
        ],
        "as_of": "2026-01-05T09:00:00Z",
    }
    out = simulate(doc)
    assert out["incidents"] == [
        {
            "root_causes": ["core-fw"],
            "applications": ["app-a", "app-b"],
            "tenants": ["a", "b", "c"],
        },
        {"root_causes": ["db-c"], "applications": ["app-c"], "tenants": ["c"]},
    ]
    assert out["unmatched"] == ["no-ci", "nobody"]


def test_cycle_terminates_and_clears_when_its_alert_resolves() -> None:
    doc = {
        "cis": [
            {"id": "app", "type": "application"},
            {"id": "a", "type": "service"},
            {"id": "b", "type": "service"},
        ],
        "relations": [
            {"from": "app", "to": "a", "type": "depends_on"},
            {"from": "a", "to": "b", "type": "depends_on"},
            {"from": "b", "to": "a", "type": "depends_on"},
        ],
        "events": [
            {
                "ci": "b",
                "severity": "critical",
                "state": "firing",
                "time": "2026-01-01T00:00:00Z",
                "fingerprint": "b",
            }
        ],
        "as_of": "2026-01-01T01:00:00Z",
    }
    out = simulate(doc)
    assert out["cis"]["a"]["state"] == out["cis"]["b"]["state"] == "down"
    assert out["applications"]["app"]["root_causes"] == ["b"]
    doc["events"].append({**doc["events"][0], "state": "resolved", "time": "2026-01-01T00:30:00Z"})
    out = simulate(doc)
    assert {ci["state"] for ci in out["cis"].values()} == {"operational"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["relations"].append(
                {"from": "payroll", "to": "nope", "type": "depends_on"}
            ),
            "unknown CI 'nope'",
        ),
        (
            lambda d: d["relations"].append({"from": "payroll", "to": "fw-1", "type": "likes"}),
            "unknown relation type",
        ),
        (lambda d: d["events"][0].update(severity="fatal"), "severity must be one of"),
        (lambda d: d["events"][0].update(time="yesterday"), "not an ISO 8601 time"),
        (lambda d: d["cis"].append({"id": "fw-1", "type": "vm"}), "duplicate CI id"),
        (lambda d: d["cis"].append({"type": "vm"}), "'id' must be a non-empty string"),
    ],
)
def test_bad_input_names_the_item(change: Any, message: str) -> None:
    doc = ta1()
    change(doc)
    with pytest.raises(SimulationError, match=message):
        simulate(doc)


def test_cli_prints_json_reports_cycles_and_fails_clearly(tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "in.json"
    doc = ta1()
    doc["relations"].append({"from": "fw-1", "to": "payroll", "type": "depends_on"})
    path.write_text(json.dumps(doc))
    result = runner.invoke(app, ["cmdb", "simulate", str(path)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["applications"]["payroll"]["status"] == "down"
    assert "dependency cycle" in result.stderr
    path.write_text("{not json")
    result = runner.invoke(app, ["cmdb", "simulate", str(path)])
    assert result.exit_code == 2 and "not valid JSON" in result.stderr


def test_the_readme_example_is_what_simulate_prints() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    cmdb = readme.split("## CMDB, operational events and status", 1)[1]
    section = cmdb.split("### Simulate (what-if, no database)", 1)[1].split("\n### ", 1)[0]
    blocks = section.split("```json\n")[1:3]
    given, expected = (json.loads(block.split("```", 1)[0]) for block in blocks)
    assert simulate(given) == expected
