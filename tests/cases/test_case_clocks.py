"""Priority matrix and SLA clocks: every matrix cell; office hours across nights, weekends,
holidays and a daylight-saving switch; 24/7; a pause; breach warnings before, not after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from soc.cases import sla
from soc.cases.calendar import AlwaysOpen, office_hours
from soc.cases.models import Case
from soc.cases.priority import default_urgency, priority_for
from soc.cases.warnings import about_to_breach, send_breach_warnings
from soc.core.settings import Settings
from soc.services import Services
from tests.conftest import World
from tests.helpers import key_headers, ndjson, whoami_event

BXL = ZoneInfo("Europe/Brussels")
SETTINGS = Settings()


def local(text: str) -> datetime:
    """A Brussels wall-clock time as aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=BXL).astimezone(UTC)


@pytest.mark.parametrize(
    ("impact", "urgency", "expected"),
    [
        ("high", "high", "P1"),
        ("high", "medium", "P2"),
        ("high", "low", "P3"),
        ("medium", "high", "P2"),
        ("medium", "medium", "P3"),
        ("medium", "low", "P4"),
        ("low", "high", "P3"),
        ("low", "medium", "P4"),
        ("low", "low", "P4"),
    ],
)
def test_every_cell_of_the_matrix(impact: str, urgency: str, expected: str) -> None:
    assert priority_for(SETTINGS, impact, urgency) == expected


def test_urgency_follows_rule_level() -> None:
    assert [
        default_urgency(SETTINGS, lvl)
        for lvl in ("critical", "high", "medium", "low", "informational", "odd")
    ] == ["high", "high", "medium", "low", "low", "medium"]


def new_case(created: datetime, priority: str, always: bool = False) -> Case:
    case = Case(created_at=created, priority=priority, clock_24x7=always, paused_seconds=0)
    sla.refresh(SETTINGS, case)
    return case


@pytest.mark.parametrize(
    ("created", "priority", "response", "resolution"),
    [
        # Late Monday afternoon: the rest runs on Tuesday morning (across the night).
        ("2026-11-23T16:30", "P1", "2026-11-23T16:45", "2026-11-24T09:30"),
        # Friday afternoon: over the weekend to Monday.
        ("2026-11-27T16:00", "P2", "2026-11-27T17:00", "2026-11-30T11:00"),
        # Tuesday before the 11 November holiday: Wednesday does not count.
        ("2026-11-10T16:00", "P2", "2026-11-10T17:00", "2026-11-12T11:00"),
        # Registered at night: the clock starts at 08:00.
        ("2026-11-23T22:00", "P3", "2026-11-24T10:00", "2026-11-25T15:00"),
        # Saturday: starts Monday 08:00.
        ("2026-11-28T10:00", "P4", "2026-11-30T16:00", "2026-12-04T12:00"),
        # Across the end of daylight-saving time (25 October 2026).
        ("2026-10-23T08:00", "P4", "2026-10-23T16:00", "2026-10-29T12:00"),
        # Christmas Friday and the weekend after it.
        ("2026-12-24T16:50", "P1", "2026-12-28T08:05", "2026-12-28T09:50"),
    ],
)
def test_office_hours_clock(created: str, priority: str, response: str, resolution: str) -> None:
    case = new_case(local(created), priority)
    assert case.response_due == local(response)
    assert case.resolution_due == local(resolution)


def test_24x7_clock_runs_day_and_night() -> None:
    case = new_case(local("2026-11-28T23:00"), "P1", always=True)
    assert case.response_due == local("2026-11-28T23:15")
    assert case.resolution_due == local("2026-11-29T01:00")


def test_24x7_is_chosen_per_tenant_and_priority() -> None:
    from soc.cases.calendar import runs_24x7

    settings = Settings(case_24x7={"alpha": ["P1", "P2"], "*": ["P1"]})
    assert runs_24x7(settings, "alpha", "P2") and runs_24x7(settings, "beta", "P1")
    assert not runs_24x7(settings, "beta", "P2") and not runs_24x7(Settings(), "alpha", "P1")


def test_pause_while_waiting_on_customer_moves_the_due_time() -> None:
    case = new_case(local("2026-11-23T09:00"), "P2")
    assert case.resolution_due == local("2026-11-23T13:00")
    sla.pause(SETTINGS, case, local("2026-11-23T10:00"))
    assert case.resolution_due is None
    clock = sla.clocks(SETTINGS, case, local("2026-11-23T20:00"))["resolution"]
    assert (clock.state, clock.remaining_seconds) == ("paused", 3 * 3600)
    sla.resume(SETTINGS, case, local("2026-11-24T09:00"))  # 8 office hours paused
    assert case.paused_seconds == 8 * 3600
    assert case.resolution_due == local("2026-11-24T12:00")
    running = sla.clocks(SETTINGS, case, local("2026-11-24T10:00"))["resolution"]
    assert (running.state, running.remaining_seconds) == ("running", 2 * 3600)
    sla.mark_resolved(SETTINGS, case, local("2026-11-24T11:00"))
    done = sla.clocks(SETTINGS, case, local("2026-11-25T11:00"))["resolution"]
    assert (done.state, case.resolution_seconds) == ("met", 3 * 3600)


def test_clock_states_running_warning_breached() -> None:
    case = new_case(local("2026-11-23T09:00"), "P1")  # response due 09:15, warn 5 min before
    states = [
        sla.clocks(SETTINGS, case, local(f"2026-11-23T{t}"))["response"].state
        for t in ("09:05", "09:11", "09:16")
    ]
    assert states == ["running", "warning", "breached"]
    late = sla.clocks(SETTINGS, case, local("2026-11-23T09:20"))["response"]
    assert late.remaining_seconds == -300


def test_long_spans_count_like_day_by_day() -> None:
    hours = office_hours(SETTINGS)
    start = local("2026-03-20T13:17")
    for days in (3, 10, 45, 200, 400):
        end = start + timedelta(days=days, hours=5, minutes=3)
        assert hours.elapsed(start, end) == hours._elapsed_windows(start, end)
        assert hours.elapsed(start, hours.add(start, days * 3600)) == days * 3600
    assert AlwaysOpen().elapsed(start, start + timedelta(hours=2)) == 7200


def raise_case(client: TestClient, world: World) -> dict:
    answer = client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("h1")),
        headers=key_headers(world.keys["alpha"]),
    )
    assert answer.status_code == 200
    items = client.get("/api/v1/cases", headers=world["soc_analyst"].headers).json()["items"]
    return items[0]


def test_breach_warning_fires_before_and_not_after_due(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    case = raise_case(client, world)
    assert case["priority"] == "P4" and case["impact"] == "medium" and case["urgency"] == "low"
    due = datetime.fromisoformat(case["sla"]["response"]["due"])
    with services.db.session() as session:
        assert about_to_breach(session, due - timedelta(minutes=61), settings=settings) == []
        assert about_to_breach(session, due + timedelta(minutes=1), settings=settings) == []
        assert about_to_breach(session, due, settings=settings) == []
        sent = send_breach_warnings(session, due - timedelta(minutes=30), settings=settings)
        assert [(w.case_id, w.clock) for w in sent] == [(case["id"], "response")]
    with services.db.session() as session:  # once only
        assert about_to_breach(session, due - timedelta(minutes=20), settings=settings) == []
    kinds = [
        e["kind"]
        for e in client.get(
            f"/api/v1/cases/{case['id']}/timeline", headers=world["soc_analyst"].headers
        ).json()
    ]
    assert kinds == ["created", "sla_warning"]


def test_embedded_server_thread_sends_the_warning_once(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    """Without Celery beat the server's own thread warns, once per clock."""
    import threading

    from soc.cases.warnings import warn_until
    from soc.core.db import utcnow

    case = raise_case(client, world)
    with services.db.session() as session:
        row = session.get(Case, case["id"])
        assert row is not None
        row.response_due = utcnow() + timedelta(minutes=30)
    stop = threading.Event()
    fast = settings.model_copy(update={"case_warning_seconds": 0.05})
    thread = threading.Thread(target=warn_until, args=(services.db, fast, stop), daemon=True)
    thread.start()
    try:
        for _ in range(200):
            with services.db.read_session() as session:
                row = session.get(Case, case["id"])
                assert row is not None
                if row.response_warned:
                    break
            stop.wait(0.05)
        stop.wait(0.3)  # more passes: still one warning
    finally:
        stop.set()
        thread.join(5)
    kinds = [
        e["kind"]
        for e in client.get(
            f"/api/v1/cases/{case['id']}/timeline", headers=world["soc_analyst"].headers
        ).json()
    ]
    assert kinds == ["created", "sla_warning"]
