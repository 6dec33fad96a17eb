"""The event → status path on a real database: TA1/TA2/TA5 of the wave-2 requirements, who
sees what, dedup, stale and flapping events, maintenance windows, incidents and their problem
records, and a second server process catching up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from soc.cases.models import Problem
from soc.cases.problems import root_cause_on_time
from soc.cmdb import events, views
from soc.cmdb.engine import StatusEngine
from soc.cmdb.events import EventInput
from soc.cmdb.models import Maintenance, OpsEvent, OpsIncident, StatusChange
from soc.cmdb.upkeep import run_upkeep
from soc.core.principal import SYSTEM, Principal, Scope
from soc.services import Services
from tenants import service as tenant_service
from tests.cmdb.topology import add_ci, relate

T0 = datetime(2026, 5, 13, 10, 0, tzinfo=UTC)  # a Wednesday


@dataclass
class Ta1:
    providers: dict[str, int]
    tenants: dict[str, int]
    cis: dict[str, int]

    def provider(self, name: str) -> Principal:
        return Principal(name, "provider", scope=Scope.of_provider(self.providers[name], ()))

    def customer(self, tenant: str) -> Principal:
        return Principal(f"cust-{tenant}", "customer", scope=Scope.of_tenants(self.tenants[tenant]))


@pytest.fixture
def ta1(services: Services) -> Ta1:
    with services.db.session() as s:
        providers = {
            p: tenant_service.create_provider(s, SYSTEM, p.lower(), p).id
            for p in ("P3", "P4", "P5")
        }
        tenants = {
            t: tenant_service.create_tenant(s, SYSTEM, t, t.title()).id
            for t in ("payroll-klant", "other-klant")
        }
        cis = {
            "payroll": add_ci(
                s, "Payroll", "application", providers["P5"], [tenants["payroll-klant"]]
            ),
            "vm-42": add_ci(s, "vm-42", "vm", providers["P3"]),
            "fw-1": add_ci(s, "fw-1", "firewall", providers["P4"]),
            "crm": add_ci(s, "CRM", "application", providers["P5"], [tenants["other-klant"]]),
        }
        relate(s, cis["payroll"], cis["vm-42"])
        relate(s, cis["vm-42"], cis["fw-1"])
        events.set_policy(s, SYSTEM, "p4", "major", ["availability"])
    return Ta1(providers, tenants, cis)


def fire(services: Services, actor: Principal, ci: str, at: datetime, **kw: str) -> events.Received:
    event = EventInput(
        fingerprint=kw.pop("fingerprint", f"{ci}-avail"),
        severity=kw.pop("severity", "critical"),
        state=kw.pop("state", "firing"),
        time=at,
        ci=ci,
        event_type=kw.pop("event_type", "availability"),
    )
    with services.db.session() as s:
        return events.receive(s, services.settings, services.cmdb_engine, actor, [event], now=at)


def app_view(services: Services, actor: Principal) -> dict[str, tuple[str, list[str]]]:
    with services.db.read_session() as s:
        board = views.dashboard(s, actor, services.cmdb_engine)
    return {a.name: (a.state, [r.name for r in a.root_causes]) for a in board.applications}


def test_ta1_firewall_outage_reaches_payroll_for_everyone_concerned(
    services: Services, ta1: Ta1
) -> None:
    result = fire(services, ta1.provider("P4"), "fw-1", T0)
    assert [o.outcome for o in result.outcomes] == ["applied"]
    expected = ("down", ["fw-1"])
    for actor in (
        ta1.provider("P3"),
        ta1.provider("P4"),
        ta1.provider("P5"),
        Principal("desk", "soc_analyst"),
        Principal("bestuur", "authority"),
        ta1.customer("payroll-klant"),
    ):
        assert app_view(services, actor)["Payroll"] == expected, actor.actor
    with services.db.read_session() as s:
        fw = views.ci_status(s, ta1.provider("P3"), services.cmdb_engine, ta1.cis["vm-42"])
    assert fw.state == "down" and fw.impacted and not fw.own
    assert [r.name for r in fw.root_causes] == ["fw-1"]
    assert [p.name for p in fw.root_causes[0].path] == ["vm-42", "fw-1"]
    # The other customer sees its own application, never Payroll.
    assert app_view(services, ta1.customer("other-klant")) == {"CRM": ("operational", [])}


def test_ta2_event_outside_agreed_subset_leaves_the_dashboard_alone(
    services: Services, ta1: Ta1
) -> None:
    before = app_view(services, Principal("desk", "soc_analyst"))
    result = fire(services, ta1.provider("P4"), "fw-1", T0, event_type="performance")
    assert [o.outcome for o in result.outcomes] == ["not_shared"]
    result = fire(services, ta1.provider("P4"), "fw-1", T0, severity="minor", fingerprint="m")
    assert [o.outcome for o in result.outcomes] == ["not_shared"]
    assert app_view(services, Principal("desk", "soc_analyst")) == before
    with services.db.read_session() as s:
        assert s.scalars(select(StatusChange)).all() == []
        kept = s.scalars(select(OpsEvent.outcome)).all()
    assert kept == ["not_shared", "not_shared"]  # kept with the provider, not dropped


def test_resolution_opens_problem_with_same_timestamp_ta5(services: Services, ta1: Ta1) -> None:
    p4 = ta1.provider("P4")
    fire(services, p4, "fw-1", T0)
    with services.db.read_session() as s:
        incident = s.scalars(select(OpsIncident)).one()
    assert incident.status == "open" and incident.severity == "critical"
    assert incident.root_causes == [ta1.cis["fw-1"]]
    assert incident.tenants == [ta1.tenants["payroll-klant"]]
    resolved_at = T0 + timedelta(hours=2)
    result = fire(services, p4, "fw-1", resolved_at, state="resolved")
    assert {(c.ci_id, c.state) for c in result.changes} >= {(ta1.cis["payroll"], "operational")}
    with services.db.read_session() as s:
        incident = s.scalars(select(OpsIncident)).one()
        problem = s.scalars(select(Problem)).one()
    assert incident.status == "resolved" and incident.resolved_at == resolved_at
    assert incident.problem_id == problem.id and problem.ops_incident_id == incident.id
    assert problem.created_at == resolved_at
    settings = services.settings
    assert root_cause_on_time(settings, resolved_at, datetime(2026, 5, 21, 16, tzinfo=UTC))
    assert not root_cause_on_time(settings, resolved_at, datetime(2026, 5, 22, 9, tzinfo=UTC))
    assert problem.root_cause_due.astimezone(UTC).date() == datetime(2026, 5, 21).date()


def test_duplicates_and_stale_events_change_nothing(services: Services, ta1: Ta1) -> None:
    p4 = ta1.provider("P4")
    fire(services, p4, "fw-1", T0)
    assert [o.outcome for o in fire(services, p4, "fw-1", T0).outcomes] == ["duplicate"]
    late = T0 + timedelta(minutes=5)
    fire(services, p4, "fw-1", late, state="resolved")
    stale = fire(services, p4, "fw-1", T0 + timedelta(minutes=1))
    assert [o.outcome for o in stale.outcomes] == ["stale"]
    assert app_view(services, SYSTEM)["Payroll"] == ("operational", [])


def test_unknown_ci_is_kept_unmatched_with_its_reason(services: Services, ta1: Ta1) -> None:
    result = fire(services, ta1.provider("P4"), "fw-404", T0)
    assert result.outcomes[0].outcome == "unmatched"
    assert "no CI named 'fw-404'" in result.outcomes[0].reason
    with services.db.read_session() as s:
        board = views.dashboard(s, Principal("desk", "soc_analyst"), services.cmdb_engine)
    assert board.unmatched_events == 1


def test_flapping_is_suppressed_until_it_settles(services: Services, ta1: Ta1) -> None:
    p4 = ta1.provider("P4")
    for n in range(4):  # firing, resolved, firing, resolved within the flap window
        state = "firing" if n % 2 == 0 else "resolved"
        fire(services, p4, "fw-1", T0 + timedelta(minutes=n), state=state)
    assert app_view(services, SYSTEM)["Payroll"][0] == "down"  # held, not toggling
    with services.db.read_session() as s:
        changes = s.scalars(select(StatusChange).where(StatusChange.ci_id == ta1.cis["payroll"]))
        assert [c.state for c in changes] == ["down", "operational", "down"]
    with services.db.session() as s:
        settled = events.settle_flapping(
            s, services.settings, services.cmdb_engine, T0 + timedelta(minutes=30)
        )
    assert {c.state for c in settled} == {"operational"}
    assert app_view(services, SYSTEM)["Payroll"][0] == "operational"


def test_maintenance_window_opens_and_closes_on_the_tick(services: Services, ta1: Ta1) -> None:
    engine = services.cmdb_engine
    with services.db.session() as s:
        s.add(Maintenance(ci_id=ta1.cis["vm-42"], starts_at=T0, ends_at=T0 + timedelta(hours=1)))
        s.flush()
        engine.tick(s, T0 + timedelta(minutes=1))
    assert app_view(services, SYSTEM)["Payroll"] == ("maintenance", [])
    fire(services, ta1.provider("P4"), "fw-1", T0 + timedelta(minutes=2))
    assert app_view(services, SYSTEM)["Payroll"] == ("down", ["fw-1"])
    fire(services, ta1.provider("P4"), "fw-1", T0 + timedelta(minutes=3), state="resolved")
    assert app_view(services, SYSTEM)["Payroll"] == ("maintenance", [])
    assert run_upkeep(services.db, services.settings, engine, T0 + timedelta(hours=1)) == 2
    assert app_view(services, SYSTEM)["Payroll"] == ("operational", [])


def test_a_second_process_catches_up(services: Services, ta1: Ta1) -> None:
    other = StatusEngine(services.db)
    with services.db.read_session() as s:
        other.catch_up(s)
    fire(services, ta1.provider("P4"), "fw-1", T0)
    with services.db.read_session() as s:
        board = views.dashboard(s, SYSTEM, other)
    assert {a.name: a.state for a in board.applications}["Payroll"] == "down"
    with services.db.session() as s:  # and a topology change reloads it
        relate(s, ta1.cis["crm"], ta1.cis["fw-1"], "runs_on")
        services.cmdb_engine.reload(s)
    with services.db.read_session() as s:
        board = views.dashboard(s, SYSTEM, other)
    assert {a.name: a.state for a in board.applications}["CRM"] == "down"


def test_monthly_availability_from_recorded_changes(services: Services, ta1: Ta1) -> None:
    p4 = ta1.provider("P4")
    start = datetime(2026, 5, 6, 8, 0, tzinfo=UTC)  # a Wednesday
    fire(services, p4, "fw-1", start)
    fire(services, p4, "fw-1", start + timedelta(minutes=20), state="resolved")
    with services.db.read_session() as s:
        rows = views.availability(s, SYSTEM, services.cmdb_engine, services.settings, "2026-05")
    figures = {ref.name: fig for ref, fig in rows}
    payroll = figures["Payroll"]
    assert payroll["minutes"] == 44_640 and payroll["down_minutes"] == 20
    assert payroll["pct_rounded"] == 99.955 and payroll["met"] is True
    assert payroll["mttr_minutes"] == 20
    assert figures["CRM"]["down_minutes"] == 0
