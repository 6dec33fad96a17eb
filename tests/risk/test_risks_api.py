"""The risk register over HTTP: isolation and roles of every route, alignment before a
customer sees a risk (TB5, second half), field history, strategic risks steered by the
authority, the workflow, raising a risk from a case, reviews, the heat map and the trend."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from risk import reviews
from risk.models import Risk, RiskNonConformity, RiskNotification
from soc.core.audit import AuditEntry
from soc.services import Services
from tests.conftest import PROVIDER_SCOPED, World
from tests.helpers import key_headers, ndjson, whoami_event

API = "/api/v1/risk"
ISOLATION_COVERED = {
    ("POST", "/api/v1/risk/risks"),
    ("GET", "/api/v1/risk/risks"),
    ("GET", "/api/v1/risk/risks/{risk_id}"),
    ("PATCH", "/api/v1/risk/risks/{risk_id}"),
    ("POST", "/api/v1/risk/risks/{risk_id}/status"),
    ("POST", "/api/v1/risk/risks/{risk_id}/align"),
    ("GET", "/api/v1/risk/risks/{risk_id}/history"),
    ("POST", "/api/v1/risk/risks/{risk_id}/links"),
    ("POST", "/api/v1/risk/risks/{risk_id}/review"),
    ("POST", "/api/v1/risk/risks/{risk_id}/acceptance"),
    ("GET", "/api/v1/risk/acceptances"),
    ("POST", "/api/v1/risk/acceptances/{acceptance_id}/decision"),
    ("POST", "/api/v1/risk/acceptances/{acceptance_id}/revoke"),
    ("POST", "/api/v1/risk/from-case/{case_id}"),
    ("GET", "/api/v1/risk/heatmap"),
    ("GET", "/api/v1/risk/trend"),
    ("GET", "/api/v1/risk/notifications"),
}
USERS = (
    "admin",
    "soc_analyst",
    "authority",
    "finance",
    "customer-alpha",
    "risk_owner-alpha",
    *PROVIDER_SCOPED,
)


def make_risk(client: TestClient, world: World, who: str = "admin", **fields: Any) -> dict:
    body = {
        "title": "Backups not tested",
        "category": "operational",
        "source": "audit",
        "scope": "specific",
        "tenants": ["beta"],
        "likelihood": 3,
        "impact": 4,
    } | fields
    answer = client.post(f"{API}/risks", json=body, headers=world[who].headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def raise_case(client: TestClient, world: World, tenant: str, host: str) -> int:
    answer = client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event(host)),
        headers=key_headers(world.keys[tenant]),
    )
    assert answer.status_code == 200, answer.text
    items = client.get("/api/v1/cases?limit=500", headers=world["admin"].headers).json()["items"]
    return next(c["id"] for c in items if c["host"] == host)


def verdict(status: int) -> str:
    """Probes change state as they go: for a user who may act, a business-rule answer (409,
    422) counts the same as success."""
    return "allowed" if status in (200, 201, 409, 422) else str(status)


NO_BETA = {
    "customer-alpha": 404,
    "risk_owner-alpha": 404,
    "provider-prov-a": 404,
    "soc_analyst-prov-a": 404,
}
READERS = {
    "admin": 200,
    "soc_analyst": 200,
    "authority": 200,
    "provider-prov-b": 200,
    "soc_analyst-prov-b": 200,
} | NO_BETA
WRITERS = READERS | {"customer-alpha": 403}


def test_isolation_and_roles_of_every_route(
    client: TestClient, world: World, services: Services
) -> None:
    """A risk of tenant beta, owned by prov-b (which serves beta): prov-a's users, alpha's
    customer and risk owner never reach it (404); roles without the right get 403."""
    admin = world["admin"].headers
    risk = make_risk(client, world, owning_provider="prov-b", treatment="mitigate")
    rid = risk["id"]
    with services.db.session() as s:
        nc = RiskNonConformity(
            title="No restore test",
            kind="process",
            source="audit",
            scope="specific",
            tenant_id=2,
            provider_id=2,
            created_by="admin",
        )
        s.add(nc)
        s.flush()
        nc_id = nc.id
    beta_case = raise_case(client, world, "beta", "beta-risk-host")
    client.post(f"/api/v1/cases/{beta_case}/assign", json={"provider": "prov-b"}, headers=admin)
    _probe_risk_routes(client, world, rid, nc_id, beta_case)
    _probe_acceptance_routes(client, world, rid)
    _probe_lists(client, world, rid)


def _probe_risk_routes(
    client: TestClient, world: World, rid: int, nc_id: int, beta_case: int
) -> None:
    steer = WRITERS  # operational: the integrator, the authority and the owning provider
    risk_path = f"{API}/risks/{rid}"
    probes: list[tuple[str, str, dict | None, dict[str, int]]] = [
        ("GET", risk_path, None, READERS),
        ("GET", f"{risk_path}/history", None, READERS),
        ("PATCH", risk_path, {"description": "seen by prov-b"}, WRITERS),
        ("POST", f"{risk_path}/status", {"status": "assessed"}, steer),
        ("POST", f"{risk_path}/links", {"kind": "nonconformity", "target_id": nc_id}, WRITERS),
        ("POST", f"{risk_path}/review", {"note": "checked"}, WRITERS),
        ("POST", f"{risk_path}/acceptance", {"note": "please"}, WRITERS),
        (
            "POST",
            f"{API}/risks",
            {
                "title": "t",
                "category": "operational",
                "source": "provider",
                "scope": "specific",
                "tenants": ["beta"],
                "likelihood": 1,
                "impact": 1,
            },
            WRITERS,
        ),
        (
            "POST",
            f"{API}/from-case/{beta_case}",
            {"likelihood": 2, "impact": 2},
            # risk owners may not read cases; prov-a's users do not see beta's case
            WRITERS | {"risk_owner-alpha": 403},
        ),
    ]
    for method, path, body, expected in probes:
        for user in USERS:
            answer = client.request(method, path, json=body, headers=world[user].headers)
            want = str(expected.get(user, 403))
            want = "allowed" if want in ("200", "201") else want
            assert verdict(answer.status_code) == want, (method, path, user, answer.text)


def _probe_acceptance_routes(client: TestClient, world: World, rid: int) -> None:
    """The acceptance the probes requested: only the authority decides it (customers may
    co-approve only with the setting; alpha's customer does not even see it)."""
    authority_only: dict[str, int] = {"authority": 200}
    acc = client.get(f"{API}/acceptances", headers=world["admin"].headers).json()["items"]
    assert [a["risk_id"] for a in acc] == [rid]
    acc_id = acc[0]["id"]
    decision = {"approve": True, "justification": "ok", "expires_on": _in_days(30)}
    for path, body, expected in (
        (f"{API}/acceptances/{acc_id}/decision", decision, authority_only | NO_BETA),
        (f"{API}/acceptances/{acc_id}/revoke", {"reason": "changed"}, authority_only),
    ):
        for user in USERS:
            answer = client.post(path, json=body, headers=world[user].headers)
            want = str(expected.get(user, 403))
            want = "allowed" if want == "200" else want
            # customer-alpha: a customer may co-approve, so the risk's visibility answers
            if user in ("risk_owner-alpha", "provider-prov-a", "soc_analyst-prov-a"):
                want = "403"
            if user == "customer-alpha" and path.endswith("revoke"):
                want = "403"
            assert verdict(answer.status_code) == want, (path, user, answer.text)


def _probe_lists(client: TestClient, world: World, rid: int) -> None:
    """Lists, heat map, trend and notices: beta's risk is counted only for who sees it."""
    for user in USERS:
        headers = world[user].headers
        listed = client.get(f"{API}/risks", headers=headers)
        accs = client.get(f"{API}/acceptances?status=ended", headers=headers)
        heat = client.get(f"{API}/heatmap", headers=headers)
        trend = client.get(f"{API}/trend?months=2", headers=headers)
        notes = client.get(f"{API}/notifications", headers=headers)
        if user.startswith("finance"):
            for answer in (listed, accs, heat, trend, notes):
                assert answer.status_code == 403, (user, answer.request.url)
            continue
        for answer in (listed, accs, heat, trend, notes):
            assert answer.status_code == 200, (user, answer.request.url, answer.text)
        ids = {r["id"] for r in listed.json()["items"]}
        sees = READERS.get(user) == 200
        assert (rid in ids) is sees, user
        assert bool(accs.json()["items"]) is sees, user
        assert (heat.json()["total"] > 0) is sees, user
        assert (trend.json()[-1]["open"] > 0) is sees, user
        subjects = {n["subject_id"] for n in notes.json()}
        if user in NO_BETA:
            assert rid not in subjects, user


def _in_days(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


def test_customer_sees_a_risk_only_after_alignment_with_the_advice(
    client: TestClient, world: World
) -> None:
    """TB5, second half: not aligned → no notice and 404 for the customer; once aligned the
    customer lists it and is notified with the advice text; the other tenant still 404."""
    risk = make_risk(client, world, tenants=["alpha"])
    alpha, beta = world["customer-alpha"].headers, world["customer-beta"].headers
    path = f"{API}/risks/{risk['id']}"
    assert client.get(path, headers=alpha).status_code == 404
    assert client.get(f"{API}/risks", headers=alpha).json()["items"] == []
    assert client.get(f"{API}/notifications", headers=alpha).json() == []

    # Only the authority aligns, and an advice is required.
    refused = client.post(f"{path}/align", json={"advice": "x"}, headers=world["admin"].headers)
    assert refused.status_code == 403
    empty = client.post(f"{path}/align", json={"advice": ""}, headers=world["authority"].headers)
    assert empty.status_code == 422
    advice = "Enable restore tests monthly to reach an acceptable level"
    aligned = client.post(
        f"{path}/align", json={"advice": advice}, headers=world["authority"].headers
    )
    assert aligned.status_code == 200, aligned.text
    assert aligned.json()["aligned"] is True and aligned.json()["advice"] == advice

    seen = client.get(path, headers=alpha)
    assert seen.status_code == 200 and seen.json()["advice"] == advice
    assert [r["id"] for r in client.get(f"{API}/risks", headers=alpha).json()["items"]] == [
        risk["id"]
    ]
    notes = client.get(f"{API}/notifications", headers=alpha).json()
    assert len(notes) == 1 and advice in notes[0]["text"] and notes[0]["kind"] == "risk_aligned"
    assert client.get(path, headers=beta).status_code == 404
    assert client.get(f"{API}/notifications", headers=beta).json() == []


def test_common_risk_alignment_notifies_every_tenant(client: TestClient, world: World) -> None:
    risk = make_risk(client, world, scope="common", tenants=[])
    assert (
        client.get(f"{API}/risks/{risk['id']}", headers=world["customer-beta"].headers).status_code
        == 404
    )
    client.post(
        f"{API}/risks/{risk['id']}/align",
        json={"advice": "patch"},
        headers=world["authority"].headers,
    )
    for customer in ("customer-alpha", "customer-beta"):
        notes = client.get(f"{API}/notifications", headers=world[customer].headers).json()
        assert [n["subject_id"] for n in notes] == [risk["id"]]
        assert (
            client.get(f"{API}/risks/{risk['id']}", headers=world[customer].headers).status_code
            == 200
        )


def test_history_of_every_field(client: TestClient, world: World) -> None:
    risk = make_risk(client, world, tenants=["alpha"], providers=["prov-a"])
    path = f"{API}/risks/{risk['id']}"
    admin = world["admin"].headers
    changed = client.patch(
        path,
        json={
            "title": "Backups never restored",
            "tenants": ["alpha", "beta"],
            "providers": [],
            "owner": "risk_owner-alpha",
            "review_date": "2026-06-01",
            "residual_likelihood": 2,
        },
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    out = changed.json()
    assert out["tenants"] == ["alpha", "beta"] and out["providers"] == []
    assert out["owner"] == "risk_owner-alpha"
    assert (out["inherent_score"], out["residual_score"]) == (12, 8)
    assert (out["inherent_band"], out["residual_band"]) == ("high", "medium")
    # The same PATCH again changes nothing and writes no history.
    again = client.patch(path, json={"title": "Backups never restored"}, headers=admin)
    assert again.status_code == 200
    rows = client.get(f"{path}/history", headers=admin).json()["items"]
    fields = {r["field"]: (r["old"], r["new"]) for r in rows}
    assert rows[0]["field"] == "created"
    assert fields["title"] == ("Backups not tested", "Backups never restored")
    assert fields["tenants"] == (["alpha"], ["alpha", "beta"])
    assert fields["providers"] == (["prov-a"], [])
    assert fields["owner"] == (None, "risk_owner-alpha")
    assert fields["review_date"] == (None, "2026-06-01")
    assert fields["residual_likelihood"] == (3, 2)
    assert len(rows) == 7
    # Once aligned, alpha's customer reads the risk and its history, naming only alpha.
    authority = world["authority"].headers
    client.post(f"{path}/align", json={"advice": "restore monthly"}, headers=authority)
    customer = world["customer-alpha"].headers
    assert client.get(path, headers=customer).json()["tenants"] == ["alpha"]
    seen = client.get(f"{path}/history", headers=customer).json()["items"]
    by_field = {r["field"]: r for r in seen}
    assert (by_field["tenants"]["old"], by_field["tenants"]["new"]) == (["alpha"], ["alpha"])
    assert by_field["created"]["new"]["tenants"] == ["alpha"]
    assert "beta" not in str(seen)
    # Strict input: unknown fields (acceptance!), nulls for required fields, lenient types.
    for bad in (
        {"acceptance_state": "accepted"},
        {"status": "closed"},
        {"title": None},
        {"likelihood": "3"},
        {"review_date": 20260601},
        {"likelihood": 6},
    ):
        assert client.patch(path, json=bad, headers=admin).status_code == 422, bad


def test_strategic_risks_are_steered_by_the_authority(client: TestClient, world: World) -> None:
    provider = world["provider-prov-a"].headers
    risk = make_risk(client, world, who="provider-prov-a", category="strategic", tenants=["alpha"])
    assert risk["owning_provider"] == "prov-a"
    path = f"{API}/risks/{risk['id']}"
    assert client.patch(path, json={"likelihood": 5}, headers=provider).status_code == 403
    assert client.patch(path, json={"treatment": "avoid"}, headers=provider).status_code == 403
    assert (
        client.post(f"{path}/status", json={"status": "assessed"}, headers=provider).status_code
        == 403
    )
    # The provider still keeps its description current.
    assert client.patch(path, json={"description": "more"}, headers=provider).status_code == 200
    authority = world["authority"].headers
    assert client.patch(path, json={"likelihood": 5}, headers=authority).status_code == 200
    assert (
        client.post(f"{path}/status", json={"status": "assessed"}, headers=authority).status_code
        == 200
    )
    # An operational risk may not be turned strategic by a provider either.
    other = make_risk(client, world, who="provider-prov-a", tenants=["alpha"])
    turned = client.patch(
        f"{API}/risks/{other['id']}", json={"category": "strategic"}, headers=provider
    )
    assert turned.status_code == 403
    # A provider not on the risk may not change it, though it sees it (alpha is served).
    make_risk(client, world, tenants=["alpha"])
    foreign = client.get(f"{API}/risks", headers=provider).json()["items"]
    unowned = [r for r in foreign if r["owning_provider"] is None]
    assert unowned
    assert (
        client.patch(
            f"{API}/risks/{unowned[0]['id']}", json={"description": "x"}, headers=provider
        ).status_code
        == 403
    )


def test_workflow(client: TestClient, world: World) -> None:
    risk = make_risk(client, world)
    path = f"{API}/risks/{risk['id']}/status"
    admin = world["admin"].headers

    def move(status: str, note: str = "") -> int:
        return client.post(path, json={"status": status, "note": note}, headers=admin).status_code

    assert move("treatment_planned") == 422  # one step at a time
    assert move("assessed") == 200
    assert move("treatment_planned") == 422  # no treatment yet
    client.patch(f"{API}/risks/{risk['id']}", json={"treatment": "mitigate"}, headers=admin)
    assert move("treatment_planned") == 200
    assert move("identified") == 422  # back needs a note
    assert move("identified", "reassess") == 200
    for status in ("assessed", "treatment_planned", "in_treatment", "monitored", "closed"):
        assert move(status) == 200, status
    got = client.get(f"{API}/risks/{risk['id']}", headers=admin).json()
    assert got["status"] == "closed" and got["closed_at"]
    assert move("assessed", "again") == 422  # a closed risk reopens to identified
    assert move("identified") == 422
    assert move("identified", "it came back") == 200
    assert client.get(f"{API}/risks/{risk['id']}", headers=admin).json()["closed_at"] is None
    assert move("accepted") == 422  # not a status: acceptance is decided


def test_raise_a_risk_from_a_case(client: TestClient, world: World) -> None:
    case_id = raise_case(client, world, "alpha", "alpha-ws-9")
    analyst = world["soc_analyst"].headers
    answer = client.post(
        f"{API}/from-case/{case_id}", json={"likelihood": 4, "impact": 3}, headers=analyst
    )
    assert answer.status_code == 201, answer.text
    risk = answer.json()
    case = client.get(f"/api/v1/cases/{case_id}", headers=analyst).json()
    assert risk["source"] == "soc_case" and risk["tenants"] == ["alpha"]
    assert risk["title"] == case["title"][:200]
    assert risk["links"] == [{"kind": "case", "target_id": case_id}]
    assert (risk["residual_likelihood"], risk["residual_impact"]) == (4, 3)
    # A case out of sight is a 404; a common risk from a case names no tenant.
    beta_case = raise_case(client, world, "beta", "beta-ws-9")
    hidden = client.post(
        f"{API}/from-case/{beta_case}",
        json={"likelihood": 1, "impact": 1},
        headers=world["provider-prov-a"].headers,
    )
    assert hidden.status_code == 404
    common = client.post(
        f"{API}/from-case/{case_id}",
        json={"likelihood": 1, "impact": 1, "scope": "common", "title": "Shared"},
        headers=analyst,
    )
    assert common.status_code == 201 and common.json()["tenants"] == []


def test_links_to_cases_and_nonconformities(client: TestClient, world: World) -> None:
    risk = make_risk(client, world, tenants=["alpha"])
    admin = world["admin"].headers
    case_id = raise_case(client, world, "alpha", "alpha-link")
    path = f"{API}/risks/{risk['id']}/links"
    linked = client.post(path, json={"kind": "case", "target_id": case_id}, headers=admin)
    assert linked.status_code == 200, linked.text
    assert linked.json()["links"] == [{"kind": "case", "target_id": case_id}]
    assert (
        client.post(path, json={"kind": "case", "target_id": case_id}, headers=admin).status_code
        == 409
    )
    assert (
        client.post(path, json={"kind": "ci", "target_id": 4242}, headers=admin).status_code == 404
    )
    assert (
        client.post(
            path, json={"kind": "nonconformity", "target_id": 99}, headers=admin
        ).status_code
        == 404
    )
    history = client.get(f"{API}/risks/{risk['id']}/history", headers=admin).json()["items"]
    assert history[-1]["field"] == "links" and history[-1]["new"] == [f"case:{case_id}"]


def test_review_reminders_and_recording(
    client: TestClient, world: World, services: Services
) -> None:
    today = date(2026, 5, 4)
    owned = make_risk(
        client,
        world,
        tenants=["alpha"],
        owner="risk_owner-alpha",
        review_date="2026-05-08",
        review_cadence_days=90,
    )
    far = make_risk(client, world, tenants=["alpha"], review_date="2026-07-01")
    by_provider = make_risk(
        client, world, tenants=["alpha"], owning_provider="prov-a", review_date="2026-05-01"
    )
    with services.db.session() as s:
        assert reviews.remind_reviews(s, services.settings, today) == 2
    with services.db.session() as s:
        assert reviews.remind_reviews(s, services.settings, today + timedelta(days=1)) == 0
        rows = list(
            s.scalars(select(RiskNotification).where(RiskNotification.kind == "review_due"))
        )
        assert {(n.subject_id, n.party, n.late) for n in rows} == {
            (owned["id"], "owner", False),
            (by_provider["id"], "provider", True),
        }
        assert far["id"] not in {n.subject_id for n in rows}
    owner = world["risk_owner-alpha"].headers
    notes = client.get(f"{API}/notifications", headers=owner).json()
    assert [n["kind"] for n in notes] == ["review_due"]
    # The owner records the review: the next one is today + 90 days, and reminds again.
    reviewed = client.post(f"{API}/risks/{owned['id']}/review", json={"note": "ok"}, headers=owner)
    assert reviewed.status_code == 200, reviewed.text
    next_date = date.today() + timedelta(days=90)
    assert reviewed.json()["review_date"] == next_date.isoformat()
    with services.db.session() as s:
        assert reviews.remind_reviews(s, services.settings, next_date - timedelta(days=3)) >= 1
        risk = s.get(Risk, owned["id"])
        assert risk is not None and risk.review_reminded_on == next_date - timedelta(days=3)
    # Another tenant's risk owner cannot record it.
    beta_owner = world["risk_owner-beta"].headers
    assert (
        client.post(f"{API}/risks/{owned['id']}/review", json={}, headers=beta_owner).status_code
        == 404
    )
    with services.db.session() as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "risk.reviewed")).first()


def test_heat_map_counts(client: TestClient, world: World) -> None:
    make_risk(client, world, likelihood=5, impact=1, residual_likelihood=2, residual_impact=1)
    make_risk(client, world, likelihood=5, impact=1, residual_likelihood=1, residual_impact=1)
    closed = make_risk(client, world, likelihood=1, impact=5)
    admin = world["admin"].headers
    with_closed = client.get(f"{API}/heatmap", headers=admin).json()
    assert with_closed["total"] == 3
    client.post(f"{API}/risks/{closed['id']}/status", json={"status": "assessed"}, headers=admin)
    _close(client, admin, closed["id"])
    heat = client.get(f"{API}/heatmap", headers=admin).json()
    assert heat["total"] == 2
    inherent, residual = heat["inherent"], heat["residual"]
    assert len(inherent) == 5 and len(inherent[0]) == 5
    top_left = inherent[0][0]
    assert (top_left["likelihood"], top_left["impact"], top_left["count"]) == (5, 1, 2)
    assert top_left["score"] == 5 and top_left["band"] == "medium"
    assert sum(c["count"] for row in inherent for c in row) == 2
    assert inherent[4][4]["count"] == 0  # the closed risk (1, 5) is not on the map
    cells = {(c["likelihood"], c["impact"]): c["count"] for row in residual for c in row}
    assert cells[(2, 1)] == 1 and cells[(1, 1)] == 1
    assert heat["labels"]["likelihood"]["nl"][0] == "Zeldzaam"
    assert heat["labels"]["impact"]["en"][4] == "Severe"


def _close(client: TestClient, headers: dict[str, str], risk_id: int) -> None:
    client.patch(f"{API}/risks/{risk_id}", json={"treatment": "avoid"}, headers=headers)
    for status in ("treatment_planned", "in_treatment", "monitored", "closed"):
        answer = client.post(
            f"{API}/risks/{risk_id}/status", json={"status": status}, headers=headers
        )
        assert answer.status_code == 200, answer.text


def test_trend_by_month(client: TestClient, world: World) -> None:
    admin = world["admin"].headers
    make_risk(client, world, likelihood=5, impact=5)
    gone = make_risk(client, world, likelihood=1, impact=1)
    client.post(f"{API}/risks/{gone['id']}/status", json={"status": "assessed"}, headers=admin)
    _close(client, admin, gone["id"])
    trend = client.get(f"{API}/trend?months=3", headers=admin).json()
    assert [m["month"] for m in trend] == sorted(m["month"] for m in trend)
    assert trend[-1]["month"] == date.today().strftime("%Y-%m")
    assert len(trend) == 3
    now = trend[-1]
    assert (now["new"], now["closed"], now["open"]) == (2, 1, 1)
    assert now["by_band"] == {"low": 0, "medium": 0, "high": 0, "critical": 1}
    assert trend[0]["open"] == trend[0]["new"] == 0
    assert client.get(f"{API}/trend?months=0", headers=admin).status_code == 422
