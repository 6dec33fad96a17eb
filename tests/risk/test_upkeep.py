"""The register's upkeep pass (the embedded server's thread, Celery beat in production):
early warnings, the previous month's follow-up archive, expiries; every pass idempotent."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from risk.models import RiskAction, RiskFollowUp, RiskNotification
from risk.upkeep import previous_month, run_upkeep
from soc.core.settings import Settings
from soc.services import Services
from tests.conftest import World
from tests.risk.test_actions_api import make_action


def test_previous_month_across_a_year_end() -> None:
    assert previous_month(datetime(2027, 1, 1).date()) == "2026-12"
    assert previous_month(datetime(2026, 3, 31).date()) == "2026-02"


def test_a_pass_warns_archives_and_repeats_nothing(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    due_soon = make_action(client, world, due="2026-04-08")  # warning day 2026-03-31
    later = make_action(client, world, due="2026-06-30")
    finding = make_action(
        client,
        world,
        register="audit_finding",
        scope="common",
        tenant=None,
        origin="Pen test 2026-Q1",
        due="2026-05-29",
    )
    now = datetime(2026, 4, 1, 6, 0, tzinfo=UTC)
    first = run_upkeep(services.db, settings, now)
    assert (first.warned, first.late_warnings) == (1, 1)
    assert first.followups >= 1
    with services.db.session() as session:
        rows = session.execute(select(RiskAction.id, RiskAction.warned_on)).all()
        warned = {action_id: day for action_id, day in rows}
        assert warned[due_soon["id"]] == now.date() and warned[later["id"]] is None
        archived = session.scalars(select(RiskFollowUp).where(RiskFollowUp.month == "2026-03"))
        bodies = [row.body for row in archived]
        assert any(f'"id":{finding["id"]}' in body for body in bodies)
        notices = session.scalar(select(func.count()).select_from(RiskNotification))

    again = run_upkeep(services.db, settings, now)
    assert (again.warned, again.expired, again.reminded) == (0, 0, 0)
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(RiskNotification)) == notices
        assert [
            r.body
            for r in session.scalars(select(RiskFollowUp).where(RiskFollowUp.month == "2026-03"))
        ] == bodies
