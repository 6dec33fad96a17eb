"""Deadline changes (TB3): the customer approves a specific item's change, the authority a
common item's; anyone else is refused (403) and nothing is applied; an applied change keeps
the old and the new date and the approver on its row and in the audit log."""

from __future__ import annotations

from datetime import date

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select

from risk.deadline_changes import decide_change
from risk.models import RiskAction, RiskDeadlineChange, RiskNotification
from soc.core.audit import AuditEntry
from soc.core.settings import Settings
from soc.services import Services
from tenants.login import principal_from_token
from tests.conftest import World
from tests.risk.test_actions_api import API, make_action, status_of


def request(
    client: TestClient, world: World, action_id: int, new_due: str, actor: str = "soc_analyst"
):
    return client.post(
        f"{API}/actions/{action_id}/deadline-changes",
        json={"new_due": new_due, "reason": "vendor patch slips"},
        headers=world[actor].headers,
    )


def decide(client: TestClient, world: World, change_id: int, actor: str, approve: bool = True):
    return client.post(
        f"{API}/deadline-changes/{change_id}/decision",
        json={"approve": approve},
        headers=world[actor].headers,
    )


def test_common_change_refused_for_the_customer_applied_by_the_authority(
    client: TestClient, world: World, services: Services
) -> None:
    action = make_action(client, world, scope="common", tenant=None, due="2026-04-08")
    asked = request(client, world, action["id"], "2026-04-22")
    assert asked.status_code == 201, asked.text
    change = asked.json()
    assert change["approver"] == "authority" and change["status"] == "pending"
    assert (change["old_due"], change["new_due"]) == ("2026-04-08", "2026-04-22")
    # A second request while one is pending is a conflict.
    assert request(client, world, action["id"], "2026-04-29").status_code == 409
    # The authority sees it in its queue; the approver was notified.
    queue = client.get(f"{API}/deadline-changes", headers=world["authority"].headers).json()
    assert [c["id"] for c in queue["items"]] == [change["id"]] and queue["total"] == 1
    for actor in ("customer-alpha", "provider-prov-a", "soc_analyst", "admin", "risk_owner-alpha"):
        assert decide(client, world, change["id"], actor).status_code == 403, actor
    got = client.get(f"{API}/actions/{action['id']}", headers=world["admin"].headers).json()
    assert got["due"] == "2026-04-08"  # nothing applied
    applied = decide(client, world, change["id"], "authority")
    assert applied.status_code == 200, applied.text
    assert (
        applied.json()["status"] == "approved" and applied.json()["decided_by"] == "user:authority"
    )
    got = client.get(f"{API}/actions/{action['id']}", headers=world["admin"].headers).json()
    assert got["due"] == "2026-04-22"
    assert decide(client, world, change["id"], "authority").status_code == 409  # decided once
    with services.db.session() as session:
        row = session.get(RiskDeadlineChange, change["id"])
        assert row is not None
        assert (row.old_due, row.new_due, row.approver) == (
            date(2026, 4, 8),
            date(2026, 4, 22),
            "authority",
        )
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "risk.deadline_change.approved")
        ).one()
        detail = orjson.loads(entry.detail)
        assert (detail["old_due"], detail["new_due"], detail["approver"]) == (
            "2026-04-08",
            "2026-04-22",
            "authority",
        )
        assert entry.actor == "user:authority"
        notices = session.scalars(
            select(RiskNotification).where(RiskNotification.kind == "deadline_change")
        ).all()
        assert [n.party for n in notices] == ["authority"]
    history = client.get(
        f"{API}/actions/{action['id']}/deadline-changes", headers=world["customer-alpha"].headers
    ).json()
    assert [(c["old_due"], c["new_due"], c["status"]) for c in history] == [
        ("2026-04-08", "2026-04-22", "approved")
    ]
    # The authority does not approve its own request.
    own = request(client, world, action["id"], "2026-05-06", actor="authority").json()
    assert decide(client, world, own["id"], "authority").status_code == 403


def test_specific_change_decided_by_its_customer_only(
    client: TestClient, world: World, services: Services
) -> None:
    action = make_action(client, world, due="2026-04-08")
    change = request(client, world, action["id"], "2026-05-18", actor="provider-prov-a").json()
    assert change["approver"] == "customer"
    assert decide(client, world, change["id"], "authority").status_code == 403
    assert decide(client, world, change["id"], "customer-beta").status_code == 404
    assert decide(client, world, change["id"], "provider-prov-b").status_code == 404
    assert decide(client, world, change["id"], "finance").status_code == 403
    queue_beta = client.get(f"{API}/deadline-changes", headers=world["customer-beta"].headers)
    assert queue_beta.status_code == 200 and queue_beta.json()["items"] == []
    queue_alpha = client.get(f"{API}/deadline-changes", headers=world["customer-alpha"].headers)
    assert [c["id"] for c in queue_alpha.json()["items"]] == [change["id"]]
    approved = decide(client, world, change["id"], "customer-alpha", approve=True)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    got = client.get(f"{API}/actions/{action['id']}", headers=world["customer-alpha"].headers)
    assert got.json()["due"] == "2026-05-18" and got.json()["warning_due"] == "2026-05-08"
    # A rejected change leaves the due date alone.
    second = request(client, world, action["id"], "2026-06-30").json()
    answer = decide(client, world, second["id"], "customer-alpha", approve=False)
    assert answer.json()["status"] == "rejected"
    got = client.get(f"{API}/actions/{action['id']}", headers=world["admin"].headers).json()
    assert got["due"] == "2026-05-18"


def test_request_and_list_roles_and_isolation(client: TestClient, world: World) -> None:
    action = make_action(client, world)
    url = f"{API}/actions/{action['id']}/deadline-changes"
    body = {"new_due": "2026-05-01", "reason": "r"}
    assert status_of(client, world, "provider-prov-b", "POST", url, json=body) == 404
    assert status_of(client, world, "customer-beta", "POST", url, json=body) == 404
    assert status_of(client, world, "customer-alpha", "POST", url, json=body) == 403
    assert status_of(client, world, "finance", "POST", url, json=body) == 403
    same = {"new_due": "2026-04-08", "reason": "r"}
    assert status_of(client, world, "admin", "POST", url, json=same) == 422
    assert status_of(client, world, "customer-beta", "GET", url) == 404
    assert status_of(client, world, "finance", "GET", url) == 403
    assert status_of(client, world, "finance", "GET", f"{API}/deadline-changes") == 403
    assert status_of(client, world, "customer-alpha", "GET", url) == 200


def test_a_warning_already_sent_is_reset_when_extended_else_late(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    """Later due, whose new warning day is still to come: the item is warned again by the
    next sweep (warned_on reset). Earlier due, so that the new warning day falls before the
    warning sent: it stays recorded and counts as late."""
    later = make_action(client, world, due="2026-04-08")
    earlier = make_action(client, world, due="2026-05-18")
    with services.db.session() as session:
        for action_id in (later["id"], earlier["id"]):
            row = session.get(RiskAction, action_id)
            assert row is not None
            row.warned_on = date(2026, 3, 30)
    for action, new_due in ((later, "2026-05-18"), (earlier, "2026-04-01")):
        change = request(client, world, action["id"], new_due).json()
        with services.db.session() as session:
            customer = principal_from_token(session, world["customer-alpha"].token)
            decide_change(session, customer, settings, change["id"], True, date(2026, 3, 30))
    with services.db.session() as session:
        kept = session.get(RiskAction, later["id"])
        moved = session.get(RiskAction, earlier["id"])
        assert kept is not None and moved is not None
        assert (kept.warned_on, kept.warning_late, kept.due) == (None, False, date(2026, 5, 18))
        assert (moved.warned_on, moved.warning_late) == (date(2026, 3, 30), True)
