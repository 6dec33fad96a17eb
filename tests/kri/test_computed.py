"""Computed KRIs (kri.computed) on small known datasets made through the product: cases
raised by the ingest pipeline and worked through the cases API, risks and actions through the
risk API, CIs through the CMDB API; and the monthly run over K1's catalogue (idempotent)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kri import computed, rules
from kri.computed import COMPUTATIONS, DETAILED, Subject, compute_period
from kri.computed_base import quantize
from kri.models import KriDefinition, KriValue
from risk.workdays import WorkCalendar
from soc.cases.models import Case, Problem
from soc.core.db import utcnow
from soc.core.settings import Settings
from soc.services import Services
from tenants.models import UsageDaily
from tests.api.test_case_workflow_api import raise_cases
from tests.conftest import World
from tests.risk.test_actions_api import make_action
from tests.risk.test_risks_api import make_risk

ALPHA, BETA = Subject(tenant_id=1), Subject(tenant_id=2)
PROV_A, PROV_B = Subject(provider_id=1), Subject(provider_id=2)
K1_NAMES = {
    "cases_p1",
    "cases_p2",
    "cases_p3",
    "cases_p4",
    "response_sla_pct",
    "resolution_sla_pct",
    "p1_mean_resolution_office_h",
    "p1_mean_resolution_outside_h",
    "root_cause_on_time_pct",
    "reassignments",
    "open_high_critical_risks",
    "overdue_actions_pct",
    "actions_on_time_pct",
    "availability_pct",
    "events",
    "gb_ingested",
    "silent_log_sources",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Clocks run 24/7 so that SLA times are wall-clock whatever the hour the tests run."""
    return settings.model_copy(update={"case_24x7": {"*": ["P1", "P2", "P3", "P4"]}})


def period_of(settings: Settings, moment: datetime) -> str:
    return f"{moment.astimezone(ZoneInfo(settings.dwh_timezone)):%Y-%m}"


def run(services: Services, settings: Settings, name: str, subject: Subject, period: str) -> Any:
    with services.db.session() as session:
        return DETAILED[name](session, settings, subject, period)


def post(client: TestClient, world: World, who: str, path: str, body: dict[str, Any]) -> Any:
    answer = client.post(path, json=body, headers=world[who].headers)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def test_every_name_of_the_catalogue_is_computed() -> None:
    assert set(COMPUTATIONS) >= K1_NAMES and "detections_by_tactic" in COMPUTATIONS


def work_cases(client: TestClient, world: World, services: Services) -> dict[str, Any]:
    """alpha: a1 P1 resolved at once; a2 registered 50 h ago (a miss of both clocks),
    assigned to prov-a, moved to prov-b, resolved; a3 left open. beta: b1 left open."""
    a1, a2, a3 = raise_cases(client, world, "alpha", "a1", "a2", "a3")
    (b1,) = raise_cases(client, world, "beta", "b1")
    cases = "/api/v1/cases"
    p1 = post(
        client,
        world,
        "admin",
        f"{cases}/{a1}/priority",
        {"impact": "high", "urgency": "high", "reason": "domain admin"},
    )
    assert p1["priority"] == "P1"
    with services.db.session() as session:
        case = session.get(Case, a2)
        assert case is not None
        case.created_at = case.created_at - timedelta(hours=50)
    post(client, world, "soc_analyst", f"{cases}/{a2}/assign", {"provider": "prov-a"})
    post(client, world, "soc_analyst", f"{cases}/{a2}/assign", {"provider": "prov-b"})
    for case_id in (a1, a2):
        post(client, world, "soc_analyst", f"{cases}/{case_id}/status", {"status": "resolved"})
    with services.db.session() as session:
        rows = {c.id: c for c in session.scalars(select(Case))}
        problem = session.scalars(select(Problem)).one()
        session.expunge_all()
    return {"ids": (a1, a2, a3, b1), "cases": rows, "problem": problem}


def test_case_kris(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    made = work_cases(client, world, services)
    a1, a2, a3, b1 = made["ids"]
    cases: dict[int, Case] = made["cases"]
    period = period_of(settings, utcnow())
    in_period = [c for c in (a1, a2, a3) if period_of(settings, cases[c].created_at) == period]
    for p in ("P1", "P2", "P3", "P4"):
        value, detail = run(services, settings, f"cases_{p.lower()}", ALPHA, period)
        expected = sorted(c for c in in_period if cases[c].priority == p)
        assert (value, detail["cases"]) == (Decimal(len(expected)), expected), p
    assert run(services, settings, "cases_p1", BETA, period)[0] == 0
    assert run(services, settings, "cases_p1", ALPHA, rules.previous_period(period))[0] == 0
    for clock in ("response", "resolution"):
        value, detail = run(services, settings, f"{clock}_sla_pct", ALPHA, period)
        assert (value, detail["counted"], detail["missed"]) == (Decimal("50.00"), 2, [a2])
        assert run(services, settings, f"{clock}_sla_pct", BETA, period)[0] == Decimal("100.00")
    # P1 mean resolution: a1 counts inside or outside office hours, as it was registered.
    office = run(services, settings, "p1_mean_resolution_office_h", ALPHA, period)
    outside = run(services, settings, "p1_mean_resolution_outside_h", ALPHA, period)
    (counted,) = [f for f in (office, outside) if f[0] is not None]
    assert [f[0] for f in (office, outside)].count(None) == 1 and counted[1]["cases"] == [a1]
    one = cases[a1]
    assert one.resolved_at is not None
    hours = Decimal(str((one.resolved_at - one.created_at).total_seconds())) / 3600
    assert counted[0] == quantize(hours)
    # Reassignments: a2 moved from prov-a to prov-b (prov-a passed it on).
    assert run(services, settings, "reassignments", ALPHA, period)[1]["cases"] == [a2]
    assert [run(services, settings, "reassignments", s, period)[0] for s in (PROV_A, PROV_B)] == [
        1,
        0,
    ]
    assert run(services, settings, "reassignments", computed.END_TO_END, period)[0] == 1


def test_root_cause_within_five_working_days(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    problem: Problem = work_cases(client, world, services)["problem"]
    due_period = period_of(settings, problem.root_cause_due)
    value, detail = run(services, settings, "root_cause_on_time_pct", ALPHA, due_period)
    assert (value, detail["late"]) == (Decimal("0.00"), [problem.id])  # not found yet
    post(
        client,
        world,
        "soc_analyst",
        f"/api/v1/problems/{problem.id}/root-cause",
        {"text": "A stolen admin token"},
    )
    value, detail = run(services, settings, "root_cause_on_time_pct", ALPHA, due_period)
    assert (value, detail["counted"], detail["on_time"]) == (Decimal("100.00"), 1, 1)
    assert run(services, settings, "root_cause_on_time_pct", BETA, due_period)[1]["counted"] == 0


def test_events_gb_and_detections_by_tactic(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    raise_cases(client, world, "alpha", "a1", "a2", "a3")
    raise_cases(client, world, "beta", "b1")
    period = period_of(settings, utcnow())
    with services.db.session() as session:
        size = session.scalar(select(func.sum(UsageDaily.bytes)).where(UsageDaily.tenant_id == 1))
    events, detail = run(services, settings, "events", ALPHA, period)
    assert (events, detail["per_ci"]) == (Decimal(3), {"a1": 1, "a2": 1, "a3": 1})
    assert run(services, settings, "events", PROV_B, period)[0] == 1  # prov-b serves beta
    assert run(services, settings, "events", computed.END_TO_END, period)[0] == 4
    gb, detail = run(services, settings, "gb_ingested", ALPHA, period)
    assert detail["bytes"] == size and gb == quantize(Decimal(size) / 10**9, "0.001")
    total, detail = run(services, settings, "detections_by_tactic", ALPHA, period)
    assert (total, detail["by_tactic"]) == (Decimal(3), {"discovery": 3})


def test_silent_log_sources_and_availability_from_the_cmdb(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    raise_cases(client, world, "alpha", "a1")
    period = period_of(settings, utcnow())
    assert run(services, settings, "availability_pct", ALPHA, period) == (
        None,
        {"applications": {}},
    )
    cmdb = "/api/v1/cmdb/cis"
    for name, attributes, names in (
        ("SRV-A1", {"log_source": True}, ["a1"]),
        ("srv-quiet", {"log_source": True}, ["quiet-host"]),
        ("srv-undeclared", {}, []),
    ):
        body = {"name": name, "ci_type": "server", "tenants": ["alpha"], "attributes": attributes}
        post(client, world, "admin", cmdb, body | {"names": names})
    app = post(
        client,
        world,
        "admin",
        cmdb,
        {"name": "portal", "ci_type": "application", "tenants": ["alpha"]},
    )
    count, detail = run(services, settings, "silent_log_sources", ALPHA, period)
    assert (count, detail["declared"]) == (Decimal(1), 2)
    assert [s["name"] for s in detail["silent"]] == ["srv-quiet"]
    assert run(services, settings, "silent_log_sources", BETA, period)[0] == 0
    value, detail = run(services, settings, "availability_pct", ALPHA, period)
    assert value == Decimal("100.000") and list(detail["applications"]) == [str(app["id"])]
    assert run(services, settings, "availability_pct", BETA, period)[0] is None


def test_risk_and_action_kris(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    for tenants, likelihood, impact in (
        (["alpha"], 4, 4),
        (["alpha"], 3, 4),
        (["alpha"], 1, 2),
        (["beta"], 5, 5),
    ):
        make_risk(client, world, tenants=tenants, likelihood=likelihood, impact=impact)
    period = period_of(settings, utcnow())
    count, detail = run(services, settings, "open_high_critical_risks", ALPHA, period)
    assert count == 2 and len(detail["high"]) == 1 and len(detail["critical"]) == 1
    assert run(services, settings, "open_high_critical_risks", computed.END_TO_END, period)[0] == 3
    earlier = rules.previous_period(period)
    assert run(services, settings, "open_high_critical_risks", ALPHA, earlier)[0] == 0
    past, future = "2026-01-12", "2099-01-05"
    overdue = make_action(client, world, due=past)["id"]
    make_action(client, world, due=future)
    for due in (future, past):  # handled today: on time, and late
        action = make_action(client, world, due=due)["id"]
        post(
            client,
            world,
            "soc_analyst",
            f"/api/v1/risk/actions/{action}/notes",
            {"text": "done", "status": "handled"},
        )
    value, detail = run(services, settings, "overdue_actions_pct", ALPHA, period)
    assert (value, detail["open"], detail["overdue"]) == (Decimal("50.00"), 2, [overdue])
    value, detail = run(services, settings, "actions_on_time_pct", ALPHA, period)
    assert (value, detail["handled"], len(detail["late"])) == (Decimal("50.00"), 2, 1)
    assert run(services, settings, "actions_on_time_pct", PROV_B, period)[1]["handled"] == 0


def test_compute_period_over_the_catalogue_is_idempotent(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    from kri.catalogue import seed_catalogue

    raise_cases(client, world, "alpha", "a1", "a2")
    period = period_of(settings, utcnow())
    now = utcnow()
    with services.db.session() as session:
        if session.scalar(select(func.count()).select_from(KriDefinition)) == 0:
            seed_catalogue(session, settings)
        wanted = list(
            session.scalars(
                select(KriDefinition).where(
                    KriDefinition.source == "computed", KriDefinition.enabled.is_(True)
                )
            )
        )
        assert {d.computation for d in wanted} <= set(COMPUTATIONS)
        first = compute_period(session, settings, period, now)
        second = compute_period(session, settings, period, now)
        rows = list(session.scalars(select(KriValue).where(KriValue.current.is_(True))))
    per_scope = {"customer": 2, "provider": 2, "end_to_end": 1}
    assert first == sum(per_scope[d.scope] for d in wanted) == len(rows) and second == 0
    calendar = WorkCalendar.with_closing_days(settings.risk_extra_closing_days)
    due = rules.due_after_period(calendar, period, settings.kri_due_working_days_end_to_end)
    assert all(r.due == due and r.on_time and r.source == "computed" for r in rows)
    events = next(r for r in rows if r.kri_id == "events" and r.tenant_id == 1)
    assert events.value == "2" and events.detail["per_ci"] == {"a1": 1, "a2": 1}
    raise_cases(client, world, "alpha", "a3")
    with services.db.session() as session:
        assert compute_period(session, settings, period, utcnow()) >= 1
        history = list(
            session.scalars(
                select(KriValue).where(KriValue.kri_id == "events", KriValue.tenant_id == 1)
            )
        )
    assert [(r.value, r.current) for r in history] == [("2", False), ("3", True)]


def test_the_daily_run_computes_last_and_running_month(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    from kri.catalogue import seed_catalogue

    raise_cases(client, world, "alpha", "a1")
    now = utcnow()
    running = period_of(settings, now)
    with services.db.session() as session:
        if session.scalar(select(func.count()).select_from(KriDefinition)) == 0:
            seed_catalogue(session, settings)
        done = computed.compute_due(session, settings, now)
        again = computed.compute_due(session, settings, now)
        periods = set(session.scalars(select(KriValue.period).where(KriValue.current.is_(True))))
    assert done["period"] == rules.previous_period(running) and done["written"] > 0
    assert periods == {running, rules.previous_period(running)}
    assert again["written"] == 0 and again["plans"] == []
