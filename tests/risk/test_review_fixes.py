"""Fixes of the independent review of the risk services: owners a principal may not name,
notices of unaligned risks reaching customers, dates without a sane range, alignment kept
across a change of tenants, the on-time metric set by the measured party, mitigations of
another provider's risk, strategic risks steered by the authority only, refused deadline
decisions audited, extended deadlines warned again, follow-ups of a month not over."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from risk import upkeep
from risk.deadline_changes import decide_change
from risk.followup import generate_followup
from risk.models import Risk, RiskAction, RiskChange, RiskNotification
from risk.notifications import Notice, for_principal, notify
from risk.reviews import remind_reviews
from risk.upkeep import run_upkeep
from risk.warnings import send_due_warnings
from risk.workdays import WorkCalendar
from soc.core.audit import AuditEntry
from soc.core.errors import Invalid
from soc.core.settings import Settings
from soc.services import Services
from tenants.login import principal_from_token
from tests.conftest import World

API = "/api/v1/risk"


def new_risk(
    client: TestClient, world: World, who: str = "admin", expect: int = 201, **fields: Any
) -> Any:
    body: dict[str, Any] = {
        "title": "Backups not tested",
        "category": "operational",
        "source": "audit",
        "scope": "specific",
        "tenants": ["alpha"],
        "likelihood": 3,
        "impact": 4,
    } | fields
    if body["scope"] == "common":
        body.pop("tenants", None)
    answer = client.post(f"{API}/risks", json=body, headers=world[who].headers)
    assert answer.status_code == expect, answer.text
    return answer.json()


def new_action(
    client: TestClient, world: World, who: str = "soc_analyst", expect: int = 201, **fields: Any
) -> Any:
    body: dict[str, Any] = {
        "register": "corrective_action",
        "title": "Patch the VPN concentrator",
        "scope": "specific",
        "tenant": "alpha",
        "due": "2026-04-08",
        "owner_provider": "prov-a",
    } | fields
    body = {k: v for k, v in body.items() if v is not None}
    answer = client.post(f"{API}/actions", json=body, headers=world[who].headers)
    assert answer.status_code == expect, answer.text
    return answer.json()


def align(client: TestClient, world: World, risk_id: int) -> None:
    answer = client.post(
        f"{API}/risks/{risk_id}/align",
        json={"advice": "test the restores"},
        headers=world["authority"].headers,
    )
    assert answer.status_code == 200, answer.text


def status(client: TestClient, world: World, who: str, method: str, url: str, **kw: Any) -> int:
    return client.request(method, url, headers=world[who].headers, **kw).status_code


# --- 1. owners a principal may name ----------------------------------------------------


def test_owner_is_a_nameable_user_of_the_risks_tenants(client: TestClient, world: World) -> None:
    # A provider may not name another tenant's customer (who would then read the risk):
    # the same answer as for an unknown user.
    foreign = new_risk(client, world, "provider-prov-a", 404, owner="customer-beta")
    unknown = new_risk(client, world, "provider-prov-a", 404, owner="nobody-at-all")
    assert foreign["detail"] == unknown["detail"] == "user not found"
    mine = new_risk(client, world, "provider-prov-a")
    path = f"{API}/risks/{mine['id']}"
    patched = client.patch(
        path, json={"owner": "customer-beta"}, headers=world["provider-prov-a"].headers
    )
    assert patched.status_code == 404 and patched.json()["detail"] == "user not found"
    assert status(client, world, "customer-beta", "GET", path) == 404
    # The same rule for an action's owner.
    assert new_action(client, world, "provider-prov-a", 404, owner_user="customer-beta")
    # Even an unscoped user names a tenant's user only as owner of that tenant's risk.
    new_risk(client, world, "admin", 422, owner="customer-beta")
    new_risk(client, world, "admin", 422, scope="common", owner="risk_owner-alpha")
    owned = new_risk(client, world, "admin", owner="risk_owner-alpha")
    assert owned["owner"] == "risk_owner-alpha"
    # Moving the risk away from the owner's tenant is refused as well.
    moved = client.patch(
        f"{API}/risks/{owned['id']}", json={"tenants": ["beta"]}, headers=world["admin"].headers
    )
    assert moved.status_code == 422
    # Unscoped and provider users may own a common risk; a provider names its own users.
    assert new_risk(client, world, "admin", scope="common", owner="authority")["owner"]
    assert new_risk(client, world, "provider-prov-a", owner="soc_analyst-prov-a")["owner"]


# --- 2. notices of unaligned risks -----------------------------------------------------


def test_no_customer_notice_for_actions_of_an_unaligned_risk(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    risk = new_risk(client, world)  # alpha, not aligned
    mitigation = new_action(client, world, register="mitigation", risk_id=risk["id"])
    with services.db.session() as session:
        run = send_due_warnings(session, settings, date(2026, 4, 1))
        assert run.action_ids == [mitigation["id"]]
    asked = client.post(
        f"{API}/actions/{mitigation['id']}/deadline-changes",
        json={"new_due": "2026-05-08", "reason": "slips"},
        headers=world["soc_analyst"].headers,
    )
    assert asked.status_code == 201, asked.text
    with services.db.session() as session:
        parties = sorted(
            (n.party, n.kind)
            for n in session.scalars(
                select(RiskNotification).where(RiskNotification.subject_id == mitigation["id"])
            )
        )
    # The owning provider is warned; the customer hears nothing of it.
    assert parties == [("provider", "early_warning")]


def test_notices_reach_only_who_sees_their_subject(
    client: TestClient, world: World, services: Services
) -> None:
    risk = new_risk(client, world, "provider-prov-a")  # alpha, not aligned
    action = new_action(client, world, register="mitigation", risk_id=risk["id"])
    with services.db.session() as session:
        customer = principal_from_token(session, world["customer-alpha"].token)
        tenant_id = customer.tenant_id
        prov_b = principal_from_token(session, world["provider-prov-b"].token)
        notify(
            session,
            [
                Notice("customer", "x", "risk", risk["id"], "risk", tenant_id=tenant_id),
                Notice("customer", "x", "action", action["id"], "action", tenant_id=tenant_id),
                Notice(
                    "provider", "x", "action", action["id"], "b", provider_id=prov_b.provider_id
                ),
            ],
        )
    with services.db.read_session() as session:
        customer = principal_from_token(session, world["customer-alpha"].token)
        prov_b = principal_from_token(session, world["provider-prov-b"].token)
        assert for_principal(session, customer) == []
        assert for_principal(session, prov_b) == []  # an action of prov-a's it does not see
        admin = principal_from_token(session, world["admin"].token)
        assert len(for_principal(session, admin)) == 3
    align(client, world, risk["id"])
    with services.db.read_session() as session:
        customer = principal_from_token(session, world["customer-alpha"].token)
        kinds = sorted((n.subject_type, n.kind) for n in for_principal(session, customer))
        assert kinds == [("action", "x"), ("risk", "risk_aligned"), ("risk", "x")]


# --- 3. dates in range -----------------------------------------------------------------


def test_dates_out_of_range_are_refused(client: TestClient, world: World) -> None:
    too_early = new_risk(client, world, "admin", 422, review_date="0001-01-01")
    assert "2000-01-01" in orjson.dumps(too_early).decode()
    new_risk(client, world, "admin", 422, review_date="2100-01-01")
    risk = new_risk(client, world, review_date="2099-12-31")
    patch = client.patch(
        f"{API}/risks/{risk['id']}",
        json={"review_date": "1999-12-31"},
        headers=world["admin"].headers,
    )
    assert patch.status_code == 422
    new_action(client, world, "soc_analyst", 422, due="0001-01-02")
    new_action(client, world, "soc_analyst", 422, due="9999-12-31")
    action = new_action(client, world, due="2026-04-08")
    change = client.post(
        f"{API}/actions/{action['id']}/deadline-changes",
        json={"new_due": "1999-12-31", "reason": "r"},
        headers=world["soc_analyst"].headers,
    )
    assert change.status_code == 422
    note = client.post(
        f"{API}/actions/{action['id']}/notes",
        json={"text": "done", "status": "handled", "handled_on": "0001-01-01"},
        headers=world["soc_analyst"].headers,
    )
    assert note.status_code == 422
    window = client.patch(
        f"{API}/actions/{action['id']}",
        json={"window_start": "0001-01-01"},
        headers=world["soc_analyst"].headers,
    )
    assert window.status_code == 422
    on_time = f"{API}/on-time?from=0001-01-01&to=2026-04-30"
    assert status(client, world, "admin", "GET", on_time) == 422


def test_working_days_at_the_calendars_edges_are_a_value_error() -> None:
    cal = WorkCalendar()
    with pytest.raises(ValueError):
        cal.before(date(1, 1, 2), 5)
    with pytest.raises(ValueError):
        cal.after(date(9999, 12, 30), 5)


def test_a_stored_date_at_the_edge_stops_neither_reviews_nor_warnings(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    risk = new_risk(client, world)
    edge = new_action(client, world, title="edge")
    normal = new_action(client, world, title="normal")
    with services.db.session() as session:
        row = session.get(Risk, risk["id"])
        action = session.get(RiskAction, edge["id"])
        assert row is not None and action is not None
        row.review_date, row.review_reminded_on = date(1, 1, 1), date(2026, 3, 1)
        action.due = date(1, 1, 2)
    with services.db.session() as session:
        remind_reviews(session, settings, date(2026, 4, 1))
        run = send_due_warnings(session, settings, date(2026, 4, 1))
    assert run.action_ids == [normal["id"]]


def test_a_failing_upkeep_step_does_not_stop_the_others(
    client: TestClient,
    world: World,
    services: Services,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    new_action(client, world, due="2026-04-08")

    def broken(*_: object) -> int:
        raise RuntimeError("acceptances table busy")

    monkeypatch.setattr(upkeep, "expire_acceptances", broken)
    run = run_upkeep(services.db, settings, datetime(2026, 4, 1, 6, 0, tzinfo=UTC))
    assert (run.expired, run.warned, run.late_warnings) == (0, 1, 1)
    assert run.followups >= 1


# --- 4. alignment again after a change of tenants or scope -----------------------------


def test_a_change_of_tenants_or_scope_needs_a_new_alignment(
    client: TestClient, world: World, services: Services
) -> None:
    risk = new_risk(client, world)
    path = f"{API}/risks/{risk['id']}"
    align(client, world, risk["id"])
    assert status(client, world, "customer-alpha", "GET", path) == 200
    admin = world["admin"].headers
    # A change that does not touch whom the risk concerns keeps the alignment.
    assert client.patch(path, json={"title": "Backups never tested"}, headers=admin).json()[
        "aligned"
    ]
    moved = client.patch(path, json={"tenants": ["alpha", "beta"]}, headers=admin)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["aligned"], moved.json()["aligned_at"]) == (False, None)
    assert moved.json()["aligned_by"] is None
    # The new tenant's customers get nothing (nor do the old ones) until aligned again.
    assert status(client, world, "customer-beta", "GET", path) == 404
    assert status(client, world, "customer-alpha", "GET", path) == 404
    with services.db.read_session() as session:
        fields = [
            (c.field, c.old, c.new)
            for c in session.scalars(select(RiskChange).where(RiskChange.risk_id == risk["id"]))
        ]
        assert ("aligned", True, False) in fields
        for customer in ("customer-alpha", "customer-beta"):  # not even the old notice
            reader = principal_from_token(session, world[customer].token)
            assert for_principal(session, reader) == [], customer
        authority = principal_from_token(session, world["authority"].token)
        assert [n.kind for n in for_principal(session, authority)] == ["alignment_needed"]
    align(client, world, risk["id"])
    assert status(client, world, "customer-beta", "GET", path) == 200
    # Common now: whom it concerns changed again.
    common = client.patch(path, json={"scope": "common", "tenants": []}, headers=admin)
    assert common.status_code == 200, common.text
    assert common.json()["aligned"] is False


# --- 5. the on-time metric -------------------------------------------------------------


def test_only_the_integrator_or_the_authority_excludes_an_item(
    client: TestClient, world: World
) -> None:
    for who in ("provider-prov-a", "soc_analyst-prov-a", "risk_owner-alpha"):
        new_action(client, world, who, 403, outside_ecosystem=True, owner_provider=None)
    assert new_action(client, world, "soc_analyst", outside_ecosystem=True)["outside_ecosystem"]
    assert new_action(client, world, "authority", outside_ecosystem=True)["outside_ecosystem"]
    action = new_action(client, world)
    path = f"{API}/actions/{action['id']}"
    body = {"json": {"outside_ecosystem": True}}
    assert status(client, world, "provider-prov-a", "PATCH", path, **body) == 403
    assert status(client, world, "provider-prov-a", "PATCH", path, json={"title": "t"}) == 200
    assert status(client, world, "authority", "PATCH", path, **body) == 200


def test_handled_on_lies_between_creation_and_today(client: TestClient, world: World) -> None:
    action = new_action(client, world)
    url = f"{API}/actions/{action['id']}/notes"
    today = date.today()
    for day in (today - timedelta(days=1), today + timedelta(days=1)):
        body = {"text": "done", "status": "handled", "handled_on": day.isoformat()}
        assert status(client, world, "provider-prov-a", "POST", url, json=body) == 422, day
    body = {"text": "done", "status": "handled", "handled_on": today.isoformat()}
    assert status(client, world, "provider-prov-a", "POST", url, json=body) == 201


# --- 6. mitigations of another provider's risk -----------------------------------------


def test_a_provider_mitigates_only_a_risk_it_may_write(client: TestClient, world: World) -> None:
    risk = new_risk(client, world, "provider-prov-a", scope="common")  # every provider sees it
    common = {"register": "mitigation", "risk_id": risk["id"], "scope": "common", "tenant": None}
    new_action(client, world, "provider-prov-b", 403, **common, owner_provider="prov-b")
    assert new_action(client, world, "provider-prov-a", **common)["risk_id"] == risk["id"]


# --- 7. strategic risks ----------------------------------------------------------------


def test_strategic_risks_are_steered_by_the_authority_not_the_integrator(
    client: TestClient, world: World
) -> None:
    risk = new_risk(client, world, category="strategic")
    path = f"{API}/risks/{risk['id']}"
    assert status(client, world, "admin", "PATCH", path, json={"likelihood": 5}) == 403
    assert (
        status(client, world, "admin", "POST", f"{path}/status", json={"status": "assessed"}) == 403
    )
    assert status(client, world, "admin", "PATCH", path, json={"title": "Renamed"}) == 200
    assert status(client, world, "authority", "PATCH", path, json={"likelihood": 5}) == 200
    other = new_risk(client, world)
    turned = {"json": {"category": "strategic"}}
    assert status(client, world, "admin", "PATCH", f"{API}/risks/{other['id']}", **turned) == 403


# --- 8. refused deadline decisions are audited -----------------------------------------


def test_a_refused_deadline_decision_is_audited(
    client: TestClient, world: World, services: Services
) -> None:
    action = new_action(client, world)
    change = client.post(
        f"{API}/actions/{action['id']}/deadline-changes",
        json={"new_due": "2026-05-08", "reason": "slips"},
        headers=world["soc_analyst"].headers,
    ).json()
    url = f"{API}/deadline-changes/{change['id']}/decision"
    assert status(client, world, "provider-prov-a", "POST", url, json={"approve": True}) == 403
    with services.db.read_session() as session:
        entries = list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == "risk.deadline_change.refused")
            )
        )
        assert [(e.actor, e.object_id) for e in entries] == [
            ("user:provider-prov-a", str(change["id"]))
        ]
        assert orjson.loads(entries[0].detail)["role"] == "provider"
    # The customer's decision still applies.
    decided = client.post(url, json={"approve": True}, headers=world["customer-alpha"].headers)
    assert decided.status_code == 200 and decided.json()["status"] == "approved"


# --- 9. an extended deadline is warned again -------------------------------------------


def test_an_extended_deadline_gets_a_new_early_warning(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    action = new_action(client, world, due="2026-04-08")  # warning day 2026-03-31
    with services.db.session() as session:
        assert send_due_warnings(session, settings, date(2026, 4, 1)).action_ids == [action["id"]]
    change = client.post(
        f"{API}/actions/{action['id']}/deadline-changes",
        json={"new_due": "2026-06-30", "reason": "vendor patch slips"},
        headers=world["soc_analyst"].headers,
    ).json()
    with services.db.session() as session:
        customer = principal_from_token(session, world["customer-alpha"].token)
        decide_change(session, customer, settings, change["id"], True, date(2026, 4, 2))
    with services.db.session() as session:
        row = session.get(RiskAction, action["id"])
        assert row is not None and (row.warned_on, row.warning_late) == (None, False)
        assert send_due_warnings(session, settings, date(2026, 6, 1)).action_ids == []
        assert send_due_warnings(session, settings, date(2026, 6, 22)).action_ids == []
        again = send_due_warnings(session, settings, date(2026, 6, 23))  # due 30 June
        assert again.action_ids == [action["id"]] and again.late == 0
        warnings = session.scalars(
            select(RiskNotification)
            .where(
                RiskNotification.subject_id == action["id"],
                RiskNotification.kind == "early_warning",
                RiskNotification.party == "provider",
            )
            .order_by(RiskNotification.id)
        )
        assert [n.late for n in warnings] == [True, False]  # the first warning's row stays


# --- 10. follow-ups of months that are over --------------------------------------------


def test_a_followup_is_generated_only_for_a_month_that_is_over(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    today = date.today()
    for month in (f"{today.year:04d}-{today.month:02d}", f"{today.year + 1:04d}-01"):
        answer = client.post(
            f"{API}/followups", json={"month": month}, headers=world["admin"].headers
        )
        assert answer.status_code == 422, month
    now = datetime(2026, 4, 15, tzinfo=UTC)
    with services.db.session() as session:
        with pytest.raises(Invalid):
            generate_followup(session, settings, "2026-04", now)
        assert generate_followup(session, settings, "2026-03", now)
