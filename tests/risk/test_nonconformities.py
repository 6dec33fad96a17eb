"""Non-conformities, their overview, decisions on improvement proposals (TB5) and the
conflicts between proposals (B8), with tenant isolation and role checks per route."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from risk.models import RiskAction, RiskNonConformity, RiskNotification
from risk.proposals import find_conflicts, pair_conflict
from soc.core.audit import AuditEntry
from soc.services import Services
from tenants.models import Provider, Tenant
from tests.conftest import World

API = "/api/v1/risk"

ISOLATION_COVERED = {
    ("POST", "/api/v1/risk/nonconformities"),
    ("GET", "/api/v1/risk/nonconformities"),
    ("GET", "/api/v1/risk/nonconformities/{nc_id}"),
    ("PATCH", "/api/v1/risk/nonconformities/{nc_id}"),
    ("GET", "/api/v1/risk/nonconformities-overview"),
    ("POST", "/api/v1/risk/proposals/{action_id}/decision"),
    ("GET", "/api/v1/risk/proposals/conflicts"),
}


def post(client: TestClient, who: Any, path: str, body: Any, code: int = 201) -> Any:
    answer = client.post(API + path, json=body, headers=who.headers)
    assert answer.status_code == code, answer.text
    return answer.json()


def get(client: TestClient, who: Any, path: str, code: int = 200) -> Any:
    answer = client.get(API + path, headers=who.headers)
    assert answer.status_code == code, answer.text
    return answer.json()


def add_action(services: Services, **fields: Any) -> int:
    """An action row as the action registers store it (their service is tested elsewhere)."""
    with services.db.session() as session:
        ids = {s: i for s, i in session.execute(select(Tenant.slug, Tenant.id))}
        providers = {s: i for s, i in session.execute(select(Provider.slug, Provider.id))}
        tenant = fields.pop("tenant", None)
        provider = fields.pop("provider", None)
        values: dict[str, Any] = {
            "register": "improvement_proposal",
            "title": "proposal",
            "scope": "specific" if tenant else "common",
            "tenant_id": ids[tenant] if tenant else None,
            "owner_provider_id": providers[provider] if provider else None,
            "due": date(2026, 6, 30),
            "status": "open",
            "decision": "pending",
            "created_by": "test",
        }
        values.update(fields)
        if values["register"] != "improvement_proposal":
            values["decision"] = None
        action = RiskAction(**values)
        session.add(action)
        session.flush()
        return action.id


@pytest.fixture
def nc_world(client: TestClient, world: World, services: Services) -> dict[str, int]:
    admin = world["admin"]
    ci = client.post(
        "/api/v1/cmdb/cis",
        json={"name": "mail-gw", "ci_type": "server", "provider": "prov-a"},
        headers=admin.headers,
    )
    assert ci.status_code == 201, ci.text
    ci_id = ci.json()["id"]
    alpha = post(
        client,
        admin,
        "/nonconformities",
        {
            "title": "Patch window missed",
            "kind": "security",
            "source": "audit",
            "scope": "specific",
            "tenant": "alpha",
            "provider": "prov-a",
            "ci_id": ci_id,
        },
    )
    beta = post(
        client,
        admin,
        "/nonconformities",
        {
            "title": "Beta backup failed",
            "kind": "process",
            "source": "kri",
            "scope": "specific",
            "tenant": "beta",
            "provider": "prov-b",
        },
    )
    common = post(
        client,
        world["authority"],
        "/nonconformities",
        {"title": "Shared SIEM gaps", "kind": "security", "source": "pen_test", "scope": "common"},
    )
    d = date
    ids = {"alpha_nc": alpha["id"], "beta_nc": beta["id"], "common_nc": common["id"], "ci": ci_id}
    ids["p1"] = add_action(
        services,
        tenant="alpha",
        provider="prov-a",
        nc_id=alpha["id"],
        title="Move mail to new relay",
        service="Mail",
        window_start=d(2026, 5, 1),
        window_end=d(2026, 5, 10),
        progress_pct=30,
        status="in_progress",
    )
    ids["p2"] = add_action(
        services,
        tenant="alpha",
        provider="prov-a",
        nc_id=alpha["id"],
        title="Upgrade mail filter",
        service=" mail ",
        window_start=d(2026, 5, 8),
        window_end=d(2026, 5, 15),
    )
    ids["p3"] = add_action(
        services,
        tenant="alpha",
        nc_id=alpha["id"],
        title="Mail archive later",
        service="MAIL",
        window_start=d(2026, 6, 1),
        window_end=d(2026, 6, 5),
    )
    ids["corrective"] = add_action(
        services,
        register="corrective_action",
        tenant="alpha",
        provider="prov-a",
        nc_id=alpha["id"],
        title="Patch the gateway",
        progress_pct=50,
        status="in_progress",
    )
    ids["pc1"] = add_action(services, nc_id=common["id"], title="Harden SIEM", ci_id=ci_id)
    ids["pc2"] = add_action(
        services,
        nc_id=common["id"],
        title="Replace SIEM collectors",
        ci_id=ci_id,
        window_start=d(2026, 7, 1),
        window_end=d(2026, 7, 2),
    )
    ids["pb"] = add_action(
        services,
        tenant="beta",
        provider="prov-b",
        nc_id=beta["id"],
        title="Beta mail change",
        service="Mail",
        window_start=d(2026, 5, 1),
        window_end=d(2026, 5, 31),
    )
    return ids


def decide(client: TestClient, who: Any, action_id: int, approve: bool = True) -> Any:
    return client.post(
        f"{API}/proposals/{action_id}/decision",
        json={"approve": approve, "note": "go"},
        headers=who.headers,
    )


def test_tb5_only_the_customer_decides_a_specific_proposal(
    client: TestClient, world: World, services: Services, nc_world: dict[str, int]
) -> None:
    p1 = nc_world["p1"]
    for name in ("authority", "provider-prov-a", "admin", "soc_analyst", "risk_owner-alpha"):
        assert decide(client, world[name], p1).status_code == 403, name
    assert decide(client, world["customer-beta"], p1).status_code == 404
    answer = decide(client, world["customer-alpha"], p1)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["decision"] == "approved"
    assert body["decided_by"] == "user:customer-alpha"
    assert body["decision_note"] == "go"
    # final: a second decision (even the right party's) is a conflict
    assert decide(client, world["customer-alpha"], p1, approve=False).status_code == 409
    with services.db.session() as session:
        row = session.get(RiskAction, p1)
        assert row is not None and row.decision == "approved"
        audit = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "risk.proposal.decided", AuditEntry.object_id == str(p1)
            )
        ).all()
        assert len(audit) == 1 and '"approved"' in audit[0].detail
        notices = session.scalars(
            select(RiskNotification).where(RiskNotification.subject_id == p1)
        ).all()
        assert [n.party for n in notices] == ["provider"]
        assert "approved" in notices[0].text


def test_a_refused_decision_is_audited(
    client: TestClient, world: World, services: Services, nc_world: dict[str, int]
) -> None:
    """The authority may not decide a proposal specific to a tenant: the 403 rolls its
    transaction back, yet the refusal stays in the audit trail; the proposal is unchanged."""
    p1 = nc_world["p1"]
    answer = decide(client, world["authority"], p1)
    assert answer.status_code == 403, answer.text
    with services.db.session() as session:
        alpha = session.scalar(select(Tenant.id).where(Tenant.slug == "alpha"))
        refused = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "risk.proposal.refused", AuditEntry.object_id == str(p1)
            )
        ).all()
        assert len(refused) == 1
        entry = refused[0]
        assert (entry.actor, entry.object_type, entry.tenant_id) == (
            "user:authority",
            "risk_action",
            alpha,
        )
        assert '"authority"' in entry.detail and "customer" in entry.detail
        decided = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "risk.proposal.decided")
        ).all()
        assert decided == []
        row = session.get(RiskAction, p1)
        assert row is not None and row.decision == "pending" and row.decided_by is None
    # a 404 (another tenant's proposal) is no refusal: nothing is said about it
    assert decide(client, world["customer-beta"], p1).status_code == 404
    with services.db.session() as session:
        actors = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "risk.proposal.refused")
        ).all()
        assert actors == ["user:authority"]


def test_tb5_the_authority_decides_a_common_proposal(
    client: TestClient, world: World, nc_world: dict[str, int]
) -> None:
    pc1 = nc_world["pc1"]
    for name in ("customer-alpha", "provider-prov-a", "admin", "soc_analyst"):
        assert decide(client, world[name], pc1).status_code == 403, name
    answer = decide(client, world["authority"], pc1, approve=False)
    assert answer.status_code == 200, answer.text
    assert answer.json()["decision"] == "rejected"
    assert decide(client, world["authority"], pc1).status_code == 409


def test_only_proposals_are_decided(
    client: TestClient, world: World, nc_world: dict[str, int]
) -> None:
    answer = decide(client, world["customer-alpha"], nc_world["corrective"])
    assert answer.status_code == 422, answer.text
    assert decide(client, world["customer-alpha"], 999999).status_code == 404


def test_conflicts_same_service_overlapping_windows(
    client: TestClient, world: World, nc_world: dict[str, int]
) -> None:
    ids = nc_world
    found = get(client, world["admin"], "/proposals/conflicts")
    pairs = {(c["a"], c["b"]): c for c in found}
    mail = pairs[(ids["p1"], ids["p2"])]
    assert mail["kind"] == "overlapping_window"
    assert mail["on"] == ["service"]
    assert (mail["overlap_from"], mail["overlap_to"]) == ("2026-05-08", "2026-05-10")
    assert (ids["p1"], ids["p3"]) not in pairs  # same service, windows apart
    assert (ids["p2"], ids["p3"]) not in pairs
    siem = pairs[(ids["pc1"], ids["pc2"])]
    assert siem["on"] == ["ci"] and siem["ci_id"] == ids["ci"]
    assert siem["kind"] == "same_target_no_window"  # pc1 has no window yet
    # beta's mail change overlaps both alpha ones: the integrator sees those pairs
    assert (ids["p1"], ids["pb"]) in pairs and (ids["p2"], ids["pb"]) in pairs
    # a customer only compares what it may see: never beta's proposal
    mine = get(client, world["customer-alpha"], "/proposals/conflicts")
    assert {(c["a"], c["b"]) for c in mine} == {(ids["p1"], ids["p2"]), (ids["pc1"], ids["pc2"])}
    one = get(client, world["customer-alpha"], f"/proposals/conflicts?action_id={ids['p3']}")
    assert one == []
    get(client, world["customer-beta"], f"/proposals/conflicts?action_id={ids['p1']}", 404)
    get(client, world["finance"], "/proposals/conflicts", 403)


def test_a_rejected_or_handled_proposal_no_longer_conflicts(
    client: TestClient, world: World, nc_world: dict[str, int]
) -> None:
    assert decide(client, world["customer-alpha"], nc_world["p2"], approve=False).status_code == 200
    pairs = {(c["a"], c["b"]) for c in get(client, world["customer-alpha"], "/proposals/conflicts")}
    assert (nc_world["p1"], nc_world["p2"]) not in pairs


def _proposal(pid: int, **fields: Any) -> RiskAction:
    fields.setdefault("service", "")
    return RiskAction(id=pid, register="improvement_proposal", **fields)


def test_conflict_rules_for_windows() -> None:
    d = date
    open_ended = _proposal(1, service="DNS", window_start=d(2026, 3, 1))
    until = _proposal(2, service="dns", window_end=d(2026, 3, 1))
    before = _proposal(3, service="dns", window_end=d(2026, 2, 28))
    other = _proposal(4, service="DHCP", window_start=d(2026, 3, 1), window_end=d(2026, 3, 2))
    blank = _proposal(5, service="  ")
    blank2 = _proposal(6, service="")
    hit = pair_conflict(open_ended, until)
    assert hit is not None and hit.kind == "overlapping_window"
    assert (hit.overlap_from, hit.overlap_to) == (d(2026, 3, 1), d(2026, 3, 1))
    assert pair_conflict(open_ended, before) is None
    assert pair_conflict(open_ended, other) is None
    assert pair_conflict(blank, blank2) is None  # an empty service matches nothing
    both = pair_conflict(_proposal(7, service="x", ci_id=9), _proposal(8, service="X", ci_id=9))
    assert both is not None and both.on == ("service", "ci")
    assert both.kind == "same_target_no_window"
    found = find_conflicts([open_ended, until, before, other, blank, blank2])
    assert [(c.a, c.b) for c in found] == [(1, 2), (2, 3)]


def test_overview_shows_proposals_and_their_status(
    client: TestClient, world: World, nc_world: dict[str, int]
) -> None:
    decide(client, world["customer-alpha"], nc_world["p1"])
    view = get(client, world["customer-alpha"], "/nonconformities-overview")
    by_id = {item["id"]: item for item in view["items"]}
    assert set(by_id) == {nc_world["alpha_nc"], nc_world["common_nc"]}
    assert view["total"] == 2 and view["by_status"] == {"open": 2, "in_progress": 0, "closed": 0}
    alpha = by_id[nc_world["alpha_nc"]]
    proposals = {p["id"]: p for p in alpha["proposals"]}
    assert set(proposals) == {nc_world["p1"], nc_world["p2"], nc_world["p3"]}
    p1 = proposals[nc_world["p1"]]
    assert (p1["status"], p1["progress_pct"], p1["decision"]) == ("in_progress", 30, "approved")
    assert p1["due"] == "2026-06-30" and p1["owner_provider"] == "prov-a"
    assert [(c["a"], c["b"]) for c in p1["conflicts"]] == [(nc_world["p1"], nc_world["p2"])]
    assert [a["id"] for a in alpha["corrective_actions"]] == [nc_world["corrective"]]
    assert alpha["corrective_actions"][0]["progress_pct"] == 50
    assert view["actions_by_status"] == {"in_progress": 2, "open": 4}
    # the integrator sees every NC, beta's included
    everything = get(client, world["admin"], "/nonconformities-overview")
    assert everything["total"] == 3
    assert everything["by_kind"] == {"security": 2, "process": 1}
    # always current: closing an NC shows at once
    answer = client.patch(
        f"{API}/nonconformities/{nc_world['alpha_nc']}",
        json={"status": "closed"},
        headers=world["admin"].headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["closed_at"] is not None
    view = get(client, world["customer-alpha"], "/nonconformities-overview")
    assert view["by_status"]["closed"] == 1
    get(client, world["finance"], "/nonconformities-overview", 403)


def test_customer_beta_never_sees_alphas_nc(
    client: TestClient, world: World, nc_world: dict[str, int]
) -> None:
    beta = world["customer-beta"]
    alpha_nc = nc_world["alpha_nc"]
    get(client, beta, f"/nonconformities/{alpha_nc}", 404)
    listed = {n["id"] for n in get(client, beta, "/nonconformities")["items"]}
    assert listed == {nc_world["beta_nc"], nc_world["common_nc"]}
    view = get(client, beta, "/nonconformities-overview")
    assert alpha_nc not in {i["id"] for i in view["items"]}
    # a provider sees the NCs of the tenants it serves, not the others'
    prov_b = world["provider-prov-b"]
    get(client, prov_b, f"/nonconformities/{alpha_nc}", 404)
    detail = get(client, world["provider-prov-a"], f"/nonconformities/{alpha_nc}")
    assert detail["tenant"] == "alpha" and detail["provider"] == "prov-a"
    assert {p["id"] for p in detail["proposals"]} == {nc_world[k] for k in ("p1", "p2", "p3")}
    get(client, world["finance"], f"/nonconformities/{alpha_nc}", 403)
    get(client, world["finance"], "/nonconformities", 403)


def test_writing_ncs_needs_nc_write_and_sight(
    client: TestClient, world: World, services: Services, nc_world: dict[str, int]
) -> None:
    body = {"title": "x", "kind": "process", "source": "complaint", "scope": "common"}
    for name in ("customer-alpha", "provider-prov-a", "risk_owner-alpha", "finance"):
        post(client, world[name], "/nonconformities", body, 403)
    alpha_nc = nc_world["alpha_nc"]
    patch = {"title": "renamed"}
    for name, code in (
        ("customer-alpha", 403),
        ("provider-prov-a", 403),
        ("soc_analyst-prov-b", 404),
        ("customer-beta", 403),
    ):
        answer = client.patch(
            f"{API}/nonconformities/{alpha_nc}", json=patch, headers=world[name].headers
        )
        assert answer.status_code == code, (name, answer.text)
    # a provider's analyst cannot register an NC for a tenant its provider does not serve
    specific = {**body, "scope": "specific", "tenant": "beta"}
    post(client, world["soc_analyst-prov-a"], "/nonconformities", specific, 404)
    made = post(
        client, world["soc_analyst-prov-a"], "/nonconformities", {**specific, "tenant": "alpha"}
    )
    assert made["provider"] == "prov-a"
    answer = client.patch(
        f"{API}/nonconformities/{alpha_nc}",
        json={"title": "Patch window missed twice", "status": "in_progress"},
        headers=world["authority"].headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["title"] == "Patch window missed twice"
    with services.db.session() as session:
        nc = session.get(RiskNonConformity, alpha_nc)
        assert nc is not None and nc.status == "in_progress"
        entries = session.scalars(
            select(AuditEntry).where(
                AuditEntry.object_type == "nonconformity", AuditEntry.object_id == str(alpha_nc)
            )
        ).all()
        assert [e.action for e in entries] == ["risk.nc.created", "risk.nc.updated"]
        assert "Patch window missed twice" in entries[1].detail


@pytest.mark.parametrize(
    "body",
    [
        {"title": "x", "kind": "security", "source": "audit", "scope": "specific"},
        {"title": "x", "kind": "security", "source": "audit", "scope": "common", "tenant": "alpha"},
        {"title": "x", "kind": "other", "source": "audit", "scope": "common"},
        {"title": "x", "kind": "security", "source": "rumour", "scope": "common"},
        {"title": "", "kind": "security", "source": "audit", "scope": "common"},
        {"title": "x", "kind": "security", "source": "audit", "scope": "common", "ci_id": "1"},
        {"title": "x", "kind": "security", "source": "audit", "scope": "common", "extra": 1},
        {"title": "x", "kind": "security", "source": "audit", "scope": "common", "ci_id": 99999},
    ],
)
def test_nc_input_is_strict(client: TestClient, world: World, body: dict[str, Any]) -> None:
    post(client, world["admin"], "/nonconformities", body, 422)


@pytest.mark.parametrize(
    "body",
    [
        {"approve": "yes"},
        {"approve": 1},
        {},
        {"approve": True, "note": 3},
        {"approve": True, "x": 1},
    ],
)
def test_decision_input_is_strict(
    client: TestClient, world: World, nc_world: dict[str, int], body: dict[str, Any]
) -> None:
    answer = client.post(
        f"{API}/proposals/{nc_world['p1']}/decision",
        json=body,
        headers=world["customer-alpha"].headers,
    )
    assert answer.status_code == 422, answer.text
