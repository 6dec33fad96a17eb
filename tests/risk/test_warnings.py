"""Early warnings (TB1): 5 working days before the due date, to the owner and the customer
(specific) or the authority (common); a warning sent after its day is recorded late; the
sweep is idempotent and audited once per run."""

from __future__ import annotations

from datetime import date

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select

from risk.models import RiskAction, RiskNotification
from risk.notifications import for_principal
from risk.warnings import mark_warned, send_due_warnings
from soc.core.audit import AuditEntry
from soc.core.settings import Settings
from soc.services import Services
from tenants.login import principal_from_token
from tenants.models import Provider, Tenant, User
from tests.conftest import World
from tests.risk.test_actions_api import API, make_action, status_of


def notices(
    services: Services, action_id: int
) -> list[tuple[str, int | None, int | None, int | None, bool]]:
    with services.db.session() as session:
        rows = session.scalars(
            select(RiskNotification)
            .where(
                RiskNotification.subject_id == action_id, RiskNotification.kind == "early_warning"
            )
            .order_by(RiskNotification.id)
        )
        return [(n.party, n.tenant_id, n.provider_id, n.user_id, n.late) for n in rows]


def test_tb1_warning_days_late_warning_and_recipients(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    specific = make_action(client, world, due="2026-04-08")  # owner prov-a, tenant alpha
    common = make_action(
        client,
        world,
        scope="common",
        tenant=None,
        due="2026-05-18",
        owner_provider=None,
        owner_user="risk_owner-alpha",
    )
    assert specific["warning_due"] == "2026-03-31" and common["warning_due"] == "2026-05-08"
    with services.db.session() as session:
        alpha = session.scalars(select(Tenant).where(Tenant.slug == "alpha")).one().id
        prov_a = session.scalars(select(Provider).where(Provider.slug == "prov-a")).one().id
        owner = session.scalars(select(User).where(User.username == "risk_owner-alpha")).one().id

    def run(day: date) -> list[int]:
        with services.db.session() as session:
            return send_due_warnings(session, settings, day).action_ids

    assert run(date(2026, 3, 30)) == []  # neither warning day has come
    # Flagged on 2026-04-01, the day after its warning day: recorded late.
    assert run(date(2026, 4, 1)) == [specific["id"]]
    assert notices(services, specific["id"]) == [
        ("provider", None, prov_a, None, True),
        ("customer", alpha, None, None, True),
    ]
    assert run(date(2026, 4, 1)) == []  # idempotent: nothing is sent twice
    assert len(notices(services, specific["id"])) == 2
    got = client.get(f"{API}/actions/{specific['id']}", headers=world["admin"].headers).json()
    assert (got["warned_on"], got["warning_late"], got["warning"]) == ("2026-04-01", True, "late")
    # Common item warned on its day: on time, to its owner in person and the authority.
    assert run(date(2026, 5, 7)) == []
    assert run(date(2026, 5, 8)) == [common["id"]]
    assert notices(services, common["id"]) == [
        ("owner", None, None, owner, False),
        ("authority", None, None, None, False),
    ]
    got = client.get(f"{API}/actions/{common['id']}", headers=world["admin"].headers).json()
    assert (got["warned_on"], got["warning_late"], got["warning"]) == (
        "2026-05-08",
        False,
        "on_time",
    )
    with services.db.session() as session:
        runs = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "risk.warnings.run")
            .order_by(AuditEntry.id)
        ).all()
        # One entry per run that warned (empty runs are not audited).
        assert [orjson.loads(r.detail)["action_ids"] for r in runs] == [
            [specific["id"]],
            [common["id"]],
        ]
        assert [orjson.loads(r.detail)["late"] for r in runs] == [1, 0]
        # The notices reach the parties' pages.
        customer = principal_from_token(session, world["customer-alpha"].token)
        authority = principal_from_token(session, world["authority"].token)
        assert [n.subject_id for n in for_principal(session, customer)] == [specific["id"]]
        assert [n.subject_id for n in for_principal(session, authority)] == [common["id"]]


def test_handled_and_cancelled_items_are_not_warned(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    handled = make_action(client, world, due="2026-04-08")
    done = client.post(  # handled today (never before the item was created)
        f"{API}/actions/{handled['id']}/notes",
        json={"text": "done", "status": "handled"},
        headers=world["admin"].headers,
    )
    assert done.status_code == 201, done.text
    cancelled = make_action(client, world, due="2026-04-08")
    client.post(
        f"{API}/actions/{cancelled['id']}/notes",
        json={"text": "no longer needed", "status": "cancelled"},
        headers=world["admin"].headers,
    )
    with services.db.session() as session:
        run = send_due_warnings(session, settings, date(2026, 4, 1))
    assert run.warned == 0 and run.checked == 0


def test_manual_flag_same_late_rule(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    on_day = make_action(client, world, due="2026-04-08")
    late = make_action(client, world, due="2026-04-08")
    with services.db.session() as session:
        owner = principal_from_token(session, world["provider-prov-a"].token)
        mark_warned(session, owner, settings, on_day["id"], date(2026, 3, 31))
        mark_warned(session, owner, settings, late["id"], date(2026, 4, 1))
    with services.db.session() as session:
        a, b = session.get(RiskAction, on_day["id"]), session.get(RiskAction, late["id"])
        assert a is not None and b is not None
        assert (a.warned_on, a.warning_late) == (date(2026, 3, 31), False)
        assert (b.warned_on, b.warning_late) == (date(2026, 4, 1), True)
        run = send_due_warnings(session, settings, date(2026, 4, 2))
        assert run.warned == 0  # already warned by hand


def test_warning_run_is_for_the_admin_only(
    client: TestClient, world: World, services: Services
) -> None:
    action = make_action(client, world, due="2026-04-08")
    url = f"{API}/warnings/run"
    for actor in ("soc_analyst", "authority", "customer-alpha", "provider-prov-a", "finance"):
        assert status_of(client, world, actor, "POST", url, json={"today": "2026-04-01"}) == 403
    assert status_of(client, world, "admin", "POST", url, json={"today": "01-04-2026"}) == 422
    answer = client.post(url, json={"today": "2026-04-01"}, headers=world["admin"].headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["action_ids"] == [action["id"]] and answer.json()["late"] == 1
    assert answer.json()["notices"] == 2
    again = client.post(url, headers=world["admin"].headers)  # no body: today
    assert again.status_code == 200 and again.json()["warned"] == 0
