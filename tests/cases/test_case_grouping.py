"""Alert grouping takes the contract it is given: the grouping window, the runaway limit and the
ITSM connector come from the `settings` argument of `group_alerts`, not from the session or
the process environment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from detections.models import Alert
from soc.cases.grouping import group_alerts
from soc.cases.models import Case, CaseEvent, OutboxMessage
from soc.core.settings import Settings
from soc.services import Services
from tenants.models import Tenant
from tests.conftest import World

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def alerts_apart(session: Session, minutes: int, host: str = "ws-1") -> list[Alert]:
    """Two alerts of one rule on one host of tenant alpha, `minutes` apart."""
    tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == "alpha"))
    assert tenant_id is not None
    alerts = [
        Alert(
            tenant_id=tenant_id,
            rule_id="rule-grouping-test",
            rule_title="Grouping test rule",
            level="medium",
            event_id=f"{host}-event-{i}",
            host=host,
            event_time=START + timedelta(minutes=offset),
        )
        for i, offset in enumerate((0, minutes))
    ]
    session.add_all(alerts)
    session.flush()
    return alerts


def test_the_window_comes_from_the_settings_given(
    services: Services, world: World, settings: Settings
) -> None:
    narrow = settings.model_copy(update={"case_group_window_minutes": 10})
    wide = settings.model_copy(update={"case_group_window_minutes": 60})
    with services.db.session() as session:
        split = group_alerts(session, narrow, alerts_apart(session, 30))
        assert sorted(c.alert_count for c in split) == [1, 1]
    with services.db.session() as session:
        joined = group_alerts(session, wide, alerts_apart(session, 30, host="ws-2"))
        assert [c.alert_count for c in joined] == [2]
        on_host = session.scalars(select(Alert).where(Alert.host == "ws-2"))
        assert {a.case_id for a in on_host} == {joined[0].id}
        assert session.scalar(select(func.count()).select_from(Case)) == 3


def test_runaway_limit_and_connector_come_from_the_settings_given(
    services: Services, world: World, settings: Settings
) -> None:
    assert settings.itsm_url is None  # the services' own contract has no connector
    strict = settings.model_copy(
        update={"rule_runaway_alerts_per_hour": 1, "itsm_url": "http://127.0.0.1:9/itsm"}
    )
    with services.db.session() as session:
        (case,) = group_alerts(session, strict, alerts_apart(session, 5))
        assert case.alert_count == 2 and case.billable is False
        created = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)).one()
        assert created.kind == "created" and '"limit":1' in created.detail
        queued = session.scalar(select(func.count()).select_from(OutboxMessage))
        assert queued == 1
