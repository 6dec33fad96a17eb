"""Accepting risks: only the authority accepts (TB2), refusals audited, requester ≠
approver, expiry bounds, a material change or the expiry returns the risk to review and
notifies owner and authority, revocation, and the customer's co-approval when the setting
asks for it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from risk import acceptance
from risk.models import Risk, RiskAcceptance
from soc.core.audit import AuditEntry
from soc.core.settings import Settings
from soc.services import Services
from tests.conftest import World
from tests.risk.test_risks_api import API, make_risk


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The default settings, or with `indirect` parameters the given changes."""
    return settings.model_copy(update=getattr(request, "param", {}))


def in_days(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


def assessed_risk(client: TestClient, world: World, **fields: Any) -> dict:
    """A risk of tenant alpha owned by alpha's risk owner, assessed."""
    body = {"tenants": ["alpha"], "owner": "risk_owner-alpha", "owning_provider": "prov-a"}
    risk = make_risk(client, world, **(body | fields))
    moved = client.post(
        f"{API}/risks/{risk['id']}/status",
        json={"status": "assessed"},
        headers=world["admin"].headers,
    )
    assert moved.status_code == 200, moved.text
    return risk


def request(client: TestClient, world: World, risk_id: int, who: str = "soc_analyst") -> int:
    answer = client.post(
        f"{API}/risks/{risk_id}/acceptance",
        json={"note": "residual is fine"},
        headers=world[who].headers,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def decide(client: TestClient, world: World, acc_id: int, who: str, **body: Any):
    payload = {"approve": True, "justification": "cost outweighs", "expires_on": in_days(90)}
    return client.post(
        f"{API}/acceptances/{acc_id}/decision", json=payload | body, headers=world[who].headers
    )


def audit_rows(services: Services, action: str) -> list[tuple[str, str, dict]]:
    with services.db.session() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return [(r.actor.removeprefix("user:"), r.object_id, orjson.loads(r.detail)) for r in rows]


def test_only_the_authority_accepts_and_refusals_are_audited(
    client: TestClient, world: World, services: Services
) -> None:
    """TB2: a provider or SI user setting a risk to accepted gets 403 (audited); the
    authority succeeds, with an audit entry."""
    risk = assessed_risk(client, world)
    acc_id = request(client, world, risk["id"])
    refused_by = (
        "provider-prov-a",
        "admin",
        "soc_analyst",
        "soc_analyst-prov-a",
        "risk_owner-alpha",
    )
    for user in refused_by:
        answer = decide(client, world, acc_id, user)
        assert answer.status_code == 403, (user, answer.text)
    refused = audit_rows(services, "risk.acceptance.refused")
    assert [actor for actor, _, _ in refused] == list(refused_by)
    assert all(obj == str(acc_id) for _, obj, _ in refused)
    assert refused[0][2]["role"] == "provider"
    # The customer may not accept by default either (the setting names the authority).
    customer = decide(client, world, acc_id, "customer-alpha")
    assert customer.status_code in (403, 404)
    # Nothing changed on the risk.
    got = client.get(f"{API}/risks/{risk['id']}", headers=world["admin"].headers).json()
    assert got["acceptance_state"] == "none"

    accepted = decide(client, world, acc_id, "authority")
    assert accepted.status_code == 200, accepted.text
    out = accepted.json()
    assert out["status"] == "accepted" and out["authority_by"] == "user:authority"
    assert out["expires_on"] == in_days(90) and out["residual_score"] == 12
    got = client.get(f"{API}/risks/{risk['id']}", headers=world["admin"].headers).json()
    assert got["acceptance_state"] == "accepted" and got["treatment"] == "accept"
    assert [a for a, _, _ in audit_rows(services, "risk.acceptance.accepted")] == ["authority"]
    # The owner is told; deciding twice is a conflict.
    notes = client.get(f"{API}/notifications", headers=world["risk_owner-alpha"].headers).json()
    assert "risk_accepted" in {n["kind"] for n in notes}
    assert decide(client, world, acc_id, "authority").status_code == 409


def test_no_path_to_accepted_but_the_decision(client: TestClient, world: World) -> None:
    risk = assessed_risk(client, world)
    admin = world["admin"].headers
    path = f"{API}/risks/{risk['id']}"
    assert (
        client.patch(path, json={"acceptance_state": "accepted"}, headers=admin).status_code == 422
    )
    assert (
        client.post(f"{path}/status", json={"status": "accepted"}, headers=admin).status_code == 422
    )
    # Choosing the treatment "accept" is a plan, not an acceptance.
    planned = client.patch(path, json={"treatment": "accept"}, headers=admin)
    assert planned.status_code == 200 and planned.json()["acceptance_state"] == "none"


def test_requester_is_not_the_approver(
    client: TestClient, world: World, services: Services
) -> None:
    risk = assessed_risk(client, world)
    acc_id = request(client, world, risk["id"], who="authority")
    answer = decide(client, world, acc_id, "authority")
    assert answer.status_code == 403
    assert "requester" in answer.json()["detail"]
    assert [a for a, _, _ in audit_rows(services, "risk.acceptance.refused")] == ["authority"]


def test_request_needs_an_assessed_risk_and_one_at_a_time(client: TestClient, world: World) -> None:
    risk = make_risk(client, world, tenants=["alpha"])
    path = f"{API}/risks/{risk['id']}/acceptance"
    analyst = world["soc_analyst"].headers
    assert client.post(path, json={}, headers=analyst).status_code == 422  # identified
    client.post(f"{API}/risks/{risk['id']}/status", json={"status": "assessed"}, headers=analyst)
    assert client.post(path, json={}, headers=analyst).status_code == 201
    assert client.post(path, json={}, headers=analyst).status_code == 409
    queue = client.get(f"{API}/acceptances", headers=world["authority"].headers).json()
    assert [a["risk_id"] for a in queue["items"]] == [risk["id"]]


def test_decision_needs_justification_and_a_bounded_expiry(
    client: TestClient, world: World
) -> None:
    risk = assessed_risk(client, world)
    acc_id = request(client, world, risk["id"])
    for body in (
        {"expires_on": None},
        {"expires_on": date.today().isoformat()},
        {"expires_on": in_days(366)},  # the default maximum is 365 days
        {"justification": "   "},
        {"justification": ""},
        {"expires_on": 20270101},
    ):
        answer = decide(client, world, acc_id, "authority", **body)
        assert answer.status_code == 422, (body, answer.text)
    assert decide(client, world, acc_id, "authority", expires_on=in_days(365)).status_code == 200


def test_rejection(client: TestClient, world: World) -> None:
    risk = assessed_risk(client, world)
    acc_id = request(client, world, risk["id"])
    answer = decide(client, world, acc_id, "authority", approve=False, expires_on=None)
    assert answer.status_code == 200 and answer.json()["status"] == "rejected"
    got = client.get(f"{API}/risks/{risk['id']}", headers=world["admin"].headers).json()
    assert got["acceptance_state"] == "none"
    # A new request may follow.
    request(client, world, risk["id"])


def _accepted(client: TestClient, world: World) -> tuple[dict, int]:
    risk = assessed_risk(client, world, treatment="mitigate")
    admin = world["admin"].headers
    for status in ("treatment_planned", "in_treatment"):
        client.post(f"{API}/risks/{risk['id']}/status", json={"status": status}, headers=admin)
    acc_id = request(client, world, risk["id"])
    assert decide(client, world, acc_id, "authority").status_code == 200
    return risk, acc_id


def _kinds(client: TestClient, world: World, user: str) -> list[str]:
    return [
        n["kind"] for n in client.get(f"{API}/notifications", headers=world[user].headers).json()
    ]


def test_material_change_returns_the_risk_to_review(
    client: TestClient, world: World, services: Services
) -> None:
    risk, acc_id = _accepted(client, world)
    admin = world["admin"].headers
    path = f"{API}/risks/{risk['id']}"
    # Residual score down, or an unrelated field: the acceptance still holds.
    assert (
        client.patch(path, json={"residual_impact": 3}, headers=admin).json()["acceptance_state"]
        == "accepted"
    )
    assert (
        client.patch(path, json={"description": "x"}, headers=admin).json()["acceptance_state"]
        == "accepted"
    )
    assert "acceptance_review" not in _kinds(client, world, "risk_owner-alpha")
    # Residual score up beyond the accepted one: back to review.
    up = client.patch(path, json={"residual_impact": 5}, headers=admin)
    assert up.status_code == 200, up.text
    out = up.json()
    assert out["acceptance_state"] == "review" and out["status"] == "assessed"
    acc = client.get(f"{API}/acceptances?status=ended", headers=admin).json()["items"]
    assert [(a["id"], a["ended_reason"]) for a in acc] == [(acc_id, "material_change")]
    assert "acceptance_review" in _kinds(client, world, "risk_owner-alpha")
    assert "acceptance_review" in _kinds(client, world, "authority")
    history = client.get(f"{path}/history", headers=admin).json()["items"]
    assert {"acceptance_state", "status"} <= {h["field"] for h in history[-3:]}
    assert audit_rows(services, "risk.acceptance.ended")[0][2]["reason"] == "material_change"


def test_scope_change_ends_the_acceptance(client: TestClient, world: World) -> None:
    risk, _ = _accepted(client, world)
    admin = world["admin"].headers
    out = client.patch(
        f"{API}/risks/{risk['id']}", json={"tenants": ["alpha", "beta"]}, headers=admin
    ).json()
    assert out["acceptance_state"] == "review"


def test_a_changed_risk_cannot_be_accepted_on_an_old_request(
    client: TestClient, world: World
) -> None:
    risk = assessed_risk(client, world)
    acc_id = request(client, world, risk["id"])
    client.patch(
        f"{API}/risks/{risk['id']}", json={"residual_likelihood": 5}, headers=world["admin"].headers
    )
    assert decide(client, world, acc_id, "authority").status_code == 409


def test_expiry_returns_the_risk_to_review(
    client: TestClient, world: World, services: Services
) -> None:
    risk, acc_id = _accepted(client, world)
    expires = date.today() + timedelta(days=90)
    with services.db.session() as s:
        assert acceptance.expire_acceptances(s, expires - timedelta(days=1)) == 0
    with services.db.session() as s:
        assert acceptance.expire_acceptances(s, expires) == 1
    with services.db.session() as s:
        assert acceptance.expire_acceptances(s, expires + timedelta(days=1)) == 0
        row = s.get(RiskAcceptance, acc_id)
        stored = s.get(Risk, risk["id"])
        assert row is not None and stored is not None
        assert (row.status, row.ended_reason, row.ended_by) == ("ended", "expired", "system")
        assert (stored.acceptance_state, stored.status) == ("review", "assessed")
    assert "acceptance_review" in _kinds(client, world, "risk_owner-alpha")
    assert "acceptance_review" in _kinds(client, world, "authority")


def test_revocation_by_the_authority_only(client: TestClient, world: World) -> None:
    risk, acc_id = _accepted(client, world)
    path = f"{API}/acceptances/{acc_id}/revoke"
    for user in ("admin", "provider-prov-a", "risk_owner-alpha"):
        assert (
            client.post(path, json={"reason": "x"}, headers=world[user].headers).status_code == 403
        )
    assert (
        client.post(path, json={"reason": ""}, headers=world["authority"].headers).status_code
        == 422
    )
    revoked = client.post(path, json={"reason": "new threat"}, headers=world["authority"].headers)
    assert revoked.status_code == 200 and revoked.json()["ended_reason"] == "revoked"
    got = client.get(f"{API}/risks/{risk['id']}", headers=world["admin"].headers).json()
    assert got["acceptance_state"] == "review"
    assert (
        client.post(path, json={"reason": "again"}, headers=world["authority"].headers).status_code
        == 409
    )


@pytest.mark.parametrize(
    "settings", [{"risk_acceptance_by": "authority_and_customer"}], indirect=True
)
def test_authority_and_customer_both_approve_a_specific_risk(
    client: TestClient, world: World, services: Services
) -> None:
    risk = assessed_risk(client, world)
    client.post(
        f"{API}/risks/{risk['id']}/align",
        json={"advice": "monitor"},
        headers=world["authority"].headers,
    )
    acc_id = request(client, world, risk["id"])
    # Another tenant's customer does not see the risk; the integrator still may not accept.
    assert decide(client, world, acc_id, "customer-beta").status_code == 404
    assert decide(client, world, acc_id, "admin").status_code == 403
    first = decide(client, world, acc_id, "authority")
    assert first.status_code == 200 and first.json()["status"] == "requested"
    got = client.get(f"{API}/risks/{risk['id']}", headers=world["admin"].headers).json()
    assert got["acceptance_state"] == "none"
    assert decide(client, world, acc_id, "authority").status_code == 409
    both = decide(client, world, acc_id, "customer-alpha", expires_on=in_days(30))
    assert both.status_code == 200, both.text
    out = both.json()
    assert out["status"] == "accepted" and out["customer_by"] == "user:customer-alpha"
    assert out["expires_on"] == in_days(30)  # the earlier of the two
    got = client.get(f"{API}/risks/{risk['id']}", headers=world["admin"].headers).json()
    assert got["acceptance_state"] == "accepted"
    assert [a for a, _, _ in audit_rows(services, "risk.acceptance.approved")] == ["authority"]


@pytest.mark.parametrize(
    "settings", [{"risk_acceptance_by": "authority_and_customer"}], indirect=True
)
def test_a_common_risk_is_accepted_by_the_authority_alone(client: TestClient, world: World) -> None:
    risk = make_risk(client, world, scope="common", tenants=[])
    admin = world["admin"].headers
    client.post(f"{API}/risks/{risk['id']}/status", json={"status": "assessed"}, headers=admin)
    client.post(
        f"{API}/risks/{risk['id']}/align", json={"advice": "ok"}, headers=world["authority"].headers
    )
    acc_id = request(client, world, risk["id"])
    assert decide(client, world, acc_id, "customer-alpha").status_code == 403
    answer = decide(client, world, acc_id, "authority")
    assert answer.status_code == 200 and answer.json()["status"] == "accepted"


def test_customer_may_not_co_approve_by_default(
    client: TestClient, world: World, services: Services
) -> None:
    risk = assessed_risk(client, world)
    client.post(
        f"{API}/risks/{risk['id']}/align", json={"advice": "ok"}, headers=world["authority"].headers
    )
    acc_id = request(client, world, risk["id"])
    assert decide(client, world, acc_id, "customer-alpha").status_code == 403
    assert [a for a, _, _ in audit_rows(services, "risk.acceptance.refused")] == ["customer-alpha"]
